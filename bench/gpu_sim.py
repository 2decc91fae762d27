"""cai's schedules on a GPU, ON PAPER: the real schedulers driving a simulated vLLM. A MODEL, not a measurement.

No GPU is used. cai's own code runs unchanged — the continuous scheduler (`cai.executor.run_pending` with
`--schedule continuous`, window max_num_seqs) and the stage-barrier schedule (`--schedule stages`, chunks
of 64 and one chunk of every example) — with real prompts, principles, few-shot examples and label questions,
against `SimulatedGPUEngine` (bench/gpu_sim_engine.py): vLLM V1's step loop on a virtual clock. Reported time
is the engine's simulated clock only; the scheduler's own (wall-clock) cost is printed apart and never added.

The model's assumptions (see gpu_sim_engine.py for the reasons behind each figure):
  - one H100 SXM serving an 8B model in bf16; time of one engine step = a + b x (sequences decoding) +
    c x (prompt tokens computed), a = 6 ms, b = 0.06 ms, c = 0.035 ms (about 12k generated tok/s at 256
    sequences, 15k at 1024, 29k prefill tok/s): a GPU is memory-bound at small batches, so one step costs
    nearly the same for 1 sequence or 64;
  - vLLM V1 scheduling: up to max_num_seqs sequences, a token budget a step (8192 at 256 sequences, 16384 at
    1024) shared by decodes and prefill chunks, first come first served, a paged KV cache of 400k tokens with
    prefix caching (blocks of 16, LRU eviction) and recompute preemption;
  - a token is 4 characters of the rendered messages; output lengths in tokens are drawn per kind of turn
    (answer, critique, revision) from a real run's trace, independently; a label question is prefill only.
    The lengths sample committed in bench/data/ comes from the embedded 135M model, whose answers are shorter
    than a 7-8B model's: --length-scale stretches them (capped by --max-new-tokens).

    python bench/gpu_sim.py --examples 4096 --rounds 2 --max-num-seqs 256,1024
    python bench/gpu_sim.py --trace outputs/demo/traces.jsonl --write-lengths bench/data/lengths.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from gpu_sim_engine import GPUModel, SimulatedGPUEngine  # noqa: E402

DEFAULT_LENGTHS = HERE / "data" / "lengths_smollm2_135m.json"
KINDS = ("answer", "critique", "revision")
STEP_TOKENS = {256: 8192, 1024: 16384}  # vLLM V1's offline defaults on A100-class and H100-class GPUs


def lengths_from_trace(path: Path) -> dict:
    """Tokens of every answer, critique and revision in a run's traces.jsonl (the default model's tokenizer)."""
    from transformers import AutoTokenizer

    from cai.models import default_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()))
    config = (path.parent / "config.yaml")
    cap = None
    if config.is_file():
        import yaml

        cap = (yaml.safe_load(config.read_text()) or {}).get("max_new_tokens")
    found: dict = {kind: [] for kind in KINDS}

    def count(text: str | None) -> int | None:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else None

    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("failure"):
            continue
        found["answer"].append(count(record.get("initial_response")))
        for round_ in record.get("rounds", []):
            found["critique"].append(count(round_.get("critique")))
            found["revision"].append(count(round_.get("revision")))
    # Re-tokenizing a cleaned text can give a token or two more than were generated: cap at the run's limit.
    return {"source": f"{path} (tokens by the embedded default model's tokenizer)", "max_new_tokens": cap,
            **{kind: [min(n, cap or n) for n in found[kind] if n] for kind in KINDS}}


class TraceLengths:
    """Draws a request's output length from the sample of its kind, told apart by its last user turn: a
    critique request ends with a rendered critique prompt, a revision request with a revision prompt, an
    answer request with the user's own turn."""

    def __init__(self, sample: dict, critiques: set[str], revisions: set[str], scale: float, seed: int):
        self.pools = {kind: sample[kind] for kind in KINDS}
        self.critiques, self.revisions = critiques, revisions
        self.scale, self.rng = scale, random.Random(seed)

    def kind(self, conversation) -> str:
        last = conversation[-1]["content"].strip()
        return "revision" if last in self.revisions else "critique" if last in self.critiques else "answer"

    def __call__(self, request) -> int:
        return max(1, round(self.rng.choice(self.pools[self.kind(request.conversation)]) * self.scale))


