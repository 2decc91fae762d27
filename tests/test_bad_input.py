"""Bad input as a new user gives it: one line, exit 2, no traceback, no run folder (README "Bad input").

Everything here is rejected before an engine is built, so no model runs; each test starts the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def cai(*args, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250", "HF_HUB_OFFLINE": "1",
                   "CAI_DEBUG": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "cai", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=environment, cwd=REPO)


def one_line(result: subprocess.CompletedProcess, status: int = 2) -> str:
    """The single `error:` line of a rejected command (and nothing that looks like a traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- 1. models that cannot be loaded, and errors nobody expected -----------------------------------

def test_missing_model_folder_is_one_line_and_makes_no_run_folder(tmp_path):
    line = one_line(cai("run", "--model", "/nonexistent/model", "--out", tmp_path / "run", "--quiet"))
    assert "model folder not found" in line and "/nonexistent/model" in line
    assert "config.json" in line and "default" in line and "fix:" in line
    assert not (tmp_path / "run").exists()


def test_folder_without_config_json_is_not_a_model(tmp_path):
    (tmp_path / "notes").mkdir()
    line = one_line(cai("run", "--model", tmp_path / "notes", "--out", tmp_path / "run", "--quiet"))
    assert "no config.json" in line and not (tmp_path / "run").exists()


def test_hub_id_not_cached_on_an_offline_machine(tmp_path):
    line = one_line(cai("run", "--model", "nobody-here/no-such-model", "--out", tmp_path / "run", "--quiet"))
    assert "not in the local cache" in line and "nobody-here/no-such-model" in line
    assert not (tmp_path / "run").exists()


def test_hub_id_when_the_hub_cannot_be_reached(tmp_path):
    # Online mode, but the hub's address refuses connections (as on a cluster without network).
    line = one_line(cai("run", "--model", "nobody-here/no-such-model", "--out", tmp_path / "run", "--quiet",
                        env={"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}))
    assert "cannot be reached" in line and not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["eval", "--model"], ["train", "sft", "RUN", "--model"],
                                     ["label", "PAIRS", "--model"]])
def test_every_command_checks_its_model_first(tmp_path, command):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}) + "\n")
    args = [str(pairs) if a == "PAIRS" else str(tmp_path) if a == "RUN" else a for a in command]
    line = one_line(cai(*args, "/nonexistent/model", "--out", tmp_path / "out"))
    assert "model folder not found" in line and not (tmp_path / "out").exists()


def broken_model(tmp_path: Path) -> Path:
    """A folder that passes the up-front check (it has config.json) but that transformers cannot load."""
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    return folder


def test_unexpected_error_is_one_line_naming_the_traceback_file(tmp_path):
    result = cai("run", "--model", broken_model(tmp_path), "--engine", "hf", "--out", tmp_path / "run", "--quiet")
    line = one_line(result, status=1)
    assert line.startswith("error: unexpected ") and "--debug" in line
    written = Path(line.split("traceback in ", 1)[1].split(" — ", 1)[0])
    assert written.is_file() and "Traceback (most recent call last)" in written.read_text()
    written.unlink()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("how", [["--debug"], "CAI_DEBUG"])
def test_debug_shows_the_traceback(tmp_path, how):
    args = ["run", "--model", broken_model(tmp_path), "--engine", "hf", "--out", tmp_path / "run", "--quiet"]
    result = cai(*how, *args) if how == ["--debug"] else cai(*args, env={"CAI_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unexpected ")


def test_usage_errors_are_one_line(tmp_path):
    line = one_line(cai("run", "--rounds", "two"))
    assert "--rounds" in line and "--help" in line
    line = one_line(cai("run", "--no-such-option"))
    assert "--no-such-option" in line
