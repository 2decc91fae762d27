"""Win-rates of the model over the baseline, judged the way the labelling stage labels pairs.

Each prompt's two answers go through cai.label's LabelStep as a two-column pair ("model", "baseline"):
K comparison principles sampled per prompt, each asked in both orders, the soft label being the mean
normalised P(letter). The harmlessness win-rate asks the constitution's non-helpfulness comparisons on
the harmful prompts; the helpfulness win-rate asks its helpfulness comparisons on the benign ones.
"""

from __future__ import annotations

from statistics import mean

from cai.constitution import Comparison, Constitution
from cai.engines.base import Sampling
from cai.evaluate.intervals import estimate
from cai.label.judge import Planner
from cai.label.pairs import COLUMNS, PairMode
from cai.label.steps import LabelStep
from cai.records import Record
from cai.templates import Renderer

NAMES = ("model", "baseline")
HELPFUL_CATEGORIES = ("helpfulness",)
ASPECTS = {"harmlessness": "harmful", "helpfulness": "benign"}  # aspect -> the prompt group it is measured on


def comparisons_for(constitution: Constitution, aspect: str) -> tuple[tuple[Comparison, ...], str | None]:
    """The comparison principles for an aspect, and a note when the constitution had to stand in whole."""
    helpful = tuple(c for c in constitution.comparisons if c.category in HELPFUL_CATEGORIES)
    harmless = tuple(c for c in constitution.comparisons if c.category not in HELPFUL_CATEGORIES)
    chosen = helpful if aspect == "helpfulness" else harmless
    if chosen:
        return chosen, None
    return constitution.comparisons, (f"the constitution has no {aspect} comparisons; all of its comparisons "
                                      "were asked" if constitution.comparisons else None)


def compare(engine, records: list[Record], model_answers: list[str], baseline_answers: list[str],
            comparisons: tuple[Comparison, ...], renderer: Renderer, *, seed: int, principles: int,
            progress=None) -> list[Record]:
    """Records holding the two answers as samples, with the judge's labels and verdict filled in."""
    pairs = [Record(id=r.id, messages=r.messages, category=r.category, source_row=r.source_row, samples=[a, b])
             for r, a, b in zip(records, model_answers, baseline_answers, strict=True)]
    if not pairs:
        return []
    step = LabelStep(Planner(comparisons, renderer, seed, principles), PairMode(COLUMNS, columns=NAMES))
    judged, _, _ = step.execute(engine, pairs, Sampling(max_new_tokens=1), progress)
    return judged


def model_score(record: Record) -> float | None:
    """P(the model's answer is better): the soft label; 0.5 for identical answers (nothing to choose);
    None when the judge gave no usable verdict."""
    if record.samples[0].strip() == record.samples[1].strip():
        return 0.5
    scores = (record.preference or {}).get("scores")
    return scores.get(NAMES[0]) if scores else None


def summarize(records: list[Record], seed: int = 0) -> dict:
    """Mean soft win score with its 95% bootstrap interval over the judged prompts, and the tallies."""
    scores = [s for s in (model_score(r) for r in records) if s is not None]
    invalid = [r for r in records if model_score(r) is None]
    reasons: dict[str, int] = {}
    for record in invalid:
        reason = str((record.preference or {}).get("reason") or "no verdict").split(":", 1)[0]
        reasons[reason] = reasons.get(reason, 0) + 1
    spread = estimate(scores, seed=seed)
    return {"win_rate": round(mean(scores), 4) if scores else None, "low": spread["low"], "high": spread["high"],
            "judged": len(scores),
            "wins": sum(s > 0.5 for s in scores), "losses": sum(s < 0.5 for s in scores),
            "ties": sum(s == 0.5 for s in scores), "invalid": len(invalid), "invalid_reasons": reasons}
