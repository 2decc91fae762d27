"""Terminal output: one progress bar per stage with examples/s and tokens/s, and summary tables.

In a terminal the bars redraw in place; in a log (CI, nohup, Slurm: no TTY) a bar would show nothing until
the end, so each stage prints one plain line every CAI_PROGRESS_INTERVAL seconds (default 30) and when done
(0: a line for every report of the engine).
"""

from __future__ import annotations

import os
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text


class StageProgress:
    """Rich progress bars fed by engine callbacks; rates are measured over each stage's busy time.

    Without a TTY: plain lines instead, from the callbacks and from a heartbeat thread, so a log moves
    at a steady pace even while one long engine call reports nothing."""

    def __init__(self, console: Console, enabled: bool = True):
        self.lines = enabled and not console.is_terminal
        self.console = console
        self.interval = _interval()
        self.progress = Progress(TextColumn("[bold]{task.description:<11}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                 console=console, disable=not enabled or self.lines, transient=False)
        self.tasks: dict[str, int] = {}
        self.busy: dict[str, float] = {}
        self.tokens: dict[str, int] = {}
        self.last_line: dict[str, float] = {}
        self.rates: dict[str, str] = {}
        self.active: str | None = None  # the stage of the engine call in flight
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.heartbeat = threading.Thread(target=self._beat, name="cai-progress", daemon=True)

    def __enter__(self):
        self.progress.__enter__()
        if self.lines and self.interval > 0:  # 0: a line for every report of the engine, no heartbeat
            self.heartbeat.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        if self.heartbeat.is_alive():
            self.heartbeat.join()
        self.progress.__exit__(*exc)

    def add(self, stage: str, total: int) -> None:
        self.tasks[stage] = self.progress.add_task(stage, total=total, rate="")
        self.busy[stage], self.tokens[stage], self.rates[stage] = 0.0, 0, "0.00 ex/s 0.0 tok/s"
        self.last_line[stage] = time.monotonic()

    def callback(self, stage: str):
        """A ProgressFn for one engine call on this stage."""
        started = time.perf_counter()
        state = {"last": started}
        self.active = stage

        def advance(items: int, tokens: int) -> None:
            now = time.perf_counter()
            self.busy[stage] += now - state["last"]
            state["last"] = now
            self.tokens[stage] += tokens
            task = self.progress.tasks[self.tasks[stage]]
            done = task.completed + items
            seconds = max(self.busy[stage], 1e-9)
            self.rates[stage] = f"{done / seconds:5.2f} ex/s {self.tokens[stage] / seconds:7.1f} tok/s"
            self.progress.update(self.tasks[stage], advance=items, rate=self.rates[stage])
            if self.lines:
                self._line(stage, force=done >= (task.total or 0))

        return advance

    def _line(self, stage: str, force: bool = False) -> None:
        """A log line when the interval has passed since this stage's last one, or when forced (stage done)."""
        with self.lock:
            moment = time.monotonic()
            if moment - self.last_line[stage] < self.interval and not force:
                return
            self.last_line[stage] = moment
            task = self.progress.tasks[self.tasks[stage]]
            self.console.print(f"{stage:<11} {int(task.completed)}/{int(task.total or 0)} examples  "
                               f"{' '.join(self.rates[stage].split())}  {self.busy[stage]:.0f}s busy",
                               markup=False, highlight=False, soft_wrap=True)

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            stage = self.active
            if stage is not None and not self.progress.tasks[self.tasks[stage]].finished:
                self._line(stage)


def _interval() -> float:
    try:
        return max(float(os.environ.get("CAI_PROGRESS_INTERVAL", "30")), 0.0)
    except ValueError:
        return 30.0


def stage_table(stages: dict[str, dict]) -> Table:
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "examples", "seconds", "ex/s", "tokens in", "tokens out", "tok/s out"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, s in stages.items():
        table.add_row(Text(name), str(s["examples"]), f"{s['seconds']:.1f}", f"{s['examples_per_s']:.2f}",
                      str(s["prompt_tokens"]), str(s["completion_tokens"]), f"{s['tokens_per_s']:.1f}")
    return table


def key_value_table(title: str, rows: dict) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, Text(str(value)))  # values are data (paths, model names): never markup
    return table
