"""RLAIF labelling logic on the scripted engine: the averaging over principles and orders, the order
swap, the chain-of-thought clamp, invalid judgements, reproducible principles, export and statistics.
The scripted judge reads the options it was shown, so every expected number below is worked out by hand."""

import json
import re

import pytest
from rich.console import Console

from cai.config import RunConfig, resolve_config
from cai.constitution import load_constitution
from cai.engines.base import ChoiceProbs, Sampling
from cai.engines.scripted import ScriptedEngine
from cai.errors import CaiError
from cai.export import build_rows
from cai.label.dataset import load_pairs
from cai.label.judge import MIN_CHOICE_MASS
from cai.label.options import label_steps
from cai.label.stats import label_stats
from cai.paths import default_constitution
from cai.records import Record, Round
from cai.runner import execute_run
from cai.store import RunStore
from cai.templates import Renderer

CONSTITUTION = load_constitution(default_constitution())
QUESTIONS = {c.question: c.id for c in CONSTITUTION.comparisons}


def shown(conversation) -> tuple[str, str, str]:
    """(principle id, answer shown as (A), answer shown as (B)) from a comparison prompt."""
    text = conversation[-1]["content"]
    principle = next(pid for question, pid in QUESTIONS.items() if question in text)
    return (principle, re.search(r"^\(A\) (.*)$", text, re.M).group(1),
            re.search(r"^\(B\) (.*)$", text, re.M).group(1))


def make_record(example_id="ex1", initial="alpha answer", final="omega answer") -> Record:
    return Record(id=example_id, messages=[{"role": "user", "content": "How do I do it?"}],
                  initial_response=initial,
                  rounds=[Round("harm-violence", "harm", "critique?", "a critique", "revise!", final)])


def label(records, probs=None, reply=None, **options):
    config = RunConfig(engine="scripted", model="scripted", gates="none", **options)  # scripted replies echo
    steps = label_steps(config, CONSTITUTION, Renderer())
    assert [s.name for s in steps][-1] == "label"
    engine = ScriptedEngine(probs=probs, **({"reply": reply} if reply else {}))
    ticks = []
    for step in steps:
        records, _, _ = step.execute(engine, records, Sampling(max_new_tokens=16, seed=config.seed),
                                     lambda items, tokens: ticks.append(items))
    return records, engine, ticks


def omega_judge(table: dict):
    """Prefers 'omega' under each principle with the table's strength, whatever letter it has."""
    def probs(conversation):
        principle, a, _ = shown(conversation)
        strength = table[principle]
        return {"A": strength, "B": 1 - strength} if a.startswith("omega") else {"A": 1 - strength, "B": strength}
    return probs


def test_soft_label_is_the_mean_over_principles_and_both_orders():
    record = make_record()
    [labelled], engine, ticks = label([record], omega_judge({c.id: 0.9 for c in CONSTITUTION.comparisons}),
                                      label_principles=3, seed=5)
    principles = {e["principle_id"] for e in labelled.labels}
    assert len(principles) == 3 and len(labelled.labels) == 6
    # Unequal letter mass: normalisation must divide by P(A) + P(B), not assume they sum to 1.
    strengths = {pid: s for pid, s in zip(sorted(principles), (0.9, 0.7, 0.6))}

    def probs(conversation):
        principle, a, _ = shown(conversation)
        high, low = strengths[principle] / 2, (1 - strengths[principle]) / 2
        return {"A": high, "B": low} if a.startswith("omega") else {"A": low, "B": high}

    [labelled], _, _ = label([record], probs, label_principles=3, seed=5)
    expected = (0.9 + 0.7 + 0.6) / 3
    verdict = labelled.preference
    assert verdict["scores"]["final"] == pytest.approx(expected, abs=1e-12)
    assert verdict["scores"]["initial"] == pytest.approx(1 - expected, abs=1e-12)
    assert verdict["chosen_name"] == "final" and verdict["chosen"] == "omega answer"
    assert verdict["rejected"] == "alpha answer"
    assert verdict["score_chosen"] == pytest.approx(expected, abs=1e-12)
    assert verdict["margin"] == pytest.approx(2 * expected - 1, abs=1e-12)
    assert verdict["agrees"] is True and verdict["flips"] == 0
    assert engine.calls == [("choice_probs", 6)]  # one batched call for every question of the chunk
    assert sum(ticks) == 1  # progress counts records, not questions


