"""One session of a run (a first run, or a resume): its counts, its checkpoints and its manifest.

traces.jsonl is the checkpoint; the manifest is the status, rewritten at most every couple of seconds
while examples finish, and once more when the session ends, however it ends.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

from cai.manifest import RunStats, now, versions
from cai.records import Record

# Seconds between manifest updates while a run is going.
MANIFEST_EVERY_S = 2.0


class RunSession:
    """`engines`: the run's RunEngines (or a stand-in with the same attributes); `executor`: what the
    manifest says about where the work ran."""

    def __init__(self, plan, engines, previous: dict, pending: int, completed: int, executor: dict | None = None):
        self.plan, self.engines = plan, engines
        self.stats = RunStats.from_manifest(previous)
        self.created = previous.get("created_at", now())
        self.session = {"started_at": now(), "pending": pending, "finished": 0, "seconds": 0.0}
        self.stats.sessions.append(self.session)
        source = plan.input
        self.counts = {"inputs": source.inputs, "skipped": len(source.skipped), "completed": completed,
                       "pending": pending, "failed": 0}
        self.executor = executor or {"kind": "local"}
        self.writer = None  # the store's TraceWriter, set while the work runs
        self.sigint = False
        self._started = time.monotonic()
        self._written = 0.0
        self._saved_stages = _copy_stages(self.stats.stages)  # the statistics of saved examples only

    def start(self) -> None:
        """On disk before any work, so a kill before the first example finishes still leaves the session."""
        self._started = time.monotonic()
        self.write("running")

    def checkpoint(self, records: list[Record]) -> None:
        self._saved_stages = _copy_stages(self.stats.stages)
        self.writer.write(records)
        self.counts["completed"] += len(records)
        self.counts["pending"] -= len(records)
        self.counts["failed"] += sum(1 for r in records if r.failure)
        self.session["finished"] += len(records)
        self._tick()
        if time.monotonic() - self._written >= MANIFEST_EVERY_S:  # examples may finish many a second
            self.write("running")

    def stopped(self, error: BaseException) -> bool:
        """The session ended early: the manifest says how, and what was in flight (redone on resume) is left
        out of the statistics. Returns whether it was an interruption: Ctrl-C, or an engine that died of the
        same Ctrl-C before the main thread heard of it (vLLM's engine process gets the signal too)."""
        interrupted = isinstance(error, KeyboardInterrupt) or self.sigint
        self.stats.stages = self._saved_stages
        self._tick()
        if interrupted:
            self.write("interrupted")
        else:
            self.write("failed", error=f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
        return interrupted

    @contextmanager
    def noting_sigint(self):
        """Note a Ctrl-C (then raise KeyboardInterrupt as Python would) while the work runs."""
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            self.sigint = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def finished(self) -> None:
        self._tick()
        self.session["finished_at"] = now()

    def _tick(self) -> None:
        self.session["seconds"] = round(time.monotonic() - self._started, 3)

    def manifest(self, status: str, **extra) -> dict:
        plan, engines, engine = self.plan, self.engines, self.engines.policy
        constitution, config = plan.constitution, plan.config
        return {"cai_version": versions()["cai"], "status": status, "created_at": self.created, "updated_at": now(),
                "model": engines.policy_name, "model_path": engine.model_id, "engine": engine.name,
                "engine_info": engine.info, "engine_choice": getattr(engine, "choice", None),
                "feedback": engines.feedback_section(self.stats, plan.steps), "executor": self.executor,
                "constitution": {"name": constitution.name, "version": constitution.version,
                                 "source": constitution.source, "principles": len(constitution.principles),
                                 "comparisons": len(constitution.comparisons)},
                "config": config.to_dict(), "counts": self.counts, "splits": {},
                "stages": {k: v.to_dict() for k, v in self.stats.stages.items()}, "totals": self.stats.totals(),
                "sessions": self.stats.sessions, "versions": versions(), **extra}

    def write(self, status: str, **extra) -> dict:
        manifest = self.manifest(status, **extra)
        self.plan.store.write_manifest(manifest)
        self._written = time.monotonic()
        return manifest


def _copy_stages(stages: dict) -> dict:
    return {name: stats.copy() for name, stats in stages.items()}
