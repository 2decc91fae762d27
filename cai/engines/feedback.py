"""Which engine plays which role: the policy writes answers, the feedback model judges them.

An `EngineSpec` says what to load and where (model, engine kind, precision, servers) and which flags
the user set it with, so errors name the role's own options (`--label-model`, not `--model`). Two roles
whose specs load the same thing share one built engine (`same_engine`): a model is never loaded twice.
`open_engine` builds a spec's engine. `cai run`/`cai label` use these for the feedback model; any other
role (an eval judge) can build its own spec with its own flag names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cai.engines import ENGINE_NAMES, Engine, build_engine
from cai.errors import CaiError

POLICY, FEEDBACK = "policy", "feedback"   # the roles a pipeline step can ask for
DTYPES = ("auto", "float32", "bfloat16", "float16", "float", "half")  # what both hf and vLLM accept
_DEFAULT_MODELS = (None, "", "default")


@dataclass(frozen=True)
class EngineSpec:
    model: str | None                   # as the user wrote it: 'default', a hub id, a folder, a served id
    engine: str = "auto"                # auto | vllm | hf | openai
    dtype: str = "auto"
    base_urls: tuple[str, ...] = ()     # openai only; empty: the engine's default URL
    gpu_memory_utilization: float | None = None
    flags: dict = field(default_factory=dict, compare=False)  # option key -> flag that set it, for errors
    prefix: str = field(default="", compare=False)  # the role's own flags: "label-" -> --label-engine
    role: str = field(default="policy model", compare=False)

    def flag(self, key: str) -> str:
        """The flag the value came from (where an error points)."""
        return self.flags.get(key, f"--{key}")

    def own(self, key: str) -> str:
        """The role's own flag for a key (what a fix tells the user to set)."""
        return f"--{self.prefix}{key}"

    @property
    def kind(self) -> str:
        """The engine that will actually run (`auto` resolved, as build_engine resolves it)."""
        from cai.engines.select import choose_engine

        return choose_engine(self.engine).chosen


def split_urls(values) -> list[str] | None:
    """Repeated and comma-separated URLs (flags or a recipe's string or list) -> one flat list."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    return [u.strip() for item in items for u in str(item).split(",") if u.strip()] or None


def policy_spec(config) -> EngineSpec:
    return EngineSpec(config.model, config.engine, config.dtype, tuple(config.base_url or ()),
                      config.gpu_memory_utilization)


_FEEDBACK_OPTIONS = {"model": "label_model", "engine": "label_engine", "base-url": "label_base_url",
                     "dtype": "label_dtype", "gpu-memory-utilization": "label_gpu_memory_utilization"}


def feedback_requested(config) -> bool:
    return any(getattr(config, name, None) is not None for name in _FEEDBACK_OPTIONS.values())


def feedback_spec(config) -> EngineSpec:
    """The feedback model: each --label-* option where given, else the policy's own option."""
    def pick(key: str, policy_value):
        own = getattr(config, _FEEDBACK_OPTIONS[key])
        return policy_value if own is None else own

    flags = {key: f"--{name.replace('_', '-')}" for key, name in _FEEDBACK_OPTIONS.items()
             if getattr(config, name) is not None}
    return EngineSpec(pick("model", config.model), pick("engine", config.engine), pick("dtype", config.dtype),
                      tuple(pick("base-url", config.base_url) or ()),
                      pick("gpu-memory-utilization", config.gpu_memory_utilization), flags, "label-", "feedback model")


def _looks_like_folder(model: str) -> bool:
    # Hub ids are `name` or `org/name`; anything else with a slash is meant as a path.
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or model.endswith("/")


def check_model_folder(spec: EngineSpec) -> None:
    """A model meant as a local folder must be one (servers name their models themselves)."""
    model = spec.model
    if model in _DEFAULT_MODELS or spec.engine == "openai":
        return
    # The same local checks as the policy's --model (cai.models); hub ids are checked when they load.
    if _looks_like_folder(model) or Path(model).expanduser().exists():
        from cai.models import check_model

        check_model(model, spec.flag("model"), spec.engine)


