"""`cai label DATASET`: judge the pairs of an existing dataset with the feedback model (RLAIF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app
from cai.errors import CaiError

Opt = typer.Option


@app.command("label")
def label_command(
    dataset: Annotated[str, typer.Argument(help="Pairs: a .jsonl/.json/.csv/.parquet file, a save_to_disk folder "
                                                "(e.g. a run's dataset/ with --split train_prefs) or a hub id.")],
    a_column: Annotated[Optional[str], Opt(help="Column of the first answer. Default: found by name: chosen/"
                                           "rejected, response_a/response_b, response_0/response_1 or "
                                           "completion_a/completion_b.")] = None,
    b_column: Annotated[Optional[str], Opt(help="Column of the second answer (see --a-column).")] = None,
    prompt_column: Annotated[Optional[str], Opt(help="Column with the prompt text or chat messages. Default: "
                                                "found by name, or the turns the two answers share.")] = None,
    split: Annotated[Optional[str], Opt(help="Split of a hub dataset or DatasetDict. (default: train)")] = None,
    limit: Annotated[Optional[int], Opt(help="Use only the first N valid rows.")] = None,
    model: Annotated[Optional[str], Opt(help="Feedback model: hub id, local folder or 'default' (here the only "
                                        "model; --label-model, when given, takes precedence).")] = None,
    engine: Annotated[Optional[str], Opt(help="Inference engine, as for `cai run`; engine options such as a "
                                         "server URL can come from a --config recipe.")] = None,
    label_model: Annotated[Optional[str], Opt(help="Feedback model, as in `cai run` (same as --model here).")] = None,
    label_engine: Annotated[Optional[str], Opt(help="Engine of the feedback model: auto, vllm, hf or openai.")] = None,
    label_base_url: Annotated[Optional[list[str]], Opt(help="With --label-engine openai: the judge's server URL; "
                                                       "repeat it or separate with commas.")] = None,
    label_dtype: Annotated[Optional[str], Opt(help="Precision of the feedback model. (default: --dtype)")] = None,
    constitution: Annotated[Optional[str], Opt(help="Constitution YAML whose comparisons are asked. "
                                               "Default: the bundled one.")] = None,
    label_principles: Annotated[Optional[int], Opt(help="Comparison principles per pair, each asked in both "
                                                   "orders. (default: 2)")] = None,
    cot: Annotated[Optional[bool], Opt("--cot/--no-cot", help="Reason step by step first, then clamp.")] = None,
    clamp: Annotated[Optional[str], Opt(help="Band for chain-of-thought probabilities. (default: 0.4,0.6)")] = None,
    min_margin: Annotated[Optional[float], Opt(help="Export only pairs with at least this margin. "
                                               "(default: 0)")] = None,
    max_new_tokens: Annotated[Optional[int], Opt(help="Tokens of chain-of-thought reasoning. (default: 192)")] = None,
    temperature: Annotated[Optional[float], Opt(help="Sampling temperature of the reasoning. (default: 0.7)")] = None,
    top_p: Annotated[Optional[float], Opt(help="Nucleus sampling of the reasoning; 1.0 keeps all tokens. "
                                          "(default: 1.0)")] = None,
    seed: Annotated[Optional[int], Opt(help="Seed for principle sampling. (default: 0)")] = None,
    out: Annotated[Optional[str], Opt(help="Run folder. (default: outputs/run-<time>)")] = None,
    resume: Annotated[bool, Opt("--resume", help="Continue the run in --out where it stopped.")] = False,
    force: Annotated[bool, Opt("--force", help="Replace the run already in --out.")] = False,
    chunk_size: Annotated[Optional[int], Opt(help="Pairs finished and saved together. (default: 64)")] = None,
    batch_size: Annotated[Optional[int], Opt(help="hf engine: sequences per forward pass. (default: 16)")] = None,
    dtype: Annotated[Optional[str], Opt(help="auto, float32 or bfloat16. (default: auto)")] = None,
    test_size: Annotated[Optional[float], Opt(help="Share of pairs put in test_prefs. (default: 0.1)")] = None,
    templates: Annotated[Optional[str], Opt(help="Folder of *.jinja templates overriding the bundled "
                                            "prompts/.")] = None,
    config: Annotated[Optional[Path], Opt(help="YAML recipe of these options; flags override it.")] = None,
    quiet: Annotated[bool, Opt("--quiet", help="No progress bars.")] = False,
) -> None:
    """Label the pairs of a dataset: (A)/(B) probabilities over sampled principles, both orders."""
    given = dict(locals())  # first line: only the options are in scope here
    from cai.config import resolve_config
    from cai.label.options import parse_clamp
    from cai.runner import default_out_dir, execute_label
    from cai.store import RunStore

    flags = {k: v for k, v in given.items()
             if k not in ("dataset", "resume", "force", "config", "quiet") and v is not None}
    flags.update(prompts=dataset, pairs="columns")  # no --a-column/--b-column: found by name when the rows are read
    if "clamp" in flags:
        flags["clamp"] = parse_clamp(flags["clamp"])
    if "label_base_url" in flags:
        from cai.engines.feedback import split_urls

        flags["label_base_url"] = split_urls(flags["label_base_url"])
    if resume and not out:
        raise CaiError("--resume needs the run folder", "--out", "add --out outputs/<run>")
    saved = RunStore(out).saved_config() if resume and out else None
    resolved = resolve_config(flags, str(config) if config else None, saved)
    if not resolved.out:
        resolved.out = default_out_dir()
    execute_label(resolved, resume=resume, force=force, show_progress=not quiet)
