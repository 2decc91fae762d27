"""What the labels say about a run: their distribution, how often they agree with the rule
"revision wins", and how often the judge's verdict flips when the two answers swap places."""

from __future__ import annotations

from collections import Counter
from statistics import mean

from cai.records import Record

# score_chosen is always >= 0.5: five bands of 0.1 from a coin flip to certainty.
_BANDS = ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))


def keeps(verdict: dict, min_margin: float) -> bool:
    """Whether a verdict makes a preference row: a usable label that is not a (near-)tie."""
    margin = verdict.get("margin")
    return verdict.get("chosen") is not None and margin is not None and margin > 0 and margin >= min_margin


def _band(score: float) -> str:
    for low, high in _BANDS:
        if score < high:
            return f"{low:.1f}-{high:.1f}"
    return f"{_BANDS[-1][0]:.1f}-{_BANDS[-1][1]:.1f}"


def score_histogram(verdicts: list[dict], bins: int = 10) -> dict:
    """How the judge scored the second answer of each pair (initial vs final: the revision) in bins of equal
    width over [0, 1]; above 0.5 it preferred that answer, below the other."""
    counts = [0] * bins
    for verdict in verdicts:
        scores, pair = verdict.get("scores"), verdict.get("pair")
        if isinstance(scores, dict) and pair and pair[1] in scores:
            counts[min(int(scores[pair[1]] * bins), bins - 1)] += 1
    return {"answer": "second", "edges": [round(i / bins, 4) for i in range(bins + 1)], "counts": counts}


def _position_bias(records: list[Record]) -> dict:
    """A flip: the same principle prefers different answers in the two orders (it followed the letter)."""
    flips = both = first_letter = valid = 0
    per_principle: dict[str, dict] = {}
    for record in records:
        grouped: dict[tuple, dict] = {}
        for entry in record.labels:
            if entry.get("valid"):
                valid += 1
                first_letter += entry["scores"][entry["A"]] > 0.5
                grouped.setdefault((tuple(entry["pair"]), entry["principle_id"]), {})[entry["order"]] = entry
        for (pair, principle), orders in grouped.items():
            if len(orders) == 2:
                flipped = (orders["forward"]["scores"][pair[0]] > 0.5) != (orders["swapped"]["scores"][pair[0]] > 0.5)
                both += 1
                flips += flipped
                counts = per_principle.setdefault(principle, {"flips": 0, "of": 0})
                counts["flips"] += flipped
                counts["of"] += 1
    return {"flips": flips, "of": both, "rate": round(flips / both, 4) if both else None,
            "prefers_A_rate": round(first_letter / valid, 4) if valid else None,
            "by_principle": dict(sorted(per_principle.items()))}


def label_stats(records: list[Record], min_margin: float, rule: str | None) -> dict:
    verdicts = [r.preference for r in records if r.preference is not None]
    usable = [v for v in verdicts if v.get("chosen") is not None]
    reasons = Counter(str(v["reason"]).split(":", 1)[0] for v in verdicts if v.get("chosen") is None)
    judged = [v for v in usable if v.get("agrees") is not None]
    entries = [e for r in records for e in r.labels]
    return {
        "pairs": len(verdicts), "labelled": len(usable),
        "exported": sum(keeps(v, min_margin) for v in usable), "min_margin": min_margin,
        "not_labelled": dict(reasons.most_common()),
        "questions": len(entries), "valid_answers": sum(1 for e in entries if e.get("valid")),
        "mean_score_chosen": round(mean(v["score_chosen"] for v in usable), 4) if usable else None,
        "distribution": dict(sorted(Counter(_band(v["score_chosen"]) for v in usable).items())),
        "histogram": score_histogram(verdicts),
        "agreement": {"rule": rule, "agree": sum(v["agrees"] for v in judged), "of": len(judged),
                      "rate": round(sum(v["agrees"] for v in judged) / len(judged), 4) if judged else None},
        "position_bias": _position_bias(records),
    }


def text_histogram(counts: list[int]) -> str:
    """One block character per bin, scaled to the fullest bin, with a bar at the middle: '▁▃█│▅▂'."""
    blocks = "▁▂▃▄▅▆▇█"
    top = max(counts, default=0)
    if not top:
        return ""
    cells = [" " if not c else blocks[max(0, round(7 * c / top))] for c in counts]
    return "".join(cells[:len(cells) // 2]) + "│" + "".join(cells[len(cells) // 2:])


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def summary_rows(stats: dict) -> dict[str, str]:
    """Short lines for the run's summary table."""
    if stats.get("status", "on") != "on":
        return {"status": stats["status"]}
    rows = {"method": f"{stats['method']}, {stats['principles_per_pair']} principle(s) x 2 orders per pair"}
    rows["pairs"] = (f"{stats['labelled']} of {stats['pairs']} labelled, {stats['exported']} exported"
                     + (f" (min margin {stats['min_margin']})" if stats["min_margin"] else ""))
    rows["answers"] = f"{stats['valid_answers']} of {stats['questions']} usable"
    if stats["not_labelled"]:
        rows["not labelled"] = ", ".join(f"{k} {v}" for k, v in stats["not_labelled"].items())
    if stats["labelled"]:
        rows["score chosen"] = f"mean {stats['mean_score_chosen']:.3f}; " + ", ".join(
            f"{band} {count}" for band, count in stats["distribution"].items())
    counts = (stats.get("histogram") or {}).get("counts") or []
    if sum(counts):
        rows["score histogram"] = f"0 {text_histogram(counts)} 1  P(2nd answer better), {sum(counts)} pair(s)"
    agreement, bias = stats["agreement"], stats["position_bias"]
    if agreement["rule"] and agreement["of"]:
        rows["agreement"] = (f"{_rate(agreement['rate'])} with '{agreement['rule']}' "
                             f"({agreement['agree']} of {agreement['of']})")
    if bias["of"]:
        rows["position bias"] = (f"{_rate(bias['rate'])} of verdicts flip when the order is swapped "
                                 f"({bias['flips']} of {bias['of']}); (A) preferred {_rate(bias['prefers_A_rate'])}")
    return rows
