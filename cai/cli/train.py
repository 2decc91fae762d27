"""`cai train sft|dpo RUN`: fine-tune a model on a run's data with TRL (thin: see cai.train)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app
from cai.errors import CaiError

Opt = typer.Option
LORA = "LoRA (peft)"

train_app = typer.Typer(name="train", no_args_is_help=True, rich_markup_mode="rich",
                        help="Fine-tune a model on a run's data with TRL: `sft` on train_sft, `dpo` on train_prefs.")
app.add_typer(train_app, name="train")

_DPO_ONLY = ("beta", "min_margin")


def _command(method: str, doc: str):
    def command(
        run: Annotated[Path, typer.Argument(help="A run folder (the --out of `cai run` or `cai label`), or a "
                                                 "save_to_disk dataset folder with the H4 split names.")],
        model: Annotated[Optional[str], Opt(help="Model to train: hub id, local folder or 'default' (embedded "
                                            "SmolLM2-135M-Instruct). (default: default)")] = None,
        out: Annotated[Optional[str], Opt(help="Output folder for the trained model. "
                                          "(default: outputs/<run>-<method>)")] = None,
        config: Annotated[Optional[Path], Opt(help="YAML recipe of these options (and trainer_args: any TRL "
                                              "config field); flags override it.")] = None,
        epochs: Annotated[Optional[float], Opt(help="Passes over the training data. (default: 1)")] = None,
        max_steps: Annotated[Optional[int], Opt(help="Train exactly this many optimizer steps; overrides "
                                                "--epochs.")] = None,
        learning_rate: Annotated[Optional[float], Opt(help="Peak learning rate. (default: TRL's, 2e-5 sft / 1e-6 "
                                                      "dpo; with --lora 2e-4 sft / 5e-6 dpo)")] = None,
        beta: Annotated[Optional[float], Opt(help="dpo: how far the model may move from the reference. "
                                             "(default: 0.1)")] = None,
        batch_size: Annotated[Optional[int], Opt(help="Rows per device per step. (default: 4)")] = None,
        grad_accum: Annotated[Optional[int], Opt(help="Steps of gradient accumulation per optimizer step. "
                                                 "(default: 1)")] = None,
        max_length: Annotated[Optional[int], Opt(help="Tokens per sequence, prompt + answer; longer ones are "
                                                 "truncated. (default: 1024)")] = None,
        lora: Annotated[Optional[bool], Opt("--lora/--no-lora", rich_help_panel=LORA, help=(
            "Train a LoRA adapter, then merge it so the output is a plain model. (default: off)"))] = None,
        lora_r: Annotated[Optional[int], Opt(rich_help_panel=LORA, help="LoRA rank. (default: 16)")] = None,
        lora_alpha: Annotated[Optional[int], Opt(rich_help_panel=LORA, help="LoRA alpha. (default: 32)")] = None,
        lora_dropout: Annotated[Optional[float], Opt(rich_help_panel=LORA,
                                                     help="LoRA dropout. (default: 0.05)")] = None,
        lora_targets: Annotated[Optional[str], Opt(rich_help_panel=LORA, help=(
            "Modules to adapt: all-linear, or names like q_proj,v_proj. (default: all-linear)"))] = None,
        min_margin: Annotated[Optional[float], Opt(help="dpo: train only on pairs whose label margin is at least "
                                                   "this. (default: 0)")] = None,
        split: Annotated[Optional[str], Opt(help="Training split. (default: train_sft / train_prefs)")] = None,
        limit: Annotated[Optional[int], Opt(help="Use only the first N training rows.")] = None,
        eval: Annotated[Optional[bool], Opt("--eval/--no-eval", help=(
            "Evaluate on the test split at the end, when it has rows. (default: on)"))] = None,
        seed: Annotated[Optional[int], Opt(help="Seed for data order and adapter init. (default: 0)")] = None,
        force: Annotated[bool, Opt("--force", help="Replace what is in --out.")] = False,
        quiet: Annotated[bool, Opt("--quiet", help="No progress bar.")] = False,
        verbose: Annotated[bool, Opt("--verbose", help="Let the training libraries log and warn.")] = False,
    ) -> None:
        given = dict(locals())  # first line: only the options are in scope here (and `method`)
        from cai.models import check_model
        from cai.train.options import resolve_options
        from cai.train.runner import run_training

        flags = {k: v for k, v in given.items() if k not in ("run", "config", "force", "quiet", "verbose", "method")
                 and v is not None}
        if method != "dpo" and any(k in flags for k in _DPO_ONLY):
            wrong = next(k for k in _DPO_ONLY if k in flags)
            raise CaiError(f"--{wrong.replace('_', '-')} applies to dpo only", f"--{wrong.replace('_', '-')}",
                           "drop it, or use `cai train dpo`")
        options = resolve_options(method, flags, str(config) if config else None)
        check_model(options.model)
        run_training(options, str(run), force=force, show_progress=not quiet, verbose=verbose)

    command.__doc__ = doc
    train_app.command(method)(command)


_command("sft", "Supervised fine-tuning on the run's train_sft: each prompt with its final revision as the answer.")
_command("dpo", "Direct preference optimisation on the run's train_prefs: chosen over rejected, per the labels.")
