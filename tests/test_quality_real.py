"""Quality gates on the real default model through the CLI (hf engine): the gates fire, the flagged
examples stay out of the splits, `--resume --keep-flagged` re-exports them marked, and the counts are in the
manifest and in `cai inspect`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.real

# Asked for a long essay with room for 6 tokens, no model finishes: truncation is certain, whatever it writes.
ESSAYS = [{"id": f"essay-{topic}", "prompt": f"Write a detailed 1500-word essay on the history of {topic}."}
          for topic in ("Rome", "printing")]


def cai(*args, timeout=1800):
    return subprocess.run([sys.executable, "-m", "cai", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory, default_model_path):
    folder = tmp_path_factory.mktemp("gates")
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in ESSAYS))
    out = folder / "run"
    result = cai("run", "--prompts", prompts, "--engine", "hf", "--dtype", "float32", "--rounds", "1",
                 "--max-new-tokens", "6", "--few-shot", "0", "--no-label", "--test-size", "0",
                 "--temperature", "0", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def records(out):
    return {r["id"]: r for r in map(json.loads, (out / "traces.jsonl").read_text().splitlines())}


def test_every_turn_records_its_finish_reason_and_the_gates_fire(gated_run):
    out, result = gated_run
    for record in records(out).values():
        assert record["initial_finish"] == "length" and "truncated" in record["initial_flags"]
        [round_] = record["rounds"]
        assert round_["critique_finish"] == "length" and "truncated" in round_["critique_flags"]
        assert round_["revision_finish"] == "length" and "truncated" in round_["revision_flags"]
    manifest = json.loads((out / "manifest.json").read_text())
    quality = manifest["quality"]
    assert quality["turns_checked"] == {"answer": 2, "critique": 2, "revision": 2}
    assert quality["turns_flagged"]["answer"]["truncated"] == 2
    assert quality["examples_flagged"] == 2 and quality["flagged"]["truncated"] == 2 and quality["kept_out"] == 2
    assert "final answers flagged" in result.stderr  # the summary table says so


def test_flagged_examples_are_left_out_then_kept_marked_on_resume(gated_run):
    from datasets import load_from_disk

    out, _ = gated_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train_sft"] == 0 and manifest["splits"]["train_prefs"] == 0
    assert len(load_from_disk(str(out / "dataset"))["train_sft"]) == 0
    # Changing one's mind costs no generation: a resumed, finished run only exports again.
    again = cai("run", "--out", out, "--resume", "--keep-flagged", "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    sft = load_from_disk(str(out / "dataset"))["train_sft"]
    assert sorted(sft["prompt_id"]) == ["essay-Rome", "essay-printing"]
    assert all("truncated" in flags for flags in sft["flags"])
    quality = json.loads((out / "manifest.json").read_text())["quality"]
    assert quality["keep_flagged"] is True and quality["kept_out"] == 0


def test_inspect_counts_and_filters_flagged_turns(gated_run):
    out, _ = gated_run
    summary = cai("inspect", out)
    assert summary.returncode == 0, summary.stderr
    assert "quality gates (2 of 2 final answers flagged)" in summary.stdout and "truncated" in summary.stdout
    listed = cai("inspect", out, "--flagged", "truncated")
    assert listed.returncode == 0 and "2 of 2 examples" in listed.stdout
    story = cai("inspect", out, "--id", "essay-Rome")
    assert "flagged: truncated" in story.stdout and "final answer flagged" in story.stdout
    bad = cai("inspect", out, "--flagged", "trunc")
    assert bad.returncode == 2 and "unknown flag reason 'trunc'" in bad.stderr and "Traceback" not in bad.stderr
