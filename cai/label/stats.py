"""What the labels say about a run: their distribution, how often they agree with the rule
"revision wins", and how often the judge's verdict flips when the two answers swap places."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

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


def _histogram_bin(verdict: dict, bins: int) -> int | None:
    scores, pair = verdict.get("scores"), verdict.get("pair")
    if isinstance(scores, dict) and pair and pair[1] in scores:
        return min(int(scores[pair[1]] * bins), bins - 1)
    return None


def _histogram(counts: list[int]) -> dict:
    bins = len(counts)
    return {"answer": "second", "edges": [round(i / bins, 4) for i in range(bins + 1)], "counts": counts}


class LabelTally:
    """The label statistics of a run, gathered one record at a time (an export streams millions)."""

    def __init__(self, min_margin: float, rule: str | None, bins: int = 10):
        self.min_margin, self.rule = min_margin, rule
        self.pairs = self.labelled = self.exported = self.questions = self.valid = 0
        self.score_sum = 0.0
        self.reasons: Counter = Counter()
        self.bands: Counter = Counter()
        self.bins = [0] * bins
        self.agree = self.judged = 0
        self.flips = self.both = self.first_letter = 0
        self.per_principle: dict[str, dict] = {}

    def add(self, record: Record) -> None:
        verdict = record.preference
        if verdict is not None:
            self._verdict(verdict)
        grouped: dict[tuple, dict] = {}
        for entry in record.labels:
            self.questions += 1
            if entry.get("valid"):
                self.valid += 1
                self.first_letter += entry["scores"][entry["A"]] > 0.5
                grouped.setdefault((tuple(entry["pair"]), entry["principle_id"]), {})[entry["order"]] = entry
        # A flip: the same principle prefers different answers in the two orders (it followed the letter).
        for (pair, principle), orders in grouped.items():
            if len(orders) == 2:
                flipped = (orders["forward"]["scores"][pair[0]] > 0.5) != (orders["swapped"]["scores"][pair[0]] > 0.5)
                self.both += 1
                self.flips += flipped
                counts = self.per_principle.setdefault(principle, {"flips": 0, "of": 0})
                counts["flips"] += flipped
                counts["of"] += 1

    def _verdict(self, verdict: dict) -> None:
        self.pairs += 1
        found = _histogram_bin(verdict, len(self.bins))
        if found is not None:
            self.bins[found] += 1
        if verdict.get("chosen") is None:
            self.reasons[str(verdict["reason"]).split(":", 1)[0]] += 1
            return
        self.labelled += 1
        self.exported += keeps(verdict, self.min_margin)
        self.score_sum += verdict["score_chosen"]
        self.bands[_band(verdict["score_chosen"])] += 1
        if verdict.get("agrees") is not None:
            self.judged += 1
            self.agree += verdict["agrees"]

    def stats(self) -> dict:
        return {
            "pairs": self.pairs, "labelled": self.labelled, "exported": self.exported, "min_margin": self.min_margin,
            "not_labelled": dict(self.reasons.most_common()),
            "questions": self.questions, "valid_answers": self.valid,
            "mean_score_chosen": round(self.score_sum / self.labelled, 4) if self.labelled else None,
            "distribution": dict(sorted(self.bands.items())),
            "histogram": _histogram(list(self.bins)),
            "agreement": {"rule": self.rule, "agree": self.agree, "of": self.judged,
                          "rate": round(self.agree / self.judged, 4) if self.judged else None},
            "position_bias": {"flips": self.flips, "of": self.both,
                              "rate": round(self.flips / self.both, 4) if self.both else None,
                              "prefers_A_rate": round(self.first_letter / self.valid, 4) if self.valid else None,
                              "by_principle": dict(sorted(self.per_principle.items()))},
        }


def label_stats(records: Iterable[Record], min_margin: float, rule: str | None) -> dict:
    tally = LabelTally(min_margin, rule)
    for record in records:
        tally.add(record)
    return tally.stats()


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