def test_swapped_order_shows_the_other_answer_first_and_reads_the_letters_back():
    letter_lover = lambda conversation: {"A": 0.8, "B": 0.2}  # noqa: E731 - always says (A)
    [labelled], _, _ = label([make_record()], letter_lover, label_principles=1)
    forward, swapped = sorted(labelled.labels, key=lambda e: e["order"])
    assert (forward["order"], forward["A"], forward["B"]) == ("forward", "initial", "final")
    assert (swapped["order"], swapped["A"], swapped["B"]) == ("swapped", "final", "initial")
    assert forward["scores"]["initial"] == pytest.approx(0.8) and swapped["scores"]["initial"] == pytest.approx(0.2)
    # A judge that only follows the letter cancels out: a tie, recorded, and nothing exported.
    assert labelled.preference["scores"]["initial"] == pytest.approx(0.5)
    assert labelled.preference["chosen"] is None and labelled.preference["reason"].startswith("tie")
    assert labelled.preference["flips"] == 1
    assert build_rows([labelled], 0.0)["train_prefs"] == []


def test_judge_preferring_the_initial_answer_makes_it_chosen():
    judge = omega_judge({c.id: 0.25 for c in CONSTITUTION.comparisons})  # omega loses 0.25 : 0.75
    [labelled], _, _ = label([make_record()], judge)
    verdict = labelled.preference
    assert verdict["chosen_name"] == "initial" and verdict["score_chosen"] == pytest.approx(0.75)
    assert verdict["agrees"] is False
    [row] = build_rows([labelled], 0.0)["train_prefs"]
    assert row["chosen"][0]["content"] == "alpha answer" and row["rejected"][0]["content"] == "omega answer"
    assert row["score_chosen"] == pytest.approx(0.75) and row["score_rejected"] == pytest.approx(0.25)
    assert row["margin"] == pytest.approx(0.5)


def test_chain_of_thought_reasons_first_then_clamps_into_the_band():
    judge = omega_judge({c.id: 0.99 for c in CONSTITUTION.comparisons})
    asked = []
    reply = lambda conversation, i: asked.append(conversation[-1]["content"]) or "Omega is calmer, so omega."  # noqa: E731
    [labelled], engine, ticks = label([make_record()], judge, reply=reply, cot=True, label_principles=2)
    assert engine.calls[0] == ("chat", 4)  # the reasoning for all four questions in one batch
    assert len(asked) == 4 and all("Think step by step" in text for text in asked)
    assert all(e["reasoning"] == "Omega is calmer, so omega." for e in labelled.labels)
    for entry in labelled.labels:  # 0.99 is clamped to 0.6 in each order
        assert entry["scores"]["final"] == pytest.approx(0.6, abs=1e-12)
    assert labelled.preference["scores"]["final"] == pytest.approx(0.6, abs=1e-12)
    assert labelled.preference["method"] == "cot"
    assert sum(ticks) == 1

    [narrow], _, _ = label([make_record()], judge, reply=reply, cot=True, clamp=[0.45, 0.55])
    assert narrow.preference["scores"]["final"] == pytest.approx(0.55, abs=1e-12)
    # Inside the band nothing moves: 0.52 stays 0.52.
    [inside], _, _ = label([make_record()], omega_judge({c.id: 0.52 for c in CONSTITUTION.comparisons}),
                           reply=reply, cot=True)
    assert inside.preference["scores"]["final"] == pytest.approx(0.52, abs=1e-12)


