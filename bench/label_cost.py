"""What labelling costs next to generating, with the old and the new comparison prompt, on one vLLM engine.

The workload is the demo recipe's (recipes/demo.yaml: every bundled prompt, 2 rounds, 128 new tokens,
seed 0, the default few-shot and temperature). It is generated once with `--schedule stages`, so each
stage's seconds are its own (under the continuous schedule labels and answers share engine steps and the
stage spans overlap). Then the label step is run on those very records, chunk by chunk as a stage run
does, once per way and interleaved (old, new, old, new, ...), the prefix cache emptied before each:

  old — principle before the options (bench/label_cost_old/comparison.jinja), questions principle by
        principle: the K principles share only the opening and the conversation;
  new — prompts/comparison.jinja: the options before the principle, questions order by order: the K
        principles of one order share everything up to the principle.

Prints label seconds, generation seconds, their ratio, the label prompt tokens and the share vLLM served
from its prefix cache. vLLM shares a prefix only in whole KV blocks (128 tokens by default on CPU), so
`--block-sizes default,32` repeats everything (generation included) on a second engine with 32-token blocks.

    python bench/label_cost.py                            # the demo: 74 prompts, ~10 min on 2 cores
    python bench/label_cost.py --block-sizes default,32   # and again with 32-token KV blocks
    python bench/label_cost.py --prompts 16               # a quicker subset
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
OLD_TEMPLATES = Path(__file__).resolve().parent / "label_cost_old"


def old_planner(planner):
    """The planner as it was: the old template, and questions principle by principle."""
    from cai.label.judge import ORDERS, Planner, Question
    from cai.templates import Renderer

    class OldPlanner(Planner):
        def questions(self, record, pair):
            out = []
            for principle in self.principles(record.id, pair):
                for order in ORDERS:
                    shown_a, shown_b = (pair.text(n) for n in Question(pair, principle, order, []).shown)
                    text = self.renderer.render("comparison", messages=record.messages, question=principle.question,
                                                answer_a=shown_a, answer_b=shown_b, cot=self.cot)
                    out.append(Question(pair, principle, order, [{"role": "user", "content": text}]))
            return out

    return OldPlanner(planner.comparisons, Renderer(OLD_TEMPLATES), planner.seed, planner.principles_per_pair,
                      planner.cot)


def demo_config(out: Path, prompts: int | None):
    import yaml

    from cai.config import RunConfig

    recipe = yaml.safe_load((REPO / "recipes" / "demo.yaml").read_text())
    recipe.pop("out", None)
    return RunConfig(**recipe, engine="vllm", out=str(out), limit=prompts, schedule="stages")


def generate(engine, config) -> tuple[float, list]:
    """Generation seconds (the sum of the generation stages' own seconds) and the generated records."""
    from rich.console import Console

    from cai.runner import execute_run
    from cai.store import RunStore

    engine.llm.reset_prefix_cache()
    manifest = execute_run(config, engine=engine, show_progress=False, console=Console(file=open(os.devnull, "w")))
    seconds = sum(s["seconds"] for s in manifest["stages"].values())
    return seconds, RunStore(config.out).read_records()


def label(engine, step, records: list, config) -> dict:
    """The label stage of a `--schedule stages` run: chunk by chunk, each chunk through the scheduler with
    the whole chunk as its window (as cai.pipeline does), so the questions reach vLLM in the run's order."""
    from cai.engines.base import Sampling
    from cai.pipeline import chunks
    from cai.scheduler import Scheduler

    engine.llm.reset_prefix_cache()
    cached, prompt = engine.cached_tokens, engine.prompt_tokens
    sampling = Sampling(max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=config.seed)
    labelled: list = []
    started = time.perf_counter()
    for chunk in chunks(copy.deepcopy(records), config.chunk_size):
        Scheduler([step], lambda _: engine, sampling, len(chunk), labelled.append).run(chunk)
    seconds = time.perf_counter() - started
    questions = sum(len(r.labels) for r in labelled)
    valid = sum(e["valid"] for r in labelled for e in r.labels)
    return {"seconds": seconds, "questions": questions, "valid": valid, "prompt": engine.prompt_tokens - prompt,
            "cached": engine.cached_tokens - cached,
            "preferences": {r.id: (r.preference or {}).get("chosen_name") for r in labelled}}


def start_engine(seed: int, block_size: int | None):
    """A vllm engine as cai builds it; `block_size` overrides vLLM's KV block size (CPU default 128), the
    granularity at which its prefix cache shares a prompt's start."""
    import cai.engines.vllm as vllm_engine
    from cai.engines.vllm_setup import VLLMOptions, llm_kwargs
    from cai.models import default_model_dir

    def with_block_size(*args, **kwargs):
        options, summary = llm_kwargs(*args, **kwargs)
        return ({**options, "block_size": block_size} if block_size else options), summary

    vllm_engine.llm_kwargs = with_block_size
    try:
        return vllm_engine.VLLMEngine(str(default_model_dir()), VLLMOptions(seed=seed))
    finally:
        vllm_engine.llm_kwargs = llm_kwargs


def measure(config, block_size: int | None, repeats: int) -> tuple[float, dict, int]:
    from cai.constitution import load_constitution
    from cai.label.options import label_steps
    from cai.paths import default_constitution
    from cai.templates import Renderer

    started = time.perf_counter()
    engine = start_engine(config.seed, block_size)
    actual = engine.llm.llm_engine.vllm_config.cache_config.block_size
    print(f"vllm engine (KV block size {actual}) started in {time.perf_counter() - started:.0f} s", flush=True)
    try:
        run = dataclasses.replace(config, label=False, out=str(Path(config.out) / f"block-{actual}"))
        generation_s, records = generate(engine, run)
        print(f"generation: {len(records)} prompts, {config.rounds} rounds, {generation_s:.1f} s "
              f"(stage seconds, --schedule stages)", flush=True)
        [new_step] = label_steps(config, load_constitution(default_constitution()), Renderer())
        old_step = copy.copy(new_step)
        old_step.planner = old_planner(new_step.planner)
        label(engine, new_step, records[:4], config)  # warm-up: first-call costs are not the label stage's
        results: dict[str, list[dict]] = {"old": [], "new": []}
        for repeat in range(repeats):
            for way, step in (("old", old_step), ("new", new_step)):
                result = label(engine, step, records, config)
                results[way].append(result)
                print(f"  {way} #{repeat + 1}: {result['seconds']:.1f} s, {result['questions']} questions "
                      f"({result['valid']} valid), {result['prompt']} prompt tokens, "
                      f"{result['cached'] / max(result['prompt'], 1):.0%} from the prefix cache", flush=True)
    finally:
        engine.close()
    return generation_s, results, actual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=None, help="bundled prompts to use (default: all, as the demo)")
    parser.add_argument("--repeats", type=int, default=2, help="label runs per way, interleaved")
    parser.add_argument("--block-sizes", default="default",
                        help="comma-separated KV block sizes, one engine each (default: vLLM's), e.g. default,32")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="bench-label-"))
    config = demo_config(out, args.prompts)
    summary = []
    for text in args.block_sizes.split(","):
        block_size = None if text.strip() == "default" else int(text)
        generation_s, results, actual = measure(config, block_size, args.repeats)
        summary.append((actual, generation_s, results))

    print("\nlabel seconds / generation seconds, demo workload, vllm, --schedule stages (label: best of the runs):")
    for actual, generation_s, results in summary:
        print(f" KV block size {actual}: generation {generation_s:.1f} s")
        for way, runs in results.items():
            seconds = min(r["seconds"] for r in runs)  # the best run: on a shared machine the others waited
            hit = sum(r["cached"] for r in runs) / max(sum(r["prompt"] for r in runs), 1)
            each = ", ".join(f"{r['seconds']:.1f}" for r in runs)
            print(f"  {way}: label {seconds:6.1f} s   ratio {seconds / generation_s:.3f}   "
                  f"prefix-cache hits {hit:.0%}   (runs: {each} s)")
        old, new = results["old"][0]["preferences"], results["new"][0]["preferences"]
        both = [(old[i], new.get(i)) for i in old if old[i] is not None or new.get(i) is not None]
        print(f"  same chosen answer under both prompts: {sum(a == b for a, b in both)} of {len(both)} "
              f"labelled examples (the others' pair was skipped, e.g. a flagged revision left the answer as it was)")


if __name__ == "__main__":
    main()
