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
    line = one_line(cai("run", "--model", "/nonexistent/model", "--engine", "hf", "--out", tmp_path / "run", "--quiet"))
    assert "model folder not found" in line and "/nonexistent/model" in line
    assert "config.json" in line and "default" in line and "fix:" in line
    assert not (tmp_path / "run").exists()


def test_folder_without_config_json_is_not_a_model(tmp_path):
    (tmp_path / "notes").mkdir()
    line = one_line(cai("run", "--model", tmp_path / "notes", "--engine", "hf", "--out", tmp_path / "run", "--quiet"))
    assert "no config.json" in line and not (tmp_path / "run").exists()


def test_hub_id_not_cached_on_an_offline_machine(tmp_path):
    line = one_line(cai("run", "--model", "nobody-here/no-such-model", "--engine", "hf", "--out", tmp_path / "run",
                        "--quiet"))
    assert "not in the local cache" in line and "nobody-here/no-such-model" in line
    assert not (tmp_path / "run").exists()


def test_hub_id_when_the_hub_cannot_be_reached(tmp_path):
    # Online mode, but the hub's address refuses connections (as on a cluster without network).
    line = one_line(cai("run", "--model", "nobody-here/no-such-model", "--engine", "hf", "--out", tmp_path / "run",
                        "--quiet", env={"HF_HUB_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}))
    assert "cannot be reached" in line and not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["eval", "--model"], ["train", "sft", "RUN", "--model"],
                                     ["label", "PAIRS", "--model"]])
def test_every_command_checks_its_model_first(tmp_path, command):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}) + "\n")
    args = [str(pairs) if a == "PAIRS" else str(tmp_path) if a == "RUN" else a for a in command]
    line = one_line(cai(*args, "/nonexistent/model", "--out", tmp_path / "out"))
    assert "model folder not found" in line and not (tmp_path / "out").exists()


# A command that fails in a way cai does not expect: the funnel must still end it in one line. (A model
# that cannot load is an expected failure now: `cannot load model …`, exit 2.)
BOOM = """
import sys
from cai.cli import app, main

@app.command("boom")
def boom() -> None:
    raise RuntimeError("kaboom")

sys.argv = ["cai", *sys.argv[1:]]
main()
"""


def boom(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BOOM, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_unexpected_error_is_one_line_naming_the_traceback_file():
    line = one_line(boom("boom"), status=1)
    assert line.startswith("error: unexpected ") and "kaboom" in line and "--debug" in line
    written = Path(line.split("traceback in ", 1)[1].split(" — ", 1)[0])
    assert written.is_file() and "Traceback (most recent call last)" in written.read_text()
    written.unlink()


@pytest.mark.parametrize("how", [["--debug"], "CAI_DEBUG"])
def test_debug_shows_the_traceback(how):
    result = boom(*how, "boom") if how == ["--debug"] else boom("boom", env={"CAI_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unexpected ")


def test_a_model_folder_that_cannot_load_is_one_line(tmp_path):
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    line = one_line(cai("run", "--model", folder, "--engine", "hf", "--out", tmp_path / "run", "--quiet"))
    assert "cannot load model" in line and "--model" in line and not (tmp_path / "run").exists()


def test_usage_errors_are_one_line(tmp_path):
    line = one_line(cai("run", "--rounds", "two"))
    assert "--rounds" in line and "--help" in line
    line = one_line(cai("run", "--no-such-option"))
    assert "--no-such-option" in line


# -- 2. nothing usable to work on --------------------------------------------------------------------

BAD_ROWS = ['{"prompt": ""}', '{"prompt": "   "}', "{not json", '{"foo": "no prompt here"}']
BAD_PAIRS = ['{"prompt": "", "chosen": "a", "rejected": "b"}', '{"prompt": "  ", "chosen": "a", "rejected": "b"}',
             "{not json", '{"prompt": "x", "chosen": 3, "rejected": "y"}']


@pytest.mark.parametrize("bad", [False, True], ids=["empty-file", "all-rows-bad"])
@pytest.mark.parametrize("command", ["run", "label", "eval"])
def test_nothing_usable_exits_2_with_the_reasons_and_no_folder(tmp_path, bad, command):
    source = tmp_path / "prompts.jsonl"
    rows = (BAD_PAIRS if command == "label" else BAD_ROWS) if bad else []
    source.write_text("".join(row + "\n" for row in rows))
    out = tmp_path / "out"
    # --engine hf and short answers: today's main would run these, and should not start vLLM to do it.
    args = {"run": ["run", "--prompts", source, "--engine", "hf", "--max-new-tokens", "1"],
            "label": ["label", source, "--engine", "hf"],
            "eval": ["eval", "--model", "default", "--prompts", source, "--max-new-tokens", "1"]}[command]
    line = one_line(cai(*args, "--out", out))
    assert "no usable" in line and str(source) in line
    if bad:
        assert "4 rows skipped" in line and "empty prompt (2)" in line and "malformed JSON (1)" in line
    else:
        assert "no rows" in line
    assert not out.exists()


# -- 3. numeric options --------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["run", "--chunk-size", "0"], ["run", "--chunk-size", "-1"],
                                  ["label", "PAIRS", "--chunk-size", "0"], ["run", "--limit", "0"]])
