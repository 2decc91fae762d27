"""The numbers behind the HTML report's charts, taken from the run's manifest (and an eval's report.json).

Plain data only: the page's script draws each chart as inline SVG, putting every name on the page as text,
never as markup. A chart whose numbers the run does not have yet (a run still going, an older cai) is left out.

Kinds: "histogram" (bars over [0, 1] with a line at `marker`), "bars" (one horizontal bar per row, `value`
out of `of` when given) and "rates" (per row one bar per model over [0, 1], with an interval when known).
"""

from __future__ import annotations

import json
from pathlib import Path


def _histogram(labels: dict) -> dict | None:
    histogram = labels.get("histogram") or {}
    counts, edges = histogram.get("counts"), histogram.get("edges")
    if not counts or not edges or not sum(counts):
        return None
    bins = [{"label": f"{low:.1f}–{high:.1f}", "low": low, "high": high, "value": count}
            for low, high, count in zip(edges, edges[1:], counts, strict=False)]
    return {"id": "label-scores", "kind": "histogram", "title": "Label scores",
            "caption": "The feedback model's probability that the second answer of each pair (for initial vs "
                       "final: the revision) is better; right of the line it preferred that answer.",
            "unit": "pairs", "marker": 0.5, "bins": bins}


def _flips(labels: dict) -> dict | None:
    by_principle = (labels.get("position_bias") or {}).get("by_principle") or {}
    rows = [{"label": principle, "value": counts["flips"], "of": counts["of"]}
            for principle, counts in by_principle.items() if counts.get("of")]
    if not rows:
        return None
    return {"id": "position-flips", "kind": "bars", "title": "Position flips per comparison principle",
            "caption": "Verdicts that changed when the two answers swapped places, out of those asked both ways.",
            "unit": "flips", "rows": rows}


def _quality(quality: dict | None) -> dict | None:
    """Final answers flagged per reason (the manifest's `flagged`), or, when none was, the flagged turns."""
    quality = quality or {}
    counts, unit = dict(quality.get("flagged") or {}), "final answers"
    if not counts:
        unit = "turns"
        for reasons in (quality.get("turns_flagged") or {}).values():
            for reason, count in reasons.items():
                counts[reason] = counts.get(reason, 0) + count
    rows = [{"label": reason, "value": count} for reason, count in counts.items() if isinstance(count, int)]
    if not rows:
        return None
    kept_out = quality.get("kept_out")
    return {"id": "quality-reasons", "kind": "bars", "title": "Quality gates: reasons",
            "caption": f"{unit.capitalize()} flagged, by reason" + (
                f"; {kept_out} example(s) kept out of the datasets." if isinstance(kept_out, int) else "."),
            "unit": unit, "rows": rows}


def interval_of(block: dict) -> list[float] | None:
    """A rate's interval under the names an eval report may give it: [low, high] or {"low", "high"}."""
    if isinstance(block.get("low"), (int, float)) and isinstance(block.get("high"), (int, float)):
        return [float(block["low"]), float(block["high"])]  # cai eval's own report: low/high beside rate
    for key in ("interval", "rate_interval", "ci", "rate_ci"):
        value = block.get(key)
        if isinstance(value, dict) and {"low", "high"} <= set(value):
            value = [value["low"], value["high"]]
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            return [float(value[0]), float(value[1])]
    return None


def _model_rates(models: dict) -> list[tuple[str, dict]]:
    """(series name, rate block) pairs: `{model: block}`, or cai eval's `{classifier: {model: block}}`."""
    out = []
    for key, found in models.items():
        if isinstance(found, dict) and isinstance(found.get("rate"), (int, float)):
            out.append((key, found))
        elif isinstance(found, dict):
            out += [(f"{model} ({key})", inner) for model, inner in found.items()
                    if isinstance(inner, dict) and isinstance(inner.get("rate"), (int, float))]
    return out


def _eval_rates(report: dict) -> dict | None:
    rows = []
    for category, block in (report.get("per_category") or {}).items():
        series = []
        for name, found in _model_rates(block.get("models") or {}):
            series.append({"name": name, "value": found["rate"], "interval": interval_of(found)})
        if series:
            rows.append({"label": category, "measure": block.get("measure", ""), "series": series})
    if not rows:
        return None
    return {"id": "eval-rates", "kind": "rates", "title": "Rates per category",
            "caption": "Each model's rate of the failure its category measures (harmful compliance, over-refusal, "
                       "refusal), with its interval where the report has one.", "unit": "rate", "rows": rows}


def _eval_report(path: Path, manifest: dict) -> dict:
    if manifest.get("kind") != "eval":
        return {}
    try:
        data = json.loads((path / str(manifest.get("report") or "report.json")).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def charts(path: Path, manifest: dict) -> list[dict]:
    """The charts this run (or eval folder) has the numbers for, in the order the page shows them."""
    labels = manifest.get("labels") or {}
    found = [_histogram(labels), _flips(labels), _quality(manifest.get("quality")),
             _eval_rates(_eval_report(path, manifest))]
    return [chart for chart in found if chart]

