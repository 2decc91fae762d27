"""`cai run` as a function: validate everything, then build the engine, run the stages, export.

Order matters for "never lose work": all input checks happen before the run folder is touched, and
finished examples are on disk before the next chunk starts.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cai import paths
from cai.card import write_card
from cai.config import RunConfig
from cai.constitution import load_constitution
from cai.engines import Sampling
from cai.errors import CaiError
from cai.executor import run_pending
from cai.export import export_dataset
from cai.inputs import Skipped, load_prompts, require_rows
from cai.label.dataset import load_pairs
from cai.label.options import label_note, label_report
from cai.label.pairs import COLUMNS
from cai.label.stats import summary_rows as label_summary_rows
from cai.manifest import RunStats, now, versions
from cai.models import check_model
from cai.pipeline import build_steps
from cai.progress import StageProgress, key_value_table, stage_table
from cai.quality import gate_summary
from cai.quality_report import quality_report
from cai.quality_report import summary_line as quality_summary_line
from cai.records import Record
from cai.run_engines import open_run_engines
from cai.stages import few_shot_turns
from cai.store import CONSTITUTION, DATASET, RunStore
from cai.templates import Renderer
from cai.turns import for_counting, pending_turns

# Room left for the answer, critique and revision that later stages add to the conversation.
_STAGE_SLACK_TOKENS = 64
# Seconds between manifest updates while a run is going (traces are the checkpoint; this is the status).
_MANIFEST_EVERY_S = 2.0


def default_out_dir() -> str:
    return str(Path("outputs") / time.strftime("run-%Y%m%d-%H%M%S"))


def _too_long(records: list[Record], engine, prefix: list, config: RunConfig) -> tuple[list[Record], list[Skipped]]:
    keep, skipped = [], []
    budget = engine.context_length - 3 * config.max_new_tokens - _STAGE_SLACK_TOKENS
    prefix_tokens = engine.count_tokens(prefix + [{"role": "user", "content": ""}]) if prefix else 0
    for record in records:
        # Each assistant turn left for the policy to write takes up to one answer's tokens too.
        tokens = engine.count_tokens(for_counting(record.messages)) + prefix_tokens
        if tokens > budget - pending_turns(record.messages) * config.max_new_tokens:
            skipped.append(Skipped(record.source_row or 0, record.id,
                                   f"prompt too long: {tokens} tokens with the few-shot prefix; the model's "
                                   f"context of {engine.context_length} leaves {budget} after room for answers"))
        else:
            keep.append(record)
    return keep, skipped


def _manifest(config: RunConfig, engine, model_name: str, constitution, stats: RunStats, counts: dict,
              status: str, created: str, splits: dict | None = None, feedback: dict | None = None) -> dict:
    return {"cai_version": versions()["cai"], "status": status, "created_at": created, "updated_at": now(),
            "model": model_name, "model_path": engine.model_id, "engine": engine.name, "engine_info": engine.info,
            "engine_choice": getattr(engine, "choice", None), "feedback": feedback,
            "constitution": {"name": constitution.name, "version": constitution.version,
                             "source": constitution.source, "principles": len(constitution.principles),
                             "comparisons": len(constitution.comparisons)},
            "config": config.to_dict(), "counts": counts, "splits": splits or {},
            "stages": {k: v.to_dict() for k, v in stats.stages.items()}, "totals": stats.totals(),
            "sessions": stats.sessions, "versions": versions()}


def execute_run(config: RunConfig, *, resume: bool = False, force: bool = False,
                console: Console | None = None, show_progress: bool = True, engine=None,
                feedback_engine=None) -> dict:
    """`engine` (the policy's) and `feedback_engine`: already built engines to use instead of building them
    from the config (tests, notebooks); the caller then owns them and closes them. Without
    `feedback_engine` the --label-* options decide (see cai.run_engines)."""
    console = console or Console(stderr=True)
    constitution_path = Path(config.constitution) if config.constitution else paths.default_constitution()
    snapshot = Path(config.out) / CONSTITUTION if config.out else None
    if resume and snapshot and snapshot.is_file():  # the run's own copy: the file may have been edited since
        constitution = dataclasses.replace(load_constitution(snapshot), source=str(constitution_path))
    else:
        constitution = load_constitution(constitution_path)
    renderer = Renderer(config.templates)
    prefix = few_shot_turns(constitution, renderer, config.few_shot)  # renders every template once: fails early
    found_by_name = False
    if config.pairs == COLUMNS:  # `cai label`: a dataset of ready-made pairs
        loaded = load_pairs(config.prompts, config.a_column, config.b_column, prompt_column=config.prompt_column,
                            split=config.split, limit=config.limit)
        found_by_name = loaded.columns and not (config.a_column and config.b_column)
        if loaded.columns:
            config.a_column, config.b_column = loaded.columns  # saved with the run, so a resume reads the same
        what, fix = "pairs", "fix the rows, or name the columns with --prompt-column, --a-column and --b-column"
    else:
        loaded = load_prompts(config.prompts or str(paths.demo_prompts()), prompt_column=config.prompt_column,
                              split=config.split, limit=config.limit)
        what, fix = "prompts", "fix the rows (see the reasons), or name the prompt column with --prompt-column"
    require_rows(loaded.records, loaded.skipped, loaded.source, what, fix)
    if engine is None:
        check_model(config.model, engine=config.engine)
    store = RunStore(config.out)
    store.check_writable(resume, force)
    if found_by_name:  # said once the input is accepted
        console.print(f"pairs: A = {config.a_column}, B = {config.b_column} (found by name; "
                      "--a-column/--b-column choose others)", markup=False, highlight=False)

    steps = build_steps(config, constitution, renderer)
    engines = open_run_engines(config, console, label_note(config, constitution) is None, engine, feedback_engine)
    engine, model_name = engines.policy, engines.policy_name
    try:
        previous = store.read_manifest() if resume else {}
        if previous.get("engine") and previous["engine"] != engine.name:
            raise CaiError(f"the run was made on the {previous['engine']} engine, this one is {engine.name}",
                           "--resume", f"resume with --engine {previous['engine']}, or start a new run with --out")
        records, too_long = _too_long(loaded.records, engine, prefix, config)
        require_rows(records, loaded.skipped + too_long, loaded.source, what,
                     "shorten the prompts, use a model with a longer context, or lower --max-new-tokens")
        skipped = [dataclasses.asdict(s) for s in loaded.skipped + too_long]
        if not resume:
            store.create(config.to_dict(), constitution_path.read_text(encoding="utf-8"), force)
        store.repair_tail()
        store.write_skipped(skipped)
        done_ids = store.done_ids()
        pending = [r for r in records if r.id not in done_ids]
        del done_ids
        stats = RunStats.from_manifest(previous)
        created = previous.get("created_at", now())
        session = {"started_at": now(), "pending": len(pending), "finished": 0}
        stats.sessions.append(session)
        counts = {"inputs": len(loaded.records) + len(loaded.skipped), "skipped": len(skipped),
                  "completed": len(records) - len(pending), "pending": len(pending), "failed": 0}
        # The session is on disk before any work, so a kill before the first example finishes still leaves it.
        store.write_manifest(_manifest(config, engine, model_name, constitution, stats, counts, "running", created,
                                       feedback=engines.feedback_section(stats, steps)))
        written = {"at": time.monotonic()}

        finished_stages = copy.deepcopy(stats.stages)  # the statistics of finished chunks only

        def checkpoint(chunk: list[Record]) -> None:
            nonlocal finished_stages
            finished_stages = copy.deepcopy(stats.stages)
            writer.write(chunk)
            counts["completed"] += len(chunk)
            counts["pending"] -= len(chunk)
            counts["failed"] += sum(1 for r in chunk if r.failure)
            session["finished"] += len(chunk)
            if time.monotonic() - written["at"] >= _MANIFEST_EVERY_S:  # examples may finish many a second
                store.write_manifest(_manifest(config, engine, model_name, constitution, stats, counts, "running",
                                               created, feedback=engines.feedback_section(stats, steps)))
                written["at"] = time.monotonic()

        sampling = Sampling(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                            top_p=config.top_p, seed=config.seed)
        try:
            with store.trace_writer() as writer, StageProgress(console, enabled=show_progress) as progress:
                run_pending(steps, pending, engines.by_role(), sampling, config, stats, progress, checkpoint)
        except KeyboardInterrupt:
            stats.stages = finished_stages  # the unfinished chunk is redone on resume: count it then
            store.write_manifest(_manifest(config, engine, model_name, constitution, stats, counts,
                                           "interrupted", created, feedback=engines.feedback_section(stats, steps)))
            console.print(f"[yellow]interrupted[/]: finished examples are saved; continue with "
                          f"`cai run --out {escape(str(config.out))} --resume`")
            raise
        session["finished_at"] = now()
        all_records = store.read_records()
        splits = export_dataset(all_records, store.path / DATASET, config.test_size, config.min_margin,
                                config.keep_flagged)
        counts.update(_record_counts(all_records))
        manifest = _manifest(config, engine, model_name, constitution, stats, counts, "complete", created, splits,
                             engines.feedback_section(stats, steps))
        manifest["labels"] = label_report(config, constitution, all_records)
        manifest["quality"] = quality_report(all_records, gate_summary(config), config.keep_flagged)
        store.write_manifest(manifest)
        write_card(store.path / DATASET, manifest, (store.path / CONSTITUTION).read_text(encoding="utf-8"))
    finally:
        engines.close()
    _print_summary(console, manifest, store.path)
    return manifest


def _record_counts(records: list[Record]) -> dict:
    changed = sum(1 for r in records if r.initial_response and r.final_response
                  and r.final_response.strip() != r.initial_response.strip())
    return {"completed": len(records), "changed_by_revision": changed,
            "with_errors": sum(1 for r in records if r.errors), "failed": sum(1 for r in records if r.failure)}


def _feedback_row(manifest: dict) -> str:
    feedback = manifest["feedback"]
    reused = feedback["shared_with_policy"] and manifest["config"].get("pairs") != COLUMNS
    return f"{feedback['model']} on {feedback['engine']}" + (" (the policy's engine, reused)" if reused else "")


def _print_summary(console: Console, manifest: dict, run_dir: Path) -> None:
    counts, splits = manifest["counts"], manifest["splits"]
    console.print(stage_table(manifest["stages"]))
    console.print(key_value_table("run", {
        "model": f"{manifest['model']} on {manifest['engine']}",
        **({"feedback": _feedback_row(manifest)} if manifest.get("feedback") else {}),
        "examples": f"{counts['completed']} done, {counts['skipped']} skipped, "
                    f"{counts.get('with_errors', 0)} with errors, {counts.get('failed', 0)} failed "
                    f"(kept out of the datasets)",
        "revised": f"{counts.get('changed_by_revision', 0)} answers changed by revision",
        "quality": quality_summary_line(manifest.get("quality") or {}),
        "datasets": ", ".join(f"{k} {v}" for k, v in splits.items()),
        "traces": str(run_dir / "traces.jsonl"),
        "dataset": str(run_dir / DATASET),
    }))
    if "labels" in manifest:
        console.print(key_value_table("labels", label_summary_rows(manifest["labels"])))
