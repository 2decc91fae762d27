"""The Ray cluster of a run: the one at --ray-address, or a local one started for the run and always
stopped after it.

A local cluster is bound to 127.0.0.1 with the dashboard off and a fixed number of CPUs. Its processes
are children of this one: a driver that is killed takes the control store, raylet and workers with it,
and Ray's two agents notice and exit within about a minute (seen on Ray 2.60), so nothing lingers.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass

from cai.distributed.options import require_ray
from cai.errors import CaiError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONNECT_TIMEOUT_S = 10


@dataclass
class Cluster:
    address: str            # what the manifest records: never credentials (see options.check_executor_options)
    started_here: bool      # a local cluster made for this run
    resources: dict         # the cluster's total CPUs, GPUs, memory as Ray reports them

    def section(self) -> dict:
        return {"address": self.address, "started_here": self.started_here, "cluster_resources": self.resources}


def local_cpus(config) -> int:
    """CPUs a local cluster offers: the machine's, and at least what the replicas ask for plus one for
    Ray Data's own small tasks (Ray counts CPUs as slots; it does not pin them)."""
    wanted = int(config.replicas * config.replica_cpus + 0.999) + 1
    return max(os.cpu_count() or 1, wanted)


def _verbose() -> bool:
    return bool(os.environ.get("CAI_VERBOSE"))


def _init_options() -> dict:
    if not _verbose():  # a notice at every start that a new local cluster uses Ray's token authentication
        logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    return {"logging_level": logging.INFO if _verbose() else logging.WARNING, "log_to_driver": _verbose()}


def _quiet_data() -> None:
    """Ray Data logs every dataset's start and plan at INFO, and warns that its bars are off; a cai run
    shows its own progress. Its other warnings (a pool that cannot be placed, say) stay."""
    if not _verbose():
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


@contextmanager
def ray_cluster(config):
    """Connects to (or starts) the cluster, yields a Cluster, and shuts down what this call started. A
    process already connected (a notebook, the test suite) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        _quiet_data()
        yield Cluster(_gcs_address(ray), False, _resources(ray))
        return
    if config.ray_address:
        host = reachable(config.ray_address)
        if host in LOOPBACK:
            _single_node()
        ray.init(address=config.ray_address, **_init_options())
    else:
        start_local(local_cpus(config), num_gpus=0 if not config.replica_gpus else None)
    _quiet_data()
    try:
        address = config.ray_address or f"local ({_gcs_address(ray)}, started for the run)"
        yield Cluster(address, not config.ray_address, _resources(ray))
    finally:
        ray.shutdown()


def _single_node() -> None:
    """Ray turns 127.0.0.1 (for its own node, or in an address to join) into the machine's reachable
    address, unless it runs single-node only, which a cluster on 127.0.0.1 is."""
    from ray._private import ray_constants

    if hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        ray_constants.ENABLE_RAY_CLUSTER = False  # get_node_ip_address() then answers 127.0.0.1


def reachable(address: str) -> str | None:
    """The address's host, after checking its port answers: Ray itself retries an unreachable address
    without end. `auto` (the cluster this machine belongs to) is left to Ray."""
    if address == "auto":
        return None
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise CaiError("not a cluster address", f"--ray-address {address}",
                       "give host:port (the head's GCS port, 6379 by default), ray://host:10001 or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise CaiError(f"no Ray cluster answers there ({error.strerror or type(error).__name__})",
                       f"--ray-address {address}", "start it (`ray start --head` on the head node) or fix the "
                       "address; drop --ray-address to start a local cluster for the run") from None
    return host


def start_local(num_cpus: int, num_gpus: int | None = 0) -> None:
    """A single-node cluster on 127.0.0.1, dashboard off."""
    ray = require_ray()
    _single_node()
    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, **_init_options())


def _gcs_address(ray) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # noqa: BLE001 - an older Ray without it: the address is only informative
        return "unknown"


def _resources(ray) -> dict:
    total = ray.cluster_resources()
    return {key: total[key] for key in ("CPU", "GPU", "memory") if key in total}