def test_numeric_option_out_of_range_is_rejected_before_any_work(tmp_path, args):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}) + "\n")
    args = [str(pairs) if a == "PAIRS" else a for a in args]
    cheap = ["--prompts", pairs, "--rounds", "0", "--no-label", "--max-new-tokens", "1"] if args[0] == "run" else []
    line = one_line(cai(*args, *cheap, "--engine", "hf", "--out", tmp_path / "out"))
    assert args[-2] in line and "at least 1" in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value", [
    ("rounds", -1), ("limit", 0), ("seed", -1), ("max_new_tokens", 0), ("temperature", -0.1), ("top_p", 0),
    ("top_p", 1.5), ("few_shot", -1), ("chunk_size", 0), ("chunk_size", -3), ("batch_size", 0),
    ("tensor_parallel_size", 0), ("gpu_memory_utilization", 1.5), ("max_model_len", 0), ("concurrency", 0),
    ("timeout", 0), ("max_retries", -1), ("test_size", 1), ("label_principles", 0), ("samples", 0),
    ("min_margin", 1), ("rounds", "two"), ("rounds", 1.5), ("chunk_size", True)])
def test_every_numeric_option_is_checked_in_one_place(option, value):
    from cai.config import resolve_config
    from cai.errors import CaiError

    with pytest.raises(CaiError) as raised:
        resolve_config({option: value})
    assert raised.value.where == f"--{option.replace('_', '-')}"


def test_numeric_options_from_a_recipe_are_read_as_numbers(tmp_path):
    from cai.config import resolve_config

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("temperature: '0.5'\nchunk_size: 8.0\n")
    config = resolve_config({}, str(recipe))
    assert config.temperature == 0.5 and config.chunk_size == 8 and isinstance(config.chunk_size, int)


# -- 4. tab-separated files ----------------------------------------------------------------------------

def test_tsv_is_read_tab_separated(tmp_path):
    from cai.inputs import load_prompts

    path = tmp_path / "prompts.tsv"
    path.write_text("id\tprompt\tcategory\na\tHello, how are you?\tgreeting\nb\tName three rivers, please.\tgeo\n")
    loaded = load_prompts(str(path))
    assert loaded.skipped == []
    assert [(r.id, r.messages[-1]["content"], r.category) for r in loaded.records] == [
        ("a", "Hello, how are you?", "greeting"), ("b", "Name three rivers, please.", "geo")]


# -- 5. pair datasets: every row checked, common layouts found by name ------------------------------

def test_a_later_row_missing_an_answer_column_is_skipped_with_a_reason(tmp_path, write_jsonl):
    from cai.label.dataset import load_pairs

    rows = [{"id": "ok", "prompt": "Hi", "chosen": "Hello", "rejected": "Go away"},
            {"id": "half", "prompt": "Hi again", "chosen": "Hello again"},
            {"id": "ok2", "prompt": "Bye", "chosen": "Goodbye", "rejected": "Whatever"}]
    loaded = load_pairs(str(write_jsonl(rows)), "chosen", "rejected")
    assert [r.id for r in loaded.records] == ["ok", "ok2"]
    assert [(s.row, s.id, s.reason) for s in loaded.skipped] == [(2, "half", "no 'rejected' column in this row")]


@pytest.mark.parametrize("layout", [("chosen", "rejected"), ("response_a", "response_b"),
                                    ("response_0", "response_1"), ("completion_a", "completion_b")])
def test_common_pair_layouts_are_found_by_name(write_jsonl, layout):
    from cai.label.dataset import load_pairs

    rows = [{"prompt": "Say hi.", layout[0]: "Hi!", layout[1]: "No.", "note": "x"}]
    loaded = load_pairs(str(write_jsonl(rows)))
    assert loaded.columns == layout and loaded.records[0].samples == ["Hi!", "No."]


def test_no_known_layout_names_the_columns_to_give(tmp_path):
    source = tmp_path / "pairs.jsonl"
    source.write_text(json.dumps({"prompt": "Hi", "good": "Hello", "bad": "Go away"}) + "\n")
    line = one_line(cai("label", source, "--out", tmp_path / "out"))
    assert "no answer columns found" in line and "good" in line and "--a-column" in line
    assert not (tmp_path / "out").exists()


def test_one_answer_column_given_takes_the_other_from_the_layout(write_jsonl):
    from cai.errors import CaiError
    from cai.label.dataset import load_pairs

    source = str(write_jsonl([{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away", "better": "Hey"}]))
    assert load_pairs(source, "better").columns == ("better", "rejected")
    with pytest.raises(CaiError, match="both answer columns would be 'rejected'"):
        load_pairs(source, "rejected")


@pytest.mark.real
def test_cai_label_finds_response_0_and_1_and_says_so(tmp_path):
    source = tmp_path / "pairs.jsonl"
    rows = [{"id": "a", "prompt": "How do I boil an egg?", "response_0": "Boil it for eight minutes.",
             "response_1": "No."},
            {"id": "b", "prompt": "Name a primary colour.", "response_0": "Red.", "response_1": "I won't say."},
            {"id": "c", "prompt": "Say hi.", "response_0": "Hi!"}]  # a later row without response_1
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "run"
    result = cai("label", source, "--engine", "hf", "--label-principles", "1", "--test-size", "0",
                 "--out", out, "--quiet", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pairs: A = response_0, B = response_1 (found by name" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["config"]["a_column"], manifest["config"]["b_column"]) == ("response_0", "response_1")
    assert manifest["counts"]["completed"] == 2 and manifest["counts"]["skipped"] == 1
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [(s["id"], s["reason"]) for s in skipped] == [("c", "no 'response_1' column in this row")]
