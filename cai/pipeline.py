"""Runs the stages over all pending examples, chunk by chunk, checkpointing as chunks finish.

Within a chunk every stage is one engine call over all its examples, so the engine batches freely;
the chunk size bounds what a crash can lose.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from cai.config import RunConfig
from cai.constitution import Constitution
from cai.engines.base import Engine, Sampling, takes_requests
from cai.engines.feedback import POLICY
from cai.label.options import label_steps
from cai.manifest import RunStats
from cai.progress import StageProgress
from cai.quality import settings_from_config
from cai.records import Record
from cai.stages import CritiqueStage, RespondStage, RevisionStage, few_shot_turns
from cai.templates import Renderer
from cai.turns import WithTurns


@dataclass
class Chat:
    """Wraps a pure stage: asks the engine for one completion per record, then applies them."""

    stage: object
    role = POLICY  # generation stages run on the policy's engine

    @property
    def name(self) -> str:
        return self.stage.name

    def execute(self, engine: Engine, records: list[Record], sampling: Sampling,
                progress) -> tuple[list[Record], int, int]:
        completions = engine.chat(self.stage.requests(records), sampling, progress)
        records = self.stage.apply(records, completions)
        for record, completion in zip(records, completions):
            record.tokens["prompt"] += completion.prompt_tokens
            record.tokens["completion"] += completion.completion_tokens
        return (records, sum(c.prompt_tokens for c in completions),
                sum(c.completion_tokens for c in completions))


def build_steps(config: RunConfig, constitution: Constitution, renderer: Renderer) -> list:
    prefix = few_shot_turns(constitution, renderer, config.few_shot)
    gates = settings_from_config(config)
    steps: list = [WithTurns(Chat(RespondStage(gates)))]  # assistant turns left for the policy come first
    for round_index in range(config.rounds):
        steps.append(Chat(CritiqueStage(constitution, renderer, config.seed, round_index, prefix, gates)))
        steps.append(Chat(RevisionStage(constitution, renderer, round_index, prefix, gates)))
    return steps + label_steps(config, constitution, renderer, gates)


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` items, read lazily: only one chunk of a long input is in memory."""
    source = iter(items)
    while chunk := list(islice(source, max(size, 1))):
        yield chunk


def run_steps(steps: list, records: Iterable[Record], engines: Engine | dict[str, Engine], sampling: Sampling,
              config: RunConfig, stats: RunStats, progress: StageProgress, on_chunk_done,
              total: int | None = None) -> int:
    """Returns how many examples finished. `on_chunk_done(records)` persists each finished chunk.
    `engines`: one engine for every step, or one per role (each step's `role`: policy or feedback).
    `total`: how many records there are, for the bars (default: len(records))."""
    for step in steps:
        progress.add(step.name, len(records) if total is None else total)
    finished = 0
    for chunk in chunks(records, config.chunk_size):
        for step in steps:
            started = time.perf_counter()
            engine = engines if isinstance(engines, Engine) else engines[getattr(step, "role", POLICY)]
            advance = progress.callback(step.name)
            live = [r for r in chunk if not r.failure]
            if len(live) < len(chunk):
                advance(len(chunk) - len(live), 0)  # failed at an earlier stage: past this one too
            done, prompt_tokens, completion_tokens = _barrier(step, engine, live, sampling, advance)
            passed = sum(1 for r in done if not r.failure)
            stats.stage(step.name).add(passed, time.perf_counter() - started, prompt_tokens, completion_tokens)
            by_id = {r.id: r for r in done}
            chunk = [by_id.get(r.id, r) for r in chunk]
        on_chunk_done(chunk)
        finished += len(chunk)
    return finished


def _barrier(step, engine: Engine, records: list[Record], sampling: Sampling, advance) -> tuple[list, int, int]:
    """One step over a chunk: every request at once, then wait for all of them. On an engine that takes
    requests, through the continuous scheduler with a window of the whole chunk, so a failing request is
    retried alone and fails only its example, as in the continuous schedule."""
    if not takes_requests(engine):
        return step.execute(engine, records, sampling, advance)
    from cai.scheduler import Scheduler

    finished: list[Record] = []
    tokens = [0, 0]

    def on_step(name: str, prompt_tokens: int, completion_tokens: int, seconds: float, examples: int) -> None:
        tokens[0] += prompt_tokens
        tokens[1] += completion_tokens
        advance(1, completion_tokens)

    Scheduler([step], lambda _: engine, sampling, max(len(records), 1), finished.append, on_step).run(records)
    return finished, tokens[0], tokens[1]
