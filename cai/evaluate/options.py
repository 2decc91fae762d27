"""The options of `cai eval`, and their checks (made before any model is loaded)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cai.errors import CaiError


@dataclass
class EvalOptions:
    model: str | None = "default"     # None with --answers (the file says who wrote each answer)
    baseline: str | None = None       # set: also answer with this model and compare the two
    judge: str = "default"            # the feedback model that classifies and compares; "none": detector only
    prompts: str | None = None        # None: the bundled demo prompts
    exclude: list = field(default_factory=list)  # run folders whose prompts are left out (held-out check)
    limit: int | None = None
    per_category: int | None = None   # at most this many prompts of each category
    prompt_column: str | None = None
    split: str = "train"
    constitution: str | None = None   # None: the bundled one
    templates: str | None = None
    groups: list = field(default_factory=list)  # "PATTERN=GROUP" rules before the built-in table
    engine: str = "hf"                # every model's engine unless its own --*-engine says otherwise
    model_engine: str | None = None
    model_base_url: list = field(default_factory=list)
    baseline_engine: str | None = None
    baseline_base_url: list = field(default_factory=list)
    judge_engine: str | None = None
    judge_base_url: list = field(default_factory=list)
    answers: str | None = None        # score these answers (no generation): any source `cai run` reads
    answer_column: str | None = None
    model_column: str | None = None   # several models in one answers file
    label_column: str | None = None   # a human label per answer: agreement of each classifier with it
    dtype: str = "auto"
    batch_size: int = 16
    max_new_tokens: int = 192
    temperature: float = 0.0          # greedy by default: an eval should not depend on luck
    seed: int = 0
    label_principles: int = 2         # comparison principles per pair for the win-rates, each in both orders
    classify_orders: int = 3          # option orders per classification (3: every option in every position)
    out: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def judged(self) -> bool:
        return self.judge.strip().lower() != NO_JUDGE

    def spec(self, role: str):
        """Where a role runs: its own --ROLE-engine / --ROLE-base-url, else --engine."""
        from cai.evaluate.roles import RoleSpec

        model = {"model": self.model, "baseline": self.baseline, "judge": self.judge}[role]
        engine = getattr(self, f"{role}_engine") or self.engine
        return RoleSpec(role, model, engine, tuple(split_urls(getattr(self, f"{role}_base_url"))))


NO_JUDGE = "none"


def split_urls(values) -> list[str]:
    """Repeated and comma-separated URLs -> one flat list."""
    items = [values] if isinstance(values, str) else list(values or [])
    return [u.strip() for item in items for u in str(item).split(",") if u.strip()]


def check_options(options: EvalOptions) -> EvalOptions:
    problems = (
        (options.max_new_tokens < 1, "--max-new-tokens", "must be at least 1"),
        (options.temperature < 0, "--temperature", "must be 0 (greedy) or more"),
        (options.limit is not None and options.limit < 1, "--limit", "must be at least 1"),
        (options.per_category is not None and options.per_category < 1, "--per-category", "must be at least 1"),
        (options.label_principles < 1, "--label-principles", "must be at least 1"),
        (not 1 <= options.classify_orders <= 3, "--classify-orders", "must be 1, 2 or 3"),
        (options.batch_size < 1, "--batch-size", "must be at least 1"),
    )
    for bad, flag, what in problems:
        if bad:
            raise CaiError(f"{flag} {what}", flag, "correct the value")
    from cai.engines import ENGINE_NAMES
    from cai.evaluate.roles import check_spec

    if options.engine not in ENGINE_NAMES:
        raise CaiError(f"unknown engine '{options.engine}'", "--engine", f"use one of: {', '.join(ENGINE_NAMES)}")
    if options.model is None and not options.answers:
        raise CaiError("--model is missing", "cai eval", "name the model to evaluate with --model, "
                       "or score existing answers with --answers FILE")
    roles = active_roles(options)
    for role in ("model", "baseline", "judge"):  # engine and server flags, also of roles that do not run
        check_spec(options.spec(role))
    for role in roles:
        spec = options.spec(role)
        check_model_spec(spec.model, f"--{role}", spec.engine)
    for flag, given in (("--answer-column", options.answer_column), ("--model-column", options.model_column),
                        ("--label-column", options.label_column)):
        if given and not options.answers:
            raise CaiError(f"{flag} is for scoring an answers file", flag, "add --answers FILE, or drop the flag")
    return options


def active_roles(options: EvalOptions) -> list[str]:
    """The roles whose model this eval loads or asks a server for."""
    generating = [] if options.answers else ["model"] + (["baseline"] if options.baseline else [])
    return generating + (["judge"] if options.judged else [])


def check_loadable(options: EvalOptions) -> None:
    """Each role's model can be loaded (a folder with config.json, a cached or reachable hub id); a
    server's model is the server's to name. The CLI calls this before anything else."""
    from cai.models import check_model

    for role in active_roles(options):
        spec = options.spec(role)
        check_model(spec.model, f"--{role}", spec.engine)


def check_model_spec(spec: str, flag: str, engine: str = "hf") -> None:
    """A model that is clearly a local path must exist (a hub id like org/name is left to the loader)."""
    from pathlib import Path

    if engine == "openai":
        return
    # org/name is a hub id unless `org` is a folder here (outputs/run-dpo is a path).
    looks_local = (spec.startswith(("/", ".", "~")) or spec.count("/") > 1
                   or (spec.count("/") == 1 and Path(spec.split("/")[0]).is_dir()))
    if spec != "default" and looks_local and not Path(spec).expanduser().exists():
        raise CaiError("model folder not found", f"{flag} {spec}",
                       "pass a trained model folder (the --out of `cai train`), a hub id, or 'default'")
