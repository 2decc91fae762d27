"""The continuous schedule: every example moves to its next turn the moment its last one finishes.

Each example in flight is a chain of flows (cai.flows), one per pipeline step. A bounded window of
examples is in flight; when one finishes it is handed to `on_finished` at once and the next input
takes its place, so the engine always has work queued and memory does not grow with the dataset.

A request that fails is retried once, alone; if it fails again its flow decides: a generation turn
fails the example (recorded with the stage and reason), a label question records the reason on its
label. The run goes on either way.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cai.engines.base import Engine
from cai.flows import ExampleFailed, Failure, describe, flow_for
from cai.records import Record


@dataclass
class _Example:
    number: int
    record: Record
    step: int = 0
    flow: object = None
    requests: list = field(default_factory=list)
    outcomes: list = field(default_factory=list)
    left: int = 0


class StageClock:
    """Per stage: examples inside it now, and the seconds during which it had any (its busy span)."""

    def __init__(self):
        self.inside: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def enter(self, name: str) -> None:
        if not self.inside.get(name):
            self.since[name] = time.perf_counter()
        self.inside[name] = self.inside.get(name, 0) + 1

    def leave(self, name: str) -> float:
        """Seconds to add to the stage's time now (the span just closed, else 0)."""
        self.inside[name] -= 1
        if self.inside[name]:
            return 0.0
        return time.perf_counter() - self.since.pop(name)


class Scheduler:
    """`engine_for(step)` picks the engine of a step; `on_step(name, prompt_tokens, completion_tokens,
    seconds, examples)` is told each time an example leaves a step (examples 1: it passed, 0: it failed);
    `on_finished(record)` gets every finished (or failed) example, in completion order."""

    def __init__(self, steps: list, engine_for: Callable[[object], Engine], sampling, window: int,
                 on_finished: Callable[[Record], None], on_step: Callable[..., None] | None = None):
        if window < 1:
            raise ValueError("the window must hold at least one example")
        self.steps, self.engine_for, self.sampling, self.window = steps, engine_for, sampling, window
        self.on_finished, self.on_step = on_finished, on_step or (lambda *args: None)
        self.engines = list({id(e): e for e in (engine_for(s) for s in steps)}.values())
        self.active: dict[int, _Example] = {}
        self.clock = StageClock()
        self.finished = self.failed = 0

    def run(self, records: Iterable[Record]) -> int:
        """Drives every record through every step; returns how many finished (failed ones included)."""
        source = iter(records)
        numbers = iter(range(1 << 62))
        exhausted = False
        while True:
            while not exhausted and len(self.active) < self.window:
                record = next(source, None)
                if record is None:
                    exhausted = True
                    break
                example = _Example(next(numbers), record)
                self.active[example.number] = example
                self._advance(example, None)
            if not self.active:
                return self.finished
            busy = [e for e in self.engines if e.pending()]
            if not busy:
                raise RuntimeError("examples are waiting but no engine has their requests")
            for engine in busy:
                for key, result in engine.collect(block=len(busy) == 1):
                    self._deliver(engine, key, result)

    # -- one example ------------------------------------------------------------------------
    def _advance(self, example: _Example, outcomes: list | None) -> None:
        """Feed the outcomes to the example's flow and run it until it needs the engine again."""
        while True:
            if example.flow is None:
                if example.step == len(self.steps):
                    return self._finish(example)
                step = self.steps[example.step]
                example.flow = flow_for(step, example.record, self.engine_for(step), self.sampling)
                self.clock.enter(step.name)
                outcomes = None
            step = self.steps[example.step]
            try:
                requests = example.flow.send(outcomes)
            except StopIteration as done:
                example.record, prompt_tokens, completion_tokens = done.value
                self.on_step(step.name, prompt_tokens, completion_tokens, self.clock.leave(step.name), 1)
                example.step += 1
                example.flow = None
                continue
            except ExampleFailed as failure:
                # Its time in the stage still counts toward the stage's busy span; it did not pass it.
                self.on_step(step.name, 0, 0, self.clock.leave(step.name), 0)
                example.record.failure = {"stage": step.name, "reason": failure.reason}
                example.record.errors.append(f"{step.name}: {failure.reason}")
                self.failed += 1
                return self._finish(example)
            if not requests:
                outcomes = []
                continue
            example.requests, example.outcomes, example.left = requests, [None] * len(requests), len(requests)
            engine = self.engine_for(step)
            for index, request in enumerate(requests):
                engine.submit((example.number, index, 0), request)
            return

    def _deliver(self, engine: Engine, key, result) -> None:
        number, index, attempt = key
        example = self.active[number]
        if isinstance(result, BaseException):
            if attempt == 0:  # once more, alone: it may have failed only because of its batch
                request = example.requests[index]
                engine.submit((number, index, 1), dataclasses.replace(request, alone=True))
                return
            result = Failure(describe(result))
        example.outcomes[index] = result
        example.left -= 1
        if not example.left:
            self._advance(example, example.outcomes)

    def _finish(self, example: _Example) -> None:
        del self.active[example.number]
        self.finished += 1
        self.on_finished(example.record)
