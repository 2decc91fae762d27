"""A rich progress bar for training, fed by a transformers TrainerCallback.

The bar counts optimizer steps and shows the latest logged loss (and, for DPO, the reward margin and
accuracy), so a user sees the run is learning without reading a log line per step.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Logged keys shown on the bar, with their short names.
_SHOWN = (("loss", "loss"), ("rewards/margins", "margin"), ("rewards/accuracies", "acc"))


def describe(logs: dict) -> str:
    return "  ".join(f"{short} {logs[key]:.4f}" for key, short in _SHOWN
                     if isinstance(logs.get(key), (int, float)))


def progress_callback(console: Console, title: str, enabled: bool = True):
    """A TrainerCallback (built here so transformers is imported only when training)."""
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self):
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(),
                                     TextColumn("eta"), TimeRemainingColumn(), console=console,
                                     disable=not enabled)
            self.task = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress.start()
            self.task = self.progress.add_task(title, total=state.max_steps, metrics="")

        def on_step_end(self, args, state, control, **kwargs):
            self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            text = describe(logs or {})
            if text and self.task is not None:
                self.progress.update(self.task, metrics=text)

        def on_train_end(self, args, state, control, **kwargs):
            if self.task is not None:
                self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()

    return RichProgress()
