"""The held-out prompts: any source `cai run` reads, minus the prompts a training run used (--exclude),
at most N per category (--per-category, for a balanced set), then the first --limit."""

from __future__ import annotations

from pathlib import Path

from cai import paths
from cai.errors import CaiError
from cai.inputs import Loaded, Skipped, load_prompts, require_rows, skipped_summary
from cai.records import Record
from cai.store import RunStore, is_run


def _key(record: Record) -> str:
    """The prompt's text, whitespace-normalised: ids differ between sources, the words do not."""
    return "\n".join(" ".join((m["content"] or "").split()) for m in record.messages)


def training_prompts(runs: list[str]) -> set[str]:
    keys: set[str] = set()
    for run in runs:
        path = Path(run)
        if not path.is_dir() or not is_run(path):
            raise CaiError("not a cai run folder", str(path), "pass the --out folder of the `cai run` you trained on")
        keys |= {_key(record) for record in RunStore(path).read_records()}
    return keys


def held_out_prompts(source: str | None, *, exclude: list[str], limit: int | None, per_category: int | None,
                     prompt_column: str | None = None, split: str = "train") -> Loaded:
    loaded = load_prompts(source or str(paths.demo_prompts()), prompt_column=prompt_column, split=split)
    require_rows(loaded.records, loaded.skipped, loaded.source, "prompts",
                 "fix the rows (see the reasons), or name the prompt column with --prompt-column")
    seen_in_training = training_prompts(exclude)
    kept: list[Record] = []
    skipped = list(loaded.skipped)
    per: dict[str, int] = {}
    for record in loaded.records:
        if _key(record) in seen_in_training:
            skipped.append(Skipped(record.source_row or 0, record.id, "in the training run (--exclude)"))
            continue
        category = record.category or ""
        if per_category is not None and per.get(category, 0) >= per_category:
            continue
        if limit is not None and len(kept) >= limit:
            break
        per[category] = per.get(category, 0) + 1
        kept.append(record)
    if not kept:
        raise CaiError("no prompts left to evaluate" + (" after --exclude" if exclude else "")
                       + f" ({skipped_summary(skipped)})", source or "prompts",
                       "pass other prompts with --prompts, or exclude fewer")
    return Loaded(kept, skipped, loaded.source)
