"""Checks of the executor options, made with every other option before anything is written."""

from __future__ import annotations

from cai.errors import CaiError

EXECUTORS = ("local", "ray")
INSTALL_FIX = "install it with `pip install 'cai[ray]'` (or `pip install 'ray[data]'`), or use --executor local"


def require_ray():
    """The `ray` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the driver reads and maps the examples with Ray Data
    except ImportError:
        raise CaiError("--executor ray needs Ray, which is not installed", "--executor ray", INSTALL_FIX) from None
    return ray


def check_executor_options(config) -> None:
    if config.executor not in EXECUTORS:
        raise CaiError(f"unknown executor '{config.executor}'", "--executor", "use local or ray")
    if config.executor != "ray":
        return
    require_ray()
    if config.ray_address and "@" in config.ray_address:
        # The address is saved with the run (config.yaml, manifest): it must never carry a secret.
        raise CaiError("the cluster address holds credentials (user:password@), which would be saved with the run",
                       "--ray-address", "pass host:port (or ray://host:port) and give credentials through the "
                       "environment your cluster reads them from")
    if config.ray_address:  # before the run folder is made: Ray would wait for an absent cluster forever
        from cai.distributed.cluster import reachable

        reachable(config.ray_address)
    if config.replica_gpus and config.tensor_parallel_size > config.replica_gpus:
        raise CaiError(f"--tensor-parallel-size {config.tensor_parallel_size} needs that many GPUs per replica "
                       f"(--replica-gpus is {config.replica_gpus:g})", "--replica-gpus",
                       f"use --replica-gpus {config.tensor_parallel_size}")