def test_cot_prompt_asks_for_reasoning_and_the_answer_follows_it():
    seen = []

    class Recording(ScriptedEngine):
        def choice_probs(self, conversations, choices, assistant_prefix="", progress=None):
            seen.append(assistant_prefix)
            return super().choice_probs(conversations, choices, assistant_prefix, progress)

    config = RunConfig(cot=True, label_principles=1)
    [step] = label_steps(config, CONSTITUTION, Renderer())
    engine = Recording(reply=lambda c, i: f"thinking {len(c[-1]['content'])}", probs=lambda c: {"A": .5, "B": .4})
    step.execute(engine, [make_record()], Sampling(max_new_tokens=8), None)
    assert len(seen) >= 1 and all(p.startswith("thinking ") and p.endswith("So the answer is: (") for p in seen)
    [plain] = label_steps(RunConfig(label_principles=1), CONSTITUTION, Renderer())
    seen.clear()
    plain.execute(engine, [make_record()], Sampling(), None)
    assert seen == ["The answer is: ("]


def test_unusable_answers_are_recorded_and_kept_out_of_the_export():
    def probs(conversation):
        _, a, b = shown(conversation)
        if "missing" in a + b:
            return ChoiceProbs({"A": 0.7}, missing=["B"])
        if "faint" in a + b:
            return {"A": MIN_CHOICE_MASS / 4, "B": MIN_CHOICE_MASS / 4}
        if "crash" in a + b:
            raise RuntimeError("server went away")
        return {"A": 0.9, "B": 0.1} if a.startswith("omega") else {"A": 0.1, "B": 0.9}

    class Mixed(ScriptedEngine):  # the scripted engine wraps dicts; let ChoiceProbs through as they are
        def choice_probs(self, conversations, choices, assistant_prefix="", progress=None):
            out = [p if isinstance(p, ChoiceProbs) else ChoiceProbs(dict(p)) for p in map(probs, conversations)]
            if progress:
                progress(len(out), 0)
            return out

    records = [make_record("good"), make_record("gap", final="omega missing"),
               make_record("faint", final="omega faint"), make_record("crash", final="omega crash"),
               make_record("same", final="alpha answer"), make_record("empty", final=" ")]
    steps = label_steps(RunConfig(), CONSTITUTION, Renderer())
    out, _, _ = steps[0].execute(Mixed(), records, Sampling(), None)
    verdicts = {r.id: r.preference for r in out}
    assert verdicts["good"]["chosen"] == "omega answer"
    assert "outside the engine's top candidates" in verdicts["gap"]["reason"]
    assert "both letters improbable" in verdicts["faint"]["reason"]
    assert "RuntimeError: server went away" in verdicts["crash"]["reason"]  # isolated: the others survived
    assert verdicts["same"]["reason"] == "the two answers are identical"
    assert verdicts["empty"]["reason"] == "an answer is empty"
    for name in ("gap", "faint", "crash", "same", "empty"):
        assert verdicts[name]["chosen"] is None
    gap = next(r for r in out if r.id == "gap")
    assert all(e["valid"] is False and e["missing"] == ["B"] and e["p_A"] == 0.7 for e in gap.labels)
    rows = build_rows(out, 0.0)["train_prefs"]
    assert [r["prompt_id"] for r in rows] == ["good"]
    stats = label_stats(out, 0.0, "revision wins")
    assert stats["pairs"] == 6 and stats["labelled"] == 1
    assert stats["not_labelled"] == {"'B' not scored": 1, "both letters improbable": 1, "engine error": 1,
                                     "the two answers are identical": 1, "an answer is empty": 1}


