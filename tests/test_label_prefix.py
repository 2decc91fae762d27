"""The comparison prompt is laid out for a prefix cache, and the questions that share a prefix reach the
engine one after another, under both schedules (scripted engine: the order of submission is the logic)."""

import itertools
import os
from itertools import groupby

import pytest
from rich.console import Console

from cai.config import RunConfig
from cai.constitution import load_constitution
from cai.engines.scripted import ScriptedEngine
from cai.label.judge import Planner
from cai.label.pairs import Pair
from cai.paths import default_constitution
from cai.records import Record
from cai.runner import execute_run
from cai.templates import Renderer

CONSTITUTION = load_constitution(default_constitution())
QUESTIONS = [c.question for c in CONSTITUTION.comparisons]


def principle_at(text: str) -> int:
    """Where the (only) comparison principle starts in a rendered question."""
    [at] = [text.index(q) for q in QUESTIONS if q in text]
    return at


def common_prefix(texts: list[str]) -> str:
    return os.path.commonprefix(texts)


@pytest.mark.parametrize("cot", [False, True])
def test_questions_of_one_pair_share_the_conversation_and_both_answers_before_the_principle(cot):
    record = Record(id="ex1", messages=[{"role": "user", "content": "How do I fix my bike?"}])
    pair = Pair(("initial", "final"), ("alpha answer about chains", "omega answer about brakes"))
    questions = Planner(CONSTITUTION.comparisons, Renderer(), seed=0, principles_per_pair=3, cot=cot).questions(
        record, pair)
    texts = {order: [q.conversation[-1]["content"] for q in questions if q.order == order]
             for order in ("forward", "swapped")}
    assert len(texts["forward"]) == len(texts["swapped"]) == 3
    for order, (first, second) in (("forward", pair.texts), ("swapped", pair.texts[::-1])):
        assert len({t[principle_at(t):] for t in texts[order]}) == 3  # three principles
        shared = common_prefix(texts[order])
        # Everything but the principle and the instruction after it is shared by the K principles.
        assert "Human: How do I fix my bike?" in shared
        assert f"(A) {first}\n(B) {second}" in shared
        assert not any(q in shared for q in QUESTIONS)
        for text in texts[order]:
            options_end = text.index(f"(B) {second}") + len(f"(B) {second}")
            assert len(shared) >= options_end and principle_at(text) >= options_end
    # The two orders differ from option (A) on: they share the opening and the conversation.
    across = common_prefix(texts["forward"] + texts["swapped"])
    assert across.startswith("Consider the following conversation") and "Human: How do I fix my bike?" in across
    assert pair.texts[0] not in across and pair.texts[1] not in across


class RecordingEngine(ScriptedEngine):
    """Notes every scoring request in the order it was submitted."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scored: list[str] = []

    def _submit(self, key, request):
        if request.scores:
            self.scored.append(request.conversation[-1]["content"])
        super()._submit(key, request)


def shared_part(text: str) -> str:
    """What a question shares with the other principles of its pair and order: all before the principle."""
    return text[:principle_at(text)]


def assert_grouped(scored: list[str], per_group: int) -> None:
    runs = [(part, len(list(run))) for part, run in groupby(scored, key=shared_part)]
    assert len({part for part, _ in runs}) == len(runs), "a shared prefix came back after another one"
    assert {length for _, length in runs} == {per_group}


@pytest.mark.parametrize("schedule, options", [("stages", {"chunk_size": 3}),
                                               ("continuous", {"window": 3})])
def test_questions_sharing_a_prefix_are_submitted_one_after_another(tmp_path, write_jsonl, schedule, options):
    prompts = write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(7)])
    counter = itertools.count()  # every reply differs, so no pair is skipped as identical
    # Random finishing: the examples reach the label stage in shuffled order and interleaved with generation.
    engine = RecordingEngine(probs=lambda c: {"A": 0.6, "B": 0.4}, finish="random", seed=5,
                             reply=lambda c, i: f"reply {next(counter)}")
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       gates="none", rounds=1, samples=3, temperature=0.7, label_principles=2, schedule=schedule,
                       **options)
    manifest = execute_run(config, engine=engine, console=Console(file=open(os.devnull, "w")), show_progress=False)
    assert manifest["counts"]["completed"] == 7
    assert len(engine.scored) == 7 * 3 * 2 * 2  # 7 examples x 3 pairs of samples x 2 orders x 2 principles
    assert_grouped(engine.scored, per_group=2)
