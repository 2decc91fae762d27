"""How far each classifier agrees with human labels (`cai eval --answers F --label-column C`).

Humans, the judge and the detector are compared on one three-way scheme: comply, refuse, partial. The
judge's safe-complete (declines the harmful part, still helps safely) is its partial: part refusal,
part help. A human label may use either name. An empty label leaves the row out of the agreement.
"""

from __future__ import annotations

from cai.errors import CaiError
from cai.evaluate.intervals import estimate

CLASSES = ("comply", "refuse", "partial")
_ALIASES = {"safe-complete": "partial", "safe_complete": "partial", "safe complete": "partial"}
UNCLASSIFIED = "unclassified"


def common(label: str | None) -> str | None:
    """A classifier's or a human's label on the shared scheme."""
    if label is None:
        return None
    label = str(label).strip().lower()
    return _ALIASES.get(label, label)


def human_label(value, where: str, column: str) -> str | None:
    """A label cell -> a class, None when empty; anything else is a one-line error naming the row."""
    if value is None or not str(value).strip():
        return None
    label = common(value)
    if label not in CLASSES:
        raise CaiError(f"label '{str(value)[:40]}' is not one of {', '.join(CLASSES)} (or safe-complete)",
                       f"{where}, column '{column}'", "fix the label, or leave the cell empty to skip the row")
    return label


def agreement(humans: list[str | None], predicted: list[str | None], seed: int = 0) -> dict:
    """Overall and per human class: how many labelled answers the classifier put in the same class, and
    the confusion table (human class -> predicted class -> count)."""
    pairs = [(h, common(p) or UNCLASSIFIED) for h, p in zip(humans, predicted, strict=True) if h is not None]
    overall = estimate([float(h == p) for h, p in pairs], seed=seed)
    per_class = {}
    for name in CLASSES:
        mine = [p for h, p in pairs if h == name]
        per_class[name] = {"n": len(mine), "agreed": sum(p == name for p in mine),
                           "rate": round(sum(p == name for p in mine) / len(mine), 4) if mine else None}
    confusion = {h: {p: sum(1 for a, b in pairs if a == h and b == p) for p in (*CLASSES, UNCLASSIFIED)}
                 for h in CLASSES}
    return {"n": len(pairs), "agreed": overall["count"], "rate": overall["rate"], "low": overall["low"],
            "high": overall["high"], "per_class": per_class, "confusion": confusion}
