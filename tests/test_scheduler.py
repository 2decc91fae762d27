"""The continuous schedule's logic on the scripted engine: same records as the stage schedule, no barrier,
the window bound, out-of-order finishing, single failures isolated, resume, input order in inspect."""

import json
import time

import pytest
from rich.console import Console

from cai.config import RunConfig
from cai.engines.base import Request, Sampling
from cai.engines.scripted import ScriptedEngine
from cai.inspect.loader import load_run
from cai.runner import execute_run
from cai.store import RunStore

PROBS = {"A": 0.7, "B": 0.3}


def run(tmp_path, prompts, engine, name="run", resume=False, **options):
    config = RunConfig(prompts=str(prompts), out=str(tmp_path / name), engine="scripted", model="scripted",
                       **{"gates": "none", **options})  # scripted replies echo their requests: the gates flag them
    manifest = execute_run(config, engine=engine, console=Console(file=open("/dev/null", "w")),
                           show_progress=False, resume=resume)
    return manifest, RunStore(config.out)


def prompts_file(write_jsonl, n):
    return write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(n)])


def by_id(store):
    return {r.id: r.to_dict() for r in store.read_records()}


def test_continuous_out_of_order_gives_the_records_of_the_stage_schedule(tmp_path, write_jsonl):
    prompts = prompts_file(write_jsonl, 12)
    _, stages = run(tmp_path, prompts, ScriptedEngine(probs=lambda c: PROBS), "stages", schedule="stages",
                    chunk_size=5, rounds=2)
    shuffled = ScriptedEngine(probs=lambda c: PROBS, finish="random", seed=3)
    manifest, continuous = run(tmp_path, prompts, shuffled, "continuous", schedule="continuous", window=4, rounds=2)
    order = [r.id for r in continuous.read_records()]
    assert order != sorted(order, key=lambda i: int(i[1:])), "finishing out of order writes out of order"
    assert by_id(continuous) == by_id(stages)
    assert manifest["counts"]["completed"] == 12 and manifest["counts"]["failed"] == 0
    assert manifest["stages"]["revise 2"]["examples"] == 12 and manifest["stages"]["label"]["examples"] == 12
    assert manifest["splits"] == run_splits(stages)


def run_splits(store):
    return json.loads((store.path / "manifest.json").read_text())["splits"]


def test_a_slow_example_does_not_hold_the_others_back(tmp_path, write_jsonl):
    """p0's requests finish only when nothing else is queued; with two examples in flight the other
    slot keeps cycling through p1..p5, so they are all saved before p0."""
    def hold_p0(queue):
        others = [item for item in queue if "question 0" not in json.dumps(item[1].conversation)]
        return others or queue

    engine = ScriptedEngine(finish=hold_p0)
    _, store = run(tmp_path, prompts_file(write_jsonl, 6), engine, window=2, rounds=1, label=False)
    order = [r.id for r in store.read_records()]
    assert order == ["p1", "p2", "p3", "p4", "p5", "p0"]
    assert engine.most_pending <= 2  # one request per example in flight, never more than the window


def test_the_window_bounds_the_examples_in_flight(tmp_path, write_jsonl):
    engine = ScriptedEngine(finish="random", seed=1)
    _, store = run(tmp_path, prompts_file(write_jsonl, 20), engine, window=3, rounds=1, label=False)
    assert engine.most_pending == 3
    assert sorted(r.id for r in store.read_records()) == sorted(f"p{i}" for i in range(20))


@pytest.mark.parametrize("schedule", ["continuous", "stages"])
def test_a_request_failing_twice_fails_only_its_example(tmp_path, write_jsonl, schedule):
    def revising_question_3(request: Request) -> bool:
        # Without few-shot turns: prompt, answer, critique request, critique, revision request.
        return len(request.conversation) == 5 and request.conversation[0]["content"] == "question 3"

    engine = ScriptedEngine(probs=lambda c: PROBS, finish="random", fail=revising_question_3)
    manifest, store = run(tmp_path, prompts_file(write_jsonl, 6), engine, rounds=1, window=4, few_shot=0,
                          schedule=schedule, chunk_size=4)
    assert [r.alone for r in engine.failures] == [False, True], "retried once, alone"
    assert manifest["config"]["schedule"] == schedule
    records = by_id(store)
    assert len(records) == 6
    failed = records["p3"]
    assert failed["failure"]["stage"] == "revise 1" and "scripted failure" in failed["failure"]["reason"]
    assert failed["rounds"][0]["critique"] and not failed["rounds"][0]["revision"]  # kept as far as it got
    assert all(records[i]["failure"] is None and records[i]["labels"] for i in records if i != "p3")
    assert manifest["counts"]["failed"] == 1
    from datasets import load_from_disk

    dataset = load_from_disk(str(store.path / "dataset"))
    exported = {row["prompt_id"] for split in dataset.values() for row in split}
    assert "p3" not in exported and exported


def test_a_request_failing_once_succeeds_when_retried(tmp_path, write_jsonl):
    seen = set()

    def first_time_only(request: Request) -> bool:
        key = json.dumps(request.conversation)
        if "question 2" in key and key not in seen:
            seen.add(key)
            return True
        return False

    engine = ScriptedEngine(probs=lambda c: PROBS, fail=first_time_only)
    manifest, store = run(tmp_path, prompts_file(write_jsonl, 4), engine, rounds=1)
    assert len(engine.failures) >= 3  # the answer, critique, revision and label turns of p2 each failed once
    assert manifest["counts"]["failed"] == 0
    assert all(r.failure is None and r.rounds[0].revision for r in store.read_records())


