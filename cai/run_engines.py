"""The engines of one run: the policy's, and the feedback model's when it is a different one.

`cai run` generates with the policy and labels with the feedback model (the --label-* options, each
falling back to the policy's). When both load the same thing the built engine is shared. `cai label`
only labels, so its one engine is the feedback model: there `--model`/`--engine` name it as before,
and --label-* options, when given, take precedence (a `cai run` recipe works unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cai.engines import Engine, engine_options
from cai.engines.feedback import (
    FEEDBACK,
    POLICY,
    EngineSpec,
    feedback_requested,
    feedback_spec,
    open_engine,
    policy_spec,
    require_choice_scores,
    same_engine,
)
from cai.label.pairs import COLUMNS
from cai.models import resolve_model


@dataclass
class RunEngines:
    policy: Engine | None = None
    policy_name: str = ""
    feedback: Engine | None = None      # None: nothing is labelled in this run
    feedback_name: str = ""
    feedback_reason: str = ""
    owned: list = field(default_factory=list)  # built here, so closed here (each once)

    @property
    def shared(self) -> bool:
        return self.feedback is not None and self.feedback is self.policy

    def by_role(self) -> dict[str, Engine]:
        return {POLICY: self.policy, FEEDBACK: self.feedback or self.policy}

    def close(self) -> None:
        owned, self.owned = self.owned, []
        for engine in owned:
            engine.close()

    def feedback_section(self, stats, steps: list) -> dict | None:
        """The manifest's `feedback`: which model and engine labelled, why, and what its stages cost."""
        if self.feedback is None:
            return None
        engine = self.feedback
        names = [s.name for s in steps if getattr(s, "role", POLICY) == FEEDBACK]
        spent = [stats.stages[n] for n in names if n in stats.stages]
        return {"model": self.feedback_name, "model_path": engine.model_id, "engine": engine.name,
                "engine_info": engine.info, "engine_choice": getattr(engine, "choice", None),
                "shared_with_policy": self.shared, "reason": self.feedback_reason, "stages": names,
                "prompt_tokens": sum(s.prompt_tokens for s in spent),
                "completion_tokens": sum(s.completion_tokens for s in spent)}


def _load(spec: EngineSpec, config, console) -> tuple[Engine, str]:
    name = resolve_model(spec.model)[1]
    from rich.text import Text  # a model name is user text: never rich markup

    with console.status(Text(f"loading {name} on the {spec.engine} engine")):
        engine = open_engine(spec, seed=config.seed, batch_size=config.batch_size, options=engine_options(config))
    if spec.engine == "auto":
        console.print(f"engine: {engine.choice['chosen']} — {engine.choice['reason']}", markup=False)
    return engine, name


def open_run_engines(config, console, labelling: bool, policy: Engine | None = None,
                     feedback: Engine | None = None) -> RunEngines:
    """Build what the run needs. `policy`/`feedback`: engines built by the caller (tests, notebooks),
    used as given and never closed here. Everything that can fail here fails before the run folder exists."""
    label_only = config.pairs == COLUMNS
    wanted = feedback_spec(config)
    main = wanted if label_only else policy_spec(config)
    engines = RunEngines()
    try:
        if policy is None:
            policy, engines.policy_name = _load(main, config, console)
            engines.owned.append(policy)
        else:
            engines.policy_name = config.label_model if label_only and config.label_model else config.model
        engines.policy = policy
        if not labelling:
            return engines
        if feedback is not None:
            engines.feedback, engines.feedback_name = feedback, wanted.model or "default"
            engines.feedback_reason = "an engine given by the caller"
        elif label_only:
            engines.feedback, engines.feedback_name = policy, engines.policy_name
            engines.feedback_reason = "`cai label`: the run's only engine"
        elif not feedback_requested(config):
            engines.feedback, engines.feedback_name = policy, engines.policy_name
            engines.feedback_reason = "no --label-* options: the policy labels its own answers"
        elif same_engine(main, wanted):
            engines.feedback, engines.feedback_name = policy, engines.policy_name
            engines.feedback_reason = "the --label-* options name the policy's model on its engine: reused"
        else:
            engines.feedback, engines.feedback_name = _load(wanted, config, console)
            engines.owned.append(engines.feedback)
            engines.feedback_reason = "a separate feedback model (--label-* options)"
        if feedback_requested(config) or not engines.shared:
            require_choice_scores(engines.feedback, wanted)
    except BaseException:
        engines.close()
        raise
    return engines
