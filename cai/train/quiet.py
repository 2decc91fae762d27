"""Silencing the training libraries: their logs, tqdm bars and warnings would bury our own progress bar
and final table. `--verbose` leaves them all on, for debugging."""

from __future__ import annotations

import logging
import os
import warnings

_LOGGERS = ("transformers", "trl", "peft", "accelerate", "datasets", "torch", "huggingface_hub")


def quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars
    datasets.disable_progress_bars()  # "Tokenizing train dataset" bars
    datasets.utils.logging.set_verbosity_error()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        for module in _LOGGERS:
            warnings.filterwarnings("ignore", category=category, module=module)
