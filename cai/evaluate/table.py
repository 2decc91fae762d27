"""The eval report as terminal tables: every rate with its count and 95% interval, per classifier and
model; differences against the baseline (saying when the interval includes zero); win-rates; per
category and attack family; agreement with human labels. User text goes in as Text, never as markup."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from cai.evaluate.agreement import CLASSES, UNCLASSIFIED
from cai.evaluate.intervals import describe

_WORDS = {"harmful_compliance": "harmful compliance", "over_refusal": "over-refusal", "refusal": "refusal"}
_CI = "[95% interval]"


def _table(title: str, columns: list[str], left: int) -> Table:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < left else "right")
    return table


def _rate_cell(found: dict | None) -> str:
    if not found or found.get("rate") is None:
        return "-"
    return f"{describe(found)}  {found['count']}/{found['n']}"


def headline_table(report: dict) -> Table:
    table = _table(f"eval: failure rates (lower is better), count/answers and {_CI}",
                   ["measure", "classifier", "model", "rate " + _CI, "unclassified"], 3)
    for measure in ("harmful_compliance", "over_refusal"):
        for classifier in report["classifiers"]:
            for role, rates in report["rates"][classifier].items():
                found = rates[measure]
                table.add_row(_WORDS[measure], classifier, Text(role), _rate_cell(found), str(found["unclassified"]))
    return table


def difference_table(report: dict) -> Table | None:
    if not report["differences"]:
        return None
    baseline = report["baseline"]
    table = _table(f"change against the baseline ({baseline}): model - baseline, paired over prompts",
                   ["measure", "classifier", "model", "prompts", "difference " + _CI, "includes 0"], 3)
    for measure in ("harmful_compliance", "over_refusal"):
        for classifier, per_role in report["differences"].items():
            for role, found in per_role.items():
                cell = found[measure]
                zero = "-" if cell["includes_zero"] is None else \
                    ("yes: no clear change" if cell["includes_zero"] else "no")
                shown = "-" if cell["diff"] is None else \
                    f"{cell['diff']:+.3f} [{cell['low']:+.3f}, {cell['high']:+.3f}]"
                table.add_row(_WORDS[measure], classifier, Text(role), str(cell["n"]), shown, zero)
    return table


def winrate_table(report: dict) -> Table | None:
    """None without a baseline (or without a judge)."""
    if not report["win_rates"]:
        return None
    table = _table("win-rate of the model over the baseline (the judge)",
                   ["aspect", "on", "judged", "win-rate " + _CI, "w-t-l", "no verdict"], 2)
    for aspect, found in report["win_rates"].items():
        shown = "-" if found["win_rate"] is None else \
            f"{found['win_rate']:.3f} [{found['low']:.3f}, {found['high']:.3f}]"
        table.add_row(aspect, found["group"], str(found["judged"]), shown,
                      f"{found['wins']}-{found['ties']}-{found['losses']}", str(found["invalid"]))
    return table


def _blocks_table(title: str, blocks: dict, first: str) -> Table:
    roles = list(dict.fromkeys(r for b in blocks.values() for per in b["models"].values() for r in per))
    table = _table(title, [first, "group", "measure", "classifier", *roles], 4)
    for name, found in blocks.items():
        for classifier, per_role in found["models"].items():
            table.add_row(Text(name or "-"), found["group"], _WORDS[found["measure"]], classifier,
                          *[_rate_cell(per_role.get(role)) for role in roles])
    return table


def agreement_tables(report: dict) -> list[Table]:
    found = report.get("agreement")
    if not found:
        return []
    summary = _table(f"agreement with the human labels {_CI}",
                     ["classifier", "labelled", "agreed", "agreement", *[f"on {c}" for c in CLASSES]], 1)
    out = [summary]
    for classifier, result in found.items():
        overall = "-" if result["rate"] is None else describe(result)
        summary.add_row(classifier, str(result["n"]), str(result["agreed"]), overall,
                        *[f"{result['per_class'][c]['agreed']}/{result['per_class'][c]['n']}" for c in CLASSES])
        confusion = _table(f"{classifier}: human label (rows) x {classifier} label (columns)",
                           ["human", *CLASSES, UNCLASSIFIED], 1)
        for human in CLASSES:
            confusion.add_row(human, *[str(result["confusion"][human][p]) for p in (*CLASSES, UNCLASSIFIED)])
        out.append(confusion)
    return out


def judge_note(report: dict) -> str:
    found = report.get("judge_consistency") or {}
    if not found.get("of"):
        return "-"
    note = f"{found['consistent']} of {found['of']} answers got the same kind in every option order"
    if found["consistent_rate"] is not None and found["consistent_rate"] < 0.5:
        note += " (a weak judge: it mostly followed the letters, so its rates sit near 1/3)"
    return note


def _where(info: dict) -> str:
    return f"{info['engine']} @ {', '.join(info['endpoints'])}"


def print_report(console, report: dict, out) -> None:
    tables = [headline_table(report), difference_table(report), winrate_table(report),
              _blocks_table("per prompt category", report["per_category"], "category")]
    if report["per_attack_family"]:
        tables.append(_blocks_table("harmful compliance per attack family", report["per_attack_family"], "family"))
    for table in [*tables, *agreement_tables(report)]:
        if table is not None:
            console.print(table)
    meta = report["meta"]
    rows = {role: Text(f"{info['name']} ({_where(info)})") for role, info in meta["models"].items()}
    judge = meta["judge"]
    rows["judge"] = "none (--judge none)" if judge is None else Text(
        f"{judge['name']} ({_where(judge)}; {judge['classify_orders']} option orders per answer)")
    rows["detector"] = f"phrase lists in {meta['detector']['phrase_lists']}"
    if judge is not None:
        rows["judge consistency"] = judge_note(report)
    rows.update({"prompts": f"{meta['prompts']} ({meta['skipped']} skipped)", "report": str(out / "report.json"),
                 "inspect": f"cai inspect {out}"})
    table = Table(title="eval", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(Text(key), value if isinstance(value, Text) else Text(str(value)))
    console.print(table)