def check_spec(spec: EngineSpec, base_url_given: bool, only_own: bool = False) -> None:
    """Checks that need no model: run before anything is loaded or written. `only_own`: check only the
    values the role set with its own flags (others came from the policy, whose engine checks them)."""
    def checked(key: str) -> bool:
        return not only_own or key in spec.flags

    if checked("engine") and spec.engine not in ENGINE_NAMES:
        raise CaiError(f"unknown engine '{spec.engine}' for the {spec.role}", spec.flag("engine"),
                       f"use one of: {', '.join(ENGINE_NAMES)}")
    if base_url_given and spec.engine != "openai":
        raise CaiError(f"{spec.own('base-url')} names a server, but the {spec.role}'s engine is '{spec.engine}'",
                       spec.own("base-url"), f"add {spec.own('engine')} openai, or drop {spec.own('base-url')}")
    if checked("dtype") and spec.dtype not in DTYPES:
        raise CaiError(f"unknown dtype '{spec.dtype}'", spec.flag("dtype"), f"use one of: {', '.join(DTYPES)}")
    share = spec.gpu_memory_utilization
    if checked("gpu-memory-utilization") and share is not None and not 0 < share <= 1:
        raise CaiError(f"GPU memory share {share} is outside (0, 1]", spec.flag("gpu-memory-utilization"),
                       "give a share such as 0.45 (two engines on one GPU: shares that add up to at most 0.9)")
    check_model_folder(spec)


def check_feedback_options(config) -> None:
    """Validate (and normalise in place) the --label-* options; the policy's own options are checked
    by its engine, except for a missing model folder, which is caught here too (nothing loaded yet)."""
    from cai.label.pairs import COLUMNS

    config.label_base_url = split_urls(config.label_base_url)
    if config.pairs != COLUMNS:  # `cai label` has no policy: its --model is the feedback model
        check_model_folder(policy_spec(config))
    check_spec(feedback_spec(config), base_url_given=config.label_base_url is not None, only_own=True)


def _model_key(model: str | None) -> str:
    if model in _DEFAULT_MODELS:
        return "default"
    path = Path(model).expanduser()
    if path.is_dir():
        from cai.models import DEFAULT_MODEL_NAME, cache_dir

        resolved = path.resolve()
        return "default" if resolved == (cache_dir() / "models" / DEFAULT_MODEL_NAME).resolve() else str(resolved)
    return model


def same_engine(a: EngineSpec, b: EngineSpec) -> bool:
    """Would building `b` load what `a` already loaded? Same model, same engine kind, same precision
    (in-process engines) or the same servers (openai). The GPU share does not change what runs."""
    if a.kind != b.kind or _model_key(a.model) != _model_key(b.model):
        return False
    if a.kind == "openai":
        from cai.engines.http_client import normalise_base_url
        from cai.engines.openai import DEFAULT_BASE_URL

        def urls(spec: EngineSpec) -> list[str]:
            return sorted(normalise_base_url(u) for u in (spec.base_urls or (DEFAULT_BASE_URL,)))

        return urls(a) == urls(b)
    return a.dtype == b.dtype


def open_engine(spec: EngineSpec, *, seed: int = 0, batch_size: int = 16, options: dict | None = None) -> Engine:
    """Build the engine a spec names; `options` are the other engine options (api_key_env, concurrency,
    timeouts, ...). Load failures are one line naming the spec's own flags."""
    from cai.models import resolve_model

    path, _ = resolve_model(spec.model)
    chosen = dict(options or {}, base_url=list(spec.base_urls) or None, requested_model=spec.model,
                  gpu_memory_utilization=spec.gpu_memory_utilization)
    try:
        return build_engine(spec.engine, path, seed=seed, dtype=spec.dtype, batch_size=batch_size, **chosen)
    except CaiError as error:
        where = error.where or ""
        if where.startswith("--engine") and spec.flag("engine") != "--engine":
            raise CaiError(error.what, spec.flag("engine") + where[len("--engine"):], error.fix) from None
        raise
    except Exception as error:  # noqa: BLE001 - transformers: no model in the folder, a hub id not available offline...
        first = (str(error).splitlines() or [""])[0][:160]
        raise CaiError(f"cannot load model '{spec.model}' ({type(error).__name__}: {first})", spec.flag("model"),
                       "pass a model folder, a hub id available offline, or 'default'") from None


def scores_choices(engine: Engine) -> bool:
    """An engine scores choices through the request interface (every built-in engine, unless it says it
    cannot) or through its own whole-list `choice_probs`."""
    kind = type(engine)
    implemented = kind.choice_probs is not Engine.choice_probs or kind._collect is not Engine._collect
    return bool(engine.can_score) and implemented


def require_choice_scores(engine: Engine, spec: EngineSpec) -> None:
    if not scores_choices(engine):
        raise CaiError(f"the {spec.role}'s engine '{engine.name}' cannot score choices, which labelling needs",
                       spec.flag("engine"),
                       f"use {spec.own('engine')} hf, vllm or openai")
