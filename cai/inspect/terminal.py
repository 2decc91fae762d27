"""Drawing a run's summary and its list of examples in the terminal with rich.

User text is always wrapped in rich Text objects, never parsed as markup, so a prompt holding
"[bold]" or "[/]" prints as written.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cai.inspect.facts import label_facts, run_facts
from cai.inspect.loader import Example, RunView
from cai.inspect.summary import Summary

_LIST_LIMIT = 20  # skipped rows and errors shown in the summary before "… and N more"


def short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def pairs_table(title: str, rows: dict) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, Text(str(value)))
    return table


def _counts(title: str, header: str, counts: dict, unit: str = "count") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(header)
    table.add_column(unit, justify="right")
    for key, value in counts.items():
        table.add_row(Text(str(key)), str(value))
    return table


def summary_view(run: RunView, summary: Summary) -> Group:
    parts: list = [pairs_table("run", run_facts(run, summary))]
    if summary.principles:
        table = Table(title="principles used", title_justify="left")
        for column in ("principle", "category", "rounds", "changed the answer"):
            table.add_column(column, justify="left" if column in ("principle", "category") else "right")
        for use in summary.principles:
            table.add_row(Text(use.principle), Text(use.category), str(use.rounds), str(use.changed))
        parts.append(table)
        parts.append(_counts("principle categories", "category", summary.categories, "rounds"))
    if any(key != "-" for key in summary.prompt_categories):
        parts.append(_counts("prompt categories", "category", summary.prompt_categories, "examples"))
    if summary.unused_principles:
        parts.append(Text(f"principles no round used ({len(summary.unused_principles)}): "
                          + ", ".join(summary.unused_principles), style="dim"))
    labels = label_facts(summary.labels, summary.examples)
    counts = ((run.manifest.get("labels") or {}).get("histogram") or {}).get("counts") or []
    if labels and isinstance(counts, list) and sum(counts):
        from cai.label.stats import text_histogram

        labels["score histogram"] = f"0 {text_histogram(counts)} 1  P(2nd answer better), {sum(counts)} pair(s)"
    if labels:
        parts.append(pairs_table("labels", labels))
        if summary.labels.by_principle:
            parts.append(_counts("comparison principles asked", "principle", summary.labels.by_principle, "labels"))
    else:
        parts.append(Text("no preference labels in this run", style="dim"))
    parts += _quality_views(summary)
    parts += _problem_views(summary)
    parts += [Text(f"note: {note}", style="yellow") for note in run.notes]
    return Group(*parts)


TURN_KINDS = ("answer", "critique", "revision", "sample")


def quality_table(summary: Summary) -> Table:
    """Flagged turns per quality-gate reason and turn kind, and the final answers each reason keeps out."""
    kinds = [k for k in TURN_KINDS if any(k in counts for counts in summary.quality.values())]
    table = Table(title=f"quality gates ({summary.examples_flagged} of {summary.examples} final answers flagged)",
                  title_justify="left")
    table.add_column("reason")
    for column in [f"{k}s" for k in kinds] + ["final answers"]:
        table.add_column(column, justify="right")
    for reason, counts in summary.quality.items():
        table.add_row(Text(reason), *(str(counts.get(k, 0)) for k in kinds), str(summary.final_flags.get(reason, 0)))
    return table


def _quality_views(summary: Summary) -> list:
    if not summary.quality:
        return [Text("no generated turn was flagged by the quality gates", style="dim")] if summary.examples else []
    return [quality_table(summary),
            Text("`cai inspect RUN --flagged REASON` lists them; flagged final answers are kept out of the "
                 "splits unless the run used --keep-flagged", style="dim")]


def _more(shown: int, total: int, by_kind: dict) -> list:
    if total <= shown:
        return []
    return [Text(f"… and {total - shown} more; by kind: " + ", ".join(f"{k} × {v}" for k, v in by_kind.items()),
                 style="dim")]


def _problem_views(summary: Summary) -> list:
    views: list = []
    if summary.skipped:
        table = Table(title=f"skipped inputs ({len(summary.skipped)})", title_justify="left")
        for column in ("row", "id", "reason"):
            table.add_column(column)
        for row in summary.skipped[:_LIST_LIMIT]:
            table.add_row(str(row.get("row", "")), Text(str(row.get("id", ""))), Text(str(row.get("reason", ""))))
        views += [table] + _more(_LIST_LIMIT, len(summary.skipped), summary.skip_reasons)
    if summary.errors:
        table = Table(title=f"errors ({len(summary.errors)})", title_justify="left")
        table.add_column("example")
        table.add_column("error")
        for example_id, error in summary.errors[:_LIST_LIMIT]:
            table.add_row(Text(example_id), Text(error))
        views += [table] + _more(_LIST_LIMIT, len(summary.errors), summary.error_kinds)
    return views


def list_view(examples: list[Example], total: int, width: int = 60) -> Table:
    table = Table(title=f"{len(examples)} of {total} examples", title_justify="left")
    for column in ("#", "id", "category", "principles", "changed", "flags", "errors", "prompt", "final answer"):
        table.add_column(column, justify="right" if column in ("#", "errors") else "left",
                         overflow="fold" if column in ("id", "principles") else "ellipsis")
    for example in examples:
        changed = ("yes" if example.changed else "no") if example.rounds else "-"
        table.add_row(str(example.index), Text(example.id), Text(example.category or "-"),
                      Text(", ".join(r.principle_id for r in example.rounds)), changed,
                      Text(", ".join(dict.fromkeys(r for _, reasons in example.turn_flags() for r in reasons))),
                      str(len(example.errors)) if example.errors else "",
                      Text(short(example.prompt, width)), Text(short(example.final_response, width)))
    return table
