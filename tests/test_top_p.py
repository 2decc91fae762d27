"""--top-p: no nucleus cut-off by default (the CAI paper samples at T = 1 over the whole distribution),
the flag reaches the run, bad values are refused up front, and the engines honour it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cai.config import RunConfig, resolve_config
from cai.engines.base import Sampling
from cai.errors import CaiError
from cai.store import RunStore

QUESTION = [{"role": "user", "content": "Write a sentence about the sea."}]


def cai(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "cai", *args], capture_output=True, text=True, timeout=timeout)


def test_no_nucleus_cut_by_default():
    assert RunConfig().top_p == 1.0 and Sampling().top_p == 1.0
    assert resolve_config({}).top_p == 1.0 and resolve_config({"top_p": 0.9}).top_p == 0.9
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(CaiError, match="above 0 and at most 1"):
            resolve_config({"top_p": bad})


@pytest.mark.parametrize("command", ["run", "label"])
def test_cli_refuses_top_p_out_of_range_before_making_a_run(command, tmp_path, write_jsonl):
    out = tmp_path / "run"
    data = write_jsonl([{"prompt": "Hi", "chosen": "Hello.", "rejected": "Go away."}])
    args = ["run", "--prompts", str(data)] if command == "run" else ["label", str(data)]
    result = cai(*args, "--top-p", "1.5", "--engine", "hf", "--out", str(out))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: --top-p: must be a number, above 0 and at most 1 (got 1.5) — fix:")
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.real
def test_cli_top_p_is_recorded_in_the_run(tmp_path, write_jsonl):
    prompts = write_jsonl([{"id": "sea", "prompt": "Write a sentence about the sea."}])
    out = tmp_path / "run"
    result = cai("run", "--prompts", str(prompts), "--engine", "hf", "--rounds", "0", "--no-label",
                 "--max-new-tokens", "4", "--top-p", "0.5", "--test-size", "0", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert RunStore(out).saved_config()["top_p"] == 0.5


@pytest.mark.real
def test_hf_engine_honours_top_p(hf_engine):
    """A nucleus of almost no probability keeps only the most probable token: sampling is then greedy."""
    [greedy] = hf_engine.chat([QUESTION], Sampling(max_new_tokens=12, temperature=0.0))
    [narrow] = hf_engine.chat([QUESTION], Sampling(max_new_tokens=12, temperature=1.0, top_p=1e-6, seed=3))
    assert narrow.texts == greedy.texts
