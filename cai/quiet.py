"""A quiet terminal: other libraries' warnings, notices and progress bars are hidden, so cai's own output is
what a person reads. `--verbose` (or CAI_VERBOSE=1) shows everything again.

Environment variables are set only where the user has not set them (and reach vLLM's worker processes);
what was set is remembered so `--verbose` can take it back before any library is imported.
"""

from __future__ import annotations

import logging
import os
import warnings

# Read when the libraries are imported: set before the first heavy import.
_ENVIRONMENT = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "VLLM_LOGGING_LEVEL": "ERROR",  # vLLM's INFO and WARNING lines (platform, compile notes)
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # torch's C++ "[W... NUMA binding ...]" notices in vLLM's workers
    "TQDM_DISABLE": "1",  # other libraries' bars (vLLM's checkpoint shards); cai draws its own with rich
    "PYTHONWARNINGS": "ignore",  # FutureWarning and friends, also in spawned worker processes
}
# Always set: these only silence duplicate work, never information.
_ALWAYS = ("TOKENIZERS_PARALLELISM",)
_LOGGERS = ("transformers", "datasets", "huggingface_hub", "torch", "vllm", "triton", "accelerate", "peft",
            "trl", "urllib3", "filelock", "httpx")

_set_by_us: list[str] = []


def verbose_requested() -> bool:
    return os.environ.get("CAI_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


def quiet_libraries() -> None:
    """Hide the libraries' noise unless CAI_VERBOSE is set."""
    for name, value in _ENVIRONMENT.items():
        if name in _ALWAYS or not verbose_requested():
            if name not in os.environ:
                os.environ[name] = value
                _set_by_us.append(name)
    quiet_loggers()


def quiet_loggers() -> None:
    """The part that lives in one process: warning filters and logger levels. vLLM's spawned workers import
    cai.cli again (as their __mp_main__), which calls this, so their import-time notices (vLLM logs "no Triton
    on CPU" before it configures its logging) stay hidden too."""
    if verbose_requested():
        return
    warnings.filterwarnings("ignore")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def be_verbose() -> None:
    """Undo quiet_libraries (for --verbose given after start-up, before the heavy imports)."""
    os.environ["CAI_VERBOSE"] = "1"
    for name in list(_set_by_us):
        if name not in _ALWAYS:
            os.environ.pop(name, None)
            _set_by_us.remove(name)
    warnings.resetwarnings()
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
