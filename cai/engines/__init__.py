"""Engine registry: names on the command line map to builders, imported lazily (heavy libraries)."""

from __future__ import annotations

from cai.engines.base import ChoiceProbs, Completion, Engine, Sampling
from cai.errors import CaiError

ENGINE_NAMES = ("hf",)


def build_engine(name: str, model_path: str, *, seed: int = 0, dtype: str = "auto",
                 batch_size: int = 16, **options) -> Engine:
    if name == "hf":
        from cai.engines.hf import HFEngine

        return HFEngine(model_path, dtype=dtype, batch_size=batch_size, seed=seed)
    raise CaiError(f"unknown engine '{name}'", "--engine", f"use one of: {', '.join(ENGINE_NAMES)}")


__all__ = ["ChoiceProbs", "Completion", "Engine", "Sampling", "build_engine", "ENGINE_NAMES"]
