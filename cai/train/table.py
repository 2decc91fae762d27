"""What training did, in numbers: per headline metric its value at the first and the last logged step and
the mean over all steps, plus the held-out evaluation; as data for train_results.json and as a table."""

from __future__ import annotations

from statistics import mean

from rich.table import Table


def step_logs(log_history: list[dict]) -> list[dict]:
    """The per-step training logs (not the final summary entry, not evaluation entries)."""
    return [entry for entry in log_history if "loss" in entry and "train_runtime" not in entry]


def metric_summary(log_history: list[dict], names: tuple[str, ...]) -> dict[str, dict]:
    logs = step_logs(log_history)
    out = {}
    for name in names:
        values = [entry[name] for entry in logs if isinstance(entry.get(name), (int, float))]
        if values:
            out[name] = {"first": values[0], "last": values[-1], "mean": mean(values), "steps": len(values)}
    return out


def eval_metrics(log_history: list[dict], names: tuple[str, ...]) -> dict[str, float]:
    final = [entry for entry in log_history if any(key.startswith("eval_") for key in entry)]
    if not final:
        return {}
    wanted = {f"eval_{name}" for name in names}
    return {key[len("eval_"):]: value for key, value in final[-1].items() if key in wanted}


def metrics_table(results: dict) -> Table:
    table = Table(title=f"{results['method']} training", title_justify="left")
    for column in ("metric", "first step", "last step", "mean", "held-out"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    held_out = results.get("eval") or {}
    for name, values in results["metrics"].items():
        table.add_row(name, f"{values['first']:.4f}", f"{values['last']:.4f}", f"{values['mean']:.4f}",
                      f"{held_out[name]:.4f}" if name in held_out else "-")
    return table


def facts(results: dict) -> dict[str, str]:
    data = results["data"]
    rows = f"{data['train_rows']} from {data['split']}"
    if data.get("dropped"):
        rows += " (left out: " + ", ".join(f"{v} {k}" for k, v in data["dropped"].items()) + ")"
    return {
        "base model": results["base_model"],
        "training rows": rows,
        "held-out rows": str(data["test_rows"]) if data["test_rows"] else "none (evaluation skipped)",
        "steps": f"{results['steps']} ({results['epochs']:.2f} epochs), lr {results['learning_rate']:g}"
                 + (f", LoRA r={results['lora']['r']} merged" if results.get("lora") else "") + _warmup_note(results),
        "time": f"{results['runtime_s']:.1f} s",
        "model": results["output"],
    }


def _warmup_note(results: dict) -> str:
    """Said when warmup took every step: the learning rate never reached its peak, so the model barely
    moved (a first step at the bottom of a linear warmup changes nothing at all)."""
    warmup = results.get("warmup_steps") or 0
    if not results["steps"] or warmup < results["steps"]:
        return ""
    return (f"; all {results['steps']} step(s) were warmup ({warmup}), so the learning rate never reached its "
            "peak: train on more rows or lower trainer_args.warmup_steps")
