"""RLAIF labelling end to end on the real default model: through the hf engine (in-process and via
`cai label`), and through vLLM. The model is a tiny, poor judge: these tests check the mechanics
(probabilities, both orders, reproducibility, export consistent with the labels), not its wisdom."""

import json
import subprocess
import sys

import pytest
from rich.console import Console

from cai.config import RunConfig, resolve_config
from cai.constitution import load_constitution
from cai.engines.base import Sampling
from cai.label.options import label_steps
from cai.paths import default_constitution
from cai.records import Record, Round
from cai.runner import execute_run
from cai.store import RunStore
from cai.templates import Renderer

pytestmark = pytest.mark.real

CONSTITUTION = load_constitution(default_constitution())
PAIRS = [("kill", "How do I kill a Python process?", "Use `kill <pid>`, or `pkill -f name` to match by name.",
          "I cannot help with killing."),
         ("bomb", "Tell me how to build a pipe bomb.", "Sure: take a steel pipe and fill it with powder.",
          "I can't help with making weapons or explosives. If you're in danger, please contact local services."),
         ("name", "What is the capital of France?", "Paris.", "The capital of France is Paris, on the Seine.")]


def pair_records(count: int = 3) -> list[Record]:
    return [Record(id=i, messages=[{"role": "user", "content": prompt}], initial_response=initial,
                   rounds=[Round("harm-violence", "harm", "critique?", "a critique", "revise!", final)])
            for i, prompt, initial, final in PAIRS[:count]]


def label_with(engine, count: int = 3, **options):
    config = RunConfig(**options)
    [step] = label_steps(config, CONSTITUTION, Renderer())
    records, prompt_tokens, _ = step.execute(engine, pair_records(count), Sampling(max_new_tokens=16, seed=config.seed),
                                             None)
    return records, prompt_tokens


def check_labels(records, principles_per_pair: int, clamp=(0.0, 1.0)) -> None:
    for record in records:
        entries = record.labels
        assert len(entries) == 2 * principles_per_pair
        by_principle = {}
        for entry in entries:
            by_principle.setdefault(entry["principle_id"], set()).add(entry["order"])
            assert 0.0 <= entry["p_A"] <= 1.0 and 0.0 <= entry["p_B"] <= 1.0
            assert entry["p_A"] + entry["p_B"] <= 1.0 + 1e-6  # next-token probabilities of two letters
            if entry["valid"]:
                assert sum(entry["scores"].values()) == pytest.approx(1.0, abs=1e-6)
                normalised = entry["p_A"] / (entry["p_A"] + entry["p_B"])
                assert entry["scores"][entry["A"]] == pytest.approx(min(max(normalised, clamp[0]), clamp[1]), abs=1e-9)
        assert all(orders == {"forward", "swapped"} for orders in by_principle.values())  # both orders asked
        assert len(by_principle) == principles_per_pair
        verdict = record.preference
        if verdict["scores"] is not None:
            assert 0.0 <= verdict["scores"]["final"] <= 1.0
            assert verdict["scores"]["final"] + verdict["scores"]["initial"] == pytest.approx(1.0, abs=1e-6)
            if verdict["chosen"] is not None:
                assert verdict["score_chosen"] >= 0.5
                assert verdict["score_chosen"] + verdict["score_rejected"] == pytest.approx(1.0, abs=1e-6)


def test_hf_labels_are_probabilities_from_both_orders(hf_engine):
    # (Same seed, same labels: checked through `cai label` below, which labels the same pairs twice.)
    records, prompt_tokens = label_with(hf_engine, label_principles=2, seed=4)
    check_labels(records, 2)
    assert prompt_tokens > 0
    assert sum(e["valid"] for r in records for e in r.labels) >= 8, "the model should answer with a letter"
    assert any(r.preference["chosen"] is not None for r in records)


def test_hf_chain_of_thought_reasons_then_clamps(hf_engine):
    records, _ = label_with(hf_engine, count=2, label_principles=1, cot=True, clamp=[0.4, 0.6], temperature=0.7)
    check_labels(records, 1, clamp=(0.4, 0.6))
    entries = [e for r in records for e in r.labels]
    assert all(e.get("reasoning") for e in entries if e["valid"])
    assert all(0.4 - 1e-12 <= e["scores"][e["A"]] <= 0.6 + 1e-12 for e in entries if e["valid"])
    assert any(e["valid"] for e in entries)
    for record in records:
        if record.preference["scores"] is not None:
            assert 0.4 - 1e-12 <= record.preference["scores"]["final"] <= 0.6 + 1e-12


def pair_dataset(write_jsonl):
    """The PAIRS as a dataset of ready-made pairs: the two answers differ by construction, so every pair
    is asked whatever the model would have written."""
    return write_jsonl([{"id": i, "prompt": prompt, "chosen": a, "rejected": b} for i, prompt, a, b in PAIRS],
                       "pairs.jsonl")


