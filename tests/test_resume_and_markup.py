"""Resuming takes the run as it was (constitution snapshot, same engine, statistics of finished chunks
only), and user text reaches the terminal literally, never as rich markup.

The bookkeeping tests drive the pipeline on the scripted engine (logic only); the interrupt test at the
end sends a real SIGINT to a real run on the default model.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from cai.config import RunConfig
from cai.constitution import load_constitution
from cai.engines.scripted import ScriptedEngine
from cai.errors import CaiError
from cai.paths import default_constitution
from cai.records import Record, Round
from cai.runner import execute_run
from cai.store import RunStore


def interruptible() -> None:
    """In the child: Ctrl-C does what it does in a terminal. A suite started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


REPO = Path(__file__).resolve().parent.parent
SCAFFOLD = REPO / "constitution" / "scaffold.yaml"


class InterruptedEngine(ScriptedEngine):
    """Ctrl-C arrives during the `stop_at`-th chat call (1-based)."""

    def __init__(self, stop_at: int | None = None, name: str = "scripted"):
        super().__init__()
        self.stop_at, self.name, self.chats = stop_at, name, 0

    def chat(self, conversations, sampling, progress=None):
        self.chats += 1
        if self.stop_at is not None and self.chats == self.stop_at:
            raise KeyboardInterrupt
        return super().chat(conversations, sampling, progress)


def quiet() -> Console:
    return Console(file=open(os.devnull, "w"))


def config_for(tmp_path, prompts: Path, **options) -> RunConfig:
    values = dict(prompts=str(prompts), out=str(tmp_path / "run"), engine="hf", model="scripted", rounds=1,
                  chunk_size=2, label=False, few_shot=0, max_new_tokens=4)
    values.update(options)
    return RunConfig(**values)


@pytest.fixture
def four_prompts(write_jsonl):
    return write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(4)])


def interrupted_run(tmp_path, prompts, **options) -> RunConfig:
    """Chunks of 2 with respond + critique + revise: call 6 is chunk 2's revision."""
    config = config_for(tmp_path, prompts, **options)
    with pytest.raises(KeyboardInterrupt):
        execute_run(config, engine=InterruptedEngine(stop_at=6), console=quiet(), show_progress=False)
    return config


# -- 9. statistics after Ctrl-C ---------------------------------------------------------------------

def test_interrupted_manifest_counts_only_finished_chunks_and_resume_adds_the_rest(tmp_path, four_prompts):
    config = interrupted_run(tmp_path, four_prompts)
    store = RunStore(config.out)
    manifest = store.read_manifest()
    assert manifest["status"] == "interrupted" and len(store.read_records()) == 2
    # Chunk 2 had its answers and critiques when Ctrl-C came; none of that is kept, so none may be counted.
    assert {name: s["examples"] for name, s in manifest["stages"].items()} == {
        "respond": 2, "critique 1": 2, "revise 1": 2}
    resumed = execute_run(config, resume=True, engine=InterruptedEngine(), console=quiet(), show_progress=False)
    assert {name: s["examples"] for name, s in resumed["stages"].items()} == {
        "respond": 4, "critique 1": 4, "revise 1": 4}
    assert resumed["status"] == "complete"


# -- 8. resuming uses the run's own constitution, and refuses what would change results -------------------

def test_resume_uses_the_constitution_snapshot_not_the_edited_file(tmp_path, four_prompts):
    constitution = tmp_path / "mine.yaml"
    shutil.copy(SCAFFOLD, constitution)
    first_ids = {p.id for p in load_constitution(SCAFFOLD).principles}
    other_ids = {p.id for p in load_constitution(default_constitution()).principles}
    assert not first_ids & other_ids  # the premise: an edit would show in the principles used
    config = interrupted_run(tmp_path, four_prompts, constitution=str(constitution))
    shutil.copy(default_constitution(), constitution)  # edited after the run started
    manifest = execute_run(config, resume=True, engine=InterruptedEngine(), console=quiet(), show_progress=False)
    used = {r.principle_id for record in RunStore(config.out).read_records() for r in record.rounds}
    assert len(RunStore(config.out).read_records()) == 4 and used <= first_ids
    assert manifest["constitution"]["source"] == str(constitution)


def test_resume_on_another_engine_is_refused_before_anything_is_written(tmp_path, four_prompts):
    config = interrupted_run(tmp_path, four_prompts)
    traces = (Path(config.out) / "traces.jsonl").read_bytes()
    manifest = (Path(config.out) / "manifest.json").read_bytes()
    with pytest.raises(CaiError, match="made on the scripted engine, this one is other"):
        execute_run(config, resume=True, engine=InterruptedEngine(name="other"), console=quiet(), show_progress=False)
    assert (Path(config.out) / "traces.jsonl").read_bytes() == traces
    assert (Path(config.out) / "manifest.json").read_bytes() == manifest


