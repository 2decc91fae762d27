"""Engine registry: names on the command line map to builders, imported lazily (heavy libraries)."""

from __future__ import annotations

from cai.engines.base import ChoiceProbs, Completion, Engine, Sampling
from cai.errors import CaiError

ENGINE_NAMES = ("auto", "vllm", "hf", "openai")


# RunConfig fields the vllm and openai engines read (the hf engine takes dtype and batch_size).
ENGINE_OPTION_FIELDS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "enforce_eager",
                        "base_url", "api_key_env", "concurrency", "timeout", "max_retries")


def engine_options(config) -> dict:
    """The engine keyword options of a RunConfig, plus --model as the user wrote it (a server's id)."""
    options = {name: getattr(config, name) for name in ENGINE_OPTION_FIELDS if hasattr(config, name)}
    options["requested_model"] = config.model
    return options


def _build(name: str, model_path: str, seed: int, dtype: str, batch_size: int, options: dict) -> Engine:
    if name == "hf":
        from cai.engines.hf import HFEngine

        return HFEngine(model_path, dtype=dtype, batch_size=batch_size, seed=seed)
    if name == "vllm":
        from cai.engines.vllm import VLLMEngine
        from cai.engines.vllm_setup import VLLMOptions

        keys = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "enforce_eager")
        chosen = {k: options[k] for k in keys if options.get(k) is not None}
        return VLLMEngine(model_path, VLLMOptions(dtype=dtype, seed=seed, **chosen))
    if name == "openai":
        from cai.engines.openai import OpenAIEngine, OpenAIOptions

        return OpenAIEngine(model_path, OpenAIOptions.from_options(options, seed=seed))
    raise CaiError(f"unknown engine '{name}'", "--engine", f"use one of: {', '.join(ENGINE_NAMES)}")


def build_engine(name: str, model_path: str, *, seed: int = 0, dtype: str = "auto",
                 batch_size: int = 16, **options) -> Engine:
    """Build the named engine; `auto` picks vLLM where it can run, else hf. The engine's `choice`
    attribute says what was asked, what runs, and why (the run manifest records it)."""
    from cai.engines.select import choose_engine

    choice = choose_engine(name)
    try:
        engine = _build(choice.chosen, model_path, seed, dtype, batch_size, options)
    except CaiError as error:
        if name != "auto" or choice.chosen == "hf":
            raise
        # auto promised "vLLM where it can run": it could not, so fall back rather than stop.
        choice.reason = f"vllm failed to start ({error.what}); using transformers"
        choice.chosen = "hf"
        engine = _build("hf", model_path, seed, dtype, batch_size, options)
    engine.choice = choice.to_dict()
    return engine


__all__ = ["ChoiceProbs", "Completion", "Engine", "Sampling", "build_engine", "engine_options", "ENGINE_NAMES"]