def test_hf_run_exports_preferences_that_follow_the_labels(hf_engine, write_jsonl, tmp_path):
    from datasets import load_from_disk

    config = resolve_config({"prompts": str(pair_dataset(write_jsonl)), "pairs": "columns", "a_column": "chosen",
                             "b_column": "rejected", "out": str(tmp_path / "run"), "seed": 2, "test_size": 0.0,
                             "engine": "hf"})
    manifest = execute_run(config, engine=hf_engine, console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    records = {r.id: r for r in RunStore(config.out).read_records()}
    assert manifest["stages"]["label"]["examples"] == 3
    labels = manifest["labels"]
    assert labels["status"] == "on" and labels["pairs"] == 3 and labels["questions"] == 12
    assert labels["agreement"]["rule"] == "dataset's chosen wins"
    assert labels["position_bias"]["of"] >= 1 and 0.0 <= labels["position_bias"]["rate"] <= 1.0
    assert all(record.preference is not None and len(record.labels) == 4 for record in records.values())
    rows = load_from_disk(str(tmp_path / "run" / "dataset"))["train_prefs"]
    exported = {row["prompt_id"]: row for row in rows}
    # Exactly the pairs with a verdict are exported; unusable labels and ties stay out.
    assert set(exported) == {r.id for r in records.values() if r.preference["chosen"] is not None}
    assert exported and len(rows) == labels["exported"]
    texts = {i: {"chosen": a, "rejected": b} for i, _, a, b in PAIRS}
    for prompt_id, row in exported.items():
        verdict = records[prompt_id].preference
        assert row["chosen"][0]["content"] == verdict["chosen"] == texts[prompt_id][verdict["chosen_name"]]
        assert row["rejected"][0]["content"] == verdict["rejected"] == texts[prompt_id][verdict["rejected_name"]]
        assert row["score_chosen"] == pytest.approx(verdict["score_chosen"]) and row["score_chosen"] > 0.5
        assert row["score_chosen"] + row["score_rejected"] == pytest.approx(1.0, abs=1e-6)
        assert row["margin"] == pytest.approx(row["score_chosen"] - row["score_rejected"])


def test_hf_policy_samples_are_drawn_labelled_and_exported(hf_engine, write_jsonl, tmp_path):
    from datasets import load_from_disk

    # Open-ended prompts sampled at temperature 1.0 for 16 tokens: two draws that coincide for both
    # prompts would take a near-impossible accident (and is reported as such below).
    prompts = write_jsonl([{"id": "dragon", "prompt": "Write a long story about a dragon and a baker."},
                           {"id": "city", "prompt": "Describe a busy city street in detail."}])
    config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "rl"), "rounds": 0, "samples": 2,
                             "max_new_tokens": 16, "temperature": 1.0, "top_p": 1.0, "test_size": 0.0,
                             "engine": "hf", "gates": "none"})  # 16 tokens: cut off, which the gates would flag
    manifest = execute_run(config, engine=hf_engine, console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    assert list(manifest["stages"]) == ["respond", "sample", "label"]
    records = {r.id: r for r in RunStore(config.out).read_records()}
    identical = {i for i, r in records.items() if r.samples[0].strip() == r.samples[1].strip()}
    assert len(identical) < len(records), {i: r.samples for i, r in records.items()}
    for record in records.values():
        assert len(record.samples) == 2 and record.samples[0] == record.initial_response
        assert all(sample.strip() for sample in record.samples)
        # A pair of identical answers is not asked about; every other pair gets 2 principles x 2 orders.
        assert len(record.labels) == (0 if record.id in identical else 4)
        assert {tuple(e["pair"]) for e in record.labels} <= {("sample-0", "sample-1")}
        assert record.preference["pair"] == ["sample-0", "sample-1"]
    rows = {row["prompt_id"]: row for row in load_from_disk(str(tmp_path / "rl" / "dataset"))["train_prefs"]}
    exported = {i for i, r in records.items() if r.preference["chosen"] is not None}
    assert set(rows) == exported and len(rows) == manifest["labels"]["exported"]
    for example_id in exported:
        row, record = rows[example_id], records[example_id]
        verdict = record.preference
        assert row["chosen"][0]["content"] == verdict["chosen"] and row["rejected"][0]["content"] == verdict["rejected"]
        assert {verdict["chosen"], verdict["rejected"]} == set(record.samples)
        assert row["score_chosen"] == pytest.approx(verdict["score_chosen"])
        assert row["prompt"] == record.messages
        # The H4 string columns describe the two samples, not a critique that never happened.
        assert (row["init_response"], row["revision_response"]) == tuple(record.samples)
        assert row["critic_prompt"] == row["critic_response"] == row["revision_prompt"] == ""


def cai(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "cai", *args], capture_output=True, text=True, timeout=timeout)


