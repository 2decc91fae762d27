"""`cai eval`: what the data did to the model (thin: see cai.evaluate)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cai.cli import app

Opt = typer.Option
JUDGE = "Judge (feedback model)"
PROMPTS = "Prompts"
ANSWERS = "Scoring answers you already have (no generation)"
WHERE = "Where each model runs"


@app.command("eval")
def eval_command(
    model: Annotated[Optional[str], Opt(help=(
        "The model to evaluate: a `cai train` output folder, a hub id, 'default', or (openai engine) the id a "
        "server serves. Not with --answers."))] = None,
    baseline: Annotated[Optional[str], Opt(help="Compare with this model (e.g. 'default', the untrained one): "
                                           "its rates side by side, and win-rates of --model over it.")] = None,
    prompts: Annotated[Optional[str], Opt(rich_help_panel=PROMPTS, help=(
        "Held-out prompts: any source `cai run` reads. Default: the bundled demo prompts."))] = None,
    exclude: Annotated[Optional[list[str]], Opt(rich_help_panel=PROMPTS, help=(
        "A run folder whose prompts are left out (the run you trained on); repeat for several."))] = None,
    limit: Annotated[Optional[int], Opt(rich_help_panel=PROMPTS, help="Evaluate at most N prompts.")] = None,
    per_category: Annotated[Optional[int], Opt(rich_help_panel=PROMPTS, help=(
        "At most N prompts of each category (a balanced set from an ordered file)."))] = None,
    group: Annotated[Optional[list[str]], Opt(rich_help_panel=PROMPTS, help=(
        "CATEGORY_PATTERN=GROUP (harmful, benign, capability, other), tried before the built-in table; "
        "e.g. 'toxic-*=harmful' or '*=benign'. Repeat for several."))] = None,
    prompt_column: Annotated[Optional[str], Opt(rich_help_panel=PROMPTS, help="Column with the prompt.")] = None,
    split: Annotated[Optional[str], Opt(rich_help_panel=PROMPTS, help="Split of a dataset. (default: train)")] = None,
    answers: Annotated[Optional[str], Opt(rich_help_panel=ANSWERS, help=(
        "Score the answers in this file (any source `cai run` reads) instead of generating any; "
        "--prompt-column names its prompt column."))] = None,
    answer_column: Annotated[Optional[str], Opt(rich_help_panel=ANSWERS, help=(
        "Column with the answer. (default: the first of answer, response, completion, output, reply)"))] = None,
    model_column: Annotated[Optional[str], Opt(rich_help_panel=ANSWERS, help=(
        "Column naming the model that wrote each answer: one result row per model. --baseline NAME then "
        "names the model the others are compared with."))] = None,
    label_column: Annotated[Optional[str], Opt(rich_help_panel=ANSWERS, help=(
        "Column with a human label (comply, refuse, partial or safe-complete; empty: unlabelled): prints each "
        "classifier's agreement with it, per class, and a confusion table."))] = None,
    judge: Annotated[Optional[str], Opt(rich_help_panel=JUDGE, help=(
        "Feedback model that classifies and compares the answers, reported beside the refusal detector; "
        "'none': the detector alone, no judge loaded. (default: default)"))] = None,
    constitution: Annotated[Optional[str], Opt(rich_help_panel=JUDGE, help=(
        "Constitution whose comparisons the win-rates ask. Default: the bundled one."))] = None,
    label_principles: Annotated[Optional[int], Opt(rich_help_panel=JUDGE, help=(
        "Comparison principles per pair, each asked in both orders. (default: 2)"))] = None,
    classify_orders: Annotated[Optional[int], Opt(rich_help_panel=JUDGE, help=(
        "Orders the three kinds are shown in per answer, 1-3; 3 puts each in every position. (default: 3)"))] = None,
    templates: Annotated[Optional[str], Opt(rich_help_panel=JUDGE, help=(
        "Folder of *.jinja templates overriding the bundled prompts/ (e.g. classify.jinja)."))] = None,
    engine: Annotated[Optional[str], Opt(rich_help_panel=WHERE, help=(
        "Inference engine of every model without its own --*-engine. (default: hf)"))] = None,
    model_engine: Annotated[Optional[str], Opt(rich_help_panel=WHERE, help=(
        "Engine of --model: hf, vllm or openai (a server). (default: --engine)"))] = None,
    model_base_url: Annotated[Optional[list[str]], Opt(rich_help_panel=WHERE, help=(
        "Server(s) serving --model, with --model-engine openai; repeat for several."))] = None,
    baseline_engine: Annotated[Optional[str], Opt(rich_help_panel=WHERE, help=(
        "Engine of --baseline. (default: --engine)"))] = None,
    baseline_base_url: Annotated[Optional[list[str]], Opt(rich_help_panel=WHERE, help=(
        "Server(s) serving --baseline, with --baseline-engine openai; repeat for several."))] = None,
    judge_engine: Annotated[Optional[str], Opt(rich_help_panel=WHERE, help=(
        "Engine of --judge. (default: --engine)"))] = None,
    judge_base_url: Annotated[Optional[list[str]], Opt(rich_help_panel=WHERE, help=(
        "Server(s) serving --judge, with --judge-engine openai; repeat for several."))] = None,
    max_new_tokens: Annotated[Optional[int], Opt(help="Tokens per answer. (default: 192)")] = None,
    temperature: Annotated[Optional[float], Opt(help="Sampling temperature; 0 is greedy. (default: 0)")] = None,
    seed: Annotated[Optional[int], Opt(help="Seed for sampling and principle choice. (default: 0)")] = None,
    batch_size: Annotated[Optional[int], Opt(help="hf engine: sequences per forward pass. (default: 16)")] = None,
    dtype: Annotated[Optional[str], Opt(help="auto, float32 or bfloat16. (default: auto)")] = None,
    out: Annotated[Optional[str], Opt(help="Eval folder. (default: outputs/eval-<time>)")] = None,
    force: Annotated[bool, Opt("--force", help="Replace what is in --out.")] = False,
    quiet: Annotated[bool, Opt("--quiet", help="No progress bars.")] = False,
) -> None:
    """Answer held-out prompts with each model (or score --answers); report harmful compliance, over-refusal
    and win-rates by the judge and by the refusal detector, each with its 95% interval."""
    given = dict(locals())  # first line: only the options are in scope here
    from cai.evaluate.options import EvalOptions, check_loadable
    from cai.evaluate.runner import run_eval

    renamed = {"group": "groups"}
    values = {renamed.get(k, k): v for k, v in given.items() if k not in ("force", "quiet") and v is not None}
    options = EvalOptions(**values)
    check_loadable(options)
    run_eval(options, force=force, show_progress=not quiet)
