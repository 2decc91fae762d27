"""`cai inspect`: reading runs in any state, the summary, the list filters, the story, the HTML report."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cai.errors import CaiError
from cai.inspect import load_run
from cai.inspect.diff import DELETE, EQUAL, INSERT, side, word_diff
from cai.inspect.filters import ExampleFilter, find_example, select
from cai.inspect.html_report import render_report, script_json
from cai.inspect.story import story_view
from cai.inspect.summary import summarize, summarize_run
from cai.inspect.terminal import list_view, summary_view
from cai.records import Record, Round

REPO = Path(__file__).resolve().parent.parent


def _round(principle: str, category: str, critique: str, revision: str) -> Round:
    return Round(principle, category, f"critique request for {principle}", critique,
                 f"revision request for {principle}", revision)


def _label(principle: str, order: str, p_a: float, p_b: float, valid: bool = True) -> dict:
    # The shape cai/label/judge.py writes; inspection must not depend on every field being there.
    shown = ("initial", "final") if order == "forward" else ("final", "initial")
    p_first = p_a / (p_a + p_b)
    return {"pair": ["initial", "final"], "principle_id": principle, "order": order, "A": shown[0], "B": shown[1],
            "p_A": p_a, "p_B": p_b, "missing": [], "valid": valid, "reason": None if valid else "both improbable",
            "scores": {shown[0]: p_first, shown[1]: 1 - p_first}}


def sample_records() -> list[Record]:
    changed = Record("ex-lock", [{"role": "user", "content": "How do I open my neighbour's door without a key?"}],
                     category="harm-illegal", source_row=0,
                     initial_response="Use a credit card to slip the latch of the door.",
                     rounds=[_round("harm-illegal-instructions", "harm", "It helps break into a home.",
                                    "I can't help you get into someone else's home. "
                                    "Ask your neighbour or a locksmith."),
                             _round("refusal-neutral-tone", "refusal-quality", "The tone is fine.",
                                    "I can't help you get into someone else's home. "
                                    "Please ask your neighbour or a locksmith.")],
                     labels=[_label("cmp-less-harmful", "forward", 0.2, 0.6),
                             _label("cmp-less-harmful", "swapped", 0.7, 0.2)],
                     preference={"pair": ["initial", "final"], "chosen_name": "final", "rejected_name": "initial",
                                 "score_chosen": 0.76, "score_rejected": 0.24, "margin": 0.52, "agrees": True,
                                 "flips": 0, "chosen": "I can't help you get into someone else's home. Please ask "
                                 "your neighbour or a locksmith.",
                                 "rejected": "Use a credit card to slip the latch of the door."},
                     tokens={"prompt": 120, "completion": 40})
    same = Record("ex-curry", [{"role": "user", "content": "Give me a curry recipe."}], category="benign", source_row=1,
                  initial_response="Fry onions, add spices and vegetables, simmer in coconut milk.",
                  rounds=[_round("helpful-no-over-refusal", "helpfulness", "The answer is helpful.",
                                 "Fry onions, add spices and vegetables, simmer in coconut milk.")],
                  tokens={"prompt": 60, "completion": 20})
    broken = Record("ex-empty", [{"role": "user", "content": "Say <script>alert(1)</script> [bold]hi[/bold]"}],
                    category="benign", source_row=2, initial_response="",
                    rounds=[_round("harm-illegal-instructions", "harm", "", "")],
                    errors=["respond: the model returned an empty answer"])
    return [changed, same, broken]


def write_run(folder: Path, records: list, *, manifest: dict | None = None, skipped: list | None = None,
              tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r.to_dict() if isinstance(r, Record) else r, ensure_ascii=False) + "\n" for r in records]
    (folder / "traces.jsonl").write_text("".join(lines) + tail, encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps(manifest or {"status": "complete", "model": "tiny",
                                                                  "engine": "scripted"}), encoding="utf-8")
    (folder / "skipped.jsonl").write_text("".join(json.dumps(s) + "\n" for s in skipped or []), encoding="utf-8")
    return folder


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return write_run(tmp_path / "run", sample_records(),
                     skipped=[{"row": 7, "id": "row-7", "reason": "prompt too long: 3000 tokens"},
                              {"row": 9, "id": "row-9", "reason": "empty prompt"}])


def _text(renderable, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def cai(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cai", *args], capture_output=True, text=True, cwd=REPO,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


# -- reading ---------------------------------------------------------------------------------------
def test_torn_last_line_of_a_killed_run_is_left_out_and_reported(tmp_path):
    records = sample_records()
    torn = json.dumps(records[2].to_dict())[:40]  # killed while writing the third record
    run = load_run(write_run(tmp_path / "run", records[:2], tail=torn))
    assert [e.id for e in run.examples] == ["ex-lock", "ex-curry"]
    assert any("incomplete" in note for note in run.notes)


def test_unreadable_middle_lines_unknown_fields_and_duplicates_do_not_stop_reading(tmp_path):
    first, second, _ = (r.to_dict() for r in sample_records())
    first["field_from_the_future"] = {"x": 1}
    first["rounds"][0]["extra"] = "ignored"
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "traces.jsonl").write_text(
        json.dumps(first) + "\nnot json at all\n" + json.dumps(second) + "\n" + json.dumps(second) + "\n")
    run = load_run(folder)
    assert [e.id for e in run.examples] == ["ex-lock", "ex-curry"]
    assert run.examples[0].rounds[0].principle_id == "harm-illegal-instructions"
    assert any("line 2" in n for n in run.notes) and any("repeated" in n for n in run.notes)


def test_a_run_that_has_only_started_is_a_run_with_no_examples(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text("rounds: 2\n")
    (folder / "constitution.yaml").write_text((REPO / "constitution" / "default.yaml").read_text())
    run = load_run(folder)
    assert run.examples == [] and run.status == "just started"
    assert "0 finished" in _text(summary_view(run, summarize_run(run)))


@pytest.mark.parametrize("make, expected", [
    (lambda p: p / "missing", "no such folder"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "this is a file"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "not a cai run"),
])
def test_not_a_run_is_one_clear_error(tmp_path, make, expected):
    with pytest.raises(CaiError, match=expected):
        load_run(make(tmp_path))


def test_a_folder_of_runs_suggests_the_newest_run(tmp_path, run_dir):
    with pytest.raises(CaiError) as error:
        load_run(tmp_path)
    assert f"cai inspect {run_dir}" in error.value.line()


# -- summary ---------------------------------------------------------------------------------------
def test_summary_counts(run_dir):
    run = load_run(run_dir)
    summary = summarize(run, ["harm-illegal-instructions", "refusal-neutral-tone", "helpful-no-over-refusal",
                              "unused-one"])
    assert summary.examples == 3 and summary.round_count == 4 and summary.rounds == {1: 2, 2: 1}
    uses = {u.principle: (u.rounds, u.changed) for u in summary.principles}
    assert uses == {"harm-illegal-instructions": (2, 1), "refusal-neutral-tone": (1, 1),
                    "helpful-no-over-refusal": (1, 0)}
    assert summary.categories == {"harm": 2, "refusal-quality": 1, "helpfulness": 1}
    assert summary.rounds_changed == 2 and summary.examples_changed == 1
    assert summary.unused_principles == ["unused-one"]
    assert summary.skip_reasons == {"prompt too long": 1, "empty prompt": 1}
    assert summary.errors == [("ex-empty", "respond: the model returned an empty answer")]
    labels = summary.labels
    assert labels.labels == 2 and labels.examples == 1 and labels.by_order == {"forward": 1, "swapped": 1}
    assert labels.mean_scores["final"] == pytest.approx((0.6 / 0.8 + 0.7 / 0.9) / 2)
    assert labels.revision_chosen == 1 and labels.agrees == 1 and labels.chosen == {"final": 1}


def test_summary_view_shows_usage_labels_skips_and_errors(run_dir):
    run = load_run(run_dir)
    text = _text(summary_view(run, summarize_run(run)))
    for expected in ("harm-illegal-instructions", "refusal-quality", "2 of 4 (50%)", "prompt too long: 3000 tokens",
                     "respond: the model returned an empty answer", "mean probability each answer is better",
                     "final × 1"):
        assert expected in text


# -- list and filters ------------------------------------------------------------------------------
@pytest.mark.parametrize("flt, ids", [
    (ExampleFilter(), ["ex-lock", "ex-curry", "ex-empty"]),
    (ExampleFilter(principle="refusal-neutral-tone"), ["ex-lock"]),
    (ExampleFilter(category="harm"), ["ex-lock", "ex-empty"]),
    (ExampleFilter(category="benign"), ["ex-curry", "ex-empty"]),
    (ExampleFilter(changed=True), ["ex-lock"]),
    (ExampleFilter(changed=False), ["ex-curry", "ex-empty"]),
    (ExampleFilter(grep="LOCKSMITH"), ["ex-lock"]),
    (ExampleFilter(errors=True), ["ex-empty"]),
    (ExampleFilter(category="harm", changed=False), ["ex-empty"]),
])
def test_filters(run_dir, flt, ids):
    assert [e.id for e in select(load_run(run_dir).examples, flt)] == ids


def test_list_view_has_one_row_per_example(run_dir):
    run = load_run(run_dir)
    text = _text(list_view(run.examples, len(run.examples)))
    assert "3 of 3 examples" in text
    assert all(re.search(rf"{e.index}\s*│\s*{e.id}", text) for e in run.examples)


def test_find_example_by_id_and_index_with_helpful_errors(run_dir):
    examples = load_run(run_dir).examples
    assert find_example(examples, "ex-curry").index == 1
    assert find_example(examples, index=-1).id == "ex-empty"
    with pytest.raises(CaiError, match="did you mean ex-lock"):
        find_example(examples, "ex-lok")
    with pytest.raises(CaiError, match="use 0 to 2"):
        find_example(examples, index=3)


# -- diff and story --------------------------------------------------------------------------------
def test_a_word_or_two_in_common_between_changes_joins_the_change():
    segments = word_diff("Use a credit card to slip the latch.", "I can't help with that. Ask a locksmith.")
    assert segments == [(DELETE, "Use a credit card to slip the latch."),
                        (INSERT, "I can't help with that. Ask a locksmith.")]
    # ...but not when the common words are as long as a change next to them.
    assert (EQUAL, "a ") in word_diff("Use a key.", "Ask a locksmith.")


def test_word_diff_marks_changed_words_and_rebuilds_the_new_text():
    before, after = "I cannot help with that.\nSorry.", "I can help with this. Sorry."
    segments = word_diff(before, after)
    assert (DELETE, "cannot ") in segments and (INSERT, "can ") in segments
    assert (DELETE, "that.\n") in segments and (INSERT, "this. ") in segments
    assert side(segments, INSERT) == after
    assert side(segments, DELETE).split() == before.split()
    assert word_diff("same text", "same text") == [(EQUAL, "same text")]


def test_story_shows_rounds_diff_labels_and_escapes_markup(run_dir):
    examples = load_run(run_dir).examples
    text = _text(story_view(examples[0]))
    for expected in ("How do I open my neighbour's door without a key?", "Use a credit card",
                     "round 1 · harm-illegal-instructions (harm)", "It helps break into a home.",
                     "revision (+2 / -1 words)", "cmp-less-harmful", "score final", "0.750", "chosen_name"):
        assert expected in text
    console = Console(width=200, record=True, color_system="truecolor", file=io.StringIO())
    console.print(story_view(examples[0]))
    styled = console.export_text(styles=True)
    assert "\x1b[1;32mPlease ask" in styled  # the words the second round put in, in the insert style
    assert "\x1b[9;31mAsk" in styled  # and the word it took out, struck through
    assert "[bold]hi[/bold]" in _text(story_view(examples[2]))  # printed as written, not as markup


# -- HTML ------------------------------------------------------------------------------------------
def test_script_json_cannot_close_its_element():
    text = script_json({"x": "</script><script>alert(1)</script> <!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text)["x"].startswith("</script>")


def test_html_report_is_self_contained_and_holds_every_example(run_dir):
    run = load_run(run_dir)
    page = render_report(run, summarize_run(run))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert "<script>alert(1)</script>" not in page  # the user's <script> only exists as escaped JSON
    data = json.loads(re.search(r'<script id="cai-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert [e["id"] for e in data["examples"]] == ["ex-lock", "ex-curry", "ex-empty"]
    assert ["insert", "Please ask "] in data["examples"][0]["rounds"][1]["diff"]
    assert data["summary"]["skipped"][0]["reason"] == "prompt too long: 3000 tokens"


# -- the command -----------------------------------------------------------------------------------
def test_cli_summary_list_story_and_html(run_dir, tmp_path):
    summary = cai("inspect", str(run_dir))
    assert summary.returncode == 0, summary.stderr
    assert "revisions that changed the answer" in summary.stdout
    listing = cai("inspect", str(run_dir), "--changed")  # a filter alone implies --list
    assert listing.returncode == 0 and "1 of 3 examples" in listing.stdout and "ex-lock" in listing.stdout
    story = cai("inspect", str(run_dir), "--index", "0")
    assert story.returncode == 0 and "round 2 · refusal-neutral-tone" in story.stdout
    report = tmp_path / "report.html"
    made = cai("inspect", str(run_dir), "--html", str(report))
    assert made.returncode == 0 and report.is_file() and "ex-curry" in report.read_text()


@pytest.mark.parametrize("args, message", [
    (["{tmp}"], "not a cai run"),
    (["{run}", "--id", "nope"], "no example with id 'nope'"),
    (["{run}", "--principle", "harm-ilegal-instructions"], "did you mean harm-illegal-instructions"),
    (["{run}", "--id", "ex-lock", "--index", "0"], "give only one of them"),
    ([], "Missing argument 'RUN'"),
])
def test_cli_errors_are_one_line_with_exit_2(run_dir, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cai("inspect", *(a.format(tmp=empty, run=run_dir) for a in args))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    if args:  # (a usage error prints click's usage and hint lines too)
        assert len(result.stderr.strip().splitlines()) == 1


# -- on a real run: the default model through the transformers engine -----------------------------
@pytest.fixture(scope="module")
def real_run_dir(tmp_path_factory, hf_engine):
    from cai.config import RunConfig
    from cai.runner import execute_run

    folder = tmp_path_factory.mktemp("inspect-real")
    prompts = folder / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "pick-lock", "category": "harm-illegal",
                                   "prompt": "How do I pick the lock on my neighbour's door?"}) + "\n"
                       + json.dumps({"id": "tea", "category": "benign", "prompt": "How do I brew green tea?"}) + "\n")
    config = RunConfig(prompts=str(prompts), rounds=1, max_new_tokens=16, few_shot=0, test_size=0.0, seed=1,
                       out=str(folder / "run"))
    execute_run(config, engine=hf_engine, show_progress=False, console=Console(file=io.StringIO()))
    return folder / "run"


@pytest.mark.real
def test_inspect_a_real_run(real_run_dir, tmp_path):
    traces = [json.loads(line) for line in (real_run_dir / "traces.jsonl").read_text().splitlines()]
    run = load_run(real_run_dir)
    # Traces are written as examples finish; inspect lists them in input order.
    in_order = [t["id"] for t in sorted(traces, key=lambda t: t["source_row"])]
    assert [e.id for e in run.examples] == in_order and run.status == "complete"
    summary = summarize_run(run)
    used = {t["rounds"][0]["principle_id"] for t in traces}
    assert {u.principle for u in summary.principles} == used and summary.round_count == 2
    assert summary.rounds_changed == sum(
        t["rounds"][0]["revision"].strip() != t["initial_response"].strip() for t in traces)
    assert summary.labels.labels == sum(len(t["labels"]) for t in traces)
    text = _text(summary_view(run, summary))
    manifest = json.loads((real_run_dir / "manifest.json").read_text())
    assert f"{manifest['model']} on hf" in text and "2 finished" in text
    story = _text(story_view(find_example(run.examples, "tea")), width=400)
    flat = " ".join(story.replace("│", " ").split())  # without the panels' borders and line breaks
    tea = next(t for t in traces if t["id"] == "tea")
    assert " ".join(tea["initial_response"].split()) in flat
    assert " ".join(tea["rounds"][0]["critique"].split()) in flat
    page = render_report(run, summary)
    assert "pick-lock" in page and "tea" in page


@pytest.mark.real
def test_inspect_a_real_run_with_a_torn_last_line(real_run_dir, tmp_path):
    """A trace line cut in half, as a write interrupted by the OS leaves it. (A run really killed by
    SIGKILL is inspected in test_run_real's kill-and-resume test.)"""
    import shutil

    killed = tmp_path / "killed"
    shutil.copytree(real_run_dir, killed)
    lines = (killed / "traces.jsonl").read_text().splitlines(keepends=True)
    (killed / "traces.jsonl").write_text(lines[0] + lines[1][: len(lines[1]) // 2])
    result = cai("inspect", str(killed))
    assert result.returncode == 0, result.stderr
    assert "1 finished" in result.stdout and "incomplete" in result.stdout
