"""Each pipeline step for one example at a time, as a generator the continuous scheduler drives.

A flow yields a list of engine requests, receives one outcome per request (a result, or a `Failure`
once the scheduler's retry failed too), and finally returns (record, prompt tokens, completion tokens).
The flows call the same pure stage methods as the stage-barrier path (`requests`/`apply` on one-record
lists), so both schedules produce the same records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass

from cai.engines.base import Engine, Request, Sampling
from cai.records import Record

Flow = Generator[list, list, tuple]


@dataclass(frozen=True)
class Failure:
    """A request that failed twice (alone the second time)."""

    reason: str


class ExampleFailed(Exception):
    """The example cannot go on: it is recorded with this reason and kept out of the export."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def chat_flow(step, record: Record, sampling: Sampling) -> Flow:
    """A pure stage (respond, critique, revise): one request, one completion."""
    [conversation] = step.stage.requests([record])
    [outcome] = yield [Request(conversation, sampling)]
    if isinstance(outcome, Failure):
        raise ExampleFailed(outcome.reason)
    [record] = step.stage.apply([record], [outcome])
    record.tokens["prompt"] += outcome.prompt_tokens
    record.tokens["completion"] += outcome.completion_tokens
    return record, outcome.prompt_tokens, outcome.completion_tokens


def sample_flow(step, record: Record, sampling: Sampling) -> Flow:
    """Extra policy samples (--samples k): one request with n = k-1; nothing to draw without an answer."""
    from cai.label.steps import SAMPLE_SEED_OFFSET

    if not record.initial_response:
        return record, 0, 0
    extra = dataclasses.replace(sampling, n=step.count - 1, seed=sampling.seed + SAMPLE_SEED_OFFSET)
    [outcome] = yield [Request(list(record.messages), extra)]
    if isinstance(outcome, Failure):
        raise ExampleFailed(outcome.reason)
    engine = _OneAnswer(outcome)
    [record], prompt_tokens, completion_tokens = step.execute(engine, [record], sampling, None)
    return record, prompt_tokens, completion_tokens


def turns_flow(step, record: Record, sampling: Sampling) -> Flow:
    """Pending assistant turns (cai.turns), one request each in order, then the respond step they precede."""
    from cai.turns import TurnStage, pending_turns

    stage, prompt_tokens, completion_tokens = TurnStage(), 0, 0
    while pending_turns(record.messages):
        [conversation] = stage.requests([record])
        [outcome] = yield [Request(conversation, sampling)]
        if isinstance(outcome, Failure):
            raise ExampleFailed(outcome.reason)
        [record] = stage.apply([record], [outcome.text])
        record.tokens["prompt"] += outcome.prompt_tokens
        record.tokens["completion"] += outcome.completion_tokens
        prompt_tokens += outcome.prompt_tokens
        completion_tokens += outcome.completion_tokens
    record, step_prompt, step_completion = yield from chat_flow(step.step, record, sampling)
    return record, prompt_tokens + step_prompt, completion_tokens + step_completion


def blocking_flow(step, record: Record, engine: Engine, sampling: Sampling) -> Flow:
    """Any other step: run its whole-list `execute` on this one record (correct, not overlapped)."""
    [record], prompt_tokens, completion_tokens = step.execute(engine, [record], sampling, None)
    return record, prompt_tokens, completion_tokens
    yield  # a generator that never asks the scheduler for anything


class _OneAnswer:
    """Stands in for the engine inside a step's `execute` when the scheduler already has the answer."""

    def __init__(self, completion):
        self.completion = completion

    def chat(self, conversations, sampling, progress=None):
        return [self.completion] * len(conversations)


def flow_for(step, record: Record, engine: Engine, sampling: Sampling) -> Flow:
    from cai.label.flow import label_flow
    from cai.label.steps import LabelStep, SampleStep
    from cai.turns import WithTurns

    if isinstance(step, WithTurns) and hasattr(step.step, "stage"):
        return turns_flow(step, record, sampling)
    if hasattr(step, "stage"):
        return chat_flow(step, record, sampling)
    if isinstance(step, SampleStep):
        return sample_flow(step, record, sampling)
    if isinstance(step, LabelStep):
        return label_flow(step, record, engine, sampling)
    return blocking_flow(step, record, engine, sampling)
