"""One replica: a Ray Data actor that owns the run's engines and runs the local executor (the
continuous scheduler by default) over each block of examples it is handed.

Rows in and out are JSON text of cai.records.Record, so nothing but plain strings crosses the object
store. Each output row also carries the replica's name and its block's figures, from which the
driver adds up the stage statistics and each replica's throughput.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid

ROW_COLUMNS = ("id", "record")


def record_rows(records) -> list[dict]:
    return [{"id": r.id, "record": json.dumps(r.to_dict(), ensure_ascii=False)} for r in records]


class Replica:
    """Built once per actor (Ray calls `__init__` again only when it replaces a dead one)."""

    def __init__(self, config: dict, constitution):
        from rich.console import Console

        from cai.config import RunConfig
        from cai.engines import Sampling
        from cai.label.options import label_note
        from cai.pipeline import build_steps
        from cai.run_engines import open_run_engines
        from cai.templates import Renderer

        started = time.perf_counter()
        self.config = RunConfig(**config)
        self.console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the actor
        self.steps = build_steps(self.config, constitution, Renderer(self.config.templates))
        labelling = label_note(self.config, constitution) is None
        self.engines = open_run_engines(self.config, self.console, labelling)
        self.sampling = Sampling(max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature,
                                 top_p=self.config.top_p, seed=self.config.seed)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        engine = self.engines.policy
        self.engine = {"engine": engine.name, "model_path": engine.model_id, "engine_info": engine.info}
        self.load_seconds, self.reported_load = time.perf_counter() - started, False

    def __call__(self, batch: dict) -> dict:
        import copy

        from cai.executor import run_pending
        from cai.manifest import RunStats
        from cai.progress import StageProgress
        from cai.records import Record

        records = [Record.from_dict(json.loads(text)) for text in batch["record"]]
        stats, finished = RunStats(), []
        started = time.perf_counter()
        config = copy.copy(self.config)  # run_pending may note the schedule that ran on it
        with StageProgress(self.console, enabled=False) as progress:
            run_pending(self.steps, records, self.engines.by_role(), self.sampling, config, stats, progress,
                        finished.extend)
        figures = {"replica": self.name, "seconds": time.perf_counter() - started, "examples": len(finished),
                   "completion_tokens": sum(r.tokens["completion"] for r in finished),
                   "stages": {k: dataclasses.asdict(v) for k, v in stats.stages.items()}, "schedule": config.schedule,
                   "load_seconds": 0.0 if self.reported_load else self.load_seconds, **self.engine}
        self.reported_load = True
        rows = record_rows(finished)
        block = uuid.uuid4().hex
        return {"id": [r["id"] for r in rows], "record": [r["record"] for r in rows],
                "block": [block] * len(rows), "figures": [json.dumps(figures)] * len(rows)}

    def __del__(self):
        engines = getattr(self, "engines", None)
        if engines is not None:
            engines.close()