def test_a_failing_label_question_is_recorded_on_the_label_not_the_example(tmp_path, write_jsonl):
    engine = ScriptedEngine(probs=lambda c: PROBS,
                            fail=lambda r: r.scores and "question 1" in json.dumps(r.conversation))
    manifest, store = run(tmp_path, prompts_file(write_jsonl, 3), engine, rounds=1)
    record = by_id(store)["p1"]
    assert record["failure"] is None and manifest["counts"]["failed"] == 0
    assert record["labels"] and all("scripted failure" in entry["reason"] for entry in record["labels"])


def test_resume_after_a_partial_continuous_run_keeps_every_example_once(tmp_path, write_jsonl):
    prompts = prompts_file(write_jsonl, 8)
    _, whole = run(tmp_path, prompts, ScriptedEngine(probs=lambda c: PROBS), "whole", rounds=2)
    _, store = run(tmp_path, prompts, ScriptedEngine(probs=lambda c: PROBS, finish="random", seed=5), "cut",
                   rounds=2, window=3)
    lines = (store.path / "traces.jsonl").read_text().splitlines()
    (store.path / "traces.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:30])  # killed mid-line
    kept = {json.loads(line)["id"] for line in lines[:4]}
    resumed = ScriptedEngine(probs=lambda c: PROBS, finish="random", seed=6)
    run(tmp_path, prompts, resumed, "cut", resume=True, rounds=2, window=3)
    ids = [json.loads(line)["id"] for line in (store.path / "traces.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(f"p{i}" for i in range(8))
    assert resumed.calls and sum(n for kind, n in resumed.calls if kind == "chat") == 5 * (8 - len(kept))
    assert by_id(store) == by_id(whole)  # same principles, same answers


def test_inspect_index_follows_the_input_order(tmp_path, write_jsonl):
    def hold_p0(queue):
        return [item for item in queue if "question 0" not in json.dumps(item[1].conversation)] or queue

    _, store = run(tmp_path, prompts_file(write_jsonl, 4), ScriptedEngine(finish=hold_p0), window=2, rounds=1,
                   label=False)
    assert json.loads((store.path / "traces.jsonl").read_text().splitlines()[0])["id"] != "p0"
    view = load_run(store.path)
    assert [(e.index, e.id) for e in view.examples] == [(0, "p0"), (1, "p1"), (2, "p2"), (3, "p3")]


def test_whole_list_calls_keep_results_of_requests_submitted_by_others():
    engine = ScriptedEngine(finish="random", seed=2)
    engine.submit("mine", Request([{"role": "user", "content": "early"}], Sampling(max_new_tokens=4)))
    answers = engine.chat([[{"role": "user", "content": f"x{i}"}] for i in range(5)], Sampling())
    assert [a.text for a in answers] == [f"answer 0 to: x{i}" for i in range(5)]
    assert engine.pending() == 1
    found = []
    while engine.pending():
        found += engine.collect()
    assert [(key, result.text) for key, result in found] == [("mine", "answer 0 to: early")]


def test_totals_are_the_sessions_wall_time_not_the_sum_of_overlapping_stage_spans(tmp_path, write_jsonl):
    def one_at_a_time(queue):  # 10 ms per request, one request per step: eight examples overlap in stages
        time.sleep(0.01)
        return queue[:1]

    engine = ScriptedEngine(probs=lambda c: PROBS, finish=one_at_a_time)
    manifest, _ = run(tmp_path, prompts_file(write_jsonl, 8), engine, window=8, rounds=2)
    totals, stages = manifest["totals"], manifest["stages"].values()
    [session] = manifest["sessions"]
    assert totals["examples"] == 8 == session["finished"]
    assert totals["seconds"] == session["seconds"] > 0
    assert totals["seconds"] < sum(s["seconds"] for s in stages), "the stages' spans overlap"
    assert totals["completion_tokens"] == sum(s["completion_tokens"] for s in stages)


class DyingEngine(ScriptedEngine):
    """The engine dies (an engine process gone) after `after` collects; `sigint` first notes a Ctrl-C, as
    when vLLM's engine process died of the same Ctrl-C before the main thread heard of it."""

    def __init__(self, after: int, sigint: bool, session_holder: list):
        super().__init__(probs=lambda c: PROBS)
        self.after, self.sigint, self.holder, self.collects = after, sigint, session_holder, 0

    def _collect(self, block):
        self.collects += 1
        if self.collects > self.after:
            if self.sigint:
                self.holder[0].sigint = True
            raise RuntimeError("engine core died")
        return super()._collect(block)


@pytest.mark.parametrize("sigint", [False, True])
def test_an_engine_dying_mid_run_leaves_a_failed_or_interrupted_manifest(tmp_path, write_jsonl, monkeypatch,
                                                                           sigint):
    import cai.runner

    holder = []
    original = cai.runner.RunSession

    def keep(*args, **kwargs):
        holder.append(original(*args, **kwargs))
        return holder[-1]

    monkeypatch.setattr(cai.runner, "RunSession", keep)
    engine = DyingEngine(after=6, sigint=sigint, session_holder=holder)
    with pytest.raises(KeyboardInterrupt if sigint else RuntimeError):
        run(tmp_path, prompts_file(write_jsonl, 6), engine, window=2, rounds=1)
    manifest = RunStore(tmp_path / "run").read_manifest()
    assert manifest["status"] == ("interrupted" if sigint else "failed")
    assert ("error" in manifest) is not sigint
    saved = len(RunStore(tmp_path / "run").read_records())
    assert saved == manifest["counts"]["completed"] and saved < 6