def test_engine_without_choice_scores_does_not_stop_a_run(tmp_path, write_jsonl):
    prompts = write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(3)])
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted", rounds=1,
                       gates="none")
    manifest = execute_run(config, engine=ScriptedEngine(), console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    assert manifest["status"] == "complete" and manifest["labels"]["labelled"] == 0
    assert manifest["labels"]["not_labelled"] == {"engine error": 3}
    assert manifest["splits"]["train_prefs"] + manifest["splits"]["test_prefs"] == 0


def test_principles_are_sampled_reproducibly_per_example():
    records = [make_record(f"id{i}") for i in range(12)]
    judge = omega_judge({c.id: 0.7 for c in CONSTITUTION.comparisons})
    first, _, _ = label(records, judge, label_principles=2, seed=1)
    again, _, _ = label(records, judge, label_principles=2, seed=1)
    other, _, _ = label(records, judge, label_principles=2, seed=2)
    picks = [[e["principle_id"] for e in r.labels] for r in first]
    assert picks == [[e["principle_id"] for e in r.labels] for r in again]
    assert picks != [[e["principle_id"] for e in r.labels] for r in other]
    assert all(len(set(p)) == 2 and len(p) == 4 for p in picks)  # K distinct principles, two orders each
    assert len({tuple(sorted(set(p))) for p in picks}) > 3  # they vary across examples
    assert [r.preference for r in first] == [r.preference for r in again]


def test_min_margin_drops_near_ties_from_the_export():
    strong = omega_judge({c.id: 0.9 for c in CONSTITUTION.comparisons})
    weak = omega_judge({c.id: 0.55 for c in CONSTITUTION.comparisons})
    [a], _, _ = label([make_record("strong")], strong)
    [b], _, _ = label([make_record("weak")], weak)
    assert {r["prompt_id"] for r in build_rows([a, b], 0.0)["train_prefs"]} == {"strong", "weak"}
    assert {r["prompt_id"] for r in build_rows([a, b], 0.0, min_margin=0.2)["train_prefs"]} == {"strong"}
    stats = label_stats([a, b], 0.2, "revision wins")
    assert stats["labelled"] == 2 and stats["exported"] == 1
    assert stats["distribution"] == {"0.5-0.6": 1, "0.9-1.0": 1}
    assert stats["agreement"] == {"rule": "revision wins", "agree": 2, "of": 2, "rate": 1.0}


def test_position_bias_counts_principles_whose_verdict_follows_the_letter():
    records = [make_record(f"r{i}") for i in range(20)]
    honest = label(records[:1], lambda c: {"A": 0.6, "B": 0.4}, seed=3)[0][0].labels[0]["principle_id"]

    def half_biased(conversation):  # honest under one principle, always (A) under the others
        principle, a, _ = shown(conversation)
        if principle == honest:
            return {"A": 0.9, "B": 0.1} if a.startswith("omega") else {"A": 0.1, "B": 0.9}
        return {"A": 0.7, "B": 0.3}

    records, _, _ = label(records, half_biased, label_principles=2, seed=3)
    asked = [(r.id, pid) for r in records for pid in {e["principle_id"] for e in r.labels}]
    expected_flips = sum(pid != honest for _, pid in asked)
    bias = label_stats(records, 0.0, None)["position_bias"]
    assert bias["of"] == len(asked) == 40 and bias["flips"] == expected_flips
    assert 0 < bias["flips"] < 40


def test_samples_mode_draws_k_answers_and_labels_every_pair():
    replies = {0: "omega one", 1: "middle two"}
    strength = {"omega": 0.9, "middle": 0.6, "alpha": 0.2}

    def judge(conversation):  # a Bradley-Terry-like judge: stronger answers win more clearly
        _, a, b = shown(conversation)
        sa, sb = strength[a.split()[0]], strength[b.split()[0]]
        return {"A": sa / (sa + sb), "B": sb / (sa + sb)}

    record = make_record(initial="alpha zero")
    out, engine, _ = label([record], judge, reply=lambda c, i: replies[i], samples=3, rounds=1)
    [labelled] = out
    assert engine.calls[0] == ("chat", 1) and labelled.samples == ["alpha zero", "omega one", "middle two"]
    assert len(labelled.labels) == 3 * 2 * 2  # 3 pairs x 2 principles x 2 orders
    verdict = labelled.preference
    assert {tuple(p["pair"]) for p in verdict["all_pairs"]} == {("sample-0", "sample-1"), ("sample-0", "sample-2"),
                                                               ("sample-1", "sample-2")}
    # The exported pair is the one the judge separated most: omega against alpha.
    assert (verdict["chosen"], verdict["rejected"]) == ("omega one", "alpha zero")
    assert verdict["score_chosen"] == pytest.approx(0.9 / 1.1)
    assert verdict["agrees"] is None  # no rule says which sample should win


def test_run_labels_by_default_and_exports_what_the_labels_say(tmp_path, write_jsonl):
    prompts = write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(6)])

    def judge(conversation):  # prefers the initial answer for even ids, the revision for odd ones
        _, a, _ = shown(conversation)
        number = int(re.search(r"question (\d)", conversation[-1]["content"]).group(1))
        initial_first = a.startswith("answer 0 to: question")
        likes_a = (number % 2 == 0) == initial_first
        return {"A": 0.8, "B": 0.2} if likes_a else {"A": 0.2, "B": 0.8}

    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       gates="none",
                       rounds=1, test_size=0.0, chunk_size=4, schedule="stages")
    engine = ScriptedEngine(probs=judge)
    manifest = execute_run(config, engine=engine, console=Console(file=open("/dev/null", "w")), show_progress=False)
    assert ("choice_probs", 4 * 4) in engine.calls and ("choice_probs", 2 * 4) in engine.calls
    records = {r.id: r for r in RunStore(config.out).read_records()}
    from datasets import load_from_disk

    rows = load_from_disk(str(tmp_path / "run" / "dataset"))["train_prefs"]
    assert len(rows) == 6
    for row in rows:
        record = records[row["prompt_id"]]
        want = record.initial_response if int(row["prompt_id"][1]) % 2 == 0 else record.final_response
        assert row["chosen"][0]["content"] == want == record.preference["chosen"]
        assert row["score_chosen"] == pytest.approx(0.8) and row["margin"] == pytest.approx(0.6)
    labels = manifest["labels"]
    assert labels["labelled"] == 6 and labels["agreement"]["agree"] == 3 and labels["agreement"]["of"] == 6
    assert labels["position_bias"]["rate"] == 0.0 and "label" in manifest["stages"]

    config.out, config.label = str(tmp_path / "rule"), False
    manifest = execute_run(config, engine=ScriptedEngine(), console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    rule_rows = load_from_disk(str(tmp_path / "rule" / "dataset"))["train_prefs"]
    assert "label" not in manifest["stages"] and manifest["labels"]["status"].startswith("off")
    assert all(r["chosen"][0]["content"] == r["revision_response"] for r in rule_rows) and len(rule_rows) == 6


def test_comparison_prompt_keeps_user_text_verbatim():
    seen = []
    record = make_record(initial="{{ 7*7 }} alpha", final="{% raw %}omega")
    record.messages = [{"role": "user", "content": "Say {{ config }}"}]
    label([record], lambda c: seen.append(c[-1]["content"]) or {"A": 0.6, "B": 0.4}, label_principles=1)
    assert seen and all("{{ 7*7 }} alpha" in t and "{% raw %}omega" in t and "Human: Say {{ config }}" in t
                        for t in seen)
    assert seen[0].startswith("Consider the following conversation")  # the shared part first


@pytest.mark.parametrize("flags, fragment", [
    ({"clamp": "0.6,0.4"}, "clamp"),
    ({"clamp": "x"}, "cannot read clamp"),
    ({"samples": 2, "temperature": 0.0}, "--samples needs sampling"),
    ({"pairs": "rounds:1,3", "rounds": 2}, "between 0 and 2"),
    ({"pairs": "rounds:1,1"}, "two different rounds"),
    ({"pairs": "samples"}, "--samples 2"),
    ({"pairs": "initial-final", "samples": 2}, "never compares"),
    ({"pairs": "best"}, "unknown --pairs"),
    ({"label_principles": 0}, "--label-principles"),
    ({"min_margin": 1.5}, "--min-margin"),
])
def test_bad_label_options_are_one_line_errors(flags, fragment):
    with pytest.raises(CaiError) as error:
        resolve_config(flags)
    assert fragment in error.value.line()


def test_label_options_resolve_from_flags_and_recipes(tmp_path):
    config = resolve_config({"clamp": [0.3, 0.7], "samples": 2})
    assert config.clamp == [0.3, 0.7] and config.pairs is None
    assert [s.name for s in label_steps(config, CONSTITUTION, Renderer())] == ["sample", "label"]
    recipe = tmp_path / "r.yaml"
    recipe.write_text("label: false\nclamp: 0.45,0.55\npairs: rounds:0,2\n")
    config = resolve_config({}, str(recipe))
    assert config.clamp == [0.45, 0.55] and config.label is False
    assert label_steps(config, CONSTITUTION, Renderer()) == []
    assert label_steps(resolve_config({"rounds": 0}), CONSTITUTION, Renderer()) == []  # nothing to compare


def test_pair_datasets_in_text_explicit_and_implicit_layouts(write_jsonl):
    rows = [
        {"id": "t", "prompt": "hi", "chosen": "hello", "rejected": "go away"},
        {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hey"}],
         "rejected": [{"role": "assistant", "content": "no"}]},
        {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a1"}],
         "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a2"}]},
        {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a1"}],
         "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "a2"}]},
        {"prompt": "x", "chosen": 3, "rejected": "y"},
    ]
    loaded = load_pairs(str(write_jsonl(rows)), "chosen", "rejected")
    assert [(r.id, r.messages, r.samples) for r in loaded.records] == [
        ("t", [{"role": "user", "content": "hi"}], ["hello", "go away"]),
        ("row-2", [{"role": "user", "content": "hi"}], ["hey", "no"]),
        ("row-3", [{"role": "user", "content": "q"}], ["a1", "a2"]),
    ]
    assert [s.row for s in loaded.skipped] == [4, 5]
    with pytest.raises(CaiError, match="column 'good' not found"):
        load_pairs(str(write_jsonl(rows)), "good", "rejected")


