"""The quiet terminal's logic: plain progress lines when no TTY is attached, the one-line score histogram,
and the environment that hides other libraries' notices (and --verbose taking it back)."""

from __future__ import annotations

import io
import os
import re
import warnings

from rich.console import Console

from cai.label.stats import summary_rows, text_histogram
from cai.progress import StageProgress


def log_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200), buffer  # a file is no terminal, as in CI or nohup


def feed(progress: StageProgress, stage: str, steps: int) -> None:
    progress.add(stage, steps)
    advance = progress.callback(stage)
    for _ in range(steps):
        advance(1, 10)


def test_without_a_tty_each_stage_prints_plain_lines_at_the_interval(monkeypatch):
    monkeypatch.setenv("CAI_PROGRESS_INTERVAL", "0")
    console, buffer = log_console()
    with StageProgress(console) as progress:
        feed(progress, "respond", 3)
        feed(progress, "critique 1", 2)
    lines = buffer.getvalue().splitlines()
    assert [re.match(r"(.+?)\s+(\d+/\d+) examples", line).groups() for line in lines] == [
        ("respond", "1/3"), ("respond", "2/3"), ("respond", "3/3"), ("critique 1", "1/2"), ("critique 1", "2/2")]
    assert all("examples" in line and "ex/s" in line and "tok/s" in line for line in lines)
    assert "━" not in buffer.getvalue()  # no bar drawn into the log


def test_a_long_interval_still_prints_each_stage_once_when_it_is_done(monkeypatch):
    monkeypatch.setenv("CAI_PROGRESS_INTERVAL", "3600")
    console, buffer = log_console()
    with StageProgress(console) as progress:
        feed(progress, "respond", 4)
    assert [line.split()[:2] for line in buffer.getvalue().splitlines()] == [["respond", "4/4"]]


def test_progress_off_prints_nothing(monkeypatch):
    monkeypatch.setenv("CAI_PROGRESS_INTERVAL", "0")
    console, buffer = log_console()
    with StageProgress(console, enabled=False) as progress:
        feed(progress, "respond", 2)
    assert buffer.getvalue() == ""


def test_the_summary_has_a_one_line_histogram_of_the_label_scores():
    assert text_histogram([0, 0, 0, 1, 2, 0, 8, 4, 0, 0]) == "   ▂▃│ █▅  "
    assert text_histogram([0] * 10) == ""
    stats = {"status": "on", "method": "logprobs", "principles_per_pair": 1, "labelled": 15, "pairs": 15,
             "exported": 15, "min_margin": 0, "valid_answers": 30, "questions": 30, "not_labelled": {},
             "mean_score_chosen": 0.7, "distribution": {"0.5-0.6": 15},
             "histogram": {"edges": [i / 10 for i in range(11)], "counts": [0, 0, 0, 1, 2, 0, 8, 4, 0, 0]},
             "agreement": {"rule": None, "of": 0}, "position_bias": {"of": 0}}
    assert summary_rows(stats)["score histogram"] == "0    ▂▃│ █▅   1  P(2nd answer better), 15 pair(s)"


def test_quiet_sets_only_what_the_user_left_unset_and_verbose_takes_it_back(monkeypatch):
    from cai import quiet

    for name in quiet._ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CAI_VERBOSE", raising=False)
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "INFO")  # the user's own choice wins
    monkeypatch.setattr(quiet, "_set_by_us", [])
    with warnings.catch_warnings():
        quiet.quiet_libraries()
        assert os.environ["VLLM_LOGGING_LEVEL"] == "INFO" and os.environ["TQDM_DISABLE"] == "1"
        assert os.environ["PYTHONWARNINGS"] == "ignore"
        quiet.be_verbose()
        assert "TQDM_DISABLE" not in os.environ and "PYTHONWARNINGS" not in os.environ
        assert os.environ["VLLM_LOGGING_LEVEL"] == "INFO" and os.environ["CAI_VERBOSE"] == "1"


def test_vllm_loads_its_checkpoint_without_a_bar_unless_verbose(monkeypatch):
    from cai.engines.vllm_setup import VLLMOptions, llm_kwargs

    monkeypatch.delenv("CAI_VERBOSE", raising=False)
    assert llm_kwargs("m", VLLMOptions(), on_cpu=True)[0]["use_tqdm_on_load"] is False
    monkeypatch.setenv("CAI_VERBOSE", "1")
    assert llm_kwargs("m", VLLMOptions(), on_cpu=True)[0]["use_tqdm_on_load"] is True


def test_cai_inspect_shows_the_histogram_from_the_manifest(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_inspect import _text, sample_records, write_run

    from cai.inspect import load_run
    from cai.inspect.summary import summarize_run
    from cai.inspect.terminal import summary_view

    manifest = {"status": "complete", "labels": {"histogram": {"counts": [0, 0, 0, 0, 1, 0, 0, 2, 0, 0]}}}
    run = load_run(write_run(tmp_path / "run", sample_records(), manifest=manifest))
    assert "0     ▅│  █   1  P(2nd answer better), 3 pair(s)" in _text(summary_view(run, summarize_run(run)))


def test_without_a_tty_a_heartbeat_keeps_the_log_moving_during_a_long_call(monkeypatch):
    import time

    monkeypatch.setenv("CAI_PROGRESS_INTERVAL", "0.05")
    console, buffer = log_console()
    with StageProgress(console) as progress:
        progress.add("respond", 3)
        advance = progress.callback("respond")  # an engine call that reports nothing for a while
        deadline = time.monotonic() + 30
        while buffer.getvalue().count("respond     0/3 examples") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        advance(3, 30)
    lines = buffer.getvalue().splitlines()
    assert sum(line.startswith("respond     0/3 examples") for line in lines) >= 2
    assert lines[-1].startswith("respond     3/3 examples")
