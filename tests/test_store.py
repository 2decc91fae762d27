"""The run store's reading of traces.jsonl: the first copy of each id, whatever else the file holds."""

import json

from cai.records import Record
from cai.store import TRACES, RunStore


def _line(example_id: str, answer: str) -> str:
    return json.dumps(Record(example_id, [{"role": "user", "content": "q"}], initial_response=answer).to_dict()) + "\n"


def test_iter_records_keeps_the_first_copy_of_each_id_and_skips_torn_lines(tmp_path):
    reordered = json.dumps({"messages": [{"role": "user", "content": "q"}], "id": "b", "initial_response": "b2"})
    (tmp_path / TRACES).write_text(
        _line("a", "a1") + _line("b", "b1") + _line("c", "c1") + _line("a", "a2") + reordered + "\n"
        + _line("d", "d1") + _line("c", "c2") + '{"id": "e", "messages": [{"ro', encoding="utf-8")
    got = [(r.id, r.initial_response) for r in RunStore(tmp_path).iter_records()]
    assert got == [("a", "a1"), ("b", "b1"), ("c", "c1"), ("d", "d1")]


def test_iter_records_of_distinct_ids_yields_every_line_in_file_order(tmp_path):
    ids = [f"p{i}" for i in range(500)]
    (tmp_path / TRACES).write_text("".join(_line(i, i) for i in reversed(ids)), encoding="utf-8")
    assert [r.id for r in RunStore(tmp_path).iter_records()] == list(reversed(ids))
