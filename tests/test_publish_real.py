"""A short real run on the default model (hf engine, first use of a fresh model cache), its output captured
as a log would capture it (no TTY): plain progress lines per stage, cai's one conversion line, none of the
libraries' notices; and the dataset card it writes, read back with huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real
REPO = Path(__file__).resolve().parent.parent
NOTICES = ("Converting and de-quantizing", "FutureWarning", "UserWarning", "DeprecationWarning", "Triton", "NUMA",
           "it/s]")
STAGES = ("respond", "critique 1", "revise 1", "label")


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logged")
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "prompt": text}) + "\n" for i, text in
                               (("p0", "How do I boil an egg?"), ("p4", "Name a colour."))))
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAI_CACHE": str(folder / "cache"), "CAI_PROGRESS_INTERVAL": "0"}
    for name in ("CAI_VERBOSE", "TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS", "TQDM_DISABLE"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "cai", "run", "--engine", "hf", "--prompts", str(prompts), "--rounds", "1",
         "--max-new-tokens", "16", "--few-shot", "1", "--label-principles", "1", "--test-size", "0.5",
         "--out", str(folder / "run")], capture_output=True, text=True, timeout=1800, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "run", result.stdout + result.stderr


def test_a_log_shows_progress_lines_and_no_library_notices(logged_run):
    _, output = logged_run
    for stage in STAGES:
        lines = re.findall(rf"^{re.escape(stage)}\s+(\d+)/2 examples\s+[\d.]+ ex/s [\d.]+ tok/s", output, re.MULTILINE)
        assert lines and lines[-1] == "2", (stage, output[-2000:])
    assert len(re.findall(r"^converting the embedded SmolLM2-135M-Instruct", output, re.MULTILINE)) == 1
    assert len(re.findall(r"^converted the embedded SmolLM2-135M-Instruct in \d+ s", output, re.MULTILINE)) == 1
    assert [notice for notice in NOTICES if notice in output] == [], output[-3000:]
    assert not re.search(r"━+\s*\d+/\d+", output)  # no progress bar drawn into the log


def test_the_real_runs_card_names_splits_hash_and_models(logged_run):
    from datasets import load_from_disk
    from huggingface_hub import DatasetCard

    run, _ = logged_run
    loaded = load_from_disk(str(run / "dataset"))
    card = DatasetCard.load(run / "dataset" / "README.md")
    listed = {s["name"]: s["num_examples"] for entry in card.data.to_dict()["dataset_info"] for s in entry["splits"]}
    assert listed == {name: len(part) for name, part in loaded.items()}
    text = card.text
    assert hashlib.sha256((run / "dataset" / "constitution.yaml").read_bytes()).hexdigest() in text
    assert "policy model | SmolLM2-135M-Instruct (embedded) on the hf engine" in text
    assert "the policy model labelled its own pairs" in text
    assert "(SmolLM2-135M-Instruct (embedded)) is small" in text  # the known limitation is spelled out
