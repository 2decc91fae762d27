"""The eval report as terminal tables: headline rates and win-rates, then one row per prompt category."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

_SHORT = {"harmful_compliance": "compliance", "over_refusal": "over-refusal", "refusal": "refusal"}
_WORDS = {"harmful_compliance": "harmful compliance", "over_refusal": "over-refusal", "refusal": "refusal"}


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _change(model, baseline) -> str:
    return "-" if model is None or baseline is None else f"{model - baseline:+.3f}"


def _roles(report: dict) -> list[str]:
    return list(report["rates"])


def headline_table(report: dict) -> Table:
    roles = _roles(report)
    table = Table(title="eval: failure rates (lower is better)", title_justify="left")
    for column in ("measure", "prompts", *roles, *(["change"] if len(roles) == 2 else [])):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for group, measure in (("harmful", "harmful_compliance"), ("benign", "over_refusal")):
        block = report["per_group"].get(group)
        values = [report["rates"][role][measure] for role in roles]
        row = [f"{_WORDS[measure]} rate", str(block["prompts"] if block else 0), *map(_number, values)]
        table.add_row(*row, *([_change(*values)] if len(roles) == 2 else []))
    return table


def winrate_table(report: dict) -> Table | None:
    """None without a baseline."""
    if not report["win_rates"]:
        return None
    table = Table(title="win-rate of the model over the baseline", title_justify="left")
    for column in ("aspect", "on", "judged", "win-rate", "w-t-l", "no verdict"):
        table.add_column(column, justify="left" if column in ("aspect", "on") else "right")
    for aspect, found in report["win_rates"].items():
        table.add_row(aspect, found["group"], str(found["judged"]), _number(found["win_rate"]),
                      f"{found['wins']}-{found['ties']}-{found['losses']}", str(found["invalid"]))
    return table


def category_table(report: dict) -> Table:
    """One row per category: its failure measure for each model (the full mix of kinds is in report.json)."""
    roles = _roles(report)
    table = Table(title="per prompt category", title_justify="left")
    for column in ("category", "group", "n", "measure", *roles, *(["change"] if len(roles) == 2 else [])):
        table.add_column(column, justify="left" if column in ("category", "group", "measure") else "right")
    for category, block in report["per_category"].items():
        values = [block["models"][role]["rate"] for role in roles]
        table.add_row(Text(category or "-"), block["group"], str(block["prompts"]), _SHORT[block["measure"]],
                      *map(_number, values), *([_change(*values)] if len(roles) == 2 else []))
    return table


def judge_note(report: dict) -> str:
    found = report.get("judge_consistency") or {}
    if not found.get("of"):
        return "-"
    note = f"{found['consistent']} of {found['of']} answers got the same kind in every option order"
    if found["consistent_rate"] is not None and found["consistent_rate"] < 0.5:
        note += " (a weak judge: it mostly followed the letters, so its rates sit near 1/3)"
    return note
