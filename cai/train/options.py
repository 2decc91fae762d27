"""Training options: built-in defaults < YAML recipe (--config) < flags given on the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from cai.errors import CaiError

METHODS = ("sft", "dpo")


@dataclass
class TrainOptions:
    method: str = "dpo"
    model: str = "default"              # hub id, local folder, or the embedded default model
    out: str | None = None              # None: outputs/<run name>-<method>
    epochs: float = 1.0
    max_steps: int | None = None        # set: train exactly this many optimizer steps (overrides epochs)
    learning_rate: float | None = None  # None: TRL's default for the method, or a LoRA-sized one
    beta: float = 0.1                   # dpo: how far the policy may move from the reference model
    batch_size: int = 4                 # sequences (sft) or pairs (dpo) per device per step
    grad_accum: int = 1
    max_length: int = 1024              # tokens per sequence (prompt + answer); longer ones are truncated
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"    # peft target_modules: "all-linear" or comma-separated module names
    min_margin: float = 0.0             # dpo: train only on pairs whose label margin is at least this
    split: str | None = None            # None: train_sft (sft) / train_prefs (dpo)
    limit: int | None = None            # use only the first N training rows
    eval: bool = True                   # evaluate on the matching test split at the end, when it has rows
    seed: int = 0
    trainer_args: dict = field(default_factory=dict)  # any other SFTConfig / DPOConfig field, passed as is

    def to_dict(self) -> dict:
        return asdict(self)


# Options a recipe may set: all but the method, which the command (`cai train sft|dpo`) decides.
RECIPE_KEYS = {f.name for f in fields(TrainOptions)} - {"method"}


def read_recipe(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CaiError("config file not found", str(path), "pass an existing YAML recipe to --config")
    text = path.read_text(encoding="utf-8")
    try:
        node, data = yaml.compose(text), yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise CaiError("YAML syntax error", f"{path}:{mark.line + 1 if mark else 1}",
                       "check indentation and quoting on that line") from None
    if not isinstance(data, dict):
        raise CaiError("a recipe must be a mapping of option: value", f"{path}:1", "write `epochs: 1` style lines")
    recipe = {}
    for key_node, _ in node.value:
        key = str(key_node.value).replace("-", "_")
        if key not in RECIPE_KEYS:
            raise CaiError(f"unknown option '{key_node.value}'", f"{path}:{key_node.start_mark.line + 1}",
                           f"use one of: {', '.join(sorted(RECIPE_KEYS))}")
        recipe[key] = data[key_node.value]
    if not isinstance(recipe.get("trainer_args", {}), dict):
        raise CaiError("trainer_args must be a mapping of TRL config field: value", str(path),
                       "e.g. trainer_args: {warmup_steps: 0.1, lr_scheduler_type: cosine}")
    return recipe


_FLOATS = ("epochs", "learning_rate", "beta", "lora_dropout", "min_margin")
_INTS = ("max_steps", "batch_size", "grad_accum", "max_length", "lora_r", "lora_alpha", "limit", "seed")


def _coerce(merged: dict, where: str) -> None:
    """Recipe values arrive as YAML typed them (PyYAML reads `5e-6` as text): convert, or say which is wrong."""
    for names, kind in ((_FLOATS, float), (_INTS, int)):
        for name in names:
            value = merged.get(name)
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                 and (kind is float or float(value).is_integer())):
                if value is not None:
                    merged[name] = kind(value)
                continue
            try:
                merged[name] = kind(str(value))
            except ValueError:
                raise CaiError(f"{name} must be a number, got {value!r}", where,
                               f"write e.g. {name}: {1e-5 if kind is float else 4}") from None
    for name in ("lora", "eval"):
        if not isinstance(merged.get(name), bool):
            raise CaiError(f"{name} must be true or false, got {merged.get(name)!r}", where, f"write {name}: true")


def _check(condition: bool, flag: str, what: str, fix: str) -> None:
    if not condition:
        raise CaiError(what, flag, fix)


def validate(options: TrainOptions) -> TrainOptions:
    _check(options.method in METHODS, "method", f"unknown method '{options.method}'", "use sft or dpo")
    _check(options.epochs > 0, "--epochs", "--epochs must be above 0", "e.g. --epochs 1")
    _check(options.max_steps is None or options.max_steps >= 1, "--max-steps", "--max-steps must be at least 1",
           "e.g. --max-steps 20, or drop it to train for --epochs")
    _check(options.learning_rate is None or options.learning_rate > 0, "--learning-rate",
           "--learning-rate must be above 0", "e.g. --learning-rate 5e-6")
    _check(options.beta > 0, "--beta", "--beta must be above 0", "0.1 is the usual DPO value")
    _check(options.batch_size >= 1 and options.grad_accum >= 1, "--batch-size/--grad-accum",
           "--batch-size and --grad-accum must be at least 1", "e.g. --batch-size 4 --grad-accum 2")
    _check(options.max_length >= 32, "--max-length", "--max-length must be at least 32 tokens", "e.g. 1024")
    _check(options.lora_r >= 1 and options.lora_alpha > 0, "--lora-r/--lora-alpha",
           "--lora-r must be at least 1 and --lora-alpha above 0", "e.g. --lora-r 16 --lora-alpha 32")
    _check(0 <= options.lora_dropout < 1, "lora_dropout", "lora_dropout must be in [0, 1)", "e.g. 0.05")
    _check(0 <= options.min_margin < 1, "--min-margin", "--min-margin must be in [0, 1)",
           "e.g. 0.1 keeps pairs whose chosen score is at least 0.55")
    _check(options.limit is None or options.limit >= 1, "--limit", "--limit must be at least 1", "e.g. --limit 100")
    _check("output_dir" not in options.trainer_args, "trainer_args", "trainer_args may not set output_dir",
           "set the output folder with --out")
    return options


def resolve_options(method: str, flags: dict, recipe_path: str | None = None) -> TrainOptions:
    """Merge the layers; `flags` holds only options the user actually gave (not None)."""
    merged = TrainOptions(method=method).to_dict()
    if recipe_path:
        merged.update(read_recipe(recipe_path))
    merged.update({k: v for k, v in flags.items() if v is not None})
    merged["method"] = method
    _coerce(merged, recipe_path or "options")
    try:
        options = TrainOptions(**merged)
    except TypeError as error:  # a recipe value of the wrong shape
        raise CaiError(f"bad option value ({error})", recipe_path or "options", "check the recipe") from None
    return validate(options)


def default_out(run: str | Path, method: str) -> str:
    return str(Path("outputs") / f"{Path(run).resolve().name}-{method}")
