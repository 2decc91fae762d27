"""The eval chart reads cai eval's own report shape: per category, classifier, then model, with low/high."""

from cai.inspect.charts import _eval_rates


def test_eval_rates_follow_the_eval_report_shape():
    report = {"per_category": {"harm-weapons": {"measure": "harmful compliance", "models": {
        "detector": {"model": {"rate": 0.5, "low": 0.25, "high": 0.75, "n": 4},
                     "baseline": {"rate": 1.0, "low": 1.0, "high": 1.0, "n": 4}}}}}}
    chart = _eval_rates(report)
    [row] = chart["rows"]
    assert row["label"] == "harm-weapons"
    assert [(s["name"], s["value"], s["interval"]) for s in row["series"]] == [
        ("model (detector)", 0.5, [0.25, 0.75]), ("baseline (detector)", 1.0, [1.0, 1.0])]
