"""The labelling step for one example, as a flow the continuous scheduler drives (see cai.flows).

Same questions, scores and verdicts as `LabelStep.execute`; a failed question is recorded on its label
with the reason, as there, and never fails the example.
"""

from __future__ import annotations

from cai.engines.base import Engine, Request, Sampling
from cai.flows import Failure, Flow
from cai.label.judge import CHOICES, preference, score, skip_reason, verdict
from cai.label.pairs import pairs_for
from cai.records import Record


def label_flow(step, record: Record, engine: Engine, sampling: Sampling) -> Flow:
    record = record.clone()
    planner = step.planner
    plan = [(pair, [] if skip_reason(pair) else planner.questions(record, pair), skip_reason(pair))
            for pair in pairs_for(record, step.mode)]
    questions = [q for _, qs, _ in plan for q in qs]
    entries: list = [None] * len(questions)
    tokens = [[0, 0] for _ in questions]
    todo = []
    for index, question in enumerate(questions):
        reason = step._too_long(engine, question, sampling)
        if reason:
            entries[index] = score(question, None, reason)
        else:
            todo.append(index)
    reasoning: dict[int, str] = {}
    if planner.cot and todo:
        outcomes = yield [Request(questions[i].conversation, sampling) for i in todo]
        for index, outcome in zip(todo, outcomes):
            if isinstance(outcome, Failure):
                entries[index] = score(questions[index], None, f"engine error: {outcome.reason}")
            else:
                reasoning[index] = outcome.text.strip()
                tokens[index] = [outcome.prompt_tokens, outcome.completion_tokens]
        todo = [i for i in todo if i in reasoning]
    if todo:
        outcomes = yield [Request(questions[i].conversation, choices=CHOICES,
                                  assistant_prefix=planner.answer_prefix(reasoning.get(i))) for i in todo]
        for index, outcome in zip(todo, outcomes):
            failed = isinstance(outcome, Failure)
            entries[index] = score(questions[index], None if failed else outcome,
                                   f"engine error: {outcome.reason}" if failed else None,
                                   step.clamp if planner.cot else None, reasoning.get(index))
            if not failed:
                tokens[index][0] += outcome.prompt_tokens
    record.labels = list(entries)
    method = "cot" if planner.cot else "logprobs"
    verdicts = []
    for pair, _, skipped in plan:
        own = [e for e in record.labels if e["pair"] == list(pair.names)]
        verdicts.append(verdict(pair, own, method) if not skipped else {**verdict(pair, [], method), "reason": skipped})
    record.preference = preference([p for p, _, _ in plan], verdicts)
    prompt_tokens, completion_tokens = sum(t[0] for t in tokens), sum(t[1] for t in tokens)
    record.tokens["prompt"] += prompt_tokens
    record.tokens["completion"] += completion_tokens
    return record, prompt_tokens, completion_tokens
