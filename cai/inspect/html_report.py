"""`cai inspect RUN --html FILE`: one self-contained HTML file with the summary, a filterable list and
every example's story with word diffs.

The page is the template in assets/ with its stylesheet, scripts and the run's data written into it; the
charts are inline SVG that charts.js draws from numbers in that data (cai.inspect.charts).
The data goes in as JSON inside a <script type="application/json"> element with every '<', '>' and '&'
escaped, so no user text can close the element or be read as markup; the script then puts text on the
page only through textContent. A Content-Security-Policy in the page forbids loading anything from
outside the file.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from cai.errors import CaiError
from cai.inspect.charts import charts
from cai.inspect.diff import change_counts, word_diff
from cai.inspect.facts import label_facts, run_facts
from cai.inspect.loader import Example, RunView
from cai.inspect.story import example_meta, preference_rows
from cai.inspect.summary import Summary

ASSETS = Path(__file__).resolve().parent / "assets"


def _round(round_) -> dict:
    segments = word_diff(round_.before, round_.revision) if round_.revision else []
    inserted, deleted = change_counts(segments)
    return {"principle": round_.principle_id, "category": round_.category, "critique_prompt": round_.critique_prompt,
            "critique": round_.critique, "revision": round_.revision, "changed": round_.changed,
            "diff": [list(s) for s in segments], "inserted": inserted, "deleted": deleted,
            "critique_flags": round_.critique_flags, "revision_flags": round_.revision_flags}


def _label(label) -> dict:
    return {"principle": label.principle, "pair": label.pair, "order": label.order, "probs": label.probs,
            "scores": label.scores, "valid": label.valid, "reason": str(label.other.get("reason") or "")}


def _example(example: Example) -> dict:
    preference = preference_rows(example.preference) if example.preference else None
    return {"index": example.index, "id": example.id, "category": example.category, "meta": example_meta(example),
            "messages": [{"role": str(m.get("role", "?")), "content": str(m.get("content", ""))}
                         for m in example.messages],
            "prompt": " ".join(example.prompt.split())[:300], "initial": example.initial_response,
            "changed": example.changed, "rounds": [_round(r) for r in example.rounds],
            "labels": [_label(label) for label in example.labels],
            "preference": [[k, v] for k, v in preference.items()] if preference else None,
            "errors": example.errors, "initial_flags": example.initial_flags, "flags": example.flags,
            "turn_flags": [list(t) for t in example.turn_flags()]}


def _summary(run: RunView, summary: Summary) -> dict:
    categories = sorted(set(summary.categories) | {c for c in summary.prompt_categories if c != "-"})
    return {
        "cards": [["examples", summary.examples], ["rounds", summary.round_count],
                  ["revisions that changed the answer", summary.rounds_changed],
                  ["examples changed", summary.examples_changed], ["skipped inputs", len(summary.skipped)],
                  ["errors", len(summary.errors)], ["labels", summary.labels.labels]],
        "principles": [vars(p) for p in summary.principles],
        "categories": [[k, v] for k, v in summary.categories.items()],
        "prompt_categories": [[k, v] for k, v in summary.prompt_categories.items() if k != "-"],
        "all_categories": categories,
        "labels": [[k, v] for k, v in label_facts(summary.labels, summary.examples).items()],
        "skipped": [{"row": s.get("row", ""), "id": s.get("id", ""), "reason": s.get("reason", "")}
                    for s in summary.skipped],
        "errors": [list(e) for e in summary.errors], "notes": run.notes,
        "quality": [[reason, counts, summary.final_flags.get(reason, 0)] for reason, counts in summary.quality.items()],
        "examples_flagged": summary.examples_flagged,
    }


def script_json(data) -> str:
    """JSON that is safe inside a <script> element: nothing in it can end the element or start a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def render_report(run: RunView, summary: Summary) -> str:
    data = {"run": {k: str(v) for k, v in run_facts(run, summary).items()},
            "summary": _summary(run, summary), "charts": charts(run.path, run.manifest),
            "examples": [_example(e) for e in run.examples]}
    values = {"__CAI_TITLE__": html.escape(f"cai run · {run.path.name}"),
              "/*__CAI_CSS__*/": (ASSETS / "report.css").read_text(encoding="utf-8"),
              "/*__CAI_JS__*/": "\n".join((ASSETS / name).read_text(encoding="utf-8")
                                           for name in ("charts.js", "report.js")),
              "__CAI_DATA__": script_json(data)}
    template = (ASSETS / "report.html").read_text(encoding="utf-8")
    # One pass over the template: inserted text is never scanned again, so it cannot fake a marker.
    page = re.sub("|".join(re.escape(m) for m in values), lambda match: values[match.group(0)], template)
    return page


def write_report(run: RunView, summary: Summary, out: str | Path) -> Path:
    out = Path(out)
    if out.is_dir():
        raise CaiError("--html needs a file name, not a folder", str(out), f"use {out / 'report.html'}")
    if not out.parent.exists():
        raise CaiError("the folder for the report does not exist", str(out.parent), "create it first")
    page = render_report(run, summary)
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, out)
    return out
