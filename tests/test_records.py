"""Record.clone is written out field by field for speed; these tests catch a field it forgets to copy."""

import dataclasses

from cai.records import Record, Round


def _full_round() -> Round:
    return Round("harm-1", "harm", "critique prompt", "critique", "revision prompt", "revision",
                 critique_finish="stop", critique_flags=["meta"], revision_finish="length",
                 revision_flags=["truncated"])


def _full_record() -> Record:
    return Record(
        id="p1", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}],
        category="harm", source_row=3, attack="encoding/base64", initial_response="answer",
        initial_finish="stop", initial_flags=["empty"], rounds=[_full_round()], samples=["a", "b"],
        sample_flags=[["repetition"], []], labels=[{"principle": "c1", "probs": {"A": 0.6, "B": 0.4}}],
        preference={"chosen": "a", "rejected": "b", "score_chosen": 0.6}, errors=["boom"],
        generated_turns=[1], failure={"stage": "respond", "reason": "context"},
        tokens={"prompt": 5, "completion": 7})


def _containers(value, found: list) -> None:
    """Every list, dict and dataclass inside `value`, depth first."""
    if isinstance(value, (list, dict)) or dataclasses.is_dataclass(value):
        found.append(value)
    if isinstance(value, list):
        for item in value:
            _containers(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _containers(item, found)
    elif dataclasses.is_dataclass(value):
        for item in vars(value).values():
            _containers(item, found)


def test_the_fixture_sets_every_field_so_a_new_one_is_covered():
    for cls, instance in ((Record, _full_record()), (Round, _full_round())):
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            assert getattr(instance, f.name) != default, f"set {cls.__name__}.{f.name} in this test's fixture"


def test_clone_equals_the_record_and_shares_no_mutable_part():
    record = _full_record()
    copy = record.clone()
    assert copy == record and type(copy) is Record and type(copy.rounds[0]) is Round
    original: list = []
    _containers(record, original)
    cloned: list = []
    _containers(copy, cloned)
    assert len(cloned) == len(original)
    shared = {id(c) for c in cloned} & {id(c) for c in original}
    assert not shared, [c for c in cloned if id(c) in shared]


def test_changing_a_clone_leaves_the_original_alone():
    record = _full_record()
    copy = record.clone()
    copy.rounds.append(_full_round())
    copy.rounds[0].revision_flags.append("meta")
    copy.labels[0]["probs"]["A"] = 0.0
    copy.messages[1]["content"] = "written"
    copy.tokens["prompt"] += 1
    assert record == _full_record()


def test_an_empty_record_clones_to_fresh_lists():
    record = Record("p1", [{"role": "user", "content": "hi"}])
    copy = record.clone()
    copy.labels.append({"x": 1})
    copy.initial_flags.append("empty")
    assert record.labels == [] and record.initial_flags == [] and copy.preference is None


def test_to_dict_is_plain_data_in_field_order_sharing_nothing_with_the_record():
    record = _full_record()
    data = record.to_dict()
    assert list(data) == [f.name for f in dataclasses.fields(Record)]
    assert data["rounds"] == [vars(_full_round())] and type(data["rounds"][0]) is dict
    assert Record.from_dict(data) == record
    data["labels"][0]["probs"]["A"] = 0.0
    data["rounds"][0]["revision_flags"].append("meta")
    assert record == _full_record()