def simulate(args, gpu: GPUModel, sample: dict, prompts: Path, schedule: str, chunk_size: int) -> dict:
    from rich.console import Console

    from cai.config import RunConfig
    from cai.constitution import load_constitution
    from cai.engines.base import Sampling
    from cai.executor import run_pending
    from cai.inputs import load_prompts
    from cai.manifest import RunStats
    from cai.paths import default_constitution
    from cai.pipeline import build_steps
    from cai.progress import StageProgress
    from cai.templates import Renderer

    config = RunConfig(prompts=str(prompts), model="gpu-sim", rounds=args.rounds, max_new_tokens=args.max_new_tokens,
                       temperature=0.7, top_p=1.0, few_shot=args.few_shot, label=not args.no_label, seed=0,
                       schedule=schedule, chunk_size=chunk_size, window=args.window)
    constitution, renderer = load_constitution(default_constitution()), Renderer(None)
    steps = build_steps(config, constitution, renderer)
    critiques = {renderer.render("critique", principle=p, response="") for p in constitution.principles}
    revisions = {renderer.render("revision", principle=p, response="", critique="") for p in constitution.principles}
    lengths = TraceLengths(sample, critiques, revisions, args.length_scale, seed=1)
    engine = SimulatedGPUEngine(gpu, lengths, seed=2)
    records = list(load_prompts(str(prompts)).records)
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=0.7, top_p=1.0, seed=0)
    finished = {"examples": 0, "failed": 0}

    def checkpoint(done: list) -> None:
        finished["examples"] += len(done)
        finished["failed"] += sum(1 for r in done if r.failure)

    started = time.perf_counter()
    quiet = Console(file=open(os.devnull, "w"))
    with StageProgress(quiet, enabled=False) as progress:
        run_pending(steps, records, engine, sampling, config, RunStats(), progress, checkpoint)
    return {"schedule": schedule if schedule == "continuous" else f"stages, chunk {chunk_size}",
            "sim_seconds": engine.clock, "wall_seconds": time.perf_counter() - started, **finished,
            "generated": engine.generated, "prompt_tokens": engine.prompt_tokens,
            "hit_rate": engine.kv.hit_tokens / max(engine.prompt_tokens, 1),
            "mean_batch": engine.batch_sum / max(engine.steps, 1), "preemptions": engine.preemptions,
            "prefill_share": engine.prefill_seconds / max(engine.clock, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=4096, help="prompts (the bundled ones, cycled)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--few-shot", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the trace's own cap")
    parser.add_argument("--no-label", action="store_true", help="leave the label questions out")
    parser.add_argument("--max-num-seqs", default="256,1024")
    parser.add_argument("--chunk-size", type=int, default=64, help="the stages schedule's chunk")
    parser.add_argument("--window", type=int, default=None, help="continuous: examples in flight (default: "
                                                                 "cai's for vllm, max_num_seqs)")
    parser.add_argument("--schedules", default="continuous,stages,one-chunk", help="which schedules to run")
    parser.add_argument("--length-scale", type=float, default=1.0, help="multiply the drawn output lengths")
    parser.add_argument("--lengths", type=Path, default=DEFAULT_LENGTHS, help="a lengths sample (JSON)")
    parser.add_argument("--trace", type=Path, default=None, help="a run's traces.jsonl to draw lengths from")
    parser.add_argument("--write-lengths", type=Path, default=None, help="with --trace: save its lengths sample")
    args = parser.parse_args()

    sample = lengths_from_trace(args.trace) if args.trace else json.loads(args.lengths.read_text())
    if args.write_lengths:
        args.write_lengths.write_text(json.dumps(sample) + "\n")
        print(f"wrote {args.write_lengths}: " + ", ".join(f"{len(sample[k])} {k}s" for k in KINDS))
        return
    args.max_new_tokens = args.max_new_tokens or sample.get("max_new_tokens") or 256
    from schedule import prompts_file

    prompts = prompts_file(args.examples)
    rows = []
    for seqs in (int(s) for s in args.max_num_seqs.split(",")):
        gpu = GPUModel(max_num_seqs=seqs, max_num_batched_tokens=STEP_TOKENS.get(seqs, 8192))
        known = {"continuous": ("continuous", args.chunk_size), "stages": ("stages", args.chunk_size),
                 "one-chunk": ("stages", args.examples)}
        for schedule, chunk in (known[name] for name in args.schedules.split(",")):
            rows.append({"seqs": seqs, **simulate(args, gpu, sample, prompts, schedule, chunk)})
            print(f"max_num_seqs {seqs}, {rows[-1]['schedule']}: simulated {rows[-1]['sim_seconds']:.0f} s "
                  f"({rows[-1]['wall_seconds']:.0f} s of scheduler wall time)", flush=True)
    means = {k: sum(sample[k]) / len(sample[k]) for k in KINDS}
    print("\nTHIS IS A MODEL, NOT A MEASUREMENT: a simulated H100 + 8B model (bench/gpu_sim_engine.py states the "
          "step-time curve and what it assumes).")
    window = f"window {args.window}" if args.window else "window max_num_seqs"
    print(f"workload: {args.examples} examples, {args.rounds} rounds, few-shot {args.few_shot}, {window}, labels "
          f"{'off' if args.no_label else 'on'}, max {args.max_new_tokens} new tokens; output lengths from "
          f"{sample['source']}, mean answer/critique/revision {means['answer']:.0f}/{means['critique']:.0f}/"
          f"{means['revision']:.0f} tokens x {args.length_scale}")
    print(f"\n{'max_num_seqs':>12} {'schedule':<20} {'sim s':>8} {'ex/s':>7} {'gen tok/s':>9} {'mean batch':>10} "
          f"{'prefix hit':>10} {'prefill time':>12} {'preempt':>7}")
    for r in rows:
        print(f"{r['seqs']:>12} {r['schedule']:<20} {r['sim_seconds']:>8.1f} {r['examples'] / r['sim_seconds']:>7.1f} "
              f"{r['generated'] / r['sim_seconds']:>9.0f} {r['mean_batch']:>10.1f} {r['hit_rate']:>10.1%} "
              f"{r['prefill_share']:>12.0%} {r['preemptions']:>7}")
    print()
    for seqs in sorted({r["seqs"] for r in rows}):
        mine = [r for r in rows if r["seqs"] == seqs]
        if mine[0]["schedule"] != "continuous" or len(mine) < 2:
            continue
        continuous = mine[0]["sim_seconds"]
        print(f"max_num_seqs {seqs}: " + ", ".join(f"continuous/({r['schedule']}) = {r['sim_seconds'] / continuous:.2f}"
                                                   for r in mine[1:]) + " (examples/s ratios, simulated)")
    failed = sum(r["failed"] for r in rows)
    if failed:
        print(f"{failed} examples failed in the simulation (refused requests)")


if __name__ == "__main__":
    main()
