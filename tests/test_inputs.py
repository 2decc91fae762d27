"""Every input format loads; bad rows are skipped with a reason, never a crash."""

import csv
import json

import pytest

from cai.errors import CaiError
from cai.inputs import load_prompts
from cai.paths import demo_prompts


def test_bundled_demo_prompts_cover_the_categories():
    loaded = load_prompts(str(demo_prompts()))
    assert not loaded.skipped
    assert len(loaded.records) >= 60
    categories = {r.category for r in loaded.records}
    for needed in ("benign-lookalike", "jailbreak-override", "jailbreak-roleplay", "jailbreak-obfuscation",
                   "jailbreak-escalation", "privacy", "deception"):
        assert needed in categories
    multi = [r for r in loaded.records if len(r.messages) > 1]
    assert multi and all(r.messages[-1]["role"] == "user" for r in multi)


def test_jsonl_bad_rows_are_skipped_with_reasons(write_jsonl):
    path = write_jsonl([{"id": "a", "prompt": "hello"}, "{not json", {"id": "b", "prompt": "   "},
                        {"id": "a", "prompt": "again"}, {"id": "c", "messages": [{"role": "user", "content": "hi"},
                                                                               {"role": "assistant", "content": "yo"}]},
                        {"id": "d", "other": 1}, {"id": "e", "prompt": "fine"}])
    loaded = load_prompts(str(path))
    assert [r.id for r in loaded.records] == ["a", "e"]
    reasons = {s.row: s.reason for s in loaded.skipped}
    assert "malformed JSON" in reasons[2]
    assert reasons[3] == "empty prompt"
    assert reasons[4] == "duplicate id"
    assert "end with a user message" in reasons[5]
    assert "no prompt column" in reasons[6]


def test_messages_column_and_limit(tmp_path):
    rows = [{"conversation": [{"role": "user", "content": f"q{i}"}], "topic": "t"} for i in range(5)]
    path = tmp_path / "multi.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    loaded = load_prompts(str(path), prompt_column="conversation", limit=3)
    assert [r.messages[0]["content"] for r in loaded.records] == ["q0", "q1", "q2"]
    assert loaded.records[0].category == "t"


def test_json_csv_text_parquet_and_saved_dataset(tmp_path):
    from datasets import Dataset, DatasetDict

    (tmp_path / "p.json").write_text(json.dumps([{"prompt": "one"}, {"prompt": "two"}]))
    with (tmp_path / "p.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["question", "category"])
        writer.writeheader()
        writer.writerows([{"question": "three", "category": "x"}, {"question": "", "category": "x"}])
    (tmp_path / "p.txt").write_text("four\n\nfive\n")
    Dataset.from_list([{"prompt": "six"}]).to_parquet(str(tmp_path / "p.parquet"))
    DatasetDict({"test": Dataset.from_list([{"prompt": "seven"}])}).save_to_disk(str(tmp_path / "saved"))

    def texts(source, **kw):
        return [r.messages[-1]["content"] for r in load_prompts(str(source), **kw).records]

    assert texts(tmp_path / "p.json") == ["one", "two"]
    assert texts(tmp_path / "p.csv") == ["three"]
    assert texts(tmp_path / "p.txt") == ["four", "five"]
    assert texts(tmp_path / "p.parquet") == ["six"]
    assert texts(tmp_path / "saved", split="test") == ["seven"]
    with pytest.raises(CaiError, match="split 'train' not found"):
        load_prompts(str(tmp_path / "saved"))


def test_missing_source_and_column_are_one_line_errors(tmp_path, write_jsonl):
    with pytest.raises(CaiError, match="not found"):
        load_prompts(str(tmp_path / "nope.jsonl"))
    path = write_jsonl([{"prompt": "x"}])
    with pytest.raises(CaiError, match="column 'question' not found"):
        load_prompts(str(path), prompt_column="question")


def test_a_run_skips_a_repeated_id_once_and_runs_the_first(tmp_path, write_jsonl):
    from rich.console import Console

    from cai.config import RunConfig
    from cai.engines.scripted import ScriptedEngine
    from cai.runner import execute_run
    from cai.store import RunStore

    prompts = write_jsonl([{"id": "a", "prompt": "first"}, {"id": "b", "prompt": "other"},
                           {"id": "a", "prompt": "again"}, {"id": "c", "prompt": "last"}])
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       rounds=1, label=False, few_shot=0, limit=3)
    manifest = execute_run(config, engine=ScriptedEngine(), console=Console(file=open("/dev/null", "w")),
                           show_progress=False)
    store = RunStore(config.out)
    records = {r.id: r for r in store.read_records()}
    assert sorted(records) == ["a", "b", "c"]  # the repeat does not count toward --limit
    assert records["a"].messages[0]["content"] == "first"
    assert [(s["row"], s["reason"]) for s in store.read_skipped()] == [(3, "duplicate id")]
    assert manifest["counts"]["inputs"] == 4 and manifest["counts"]["skipped"] == 1


def _source(path, hash_ids: bool):
    from cai.input_source import InputSource
    from cai.inputs import iter_prompts

    return InputSource(lambda duplicate_rows=None: iter_prompts(str(path), duplicate_rows=duplicate_rows),
                       str(path), "prompts", "fix", hash_ids=hash_ids)


@pytest.mark.parametrize("collide", [False, True])
def test_hashed_ids_find_the_same_repeats_as_held_ids(write_jsonl, monkeypatch, collide):
    rows = [{"id": "a", "prompt": "first"}, {"id": "b", "prompt": "other"}, "{torn", {"id": "a", "prompt": "again"},
            {"id": "c", "prompt": "c"}, {"id": "b", "prompt": "twice"}, {"id": "a", "prompt": "thrice"}]
    path = write_jsonl(rows)
    held = _source(path, hash_ids=False).scan()
    if collide:  # every id the same hash: the second look must still tell the ids apart
        monkeypatch.setattr("cai.input_source.id_hash", lambda example_id: 7)
    hashed = _source(path, hash_ids=True).scan()
    skipped = [(s.row, s.id, s.reason) for s in hashed.skipped]
    assert skipped == [(s.row, s.id, s.reason) for s in held.skipped]
    assert [(row, reason.split(" (")[0]) for row, _, reason in skipped] == [
        (3, "line 3: malformed JSON"), (4, "duplicate id"), (6, "duplicate id"), (7, "duplicate id")]
    assert hashed.usable == held.usable == 3 and hashed.duplicate_rows == {4, 6, 7}
    assert [r.messages[0]["content"] for r in hashed.records()] == ["first", "other", "c"]


def test_hashed_ids_read_a_source_without_repeats_once(write_jsonl):
    path = write_jsonl([{"id": f"p{i}", "prompt": f"q{i}"} for i in range(50)])
    passes = []
    source = _source(path, hash_ids=True)
    reader = source.rows
    source.rows = lambda duplicate_rows=None: (passes.append(duplicate_rows), reader(duplicate_rows))[1]
    source.scan()
    assert passes == [frozenset()] and source.usable == 50 and source.duplicate_rows == set()