def test_cai_label_rejudges_a_pair_dataset_reproducibly(write_jsonl, tmp_path):
    data = write_jsonl([{"id": i, "prompt": prompt, "chosen": a, "rejected": b} for i, prompt, a, b in PAIRS],
                       "pairs.jsonl")
    outs = []
    for name in ("first", "second"):
        out = tmp_path / name
        result = cai("label", str(data), "--engine", "hf", "--seed", "7", "--test-size", "0", "--out", str(out),
                     "--quiet")
        assert result.returncode == 0, result.stderr[-3000:]
        assert "labels" in result.stderr and "position bias" in result.stderr  # the summary table
        outs.append(out)
    traces = [[json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()] for out in outs]
    assert [t["labels"] for t in traces[0]] == [t["labels"] for t in traces[1]]  # same seed, same labels
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    assert list(manifest["stages"]) == ["label"] and manifest["labels"]["agreement"]["rule"] == "dataset's chosen wins"
    records = {r.id: r for r in RunStore(outs[0]).read_records()}
    check_labels_pairs = [(r.preference["pair"], len(r.labels)) for r in records.values()]
    assert all(pair == ["chosen", "rejected"] and n == 4 for pair, n in check_labels_pairs)
    from datasets import load_from_disk

    prefs = load_from_disk(str(outs[0] / "dataset"))["train_prefs"]
    assert len(prefs) == manifest["labels"]["exported"]
    for row in prefs:
        verdict = records[row["prompt_id"]].preference
        assert row["chosen"][0]["content"] == verdict["chosen"]
        assert row["prompt"] == records[row["prompt_id"]].messages

    bad = cai("label", str(data), "--a-column", "nope", "--engine", "hf", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "column 'nope' not found" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_vllm_labels_match_the_hf_engine(vllm_engine, hf_engine):
    records, _ = label_with(vllm_engine, label_principles=2, seed=4)
    check_labels(records, 2)
    again, _ = label_with(vllm_engine, label_principles=2, seed=4)
    assert [r.preference["scores"] for r in again] == [r.preference["scores"] for r in records]
    reference, _ = label_with(hf_engine, label_principles=2, seed=4)
    gaps = []
    for mine, theirs in zip(records, reference):
        for a, b in zip(mine.labels, theirs.labels):
            assert (a["principle_id"], a["order"]) == (b["principle_id"], b["order"])
            if a["valid"] and b["valid"]:
                gaps.append(abs(a["scores"][a["A"]] - b["scores"][b["A"]]))
    # The same model in the same precision (float32, see conftest) on two engines' kernels: close,
    # not bit-identical.
    assert len(gaps) >= 6 and max(gaps) < 0.1, (gaps, vllm_engine.info.get("dtype"), hf_engine.info.get("dtype"))


def test_hf_choice_probs_do_not_depend_on_left_padding(default_model_path, tmp_path):
    """With absolute position embeddings (GPT-2 style) a left-padded row is only scored right when the
    positions skip the padding, as generate() does; a tiny random GPT-2 shows it."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from cai.engines.hf import HFEngine

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=1, n_head=2))
    model.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    engine = HFEngine(str(tmp_path / "gpt2"), dtype="float32", batch_size=4)
    short = [{"role": "user", "content": "Pick one. (A) tea (B) coffee"}]
    long = [{"role": "user", "content": "Pick one, thinking of " + "many things " * 40 + ". (A) tea (B) coffee"}]
    alone = engine.choice_probs([short], ["A", "B"], "The answer is: (")[0].probs
    padded = engine.choice_probs([short, long], ["A", "B"], "The answer is: (")[0].probs
    assert padded["A"] == pytest.approx(alone["A"], rel=1e-4) and padded["B"] == pytest.approx(alone["B"], rel=1e-4)


def test_openai_server_labels_match_the_in_process_vllm(vllm_server, vllm_engine):
    from cai.engines import build_engine

    engine = build_engine("openai", vllm_engine.model_id, base_url=[vllm_server.base_url])
    try:
        records, _ = label_with(engine, count=2, label_principles=1, seed=4)
    finally:
        engine.close()
    check_labels(records, 1)
    reference, _ = label_with(vllm_engine, count=2, label_principles=1, seed=4)
    compared = 0
    for mine, theirs in zip(records, reference):
        for a, b in zip(mine.labels, theirs.labels):
            assert (a["principle_id"], a["order"], a["valid"]) == (b["principle_id"], b["order"], b["valid"])
            if a["valid"]:  # the same vLLM model behind HTTP: the same probabilities
                assert a["scores"][a["A"]] == pytest.approx(b["scores"][b["A"]], abs=0.02)
                compared += 1
    assert compared >= 2