def cai(*args, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250", "HF_HUB_OFFLINE": "1", "CAI_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "cai", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


@pytest.mark.parametrize("change", [["--engine", "openai", "--base-url", "http://127.0.0.1:9/v1"],
                                    ["--dtype", "float32"], ["--config", "RECIPE"]])
def test_resume_refuses_a_changed_engine_dtype_or_model_in_one_line(tmp_path, four_prompts, change):
    config = interrupted_run(tmp_path, four_prompts)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model: default\n")  # the run was made with model 'scripted'
    args = [str(recipe) if a == "RECIPE" else a for a in change]
    result = cai("run", "--out", config.out, "--resume", *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    flag = "--model" if change[0] == "--config" else change[0]
    assert lines[0].startswith(f"error: --resume: {flag} differs from the run being resumed"), lines[0]
    assert RunStore(config.out).read_manifest()["status"] == "interrupted"


# -- 10. user text is data, never markup --------------------------------------------------------------

MARKUP = "[/]"  # a closing tag with nothing open: rich raises if it ever reads this as markup


def markup_run(tmp_path) -> Path:
    store = RunStore(tmp_path / "run[x]")
    store.create({"model": "m"}, SCAFFOLD.read_text(), force=False)
    record = Record(f"id{MARKUP}1", [{"role": "user", "content": f"say [bold]{MARKUP}hi[/bold]"}],
                    category=f"cat[red]{MARKUP}", initial_response=f"answer {MARKUP}[blink]",
                    rounds=[Round(f"principle{MARKUP}[b]", f"kind[i]{MARKUP}", "critique?", f"crit {MARKUP}",
                                  "revise?", f"revised {MARKUP}")])
    store.append([record])
    return store.path


@pytest.mark.parametrize("view", [["--index", "0"], ["--list"], []], ids=["story", "list", "summary"])
def test_inspect_prints_user_text_literally(tmp_path, view):
    run = markup_run(tmp_path)
    result = cai("inspect", run, *view)
    assert result.returncode == 0, result.stderr
    assert f"cat[red]{MARKUP}" in result.stdout
    assert (f"principle{MARKUP}[b]" if view == [] else f"id{MARKUP}1") in result.stdout
    if view == ["--index", "0"]:
        for text in (f"principle{MARKUP}[b]", f"kind[i]{MARKUP}", f"say [bold]{MARKUP}hi[/bold]", f"answer {MARKUP}"):
            assert text in result.stdout, text


def test_run_summary_and_interrupt_line_print_names_literally(tmp_path, four_prompts):
    console = Console(record=True, width=250, file=open(os.devnull, "w"))
    config = config_for(tmp_path, four_prompts, model=f"my{MARKUP}model", out=str(tmp_path / f"out{MARKUP}"))
    execute_run(config, engine=InterruptedEngine(), console=console, show_progress=False)
    assert f"my{MARKUP}model on scripted" in console.export_text()
    config = config_for(tmp_path, four_prompts, out=str(tmp_path / f"again{MARKUP}"))
    with pytest.raises(KeyboardInterrupt):
        execute_run(config, engine=InterruptedEngine(stop_at=2), console=console, show_progress=False)
    assert f"--out {config.out} --resume" in console.export_text()


# -- 9, for real: SIGINT to a real run ---------------------------------------------------------------

@pytest.mark.real
def test_sigint_on_a_real_run_keeps_statistics_of_saved_examples_only(tmp_path, write_jsonl):
    prompts = write_jsonl([{"id": f"q{i}", "prompt": f"Name a colour, number {i}."} for i in range(4)])
    out = tmp_path / "run"
    # Item 9 is about the chunked schedule's statistics: the unfinished chunk must not be counted.
    args = ["run", "--prompts", prompts, "--engine", "hf", "--rounds", "1", "--schedule", "stages",
            "--chunk-size", "1", "--no-label",
            "--max-new-tokens", "12", "--few-shot", "0", "--out", out, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "cai", *map(str, args)], env=env, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)
    try:
        traces = out / "traces.jsonl"
        deadline = time.monotonic() + 1200  # a loaded CPU may take minutes over the first chunk
        while not (traces.is_file() and traces.read_text().count("\n") >= 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the next chunk's stages
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    saved = len(RunStore(out).read_records())
    assert manifest["status"] == "interrupted" and 1 <= saved < 4
    assert {s["examples"] for s in manifest["stages"].values()} == {saved}
    result = cai("run", "--out", out, "--resume", "--quiet", timeout=1200)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert {name: s["examples"] for name, s in manifest["stages"].items()} == {
        "respond": 4, "critique 1": 4, "revise 1": 4}
