"""Pipeline steps that call the engine: labelling pairs, and drawing extra policy samples.

Both follow the pipeline's step protocol: `execute(engine, records, sampling, progress)` returns
(records, prompt tokens, completion tokens). Labelling never stops a run: an engine error, a prompt
too long or an unusable answer is recorded on the label with its reason and kept out of the export.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from cai.engines.base import Engine, Sampling
from cai.engines.feedback import FEEDBACK, POLICY
from cai.label.judge import CHOICES, Planner, Question, preference, score, skip_reason, verdict
from cai.label.pairs import PairMode, pairs_for
from cai.quality import GateSettings, Turn, check_turn
from cai.records import Record, copy_messages
from cai.stages import clean_output, finish_reason

# Extra samples use their own seed so they never repeat the initial answer drawn with the run's seed.
SAMPLE_SEED_OFFSET = 1_000_003
# Tokens kept free after a comparison prompt for the answer prefix ("The answer is: (").
_PREFIX_ROOM = 16


def _describe(error: BaseException) -> str:
    return f"engine error: {type(error).__name__}: {str(error)[:200]}"


def _isolated(call, items: list) -> list[tuple[object, str | None]]:
    """Run `call` on a batch; when it fails, retry the items one by one so one bad item cannot sink the
    rest. Returns (result, error) per item."""
    if not items:
        return []
    try:
        return [(result, None) for result in call(items)]
    except NotImplementedError as error:  # the engine cannot do this at all: no point retrying
        return [(None, _describe(error))] * len(items)
    except Exception as error:  # noqa: BLE001 - any engine failure becomes a recorded reason
        if len(items) == 1:
            return [(None, _describe(error))]
        return [outcome for item in items for outcome in _isolated(call, [item])]


class _RecordProgress:
    """Turns engine progress (questions answered) into record progress for the stage's bar."""

    def __init__(self, progress, records: int, units: int):
        self.progress, self.records, self.units = progress, records, max(units, 1)
        self.done_units = self.reported = 0

    def __call__(self, items: int, tokens: int) -> None:
        self.done_units += items
        self._report(min(self.records, self.done_units * self.records // self.units), tokens)

    def finish(self) -> None:
        self._report(self.records, 0)

    def _report(self, target: int, tokens: int) -> None:
        if self.progress and (target > self.reported or tokens):
            self.progress(target - self.reported, tokens)
            self.reported = target


@dataclass
class LabelStep:
    planner: Planner
    mode: PairMode
    clamp: tuple[float, float] | None = None  # chain-of-thought only
    name: str = "label"
    role = FEEDBACK  # the feedback model judges (a class attribute, not a field)

    def execute(self, engine: Engine, records: list[Record], sampling: Sampling,
                progress) -> tuple[list[Record], int, int]:
        records = [r.clone() for r in records]
        plans = []  # per record: [(pair, questions, skip reason)]
        for record in records:
            pairs = pairs_for(record, self.mode)
            plans.append([(p, [] if skip_reason(p) else self.planner.questions(record, p), skip_reason(p))
                          for p in pairs])
        owners = [(r, q) for r, plan in enumerate(plans) for _, questions, _ in plan for q in questions]
        tracker = _RecordProgress(progress, len(records), len(owners) * (2 if self.planner.cot else 1))
        too_long = [self._too_long(engine, q, sampling) for _, q in owners]
        answered, tokens = self._ask(engine, [q for _, q in owners], too_long, sampling, tracker)
        tracker.finish()
        entries: dict[int, list[dict]] = {}
        for (record_index, _), entry, (prompt, completion) in zip(owners, answered, tokens):
            entries.setdefault(record_index, []).append(entry)
            records[record_index].tokens["prompt"] += prompt
            records[record_index].tokens["completion"] += completion
        method = "cot" if self.planner.cot else "logprobs"
        for index, (record, plan) in enumerate(zip(records, plans)):
            record.labels = entries.get(index, [])
            verdicts = []
            for pair, _, skipped in plan:
                own = [e for e in record.labels if e["pair"] == list(pair.names)]
                verdicts.append(verdict(pair, own, method) if not skipped else
                                {**verdict(pair, [], method), "reason": skipped})
            record.preference = preference([p for p, _, _ in plan], verdicts)
        return records, sum(t[0] for t in tokens), sum(t[1] for t in tokens)

    def _too_long(self, engine: Engine, question: Question, sampling: Sampling) -> str | None:
        # Room for the answer prefix, and in chain-of-thought mode for the reasoning written before it.
        room = _PREFIX_ROOM + (sampling.max_new_tokens if self.planner.cot else 0)
        tokens = engine.count_tokens(question.conversation)
        if tokens + room > engine.context_length:
            return f"prompt too long: {tokens} tokens for a context of {engine.context_length}"
        return None

    def _ask(self, engine, questions: list[Question], too_long: list, sampling: Sampling, tracker):
        """Label entries and (prompt, completion) tokens, one per question, in order."""
        entries: list[dict | None] = [None] * len(questions)
        tokens = [(0, 0)] * len(questions)
        for index, reason in enumerate(too_long):
            if reason:
                entries[index] = score(questions[index], None, reason)
        todo = [i for i, reason in enumerate(too_long) if not reason]
        reasoning: dict[int, str] = {}
        if self.planner.cot:
            chats = _isolated(lambda batch: engine.chat([questions[i].conversation for i in batch], sampling, tracker),
                              todo)
            for index, (completion, error) in zip(todo, chats):
                if error:
                    entries[index] = score(questions[index], None, error)
                else:
                    reasoning[index] = completion.text.strip()
                    tokens[index] = (completion.prompt_tokens, completion.completion_tokens)
            todo = [i for i in todo if i in reasoning]
        groups: dict[str, list[int]] = {}
        for index in todo:
            groups.setdefault(self.planner.answer_prefix(reasoning.get(index)), []).append(index)
        for prefix, indices in groups.items():
            call = lambda batch, prefix=prefix: engine.choice_probs(  # noqa: E731
                [questions[i].conversation for i in batch], CHOICES, prefix, tracker)
            for index, (probs, error) in zip(indices, _isolated(call, indices)):
                entries[index] = score(questions[index], probs, error, self.clamp if self.planner.cot else None,
                                       reasoning.get(index))
                if probs is not None:
                    tokens[index] = (tokens[index][0] + probs.prompt_tokens, tokens[index][1])
        return entries, tokens


@dataclass
class SampleStep:
    """Draws k-1 more answers per prompt from the policy; with the initial answer they make k samples."""

    count: int
    gates: GateSettings = field(default_factory=GateSettings)
    name: str = "sample"
    role = POLICY  # more answers from the policy

    def execute(self, engine: Engine, records: list[Record], sampling: Sampling,
                progress) -> tuple[list[Record], int, int]:
        records = [r.clone() for r in records]
        todo = [r for r in records if r.initial_response]
        extra = dataclasses.replace(sampling, n=self.count - 1, seed=sampling.seed + SAMPLE_SEED_OFFSET)
        completions = engine.chat([copy_messages(r.messages) for r in todo], extra, progress) if todo else []
        for record, completion in zip(todo, completions, strict=True):
            texts = [clean_output(t) for t in completion.texts]
            record.samples = [record.initial_response] + texts
            record.sample_flags = [list(record.initial_flags)] + [
                check_turn(Turn("sample", text, finish_reason(completion, i)), self.gates)
                for i, text in enumerate(texts)]
            record.tokens["prompt"] += completion.prompt_tokens
            record.tokens["completion"] += completion.completion_tokens
        if progress and len(todo) < len(records):
            progress(len(records) - len(todo), 0)
        return (records, sum(c.prompt_tokens for c in completions),
                sum(c.completion_tokens for c in completions))
