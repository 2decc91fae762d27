"""The same workload on the local executor and on Ray with one replica and the same engine.

Both runs use the default model on the hf engine (or --engine vllm) with the same options, greedy
decoding and the continuous scheduler. Timed: the run itself. Not timed, and printed apart: building
the local engine (the Ray replica builds its own inside the run; its load time is taken off) and
starting the local Ray cluster. The replica gets every core (`--replica-cpus`), as the local run has.

    python bench/ray_vs_local.py --prompts 24 --rounds 1 --max-new-tokens 48

Scaling with replicas cannot be shown on a 2-core machine (two replicas share the same two cores);
the model printed at the end says how it should scale where each replica has its own device.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def workload(folder: Path, count: int) -> Path:
    from cai.inputs import load_prompts
    from cai.paths import demo_prompts

    prompts = load_prompts(str(demo_prompts())).records
    path = folder / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"b{i}", "messages": prompts[i % len(prompts)].messages}) + "\n"
                            for i in range(count)), encoding="utf-8")
    return path


def options(args, prompts: Path, out: Path) -> dict:
    return {"prompts": str(prompts), "out": str(out), "engine": args.engine, "rounds": args.rounds,
            "max_new_tokens": args.max_new_tokens, "temperature": 0.0, "few_shot": 2, "seed": 0,
            "chunk_size": args.block_size, "label": not args.no_label}


def tokens(manifest: dict) -> int:
    return sum(stage["completion_tokens"] for stage in manifest["stages"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--engine", default="hf", choices=("hf", "vllm"))
    parser.add_argument("--block-size", type=int, default=64, help="examples per Ray block (--chunk-size)")
    parser.add_argument("--no-label", action="store_true")
    args = parser.parse_args()

    import ray
    from rich.console import Console

    from cai.config import RunConfig
    from cai.distributed.cluster import start_local
    from cai.engines import build_engine
    from cai.models import default_model_dir
    from cai.runner import execute_run

    quiet = Console(file=open(os.devnull, "w"))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prompts = workload(folder, args.prompts)
        started = time.perf_counter()
        engine = build_engine(args.engine, str(default_model_dir()), seed=0)
        local_load = time.perf_counter() - started
        started = time.perf_counter()
        local = execute_run(RunConfig(**options(args, prompts, folder / "local")), engine=engine,
                            show_progress=False, console=quiet)
        local_s = time.perf_counter() - started
        engine.close()

        started = time.perf_counter()
        start_local(cores + 1)
        cluster_s = time.perf_counter() - started
        try:
            started = time.perf_counter()
            remote = execute_run(RunConfig(**options(args, prompts, folder / "ray"), executor="ray", replicas=1,
                                           replica_cpus=cores), show_progress=False, console=quiet)
            ray_s = time.perf_counter() - started
        finally:
            ray.shutdown()
    replica = next(iter(remote["executor"]["per_replica"].values()))
    ray_work = ray_s - replica["load_seconds"]
    local_rate, ray_rate = tokens(local) / local_s, tokens(remote) / ray_work
    print(f"workload: {args.prompts} prompts, {args.rounds} round(s), {args.max_new_tokens} new tokens, "
          f"{args.engine} engine, {cores} cores, blocks of {args.block_size}")
    print(f"local: {local_s:7.1f} s  {tokens(local):6d} tokens  {local_rate:6.1f} tok/s   (engine built in "
          f"{local_load:.1f} s, not timed)")
    print(f"ray:   {ray_work:7.1f} s  {tokens(remote):6d} tokens  {ray_rate:6.1f} tok/s   (run {ray_s:.1f} s "
          f"less the replica's engine build {replica['load_seconds']:.1f} s; cluster start {cluster_s:.1f} s)")
    print(f"ratio ray / local throughput: {ray_rate / local_rate:.3f}   (target >= 0.9)")
    print(f"ratio end to end (each with its engine build, ray with its cluster start): "
          f"{(local_s + local_load) / (ray_s + cluster_s):.3f}")
    print("scaling: not measurable here (replicas would share the same cores). Model, for N replicas each on "
          "its own device: T(N) = S + L + ceil(B/N) * t_block, with S the cluster start, L one engine build "
          "(in parallel on every replica), B blocks of --chunk-size examples and t_block one replica's time "
          "per block; throughput grows as N while B/N >= a few blocks, then each replica's last block's "
          "drain (its window emptying) is the loss.")


if __name__ == "__main__":
    main()
