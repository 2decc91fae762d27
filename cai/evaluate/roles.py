"""Where each model of an eval runs: the model under test, the baseline and the judge each name their
model, engine and servers (`--model-engine --model-base-url`, `--baseline-...`, `--judge-...`), so a
served policy, a served baseline and a served judge can be three endpoints.

Engines are built by cai.engines.feedback (the builder `cai run --label-*` uses): `engine_spec` turns a
role into its EngineSpec, with the role's own flags for errors. Only one in-process model is loaded at a
time (memory): `Engines` keeps the last engine open and hands it out again when the next role asks for
the same model on the same engine and servers (feedback.same_engine).
"""

from __future__ import annotations

from dataclasses import dataclass

from cai.engines import ENGINE_NAMES, build_engine
from cai.errors import CaiError
from cai.models import resolve_model

IN_PROCESS = "in-process"
MODEL, BASELINE, JUDGE = "model", "baseline", "judge"


@dataclass(frozen=True)
class RoleSpec:
    role: str                       # model | baseline | judge
    model: str                      # as the user wrote it
    engine: str                     # hf | vllm | openai | auto
    base_urls: tuple[str, ...] = ()

    def flag(self, what: str) -> str:
        return f"--{self.role}-{what}"

    @property
    def endpoints(self) -> list[str]:
        if self.engine != "openai":
            return [IN_PROCESS]
        from cai.engines.http_client import normalise_base_url
        from cai.engines.openai import DEFAULT_BASE_URL

        return [normalise_base_url(u) for u in (self.base_urls or (DEFAULT_BASE_URL,))]

    def engine_spec(self, dtype: str):
        from cai.engines.feedback import EngineSpec

        flags = {"model": f"--{self.role}", "engine": self.flag("engine"), "base-url": self.flag("base-url")}
        return EngineSpec(self.model, self.engine, dtype, self.base_urls, flags=flags, prefix=f"{self.role}-",
                          role=self.role)

    def describe(self) -> dict:
        """What the report says about this role: never an API key (the engine keeps it in headers)."""
        return {"model": self.model, "engine": self.engine, "endpoints": self.endpoints}


def check_spec(spec: RoleSpec) -> None:
    if spec.engine not in ENGINE_NAMES:
        raise CaiError(f"unknown engine '{spec.engine}' for the {spec.role}", spec.flag("engine"),
                       f"use one of: {', '.join(ENGINE_NAMES)}")
    if spec.base_urls and spec.engine != "openai":
        raise CaiError(f"{spec.flag('base-url')} names a server, but the {spec.role}'s engine is '{spec.engine}'",
                       spec.flag("base-url"), f"add {spec.flag('engine')} openai, or drop {spec.flag('base-url')}")


def _options(spec: RoleSpec, **extra) -> dict:
    return {"base_url": list(spec.base_urls) or None, "requested_model": spec.model, **extra}


def check_reachable(spec: RoleSpec) -> None:
    """A served role's servers answer /v1/models and serve its model: checked before anything runs."""
    if spec.engine != "openai":
        return
    try:
        build_engine("openai", resolve_model(spec.model)[0], **_options(spec, max_retries=1, timeout=30.0)).close()
    except CaiError as error:
        raise CaiError(f"the {spec.role}'s server: {error.what}", error.where or ", ".join(spec.endpoints),
                       f"start the server or correct {spec.flag('base-url')}") from None


class Engines:
    def __init__(self, options, console):
        self.options, self.console = options, console
        self.engine, self.loaded = None, None

    def get(self, role: RoleSpec):
        """(engine, display name) for a role; reuses the open engine when it is the same thing."""
        from cai.engines.feedback import open_engine, same_engine

        spec = role.engine_spec(self.options.dtype)
        name = resolve_model(role.model)[1]
        if self.engine is not None and same_engine(self.loaded, spec):
            return self.engine, name
        self.close()
        where = IN_PROCESS if role.engine != "openai" else ", ".join(role.endpoints)
        # A plain line, not a spinner: this runs inside the stages' live progress display.
        self.console.print(f"{role.role}: {name} on the {role.engine} engine ({where})", style="dim",
                           highlight=False, markup=False)
        self.engine = open_engine(spec, seed=self.options.seed, batch_size=self.options.batch_size)
        self.loaded = spec
        return self.engine, name

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = self.loaded = None