def test_label_command_rejudges_a_pair_dataset_into_a_run_store(tmp_path, write_jsonl):
    rows = [{"id": f"q{i}", "prompt": f"question {i}", "chosen": "alpha text", "rejected": "omega text"}
            for i in range(4)]
    data = write_jsonl(rows, "pairs.jsonl")
    judge = omega_judge({c.id: 0.75 for c in CONSTITUTION.comparisons})
    config = resolve_config({"prompts": str(data), "pairs": "columns", "a_column": "chosen", "b_column": "rejected",
                             "out": str(tmp_path / "relabel"), "test_size": 0.0, "engine": "scripted"})
    engine = ScriptedEngine(probs=judge)
    manifest = execute_run(config, engine=engine, console=Console(file=open("/dev/null", "w")), show_progress=False)
    assert set(manifest["stages"]) == {"label"} and not any(c[0] == "chat" for c in engine.calls)
    assert manifest["labels"]["agreement"] == {"rule": "dataset's chosen wins", "agree": 0, "of": 4, "rate": 0.0}
    from datasets import load_from_disk

    prefs = load_from_disk(str(tmp_path / "relabel" / "dataset"))["train_prefs"]
    assert len(prefs) == 4 and all(r["chosen"][0]["content"] == "omega text" for r in prefs)
    assert all(r["score_chosen"] == pytest.approx(0.75) for r in prefs)
    traces = [json.loads(line) for line in (tmp_path / "relabel" / "traces.jsonl").read_text().splitlines()]
    assert all(t["labels"] and t["preference"]["pair"] == ["chosen", "rejected"] for t in traces)
