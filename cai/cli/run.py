"""`cai run`: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app
from cai.errors import CaiError

Opt = typer.Option
LABELS = "Preference labels (RLAIF)"
ENGINES = "Engines (vllm, openai)"
QUALITY = "Quality gates"
FEEDBACK = "Feedback model (the labeller; default: the policy)"
EXECUTOR = "Executor (local or a Ray cluster)"


@app.command("run")
def run_command(
    prompts: Annotated[Optional[str], Opt(help="Prompts: a .jsonl/.json/.csv/.parquet/.txt file, a save_to_disk "
                                          "folder, or a hub dataset id. Default: the bundled demo prompts.")] = None,
    constitution: Annotated[Optional[str], Opt(help="Constitution YAML. Default: the bundled one.")] = None,
    model: Annotated[Optional[str], Opt(help="Hub id, local folder, or 'default' (embedded "
                                        "SmolLM2-135M-Instruct).")] = None,
    engine: Annotated[Optional[str], Opt(help="Inference engine: auto (vllm where it can run, else hf), vllm, hf "
                                         "(transformers) or openai (an OpenAI-compatible server). "
                                         "(default: auto)")] = None,
    rounds: Annotated[Optional[int], Opt(help="Critique/revision rounds per example. (default: 2)")] = None,
    limit: Annotated[Optional[int], Opt(help="Use only the first N valid prompts.")] = None,
    out: Annotated[Optional[str], Opt(help="Run folder. (default: outputs/run-<time>)")] = None,
    resume: Annotated[bool, Opt("--resume", help="Continue the run in --out where it stopped.")] = False,
    force: Annotated[bool, Opt("--force", help="Replace the run already in --out.")] = False,
    seed: Annotated[Optional[int], Opt(help="Seed for principle sampling and generation. (default: 0)")] = None,
    max_new_tokens: Annotated[Optional[int], Opt(help="Tokens per generated answer. (default: 192)")] = None,
    temperature: Annotated[Optional[float], Opt(help="Sampling temperature (0 = greedy). (default: 0.7)")] = None,
    top_p: Annotated[Optional[float], Opt(help="Nucleus sampling: keep the most probable tokens up to this "
                                          "share of probability; 1.0 keeps all, as the CAI paper does. "
                                          "(default: 1.0)")] = None,
    few_shot: Annotated[Optional[int], Opt(help="Worked examples from the constitution put before each "
                                           "critique. (default: 2)")] = None,
    schedule: Annotated[Optional[str], Opt(help=(
        "continuous: each example moves to its next turn as soon as its last one finishes, and is saved "
        "when done; stages: chunk by chunk, each stage waiting for the whole chunk. (default: continuous)"))] = None,
    window: Annotated[Optional[int], Opt(help=(
        "continuous: examples in flight at once. (default: from the engine: vllm its max_num_seqs, "
        "openai --concurrency, hf 2 x --batch-size)"))] = None,
    chunk_size: Annotated[Optional[int], Opt(help=(
        "stages: examples finished and saved together; --executor ray: examples per block handed to a "
        "replica. (default: 64)"))] = None,
    batch_size: Annotated[Optional[int], Opt(help="hf engine: sequences per forward pass. (default: 16)")] = None,
    dtype: Annotated[Optional[str], Opt(help="auto, float32 or bfloat16. (default: auto)")] = None,
    tensor_parallel_size: Annotated[Optional[int], Opt(rich_help_panel=ENGINES, help=(
        "vllm: GPUs to shard the model over. (default: 1)"))] = None,
    gpu_memory_utilization: Annotated[Optional[float], Opt(rich_help_panel=ENGINES, help=(
        "vllm: share of GPU memory for weights and KV cache; on CPU, share of RAM for the KV cache. "
        "(default: vLLM's 0.92 on GPU; on CPU a 2 GiB cache, or VLLM_CPU_KVCACHE_SPACE GiB if set)"))] = None,
    max_model_len: Annotated[Optional[int], Opt(rich_help_panel=ENGINES, help=(
        "vllm/openai: context length in tokens; longer prompts are skipped. (default: the model's)"))] = None,
    enforce_eager: Annotated[Optional[bool], Opt("--enforce-eager/--no-enforce-eager", rich_help_panel=ENGINES, help=(
        "vllm: skip graph compilation; starts ~90 s sooner on CPU. (default: on for CPU, off for GPU)"))] = None,
    base_url: Annotated[Optional[list[str]], Opt(rich_help_panel=ENGINES, help=(
        "openai: server URL, e.g. http://127.0.0.1:8000/v1; repeat it (or separate with commas) to spread "
        "requests over several servers. (default: http://127.0.0.1:8000/v1)"))] = None,
    api_key_env: Annotated[Optional[str], Opt(rich_help_panel=ENGINES, help=(
        "openai: environment variable holding the API key; the key is never written to disk. "
        "(default: OPENAI_API_KEY)"))] = None,
    concurrency: Annotated[Optional[int], Opt(rich_help_panel=ENGINES, help=(
        "openai: requests in flight at once, over all servers. (default: 32)"))] = None,
    timeout: Annotated[Optional[float], Opt(rich_help_panel=ENGINES, help=(
        "openai: seconds to wait for one answer. (default: 600)"))] = None,
    max_retries: Annotated[Optional[int], Opt(rich_help_panel=ENGINES, help=(
        "openai: retries on 429, 5xx and connection errors, with exponential backoff. (default: 5)"))] = None,
    prompt_column: Annotated[Optional[str], Opt(help="Column with the prompt text or a list of chat messages.")] = None,
    split: Annotated[Optional[str], Opt(help="Split of a hub dataset or DatasetDict. (default: train)")] = None,
    test_size: Annotated[Optional[float], Opt(help="Share of examples put in the test splits. (default: 0.1)")] = None,
    templates: Annotated[Optional[str], Opt(help="Folder of *.jinja templates overriding the bundled "
                                            "prompts/.")] = None,
    label: Annotated[Optional[bool], Opt("--label/--no-label", rich_help_panel=LABELS, help=(
        "Label each pair with the feedback model's (A)/(B) probabilities; --no-label makes the revision "
        "always win. (default: on)"))] = None,
    label_principles: Annotated[Optional[int], Opt(rich_help_panel=LABELS, help=(
        "Comparison principles sampled per pair, each asked in both orders. (default: 2)"))] = None,
    pairs: Annotated[Optional[str], Opt(rich_help_panel=LABELS, help=(
        "What is compared: initial-final, rounds:I,J (0 = initial answer) or samples. "
        "(default: samples with --samples 2+, else initial-final)"))] = None,
    samples: Annotated[Optional[int], Opt(rich_help_panel=LABELS, help=(
        "Answers drawn per prompt; 2 or more labels pairs of policy samples (RL-CAI). (default: 1)"))] = None,
    cot: Annotated[Optional[bool], Opt("--cot/--no-cot", rich_help_panel=LABELS, help=(
        "Let the feedback model reason step by step first; its probability is then clamped."))] = None,
    clamp: Annotated[Optional[str], Opt(rich_help_panel=LABELS, help=(
        "Band for chain-of-thought probabilities, LOW,HIGH. (default: 0.4,0.6)"))] = None,
    min_margin: Annotated[Optional[float], Opt(rich_help_panel=LABELS, help=(
        "Export only pairs with score_chosen - score_rejected at least this. (default: 0)"))] = None,
    gates: Annotated[Optional[str], Opt(rich_help_panel=QUALITY, help=(
        "Checks run on every generated turn: all, none, or a comma-separated list of truncated, empty, "
        "unchanged, echoes-critique, meta, repetition. A flagged revision never replaces the answer it "
        "revises. (default: all)"))] = None,
    echo_threshold: Annotated[Optional[float], Opt(rich_help_panel=QUALITY, help=(
        "echoes-critique: flag a revision when this share of its word trigrams is in the critique. "
        "(default: 0.6)"))] = None,
    repetition_threshold: Annotated[Optional[float], Opt(rich_help_panel=QUALITY, help=(
        "repetition: flag a text when this share of its trigrams repeats earlier ones. (default: 0.5)"))] = None,
    meta_patterns: Annotated[Optional[str], Opt(rich_help_panel=QUALITY, help=(
        "meta: a file of regular expressions, one a line, that mark a revision written about the answer "
        "instead of to the user. (default: the bundled prompts/quality/meta_patterns.txt)"))] = None,
    keep_flagged: Annotated[Optional[bool], Opt("--keep-flagged/--drop-flagged", rich_help_panel=QUALITY, help=(
        "Export examples whose final answer was flagged too, marked in a `flags` column. "
        "(default: drop them)"))] = None,
    license: Annotated[Optional[str], Opt(help="License id written into the dataset card, e.g. apache-2.0. "
                                          "(default: none; the card says to fill it in)")] = None,
    label_model: Annotated[Optional[str], Opt(rich_help_panel=FEEDBACK, help=(
        "Feedback model that labels the pairs: hub id, local folder, 'default' or a served id. "
        "(default: the policy, --model)"))] = None,
    label_engine: Annotated[Optional[str], Opt(rich_help_panel=FEEDBACK, help=(
        "Engine of the feedback model: auto, vllm, hf or openai. (default: --engine)"))] = None,
    label_base_url: Annotated[Optional[list[str]], Opt(rich_help_panel=FEEDBACK, help=(
        "With --label-engine openai: the judge's server URL; repeat it or separate with commas. "
        "(default: --base-url)"))] = None,
    label_dtype: Annotated[Optional[str], Opt(rich_help_panel=FEEDBACK, help=(
        "Precision of the feedback model: auto, float32 or bfloat16. (default: --dtype)"))] = None,
    label_gpu_memory_utilization: Annotated[Optional[float], Opt(rich_help_panel=FEEDBACK, help=(
        "vllm: the feedback engine's share of GPU memory; two in-process vLLM engines on one GPU need "
        "shares that add up to at most ~0.9, e.g. 0.45 each. (default: --gpu-memory-utilization)"))] = None,
    executor: Annotated[Optional[str], Opt(rich_help_panel=EXECUTOR, help=(
        "local: run here; ray: on a Ray cluster, each replica owning an engine and its own scheduler "
        "(needs `pip install 'cai\\[ray]'`). (default: local)"))] = None,
    ray_address: Annotated[Optional[str], Opt(rich_help_panel=EXECUTOR, help=(
        "ray: the cluster to use, e.g. 10.0.0.1:6379, ray://head:10001 or auto (no credentials: it is saved "
        "with the run). (default: a local cluster started for the run and stopped after it)"))] = None,
    replicas: Annotated[Optional[int], Opt(rich_help_panel=EXECUTOR, help=(
        "ray: engine replicas; one per GPU, or per tensor-parallel group. (default: 1)"))] = None,
    replica_gpus: Annotated[Optional[float], Opt(rich_help_panel=EXECUTOR, help=(
        "ray: GPUs each replica reserves; set it to --tensor-parallel-size on GPU clusters. (default: 0)"))] = None,
    replica_cpus: Annotated[Optional[float], Opt(rich_help_panel=EXECUTOR, help=(
        "ray: CPUs each replica reserves (on CPU, also its torch threads). (default: 1)"))] = None,
    config: Annotated[Optional[Path], Opt(help="YAML recipe of these options; flags override it.")] = None,
    quiet: Annotated[bool, Opt("--quiet", help="No progress bars.")] = False,
    verbose: Annotated[bool, Opt("--verbose", help="Show other libraries' warnings and notices too "
                                 "(or set CAI_VERBOSE=1).")] = False,
) -> None:
    """Generate → critique → revise every prompt under the constitution, and export SFT and preference data."""
    given = dict(locals())  # first line: only the options are in scope here
    if verbose:
        from cai.quiet import be_verbose

        be_verbose()
    from cai.config import resolve_config
    from cai.runner import default_out_dir, execute_run
    from cai.store import RunStore

    flags = {k: v for k, v in given.items()
             if k not in ("resume", "force", "config", "quiet", "verbose") and v is not None}
    if "base_url" in flags:
        flags["base_url"] = [u.strip() for item in flags["base_url"] for u in item.split(",") if u.strip()] or None
    if "label_base_url" in flags:
        from cai.engines.feedback import split_urls

        flags["label_base_url"] = split_urls(flags["label_base_url"])
    if "clamp" in flags:
        from cai.label.options import parse_clamp

        flags["clamp"] = parse_clamp(flags["clamp"])
    if resume and not out:
        recipe_out = None
        if config:
            from cai.config import read_recipe

            recipe_out = read_recipe(config).get("out")
        if not recipe_out:
            raise CaiError("--resume needs the run folder", "--out", "add --out outputs/<run>")
        flags["out"] = recipe_out
    saved = RunStore(flags["out"]).saved_config() if resume and flags.get("out") else None
    resolved = resolve_config(flags, str(config) if config else None, saved)
    if not resolved.out:
        resolved.out = default_out_dir()
    execute_run(resolved, resume=resume, force=force, show_progress=not quiet)
