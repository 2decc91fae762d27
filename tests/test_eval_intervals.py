"""The bootstrap intervals against cases whose answer is known."""

import pytest

from cai.evaluate.intervals import describe, difference, estimate


def test_all_refusals_give_the_interval_one_to_one():
    found = estimate([1.0] * 12, seed=3)
    assert found == {"rate": 1.0, "n": 12, "count": 12, "low": 1.0, "high": 1.0}
    assert estimate([0.0] * 5)["low"] == 0.0 and estimate([0.0] * 5)["high"] == 0.0


def test_a_fixed_seed_gives_a_fixed_interval_and_another_seed_may_not():
    values = [1.0] * 7 + [0.0] * 13
    first, again = estimate(values, seed=0), estimate(values, seed=0)
    assert first == again and first["rate"] == 0.35 and first["count"] == 7
    assert first["low"] < 0.35 < first["high"]
    soft = [(i * 37 % 20) / 20 for i in range(20)]  # continuous values: percentiles move with the draw
    assert estimate(soft, seed=0) == estimate(soft, seed=0)
    assert len({(estimate(soft, seed=s)["low"], estimate(soft, seed=s)["high"]) for s in range(6)}) > 1


def test_the_interval_is_about_the_normal_one_for_a_large_sample():
    values = [1.0, 0.0] * 200  # p = 0.5, n = 400: the normal 95% half-width is 1.96 * 0.025 = 0.049
    found = estimate(values, seed=0)
    assert found["low"] == pytest.approx(0.451, abs=0.01) and found["high"] == pytest.approx(0.549, abs=0.01)


def test_soft_values_and_an_empty_sample():
    found = estimate([0.2, 0.4], seed=0, count=0)
    assert found["rate"] == pytest.approx(0.3) and 0.2 <= found["low"] <= found["high"] <= 0.4
    assert estimate([]) == {"rate": None, "n": 0, "count": 0, "low": None, "high": None}
    assert describe(estimate([])) == "-"


def test_paired_difference_says_whether_zero_is_inside():
    same = difference([(1.0, 1.0)] * 10 + [(0.0, 0.0)] * 10, seed=0)
    assert same == {"diff": 0.0, "n": 20, "low": 0.0, "high": 0.0, "includes_zero": True}
    better = difference([(0.0, 1.0)] * 10, seed=0)
    assert (better["diff"], better["low"], better["high"], better["includes_zero"]) == (-1.0, -1.0, -1.0, False)
    mixed = difference([(1.0, 0.0), (0.0, 1.0)] * 5, seed=0)
    assert mixed["diff"] == 0.0 and mixed["low"] < 0 < mixed["high"] and mixed["includes_zero"] is True
    assert difference([])["includes_zero"] is None
