"""The vllm engine on the real default model (vllm-cpu here), and `--engine auto`'s choice.

One in-process engine serves the whole session (`vllm_engine`); the CLI test starts its own, since
building, running and shutting down the engine in a fresh process is what it checks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from run_shape import cli_args, run_content, run_shape

from cai.engines import Sampling
from cai.engines import select as engine_select
from cai.engines.vllm_setup import cpu_dtype


def interruptible() -> None:
    """In the child: Ctrl-C does what it does in a terminal. A suite started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


QUESTION = [{"role": "user", "content": "Which animal is larger? (A) an elephant (B) a mouse. "
                                        "Answer with the letter."}]
PREFIX = "The answer is: ("


def _descendants_alive(session_id: int) -> list[str]:
    """Processes still in the session a subprocess was started in (its vLLM workers would be)."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    alive = []
    for line in listing.splitlines():
        pid, sid, stat, *args = line.split(None, 3)
        if int(sid) == session_id and not stat.startswith("Z"):
            alive.append(f"{pid} {' '.join(args)}")
    return alive


@pytest.mark.real
def test_cli_run_on_vllm_matches_hf_and_leaves_no_processes(tmp_path, hf_reference_run):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "cai", "run", "--engine", "vllm", "--out", str(out),
                                "--quiet", *cli_args()], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=900)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    assert _descendants_alive(process.pid) == []  # the engine core and its worker exited with the run

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["engine"] == "vllm"
    assert manifest["engine_choice"] == {"requested": "vllm", "chosen": "vllm", "reason": "requested with --engine"}
    info = manifest["engine_info"]
    assert info["enforce_eager"] is True and info["device"] == "cpu" and info["prefix_caching"] is True
    # --dtype float32 (RUN_OPTIONS, as the hf reference) reaches vLLM; what `auto` picks on this CPU is
    # checked in test_cpu_kv_cache_is_sized_explicitly.
    assert info["dtype"] == "float32"
    # The critique and revision prompts share the few-shot prefix: some prompt tokens come from the cache.
    assert 0 < info["prefix_cache_hit_rate"] < 1
    assert run_shape(out) == run_shape(hf_reference_run)
    # Greedy text is not compared: in bfloat16 the two engines' first tokens already differed on one of
    # the two prompts (measured); what cannot depend on the kernels must be equal.
    assert run_content(out) == run_content(hf_reference_run)


@pytest.mark.real
def test_ctrl_c_on_a_continuous_vllm_run_leaves_an_interrupted_run(tmp_path, write_jsonl):
    """A terminal's Ctrl-C reaches the whole process group: vLLM's engine process gets it too, and may die
    of it before the main thread hears. Either way the run must say it was interrupted."""
    prompts = write_jsonl([{"id": f"q{i}", "prompt": f"Name a colour, number {i}."} for i in range(6)])
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "cai", "run", "--engine", "vllm", "--prompts", prompts,
                                "--out", str(out), "--rounds", "2", "--no-label", "--max-new-tokens", "16",
                                "--few-shot", "0", "--window", "2", "--schedule", "continuous", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=interruptible)
    try:
        traces = out / "traces.jsonl"
        deadline = time.monotonic() + 900
        while not (traces.is_file() and traces.stat().st_size) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1][-3000:]
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert "interrupted: finished examples are saved" in stderr
    saved = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    assert saved and manifest["counts"]["completed"] == len(saved) < 6
    deadline = time.monotonic() + 60  # the engine's processes finish their own shutdown
    while _descendants_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _descendants_alive(process.pid) == []


@pytest.mark.real
def test_vllm_renders_the_same_prompt_tokens_as_hf(vllm_engine, hf_engine):
    conversation = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Again, in French."}]
    assert vllm_engine.count_tokens(conversation) == hf_engine.count_tokens(conversation)
    [completion] = vllm_engine.chat([conversation], Sampling(max_new_tokens=4, temperature=0.0))
    assert completion.prompt_tokens == hf_engine.count_tokens(conversation)  # what vLLM actually received
    assert vllm_engine.context_length == hf_engine.context_length == 8192


@pytest.mark.real
def test_vllm_chat_batches_samples_and_honours_max_tokens(vllm_engine):
    conversations = [[{"role": "user", "content": f"Write a long story about the number {i}."}] for i in range(3)]
    seen = []
    completions = vllm_engine.chat(conversations, Sampling(max_new_tokens=8, temperature=0.9, n=3),
                                   progress=lambda items, tokens: seen.append((items, tokens)))
    assert [len(c.texts) for c in completions] == [3, 3, 3]
    for completion in completions:
        assert 3 <= completion.completion_tokens <= 3 * 8
        assert all(reason in ("stop", "length") for reason in completion.finish_reasons)
    assert sum(items for items, _ in seen) == 3
    assert sum(tokens for _, tokens in seen) == sum(c.completion_tokens for c in completions)
    # Greedy with n > 1: vLLM itself refuses it; the engine returns the one greedy answer n times.
    [greedy] = vllm_engine.chat(conversations[:1], Sampling(max_new_tokens=8, temperature=0.0, n=2))
    assert len(greedy.texts) == 2 and greedy.texts[0] == greedy.texts[1]
    [again] = vllm_engine.chat(conversations[:1], Sampling(max_new_tokens=8, temperature=0.0))
    assert again.text == greedy.text


@pytest.mark.real
def test_vllm_engine_honours_top_p(vllm_engine):
    """A nucleus of almost no probability keeps only the most probable token: sampling is then greedy."""
    conversation = [{"role": "user", "content": "Write a sentence about the sea."}]
    [greedy] = vllm_engine.chat([conversation], Sampling(max_new_tokens=12, temperature=0.0))
    [narrow] = vllm_engine.chat([conversation], Sampling(max_new_tokens=12, temperature=1.0, top_p=1e-6))
    assert narrow.texts == greedy.texts


@pytest.mark.real
def test_vllm_choice_probs_match_hf_and_report_missing(vllm_engine, hf_engine):
    # Both engines in float32 (conftest.ENGINE_DTYPE): in bf16 their kernels differ by ~0.05 here.
    [mine] = vllm_engine.choice_probs([QUESTION], ["A", "B", "purple"], PREFIX)
    [reference] = hf_engine.choice_probs([QUESTION], ["A", "B"], PREFIX)
    assert mine.prompt_tokens == hf_engine.count_tokens(QUESTION) + len(hf_engine.tokenizer(
        PREFIX, add_special_tokens=False)["input_ids"])
    for letter in "AB":  # same precision, different kernels: close, not bit-identical
        assert mine.probs[letter] == pytest.approx(reference.probs[letter], abs=0.02)
    # Not in the top 20 after "(": reported as missing, never as probability 0.
    assert mine.missing == ["purple"] and "purple" not in mine.probs


@pytest.mark.real
def test_vllm_prefix_cache_serves_a_shared_prefix(vllm_engine):
    shared = [{"role": "system", "content": "You are a careful assistant. " * 100}]  # ~600 tokens
    conversations = [shared + [{"role": "user", "content": f"Name {i} fruit."}] for i in range(4)]
    vllm_engine.chat(conversations[:1], Sampling(max_new_tokens=2, temperature=0.0))
    before = vllm_engine.cached_tokens
    vllm_engine.chat(conversations[1:], Sampling(max_new_tokens=2, temperature=0.0))
    # Caching works in whole blocks (128 tokens on CPU): at least 4 of the shared prompt's blocks, 3 times.
    assert vllm_engine.cached_tokens - before >= 3 * 4 * 128


def test_auto_picks_vllm_cpu_build(monkeypatch):
    monkeypatch.setattr(engine_select.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(engine_select, "_version", lambda name: "0.32.0" if name == "vllm-cpu" else None)
    choice = engine_select.choose_engine("auto")
    assert (choice.requested, choice.chosen) == ("auto", "vllm") and "vllm-cpu 0.32.0" in choice.reason


def test_auto_picks_gpu_vllm_only_with_a_gpu(monkeypatch):
    monkeypatch.setattr(engine_select.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(engine_select, "_version", lambda name: "0.9.0" if name == "vllm" else None)
    monkeypatch.setattr(engine_select, "_has_cuda", lambda: True)
    assert engine_select.choose_engine("auto").chosen == "vllm"
    monkeypatch.setattr(engine_select, "_has_cuda", lambda: False)
    choice = engine_select.choose_engine("auto")
    assert choice.chosen == "hf" and "no CUDA GPU" in choice.reason


def test_auto_falls_back_to_hf_without_vllm(monkeypatch):
    monkeypatch.setattr(engine_select.importlib.util, "find_spec", lambda name: None)
    choice = engine_select.choose_engine("auto")
    assert choice.chosen == "hf" and "not installed" in choice.reason
    assert engine_select.choose_engine("openai").to_dict() == {
        "requested": "openai", "chosen": "openai", "reason": "requested with --engine"}


def test_auto_falls_back_to_hf_when_vllm_fails_to_start(monkeypatch):
    import cai.engines as engines
    from cai.engines.scripted import ScriptedEngine
    from cai.errors import CaiError

    built = []

    def fake_build(name, *args):
        built.append(name)
        if name == "vllm":
            raise CaiError("vLLM could not start: not enough memory", "--engine vllm")
        return ScriptedEngine()

    monkeypatch.setattr(engine_select, "vllm_build", lambda: ("cpu", "the CPU build is installed"))
    monkeypatch.setattr(engines, "_build", fake_build)
    engine = engines.build_engine("auto", "model")
    assert built == ["vllm", "hf"]
    assert engine.choice["chosen"] == "hf" and "not enough memory" in engine.choice["reason"]
    with pytest.raises(CaiError):  # asked for by name: no silent substitute
        engines.build_engine("vllm", "model")


def test_cpu_kv_cache_is_sized_explicitly(monkeypatch):
    from cai.engines.vllm_setup import GiB, VLLMOptions, llm_kwargs

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    kwargs, info = llm_kwargs("m", VLLMOptions(seed=5), on_cpu=True)
    assert kwargs["kv_cache_memory_bytes"] == 2 * GiB and kwargs["enforce_eager"] is True
    assert kwargs["seed"] == 5 and kwargs["enable_prefix_caching"] is True
    assert kwargs["max_num_batched_tokens"] == 2048 and kwargs["dtype"] == cpu_dtype()
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "6")  # the user's own size wins
    kwargs, info = llm_kwargs("m", VLLMOptions(), on_cpu=True)
    assert "kv_cache_memory_bytes" not in kwargs and "6 GiB" in info["kv_cache"]
    kwargs, _ = llm_kwargs("m", VLLMOptions(gpu_memory_utilization=0.5, max_model_len=2048,
                                            tensor_parallel_size=2), on_cpu=False)
    assert kwargs["gpu_memory_utilization"] == 0.5 and kwargs["max_model_len"] == 2048
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["enforce_eager"] is False
    assert kwargs["dtype"] == "auto" and "max_num_batched_tokens" not in kwargs  # GPU: vLLM's own choices


@pytest.mark.real
def test_a_prompt_overflowing_the_context_at_revision_is_recorded_and_the_run_completes(tmp_path, vllm_engine):
    """The long prompt fits the context with room for an answer and a critique (the principle's critique
    text is short), but its revision request repeats a revision text longer than all the room left."""
    import yaml
    from rich.console import Console

    from cai.config import RunConfig
    from cai.runner import execute_run

    revision = " ".join(["Rewrite the answer so it is kind, clear and short."] * 20)  # about 240 tokens
    constitution = tmp_path / "constitution.yaml"
    constitution.write_text(yaml.safe_dump({"name": "overflow", "version": 1, "principles": [
        {"id": "short", "category": "helpfulness", "critique": "Is it kind?", "revision": revision}]}))
    budget = vllm_engine.context_length - 3 * 16 - 64  # what the runner lets in up front
    words = budget - 40
    while vllm_engine.count_tokens([{"role": "user", "content": "apple " * words}]) < budget:
        words += 1
    long_prompt = "apple " * (words - 1)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "short-0", "prompt": "Name a colour."}, {"id": "long", "prompt": long_prompt},
        {"id": "short-1", "prompt": "Name a fruit."}]))
    config = RunConfig(prompts=str(prompts), constitution=str(constitution), engine="vllm", model="default",
                       out=str(tmp_path / "run"), rounds=1, max_new_tokens=16, few_shot=0, temperature=0.0,
                       label=False, gates="none", test_size=0.0, schedule="continuous")
    manifest = execute_run(config, engine=vllm_engine, show_progress=False, console=Console(file=open(os.devnull, "w")))
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "traces.jsonl").read_text().splitlines())}
    assert set(records) == {"short-0", "long", "short-1"}
    failure = records["long"]["failure"]
    assert failure["stage"] == "revise 1" and str(vllm_engine.context_length) in failure["reason"], failure
    assert records["long"]["rounds"][0]["critique"]  # it got as far as the critique
    assert all(records[i]["failure"] is None and records[i]["rounds"][0]["revision"] for i in ("short-0", "short-1"))
    assert manifest["counts"]["failed"] == 1 and manifest["splits"]["train_sft"] == 2
