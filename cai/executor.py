"""Runs the pending examples under the chosen schedule, feeding stats, progress and the checkpoint.

`continuous` (cai.scheduler): every example moves on as soon as its last request finishes, a bounded
window of examples in flight, each saved the moment it finishes. `stages` (cai.pipeline.run_steps):
chunk by chunk, every stage one engine call over the chunk, each chunk saved when it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cai.engines.base import Engine, Sampling, takes_requests
from cai.engines.feedback import POLICY
from cai.manifest import RunStats
from cai.pipeline import run_steps
from cai.progress import StageProgress
from cai.records import Record
from cai.scheduler import Scheduler

SCHEDULES = ("continuous", "stages")
BAR_EVERY_S = 0.1
OVERALL = "all"  # the progress line counting finished examples and every generated token


def window_for(config, engine: Engine) -> int:
    return int(config.window or engine.window)


def run_pending(steps: list, pending: Iterable[Record], engines: Engine | dict[str, Engine], sampling: Sampling,
                config, stats: RunStats, progress: StageProgress, checkpoint: Callable[[list[Record]], None],
                total: int | None = None) -> int:
    """Returns how many examples finished. `checkpoint(records)` persists finished examples. `engines`: one
    engine for every step, or one per role (each step's `role`: policy or feedback). `pending` may be a
    stream; `total` (how many it holds, default len(pending)) sizes the bars."""
    total = len(pending) if total is None else total
    by_role = {POLICY: engines} if isinstance(engines, Engine) else engines

    def engine_for(step) -> Engine:
        return by_role.get(getattr(step, "role", POLICY)) or by_role[POLICY]

    if config.schedule == "continuous" and not all(takes_requests(engine_for(s)) for s in steps):
        config.schedule = "stages"  # so the manifest says what ran
    if config.schedule == "stages":
        return run_steps(steps, pending, engines, sampling, config, stats, progress, checkpoint, total)
    names = [step.name for step in steps]
    for name in names + [OVERALL]:
        progress.add(name, total)
    bars = {name: _Batched(progress.callback(name)) for name in names + [OVERALL]}

    def on_step(name: str, prompt_tokens: int, completion_tokens: int, seconds: float, examples: int) -> None:
        stats.stage(name).add(examples, seconds, prompt_tokens, completion_tokens)
        if examples:
            bars[name](1, completion_tokens)
        if completion_tokens:
            bars[OVERALL](0, completion_tokens)

    def on_finished(record: Record) -> None:
        checkpoint([record])
        if record.failure:  # the stages it never reached count it as past them, so the bars complete
            for name in names[names.index(record.failure["stage"]):]:
                bars[name](1, 0)
        bars[OVERALL](1, 0)

    scheduler = Scheduler(steps, engine_for, sampling, window_for(config, by_role[POLICY]), on_finished, on_step)
    try:
        return scheduler.run(pending)
    finally:
        for bar in bars.values():
            bar.flush()


class _Batched:
    """Passes progress on at most every BAR_EVERY_S: examples finish one by one, thousands a second on a fast
    engine, and redrawing a bar costs more than scheduling an example."""

    def __init__(self, advance: Callable[[int, int], None]):
        self.advance, self.items, self.tokens, self.last = advance, 0, 0, 0.0

    def __call__(self, items: int, tokens: int) -> None:
        self.items += items
        self.tokens += tokens
        if time.monotonic() - self.last >= BAR_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.items or self.tokens:
            self.advance(self.items, self.tokens)
        self.items = self.tokens = 0
        self.last = time.monotonic()
