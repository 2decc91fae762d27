"""The dataset card and `cai push`, without a model: the card from a run exported by the real export code
(the engine is the scripted one: the card is about the run's bookkeeping, not the answers), and pushes that
fail offline, on a closed port, and against a local HTTP server that refuses every token as the Hub would."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from cai.card import render_card
from cai.config import RunConfig
from cai.engines.scripted import ScriptedEngine
from cai.runner import execute_run

REPO = Path(__file__).resolve().parent.parent
TOKEN = "hf_cAiTestTokenThatMustNeverBeSeen0123456789"


def short_reply(conversation: list[dict], sample: int) -> str:
    """Short, distinct texts that pass the quality gates (the default echo would be flagged as one)."""
    return f"Reply {len(conversation)} of {len(conversation[-1]['content'])} characters" + "." * len(conversation)


def longer_wins(conversation: list[dict]) -> dict:
    """A judge that prefers the longer option: the scripted revision is longer than the first answer."""
    text = conversation[-1]["content"]
    a, b = text.split("\n(A) ", 1)[1].split("\n(B) ", 1)
    return {"A": 0.8, "B": 0.2} if len(a) > len(b.split("\n\n", 1)[0]) else {"A": 0.2, "B": 0.8}


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("publish")
    prompts = folder / "prompts.jsonl"
    # p4 falls in the test split at test_size 0.5, p0 in train: every split gets a row.
    prompts.write_text("".join(json.dumps({"id": i, "prompt": f"Question {i}?"}) + "\n" for i in ("p0", "p4")))
    config = RunConfig(prompts=str(prompts), out=str(folder / "run"), rounds=1, few_shot=0, test_size=0.5,
                       license="cc-by-4.0")
    execute_run(config, engine=ScriptedEngine(reply=short_reply, probs=longer_wins),
                console=Console(file=open(os.devnull, "w")), show_progress=False)
    return folder / "run"


def card_of(folder: Path):
    from huggingface_hub import DatasetCard

    return DatasetCard.load(folder / "README.md")


def test_the_card_names_every_split_with_its_size_and_loading_still_works(scripted_run):
    from datasets import load_dataset, load_from_disk

    dataset_dir = scripted_run / "dataset"
    loaded = load_from_disk(str(dataset_dir))  # the card and constitution beside it do not disturb it
    card = card_of(dataset_dir)
    infos = {entry["config_name"]: entry for entry in card.data.to_dict()["dataset_info"]}
    listed = {s["name"]: s["num_examples"] for entry in infos.values() for s in entry["splits"]}
    assert listed == {name: len(part) for name, part in loaded.items()}
    assert all(listed.values())  # p0 and p4 put a row in each split
    assert card.data.license == "cc-by-4.0"
    # The card's configs point at the arrow files, so `load_dataset(folder)` reads it as well.
    assert len(load_dataset(str(dataset_dir), "prefs")["test_prefs"]) == listed["test_prefs"]
    assert len(load_dataset(str(dataset_dir), "sft")["train_sft"]) == listed["train_sft"]


def test_the_card_body_names_the_constitution_hash_and_the_models(scripted_run):
    dataset_dir = scripted_run / "dataset"
    snapshot = (dataset_dir / "constitution.yaml").read_bytes()
    assert snapshot == (scripted_run / "constitution.yaml").read_bytes()
    text = card_of(dataset_dir).text
    assert hashlib.sha256(snapshot).hexdigest() in text
    assert "policy model | default on the scripted engine" in text
    assert "the policy model labelled its own pairs" in text
    assert "## Quality gates" in text and "checked by: truncated, empty" in text
    manifest = json.loads((scripted_run / "manifest.json").read_text())
    del manifest["quality"]  # a run from before the gates: the section is left out
    assert "## Quality gates" not in render_card(manifest, "name: x\n")


def _manifest(scripted_run: Path, **extra) -> dict:
    return {**json.loads((scripted_run / "manifest.json").read_text()), **extra}


def test_a_separate_feedback_model_and_quality_gates_are_rendered(scripted_run):
    manifest = _manifest(scripted_run, feedback={"model": "judge-7b", "engine": "vllm"},
                         quality={"flagged": {"truncated": 3, "meta": 1}, "kept_out": 2})
    text = render_card(manifest, "name: x\n")
    assert "feedback model | judge-7b on the vllm engine" in text
    assert "labelled its own" not in text
    assert "| truncated | 3 |" in text and "| meta | 1 |" in text and "2 example(s) were kept out" in text
    gates_off = render_card({**manifest, "quality": {"gates": {"enabled": []}, "flagged": {}}}, "name: x\n")
    assert "quality gates were off" in gates_off


def test_without_a_license_the_card_says_to_fill_it_in(scripted_run):
    manifest = _manifest(scripted_run)
    manifest["config"]["license"] = None
    text = render_card(manifest, "name: x\n")
    assert "\nlicense:" not in text.split("---")[1]
    assert "Not chosen yet" in text and "--license" in text


def test_names_in_the_card_cannot_break_its_metadata_or_markdown(scripted_run):
    from huggingface_hub import DatasetCard

    hostile = "evil\n---\nlicense: stolen | `x` <script>"
    manifest = _manifest(scripted_run, model=hostile, constitution={"name": hostile, "version": 1})
    card = DatasetCard(render_card(manifest, "name: x\n"))
    assert card.data.license == "cc-by-4.0"
    assert "<script>" not in card.text and "\\<script\\>" in card.text


# -- cai push: every failure is one line, exit 2, the run untouched, the token never shown ----------------

def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def push(run: Path, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(tmp_path / "hf-home"),
                   "HF_TOKEN": TOKEN, **env}
    return subprocess.run([sys.executable, "-m", "cai", "push", str(run), "someone/cai-data"], capture_output=True,
                          text=True, timeout=300, env=environment, cwd=tmp_path)


def assert_one_line_failure(result, tmp_path: Path, run: Path, before: dict, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "fix:" in lines[0], lines
    for word in words:
        assert word in lines[0]
    assert snapshot(run) == before
    written = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert TOKEN not in result.stdout + result.stderr and written == []


def test_push_offline_is_one_line_and_leaves_the_run_as_it_was(scripted_run, tmp_path):
    before = snapshot(scripted_run)
    result = push(scripted_run, tmp_path, HF_HUB_OFFLINE="1")
    assert_one_line_failure(result, tmp_path, scripted_run, before, "offline", "HF_HUB_OFFLINE")


def test_push_to_an_unreachable_hub_says_so(scripted_run, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = snapshot(scripted_run)
    result = push(scripted_run, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert_one_line_failure(result, tmp_path, scripted_run, before, "cannot reach the Hub")


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub answers a bad token; remembers whether the token arrived."""

    seen_tokens: list[str] = []

    def _refuse(self) -> None:
        self.seen_tokens.append(self.headers.get("authorization", ""))
        body = json.dumps({"error": "Invalid credentials in Authorization header"}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _refuse

    def log_message(self, *args) -> None:
        pass


def test_a_refused_token_is_one_line_and_never_shown(scripted_run, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        before = snapshot(scripted_run)
        result = push(scripted_run, tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert any(TOKEN in header for header in _Refusing.seen_tokens)  # it was really sent, and refused
    assert_one_line_failure(result, tmp_path, scripted_run, before, "refused the token", "hf auth login")


def test_push_without_any_token_says_how_to_log_in(scripted_run, tmp_path):
    before = snapshot(scripted_run)
    result = push(scripted_run, tmp_path, HF_TOKEN="")
    assert_one_line_failure(result, tmp_path, scripted_run, before, "no Hub token", "hf auth login")


def test_push_refuses_a_folder_without_a_dataset(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text("{}")
    result = push(tmp_path / "run", tmp_path)
    assert result.returncode == 2 and "no exported dataset" in result.stderr
