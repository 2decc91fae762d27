"""The GPU simulation's clock model (bench/gpu_sim_engine.py) and the real scheduler driving it. No model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from gpu_sim_engine import BLOCK, GPUModel, SimulatedGPUEngine, tokens_of  # noqa: E402

from cai.engines.base import Completion, Request, Sampling  # noqa: E402

# Round figures, so the expected times are easy to state: a = 1 s a step, b = 0.1 s a decoding sequence,
# c = 0.01 s a prompt token; a budget no test reaches, so a step never splits a prefill.
MODEL = GPUModel(step_s=1.0, per_sequence_s=0.1, per_prefill_token_s=0.01, kv_tokens=1 << 20,
                 max_num_seqs=64, max_num_batched_tokens=1 << 16)


def prompt(tag: str, chunks: int) -> list[dict]:
    """A user turn of `chunks` 4-character tokens starting with a distinct tag: no shared cache blocks."""
    assert len(tag) == 4
    return [{"role": "user", "content": tag + "abcd" * (chunks - 1)}]


def collect_all(engine) -> list:
    found = []
    while engine.pending():
        found += [(key, result, engine.clock) for key, result in engine.collect()]
    return found


def test_a_batch_of_equal_requests_costs_a_plus_b_n_a_step():
    n, chunks, length = 5, 40, 7
    engine = SimulatedGPUEngine(MODEL, lengths=lambda request: length)
    for i in range(n):
        engine.submit(i, Request(prompt(f"p{i:03d}", chunks), Sampling(max_new_tokens=100)))
    found = collect_all(engine)
    tokens = len(tokens_of(prompt("p000", chunks)))
    assert tokens == chunks + 2  # the role markers count one token each
    # One step prefills every prompt and samples each first token, then length-1 decoding steps of n.
    expected = (1.0 + 0.01 * n * tokens) + (length - 1) * (1.0 + 0.1 * n)
    assert engine.steps == length
    assert sorted(key for key, _, _ in found) == list(range(n))
    assert all(clock == pytest.approx(expected) for _, _, clock in found)  # all in the last step
    assert all(isinstance(r, Completion) and r.completion_tokens == length and len(r.text.split()) == length
               for _, r, _ in found)


def test_short_requests_finish_first_and_leave_the_batch():
    lengths = {"long": 10, "shor": 3}
    engine = SimulatedGPUEngine(MODEL, lengths=lambda request: lengths[request.conversation[0]["content"][:4]])
    engine.submit("long", Request(prompt("long", 8), Sampling(max_new_tokens=100)))
    engine.submit("short", Request(prompt("shor", 8), Sampling(max_new_tokens=100)))
    found = collect_all(engine)
    assert [key for key, _, _ in found] == ["short", "long"]
    prefill = 1.0 + 0.01 * 2 * 10
    assert found[0][2] == pytest.approx(prefill + 2 * (1.0 + 0.1 * 2))
    assert found[1][2] == pytest.approx(found[0][2] + 7 * (1.0 + 0.1 * 1))  # alone once the short one left


def test_a_cached_prefix_is_not_computed_again():
    engine = SimulatedGPUEngine(MODEL, lengths=lambda request: 1)
    conversation = prompt("same", 3 * BLOCK)
    tokens = len(tokens_of(conversation))
    engine.submit(0, Request(conversation, Sampling(max_new_tokens=1)))
    collect_all(engine)
    first = engine.clock
    assert first == pytest.approx(1.0 + 0.01 * tokens)
    engine.submit(1, Request(conversation, Sampling(max_new_tokens=1)))
    collect_all(engine)
    uncached = tokens - (tokens - 1) // BLOCK * BLOCK  # whole cached blocks are reused, the rest computed
    assert engine.clock - first == pytest.approx(1.0 + 0.01 * uncached)
    assert engine.kv.hit_tokens == tokens - uncached


def test_a_full_kv_cache_preempts_and_every_request_still_finishes():
    small = GPUModel(step_s=1.0, per_sequence_s=0.1, per_prefill_token_s=0.01, kv_tokens=8 * BLOCK,
                     max_num_seqs=8, max_num_batched_tokens=1 << 16)
    engine = SimulatedGPUEngine(small, lengths=lambda request: 2 * BLOCK)
    for i in range(3):
        engine.submit(i, Request(prompt(f"q{i:03d}", BLOCK - 2), Sampling(max_new_tokens=100)))
    found = collect_all(engine)
    assert engine.preemptions > 0
    assert sorted(key for key, _, _ in found) == [0, 1, 2]
    assert all(r.completion_tokens == 2 * BLOCK for _, r, _ in found)


def test_the_continuous_scheduler_runs_examples_finishing_out_of_order(tmp_path):
    """The real cai pipeline (respond, critique, revise, labels) on the simulated engine: answers of the
    first examples are long, later ones short, so examples finish out of input order; each exactly once."""
    from rich.console import Console

    from cai.config import RunConfig
    from cai.constitution import load_constitution
    from cai.executor import run_pending
    from cai.inputs import load_prompts
    from cai.manifest import RunStats
    from cai.paths import default_constitution
    from cai.pipeline import build_steps
    from cai.progress import StageProgress
    from cai.templates import Renderer

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(f'{{"id": "e{i}", "prompt": "question {i}"}}\n' for i in range(12)))
    config = RunConfig(prompts=str(prompts), rounds=1, max_new_tokens=64, few_shot=0, label=True,
                       schedule="continuous", window=6)
    steps = build_steps(config, load_constitution(default_constitution()), Renderer(None))

    def lengths(request: Request) -> int:
        first = request.conversation[0]["content"]
        return 60 if first in {"question 0", "question 1"} else 3

    engine = SimulatedGPUEngine(MODEL, lengths)
    done = []
    with StageProgress(Console(file=open("/dev/null", "w")), enabled=False) as progress:
        run_pending(steps, list(load_prompts(str(prompts)).records), engine, Sampling(max_new_tokens=64),
                    config, RunStats(), progress, lambda records: done.extend(records))
    order = [r.id for r in done]
    assert sorted(order) == sorted(f"e{i}" for i in range(12))
    assert order[-2:] == ["e0", "e1"] or order[-2:] == ["e1", "e0"]  # the long ones, submitted first, end last
    assert not any(r.failure for r in done)
    assert all(r.labels for r in done)  # the label questions went through the simulated engine too
