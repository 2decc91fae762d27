"""What the driver knows of the replicas' engines without loading any weights.

On a GPU cluster the GPUs are on the workers, so the driver must not build an engine. It still checks
every prompt's length before the run folder is made, exactly as a local run does: that needs only the
model's tokenizer (with its chat template) and its context length, which is what `TokenizerEngine`
holds. The real engines are built by each replica (cai.distributed.replica).
"""

from __future__ import annotations

from cai.engines.feedback import feedback_requested, feedback_spec, policy_spec, same_engine
from cai.engines.select import choose_engine
from cai.label.pairs import COLUMNS
from cai.models import resolve_model


class TokenizerEngine:
    """Counts prompt tokens the way the hf and vllm engines do, and names the engine for the manifest.
    `executor` is the manifest's executor section, filled in by the driver as the run goes."""

    can_score = True

    def __init__(self, spec, config, tokenizer: bool = True):
        self.choice = choose_engine(spec.engine).to_dict()
        self.name = self.choice["chosen"]
        self.model_id, self.display_name = resolve_model(spec.model)
        self.info: dict = {"built_on": "the replicas"}
        self.executor: dict = {"kind": "ray"}
        self.max_model_len = config.max_model_len
        self.tokenizer = self.roles = None
        if tokenizer:
            from transformers import AutoTokenizer

            from cai.engines.roles import TemplateRoles

            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            self.roles = TemplateRoles(self.tokenizer)

    @property
    def context_length(self) -> int:
        if self.max_model_len:
            return int(self.max_model_len)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_id)
        config = getattr(config, "text_config", None) or config
        return int(getattr(config, "max_position_embeddings", None) or self.tokenizer.model_max_length)

    def count_tokens(self, conversation) -> int:
        text = self.tokenizer.apply_chat_template(self.roles.fit(conversation), tokenize=False,
                                                  add_generation_prompt=True)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        """Nothing to release: no weights were loaded."""


def driver_engines(config, console, labelling: bool):
    """The run's engines as the driver sees them (cai.run_engines.RunEngines of stand-ins). With the
    openai engine the policy is a client of servers, cheap to build, so the driver builds it as usual."""
    from cai.run_engines import RunEngines, open_run_engines

    spec = feedback_spec(config) if config.pairs == COLUMNS else policy_spec(config)  # `cai label`: the judge
    if choose_engine(spec.engine).chosen == "openai":
        engines = open_run_engines(config, console, labelling)
        engines.policy.executor = {"kind": "ray"}
        return engines
    policy = TokenizerEngine(spec, config)
    engines = RunEngines(policy=policy, policy_name=policy.display_name)
    if not labelling:
        return engines
    wanted = feedback_spec(config)
    if config.pairs == COLUMNS:
        engines.feedback, engines.feedback_name = policy, policy.display_name
        engines.feedback_reason = "`cai label`: the run's only engine, on each replica"
        return engines
    if feedback_requested(config) and not same_engine(spec, wanted):
        engines.feedback = TokenizerEngine(wanted, config, tokenizer=False)
        engines.feedback_name = engines.feedback.display_name
        engines.feedback_reason = "a separate feedback model (--label-* options), built on each replica"
    else:
        engines.feedback, engines.feedback_name = policy, policy.display_name
        engines.feedback_reason = "the policy labels its own answers, on each replica's engine"
    return engines
