"""What `cai run` and `cai label` print when they finish: the stage table and the run's key figures."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from cai.distributed.driver import summary_rows as executor_rows
from cai.label.pairs import COLUMNS
from cai.label.stats import summary_rows as label_summary_rows
from cai.progress import key_value_table, stage_table
from cai.quality_report import summary_line as quality_summary_line
from cai.store import DATASET


def _feedback_row(manifest: dict) -> str:
    feedback = manifest["feedback"]
    reused = feedback["shared_with_policy"] and manifest["config"].get("pairs") != COLUMNS
    return f"{feedback['model']} on {feedback['engine']}" + (" (the policy's engine, reused)" if reused else "")


def _throughput(manifest: dict) -> str:
    totals = manifest.get("totals") or {}
    return (f"{totals.get('examples', 0)} examples in {totals.get('seconds', 0):.1f} s of work, "
            f"{totals.get('tokens_per_s', 0):.1f} generated tok/s")


def print_summary(console: Console, manifest: dict, run_dir: Path) -> None:
    counts, splits = manifest["counts"], manifest["splits"]
    console.print(stage_table(manifest["stages"]))
    console.print(key_value_table("run", {
        "model": f"{manifest['model']} on {manifest['engine']}",
        **({"feedback": _feedback_row(manifest)} if manifest.get("feedback") else {}),
        "examples": f"{counts['completed']} done, {counts['skipped']} skipped, "
                    f"{counts.get('with_errors', 0)} with errors, {counts.get('failed', 0)} failed "
                    f"(kept out of the datasets)",
        "throughput": _throughput(manifest),
        "revised": f"{counts.get('changed_by_revision', 0)} answers changed by revision",
        "quality": quality_summary_line(manifest.get("quality") or {}),
        "datasets": ", ".join(f"{k} {v}" for k, v in splits.items()),
        "traces": str(run_dir / "traces.jsonl"),
        "dataset": str(run_dir / DATASET),
        **executor_rows(manifest),
    }))
    if "labels" in manifest:
        console.print(key_value_table("labels", label_summary_rows(manifest["labels"])))
