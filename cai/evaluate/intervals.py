"""95% intervals for the eval's rates: a percentile bootstrap over prompts, seeded, so the same answers
always give the same interval.

A rate is the mean of one value per prompt (1/0 for a hard label, a probability for the judge's soft
rate, a soft win score). A difference between two models resamples the prompts both answered, keeping
each prompt's pair together (paired), so prompt difficulty does not widen the interval.
"""

from __future__ import annotations

RESAMPLES = 2000
LEVEL = 0.95


def _round(value: float) -> float:
    return round(float(value), 4)


def _bounds(samples, level: float) -> tuple[float, float]:
    import numpy as np

    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return _round(low), _round(high)


def _resampled_means(values, seed: int, resamples: int):
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(data), size=(resamples, len(data)))
    return data[picks].mean(axis=1)


def estimate(values: list[float], *, seed: int = 0, count: int | None = None, resamples: int = RESAMPLES,
             level: float = LEVEL) -> dict:
    """{"rate", "n", "count", "low", "high"}: the mean of `values` and its bootstrap interval.
    `count`: how many items are failures by hard label (default: the values that are exactly 1)."""
    n = len(values)
    if count is None:
        count = sum(1 for v in values if v == 1)
    if not n:
        return {"rate": None, "n": 0, "count": 0, "low": None, "high": None}
    low, high = _bounds(_resampled_means(values, seed, resamples), level)
    return {"rate": _round(sum(values) / n), "n": n, "count": count, "low": low, "high": high}


def difference(pairs: list[tuple[float, float]], *, seed: int = 0, resamples: int = RESAMPLES,
               level: float = LEVEL) -> dict:
    """Paired difference a - b over the items both have: {"diff", "n", "low", "high", "includes_zero"}."""
    if not pairs:
        return {"diff": None, "n": 0, "low": None, "high": None, "includes_zero": None}
    deltas = [a - b for a, b in pairs]
    low, high = _bounds(_resampled_means(deltas, seed, resamples), level)
    return {"diff": _round(sum(deltas) / len(deltas)), "n": len(deltas), "low": low, "high": high,
            "includes_zero": bool(low <= 0 <= high)}


def describe(found: dict | None) -> str:
    """'0.250 [0.100, 0.400]' for a table cell; '-' when there is nothing to show."""
    if not found:
        return "-"
    value = found.get("rate", found.get("diff", found.get("win_rate")))
    if value is None:
        return "-"
    return f"{value:.3f} [{found['low']:.3f}, {found['high']:.3f}]"
