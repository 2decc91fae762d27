"""Assistant turns left for the policy (`content: null`): read from inputs, filled turn by turn before the
respond stage, seen by the critique. Logic on the scripted engine; the real run is in test_augment_real."""

import io
import json

from rich.console import Console

from cai.config import RunConfig
from cai.engines.scripted import ScriptedEngine
from cai.inputs import load_prompts
from cai.records import Record
from cai.runner import execute_run
from cai.store import RunStore
from cai.turns import TurnStage, pending_turns

QUIET = Console(file=io.StringIO())
PENDING = {"role": "assistant", "content": None}


def user(text):
    return {"role": "user", "content": text}


def test_inputs_accept_pending_assistant_turns_only_after_a_user(write_jsonl):
    path = write_jsonl([
        {"id": "ok", "messages": [user("a"), PENDING, user("b")]},
        {"id": "first", "messages": [PENDING, user("b")]},
        {"id": "twice", "messages": [user("a"), PENDING, PENDING, user("b")]},
        {"id": "last", "messages": [user("a"), PENDING]},
        {"id": "user-null", "messages": [{"role": "user", "content": None}]},
    ])
    loaded = load_prompts(str(path))
    assert [r.id for r in loaded.records] == ["ok"] and loaded.records[0].messages[1] == PENDING
    reasons = {s.id: s.reason for s in loaded.skipped}
    assert "must follow a user message" in reasons["first"] and "must follow a user message" in reasons["twice"]
    assert "end with a user message" in reasons["last"] and "null content" in reasons["user-null"]


def test_turn_stage_is_pure_and_asks_for_the_conversation_up_to_the_first_pending_turn():
    record = Record(id="x", messages=[user("a"), PENDING, user("b"), PENDING, user("c")])
    stage = TurnStage()
    assert stage.requests([record]) == [[user("a")]]
    (filled,) = stage.apply([record], ["  first  "])
    assert record.messages[1] == PENDING  # the input record is untouched
    assert filled.messages[1] == {"role": "assistant", "content": "first"} and filled.generated_turns == [1]
    assert stage.requests([filled]) == [[user("a"), {"role": "assistant", "content": "first"}, user("b")]]
    assert pending_turns(filled.messages) == 1


def test_run_fills_turns_one_depth_per_call_and_the_critique_sees_them(tmp_path, write_jsonl):
    seen = []

    def reply(conversation, sample):
        seen.append(conversation)
        return f"reply {len(conversation)}"

    prompts = write_jsonl([
        {"id": "two", "messages": [user("u1"), PENDING, user("u2"), PENDING, user("u3")]},
        {"id": "one", "messages": [user("v1"), PENDING, user("v2")]},
        {"id": "none", "prompt": "plain"},
    ])
    engine = ScriptedEngine(reply=reply)
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       rounds=1, few_shot=0, label=False, schedule="stages")
    manifest = execute_run(config, engine=engine, console=QUIET, show_progress=False)
    # The turns and the answer are one stage: depth 1 of both multi-turn rows with the plain row's answer,
    # then depth 2 of one row with the other's answer, then its answer; critique and revise after a barrier.
    assert engine.calls == [("chat", 3), ("chat", 2), ("chat", 1), ("chat", 3), ("chat", 3)]
    assert seen[:2] == [[user("u1")], [user("v1")]]
    assert [user("u1"), {"role": "assistant", "content": "reply 1"}, user("u2")] in seen[3:5]
    records = {r.id: r for r in RunStore(config.out).read_records()}
    two = records["two"]
    assert [m["content"] for m in two.messages] == ["u1", "reply 1", "u2", "reply 3", "u3"]
    assert two.generated_turns == [1, 3] and records["none"].generated_turns == []
    critique_requests = [c for c in seen if c[-1]["content"] == two.rounds[0].critique_prompt
                         and c[0] == user("u1")]
    assert critique_requests and critique_requests[0][:5] == two.messages  # the whole conversation
    assert set(manifest["stages"]) == {"respond", "critique 1", "revise 1"}
    assert manifest["stages"]["respond"]["examples"] == 3
    trace = json.loads((tmp_path / "run" / "traces.jsonl").read_text().splitlines()[0])
    assert "generated_turns" in trace and "attack" in trace
    # `cai inspect --id` marks the turns the policy wrote.
    from cai.inspect.loader import load_run
    from cai.inspect.story import story_view

    example = next(e for e in load_run(tmp_path / "run").examples if e.id == "two")
    console = Console(file=io.StringIO(), width=200)
    console.print(story_view(example))
    assert console.file.getvalue().count("assistant (written by the policy)") == 2


def test_pending_turns_count_against_the_context_budget(tmp_path, write_jsonl):
    # 10 pending turns x 50 new tokens do not fit a 512-token context; the same words without them do.
    many = [m for i in range(10) for m in (user(f"q{i}"), PENDING)] + [user("last")]
    plain = [m for i in range(10) for m in (user(f"q{i}"), {"role": "assistant", "content": ""})] + [user("last")]
    prompts = write_jsonl([{"id": "many", "messages": many}, {"id": "plain", "messages": plain}])
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / "run"), engine="scripted", model="scripted",
                       rounds=1, few_shot=0, label=False, max_new_tokens=50)
    manifest = execute_run(config, engine=ScriptedEngine(context=512), console=QUIET,
                           show_progress=False)
    skipped = [json.loads(line) for line in (tmp_path / "run" / "skipped.jsonl").read_text().splitlines()]
    assert [s["id"] for s in skipped] == ["many"] and manifest["counts"]["completed"] == 1


def test_eval_keeps_conversations_with_pending_turns_for_each_model_to_fill(write_jsonl):
    from cai.evaluate.prompts import held_out_prompts

    path = write_jsonl([{"id": "esc", "messages": [user("a"), PENDING, user("b")]}, {"id": "plain", "prompt": "p"}])
    loaded = held_out_prompts(str(path), exclude=[], limit=None, per_category=None)
    assert [r.id for r in loaded.records] == ["esc", "plain"] and loaded.records[0].messages[1] == PENDING
