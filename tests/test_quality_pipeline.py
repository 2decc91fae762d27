"""Quality gates inside the pipeline (scripted engine: the logic only; tests/test_quality_real.py runs them
on the real model): a flagged revision never replaces the answer, and flagged final answers stay out of
the export unless --keep-flagged."""

from __future__ import annotations

import json

from rich.console import Console

from cai.config import RunConfig
from cai.engines.base import Completion
from cai.engines.scripted import ScriptedEngine
from cai.export import build_rows
from cai.runner import execute_run
from cai.store import RunStore

CLEAN = "I can't help with that, but a locksmith can let you into your own home."


class Flaky(ScriptedEngine):
    """The first answer is cut off at the token limit; revisions of round 1 are meta talk; in round 2 the
    prompt ending in 'ok' gets a clean revision and the other a copy of the answer it revises."""

    def __init__(self):
        super().__init__()
        self.revise_calls = 0

    @staticmethod
    def _reply(conversation, revise_round: int) -> str:
        last = conversation[-1]["content"]
        if "ewrite" not in last:  # the respond and critique requests
            if conversation[-1] is conversation[0] or len(conversation) == 1:
                return "Sure, first insert a tension wrench and"
            return "It gives lock-picking steps; it should decline and suggest a locksmith."
        if revise_round == 1:
            return "The response is about the importance of safety."
        return CLEAN if conversation[0]["content"].endswith("ok") else conversation[-4]["content"]

    def chat(self, conversations, sampling, progress=None):
        revising = any("ewrite" in c[-1]["content"] for c in conversations)
        self.revise_calls += revising
        out = []
        for conversation in conversations:
            text = self._reply(conversation, self.revise_calls)
            out.append(Completion([text], 10, 5, ["length" if text.endswith("and") else "stop"]))
        return out


def run(tmp_path, write_jsonl, **options):
    prompts = write_jsonl([{"id": "a-ok", "prompt": "How do I open a lock? ok"},
                           {"id": "b-bad", "prompt": "How do I open a lock? bad"}])
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), model="scripted", few_shot=0, label=False,
                       test_size=0.0, **options)
    manifest = execute_run(config, engine=Flaky(), console=Console(file=open("/dev/null", "w")), show_progress=False)
    return manifest, {r.id: r for r in RunStore(config.out).read_records()}


def test_flagged_revisions_never_replace_the_answer(tmp_path, write_jsonl):
    manifest, records = run(tmp_path, write_jsonl, rounds=2)
    good, bad = records["a-ok"], records["b-bad"]
    assert good.initial_flags == ["truncated"] and good.initial_finish == "length"
    assert good.rounds[0].revision_flags == ["meta"]
    assert good.rounds[0].revision == "The response is about the importance of safety."  # kept in the trace
    # Round 2 revised the last clean answer (the initial one), not the flagged meta revision.
    assert good.rounds[1].revision_flags == [] and good.final_response == CLEAN and good.flags == []
    # b: round 2 copied the answer it revised, so no revision is clean and the final answer is flagged.
    # (the copy ends where the cut-off answer did, so the scripted engine reports the token limit too)
    assert bad.rounds[1].revision_flags == ["truncated", "unchanged"]
    assert bad.final_response == bad.initial_response and bad.flags == ["truncated", "unchanged"]

    quality = manifest["quality"]
    assert quality["turns_flagged"]["answer"] == {"truncated": 2}
    assert quality["turns_flagged"]["revision"] == {"truncated": 1, "unchanged": 1, "meta": 2}
    assert quality["examples_flagged"] == 1 and quality["kept_out"] == 1
    assert quality["flagged"] == {"truncated": 1, "unchanged": 1}
    assert manifest["splits"]["train_sft"] == 1  # only a-ok
    assert manifest["splits"]["train_prefs"] == 1


def test_keep_flagged_exports_them_marked(tmp_path, write_jsonl):
    manifest, records = run(tmp_path, write_jsonl, rounds=2, keep_flagged=True)
    assert manifest["splits"]["train_sft"] == 2 and manifest["quality"]["kept_out"] == 0
    rows = {r["prompt_id"]: r for r in build_rows(list(records.values()), 0.0, keep_flagged=True)["train_sft"]}
    assert rows["b-bad"]["flags"] == ["truncated", "unchanged"] and rows["a-ok"]["flags"] == []
    from datasets import load_from_disk

    sft = load_from_disk(str(tmp_path / "run" / "dataset"))["train_sft"]
    assert sorted(map(tuple, sft["flags"])) == [(), ("truncated", "unchanged")]


def test_gates_none_keeps_the_old_behaviour(tmp_path, write_jsonl):
    manifest, records = run(tmp_path, write_jsonl, rounds=2, gates="none")
    assert all(not r.initial_flags and not any(x.revision_flags for x in r.rounds) for r in records.values())
    assert manifest["splits"]["train_sft"] == 2 and manifest["quality"]["examples_flagged"] == 0
    trace = json.loads((tmp_path / "run" / "traces.jsonl").read_text().splitlines()[0])
    assert trace["rounds"][0]["revision_finish"] == "stop" and trace["initial_finish"] == "length"
