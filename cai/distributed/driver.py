"""`--executor ray`: the driver's side of a run.

The run is planned and validated here exactly as a local run (cai.runner); only the pending examples
reach this module. They become a Ray Dataset of JSON rows, mapped block by block over a fixed pool of
replica actors (`map_batches` with a callable class and `concurrency=--replicas`). Finished blocks
stream back through `iter_batches` in completion order, and the driver appends them to the run store
with the same checkpoint a local run uses: one writer, one traces.jsonl, deduplicated by example id.

Fault tolerance is Ray Data's default for actor pools (max_restarts and max_task_retries unbounded; the
remote arguments that would bound them are deprecated): an actor whose process dies is restarted (it
builds its engines again) and the block it held is retried, so a block can come back twice; the driver
drops ids it already wrote. An error raised by cai code in a replica is not retried: it stops the job.
A driver that dies leaves traces.jsonl as a local run would; `--resume` (on either executor) goes on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

from cai.distributed.cluster import ray_cluster
from cai.distributed.options import require_ray
from cai.distributed.replica import Replica, record_rows
from cai.errors import CaiError
from cai.executor import OVERALL
from cai.records import Record


class Dedupe:
    """Ids already written in this session: a retried block's examples are written once."""

    def __init__(self, done: set[str] | None = None):
        self.seen = set(done or ())

    def fresh(self, records: list[Record]) -> list[Record]:
        new = []
        for record in records:
            if record.id not in self.seen:
                self.seen.add(record.id)
                new.append(record)
        return new


def replica_config(config, engines) -> dict:
    """The config each replica builds its engines from: the engine the driver chose for `auto`, so every
    replica runs what the manifest names."""
    values = config.to_dict()
    values["engine"] = engines.policy.name
    if engines.feedback is not None and engines.feedback is not engines.policy:
        values["label_engine"] = engines.feedback.name
    return values


def executor_section(config, cluster) -> dict:
    return {"kind": "ray", **cluster.section(), "replicas": config.replicas, "replica_cpus": config.replica_cpus,
            "replica_gpus": config.replica_gpus, "block_size": config.chunk_size, "per_replica": {}}


def run_on_ray(plan, pending: Iterable[Record], engines, stats, progress,
               checkpoint: Callable[[list[Record]], None]) -> int:
    """Runs the pending examples (a stream, in input order) on the cluster; returns how many were written.
    The driver holds them as JSON text while Ray Data hands them out: about the size of the input."""
    rows = record_rows(pending)
    if not rows:
        return 0
    ray = require_ray()
    config, executor = plan.config, engines.policy.executor
    names = [step.name for step in plan.steps]
    for name in names + [OVERALL]:
        progress.add(name, len(rows))
    dedupe, blocks_seen, written = Dedupe(), set(), 0
    with ray_cluster(config) as cluster:
        executor.update(executor_section(config, cluster))
        results = _mapped(ray, rows, replica_config(config, engines), plan.constitution, config)
        try:
            for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
                records = [Record.from_dict(json.loads(text)) for text in batch["record"]]
                for block, figures in {b: f for b, f in zip(batch["block"], batch["figures"])}.items():
                    if block not in blocks_seen:
                        blocks_seen.add(block)
                        _account(json.loads(figures), stats, executor, progress)
                fresh = dedupe.fresh(records)
                if fresh:
                    checkpoint(fresh)
                    written += len(fresh)
                    progress.callback(OVERALL)(len(fresh), sum(r.tokens["completion"] for r in fresh))
        except (KeyboardInterrupt, CaiError):
            raise
        except Exception as error:  # noqa: BLE001 - whatever stopped the cluster's job: one line, run kept
            raise _as_cai_error(error, config) from None
    return written


def _mapped(ray, rows: list[dict], config: dict, constitution, options):
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # blocks come back as they finish
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / options.chunk_size)))
    resources = {"num_cpus": options.replica_cpus}
    if options.replica_gpus:
        resources["num_gpus"] = options.replica_gpus
    # One block in flight per replica: a replica that is still loading its model takes none, and a dead
    # one holds only the block it was running.
    pool = ray.data.ActorPoolStrategy(size=options.replicas, max_tasks_in_flight_per_actor=1)
    return dataset.map_batches(Replica, fn_constructor_kwargs={"config": config, "constitution": constitution},
                               batch_size=options.chunk_size, batch_format="numpy", compute=pool,
                               **resources)


def _account(figures: dict, stats, executor: dict, progress) -> None:
    """A block's figures: into the run's stage statistics (replica-seconds), its replica's throughput and
    the per-stage bars."""
    from cai.manifest import StageStats

    for name, values in figures["stages"].items():
        stage = StageStats(**values)
        stats.stage(name).add(stage.examples, stage.seconds, stage.prompt_tokens, stage.completion_tokens)
        progress.callback(name)(stage.examples, stage.completion_tokens)
    replica = executor["per_replica"].setdefault(figures["replica"], {"blocks": 0, "examples": 0, "seconds": 0.0,
                                                                      "completion_tokens": 0,
                                                                      "load_seconds": 0.0})
    replica["blocks"] += 1
    replica["load_seconds"] = round(replica["load_seconds"] + figures["load_seconds"], 3)
    replica["examples"] += figures["examples"]
    replica["seconds"] = round(replica["seconds"] + figures["seconds"], 3)
    replica["completion_tokens"] += figures["completion_tokens"]
    replica["tokens_per_s"] = round(replica["completion_tokens"] / max(replica["seconds"], 1e-9), 2)
    executor.setdefault("engine", {k: figures[k] for k in ("engine", "model_path", "engine_info")})
    executor["schedule"] = figures["schedule"]


def _as_cai_error(error: Exception, config) -> CaiError:
    cause = getattr(error, "cause", None) or error
    if isinstance(cause, CaiError):  # a replica rejected something (its model, its engine): say what
        return CaiError(cause.what, cause.where, cause.fix)
    reason = str(cause).strip().splitlines()[-1][:300] if str(cause).strip() else type(cause).__name__
    return CaiError(f"the Ray job stopped ({type(cause).__name__}: {reason})", "--executor ray",
                    f"finished examples are saved; fix the cause and continue with "
                    f"`cai run --out {config.out} --resume`")


def summary_rows(manifest: dict) -> dict:
    """The summary's executor lines: where it ran and each replica's throughput."""
    executor = manifest.get("executor") or {}
    if executor.get("kind") != "ray":
        return {}
    rows = {"executor": f"ray at {executor.get('address')}, {executor.get('replicas')} replica(s) of "
                        f"{executor.get('replica_cpus'):g} CPU / {executor.get('replica_gpus'):g} GPU"}
    for index, (name, figures) in enumerate(sorted(executor.get("per_replica", {}).items()), start=1):
        rows[f"replica {index}"] = (f"{name}: {figures['examples']} examples in {figures['seconds']:.1f} s, "
                                    f"{figures['tokens_per_s']:.1f} tok/s")
    return rows
