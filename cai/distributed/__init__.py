"""Running a cai run's examples on a Ray cluster (`cai run --executor ray`).

The driver (this process) plans and validates exactly as a local run does and owns the run store;
replicas on the cluster each build the engine once and run the continuous scheduler over the blocks
of examples Ray Data hands them. See driver.py for the flow, replica.py for one replica.
"""
