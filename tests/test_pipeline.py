"""Pipeline logic on the scripted engine: batching, reproducible principle sampling, resume, safety of
user text, protection of existing runs."""

import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

from cai.config import RunConfig
from cai.constitution import load_constitution
from cai.engines.scripted import ScriptedEngine
from cai.errors import CaiError
from cai.paths import default_constitution
from cai.records import Record
from cai.runner import execute_run
from cai.stages import CritiqueStage, sample_principle
from cai.store import RunStore
from cai.templates import Renderer


def run(tmp_path, prompts, engine=None, resume=False, force=False, **options):
    options.setdefault("gates", "none")  # the scripted engine echoes its requests, which the gates rightly flag
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       **options)
    engine = engine or ScriptedEngine()
    manifest = execute_run(config, engine=engine, console=Console(file=open("/dev/null", "w")),
                           show_progress=False, resume=resume, force=force)
    return manifest, engine, RunStore(config.out)


def prompts_file(write_jsonl, n):
    return write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(n)])


def test_every_stage_is_one_batch_per_chunk(tmp_path, write_jsonl):
    engine = ScriptedEngine(probs=lambda conversation: {"A": 0.7, "B": 0.3})
    manifest, engine, store = run(tmp_path, prompts_file(write_jsonl, 10), engine=engine, rounds=2, chunk_size=4,
                                  schedule="stages")
    # 3 chunks (4, 4, 2) x 6 steps (respond + 2 x critique/revise + label); the label step asks
    # 2 principles x 2 orders per example in one call.
    def per_chunk(n):
        return [("chat", n)] * 5 + [("choice_probs", 4 * n)]

    assert engine.calls == per_chunk(4) + per_chunk(4) + per_chunk(2)
    records = store.read_records()
    assert len(records) == 10 and all(len(r.rounds) == 2 for r in records)
    assert manifest["counts"]["completed"] == 10
    assert set(manifest["stages"]) == {"respond", "critique 1", "revise 1", "critique 2", "revise 2", "label"}


def test_rounds_chain_answers(tmp_path, write_jsonl):
    _, _, store = run(tmp_path, prompts_file(write_jsonl, 1), rounds=2, few_shot=0)
    record = store.read_records()[0]
    first, second = record.rounds
    # The scripted engine answers with the last user turn, so each step shows what it was asked.
    assert record.initial_response.startswith("answer 0 to: question 0")
    assert first.critique.startswith("answer 0 to: " + first.critique_prompt[:20])
    assert first.revision.startswith("answer 0 to: " + first.revision_prompt[:20])
    assert record.final_response == second.revision


PICKS = ("from cai.constitution import load_constitution; from cai.paths import default_constitution; "
         "from cai.stages import sample_principle; c = load_constitution(default_constitution()); "
         "print(' '.join(sample_principle(c, 7, f'id{i}', 0).id for i in range(40)))")


def test_principles_are_reproducible_per_seed_and_id():
    constitution = load_constitution(default_constitution())
    picks = [sample_principle(constitution, 7, f"id{i}", 0).id for i in range(40)]
    # Another process, with another string-hash seed, as a resumed run is: the same picks.
    for hash_seed in ("1", "2"):
        other = subprocess.run([sys.executable, "-c", PICKS], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert other.stdout.split() == picks
    assert len(set(picks)) > 5, "principles should vary across examples"
    other_seed = [sample_principle(constitution, 8, f"id{i}", 0).id for i in range(40)]
    assert picks != other_seed
    rounds = [sample_principle(constitution, 7, "id0", r).id for r in range(6)]
    assert len(set(rounds)) > 1, "principles are re-sampled each round"


def test_resume_runs_only_what_is_missing(tmp_path, write_jsonl):
    prompts = prompts_file(write_jsonl, 6)
    run(tmp_path, prompts, rounds=1, chunk_size=2, schedule="stages")
    store = RunStore(tmp_path / "run")
    lines = (store.path / "traces.jsonl").read_text().splitlines()
    # Simulate a crash: the last chunk never finished and the line before it was torn mid-write.
    (store.path / "traces.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])
    manifest, engine, _ = run(tmp_path, prompts, rounds=1, chunk_size=2, resume=True, schedule="stages")
    ids = [json.loads(line)["id"] for line in (store.path / "traces.jsonl").read_text().splitlines()]
    assert sorted(ids) == [f"p{i}" for i in range(6)]
    assert engine.calls[0] == ("chat", 2)  # only p3.. p5 were pending: chunks of 2 and 1
    assert sum(size for _, size in engine.calls) == 3 * 3


def test_existing_run_is_not_overwritten(tmp_path, write_jsonl):
    prompts = prompts_file(write_jsonl, 2)
    run(tmp_path, prompts, rounds=0)
    before = (tmp_path / "run" / "traces.jsonl").read_text()
    with pytest.raises(CaiError, match="already holds a run"):
        run(tmp_path, prompts, rounds=0)
    assert (tmp_path / "run" / "traces.jsonl").read_text() == before
    manifest, _, _ = run(tmp_path, prompts, rounds=1, force=True)
    assert manifest["config"]["rounds"] == 1 and manifest["counts"]["completed"] == 2


def test_resume_of_nothing_and_foreign_folders_are_refused(tmp_path, write_jsonl):
    prompts = prompts_file(write_jsonl, 1)
    with pytest.raises(CaiError, match="nothing to resume"):
        run(tmp_path, prompts, resume=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(CaiError, match="not a cai run"):
        run(tmp_path, prompts, force=True)
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_template_syntax_in_user_text_stays_verbatim(tmp_path, write_jsonl):
    tricky = "What is {{ 7*7 }}? {% raw %}keep{% endraw %} {# not a comment #}"
    path = write_jsonl([{"id": "t", "prompt": tricky}])

    def parrot(conversation, sample):  # answers by repeating the user's first turn
        return next(m["content"] for m in conversation if m["role"] == "user" and "7*7" in m["content"])

    _, _, store = run(tmp_path, path, engine=ScriptedEngine(reply=parrot), rounds=1, few_shot=0)
    record = store.read_records()[0]
    assert record.messages[0]["content"] == tricky
    assert record.initial_response == tricky
    assert record.rounds[0].revision == tricky


def test_critique_request_renders_principle_text_as_data():
    constitution = load_constitution(default_constitution())
    record = Record(id="x", messages=[{"role": "user", "content": "hi"}], initial_response="{{ 7*7 }}")
    stage = CritiqueStage(constitution, Renderer(), seed=0, round_index=0, prefix=[])
    conversation = stage.requests([record])[0]
    principle = sample_principle(constitution, 0, "x", 0)
    assert conversation[-2] == {"role": "assistant", "content": "{{ 7*7 }}"}
    assert principle.critique in conversation[-1]["content"]


def test_too_long_prompts_are_skipped_not_fatal(tmp_path, write_jsonl):
    path = write_jsonl([{"id": "short", "prompt": "hi"}, {"id": "long", "prompt": "word " * 3000}])
    manifest, _, store = run(tmp_path, path, engine=ScriptedEngine(context=2000), rounds=1, few_shot=0,
                             max_new_tokens=64)
    assert [r.id for r in store.read_records()] == ["short"]
    skipped = store.read_skipped()
    assert skipped[0]["id"] == "long" and "too long" in skipped[0]["reason"]
    assert manifest["counts"]["skipped"] == 1
