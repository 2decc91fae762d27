"""`cai eval` as a function: check the inputs, answer with each model, judge, write the eval folder."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from cai import paths
from cai.constitution import load_constitution
from cai.evaluate import folder, winrate
from cai.evaluate.answers import Engines, generate
from cai.evaluate.classify import classify
from cai.evaluate.groups import group_of, parse_rules
from cai.evaluate.options import EvalOptions, check_options
from cai.evaluate.prompts import held_out_prompts
from cai.evaluate.report import build_report
from cai.evaluate.table import category_table, headline_table, judge_note, winrate_table
from cai.manifest import now
from cai.progress import StageProgress, key_value_table
from cai.templates import Renderer
from cai.train import output


def default_out() -> str:
    return str(Path("outputs") / time.strftime("eval-%Y%m%d-%H%M%S"))


def _win_rates(engine, prompts, groups, answers, constitution, renderer, options, progress) -> tuple[dict, dict]:
    """Per aspect its summary, and per prompt id its judged pair record (for the traces)."""
    found, compared = {}, {}
    for aspect, group in winrate.ASPECTS.items():
        indices = [i for i, g in enumerate(groups) if g == group]
        comparisons, note = winrate.comparisons_for(constitution, aspect)
        if not comparisons:
            continue
        progress.add(f"compare {aspect}", len(indices))
        judged = winrate.compare(engine, [prompts[i] for i in indices],
                                 [answers["model"].texts[i] for i in indices],
                                 [answers["baseline"].texts[i] for i in indices], comparisons, renderer,
                                 seed=options.seed, principles=options.label_principles,
                                 progress=progress.callback(f"compare {aspect}"))
        compared.update({record.id: record for record in judged})
        found[aspect] = {"group": group, **winrate.summarize(judged),
                         "principles": [c.id for c in comparisons], "note": note}
    return found, compared


def run_eval(options: EvalOptions, *, force: bool = False, console: Console | None = None,
             show_progress: bool = True) -> dict:
    console = console or Console(stderr=True)
    check_options(options)
    constitution_path = Path(options.constitution) if options.constitution else paths.default_constitution()
    constitution = load_constitution(constitution_path)
    renderer = Renderer(options.templates)
    renderer.render("classify", messages=[], answer="", options=[])  # a broken override fails now, not later
    rules = parse_rules(options.groups)
    loaded = held_out_prompts(options.prompts, exclude=options.exclude, limit=options.limit,
                              per_category=options.per_category, prompt_column=options.prompt_column,
                              split=options.split)
    prompts = loaded.records
    groups = [group_of(p.category, rules) for p in prompts]
    out = Path(options.out or default_out())
    options.out = str(out)
    output.check_out(out, force)

    roles = {"model": options.model, **({"baseline": options.baseline} if options.baseline else {})}
    started, created = time.perf_counter(), now()
    engines = Engines(options, console)
    try:
        with StageProgress(console, enabled=show_progress) as progress:
            answers = {}
            for role, model in roles.items():
                progress.add(f"answer {role}", len(prompts))
                answers[role] = generate(engines, model, prompts, options, progress.callback(f"answer {role}"))
            judge_engine, judge_name = engines.get(options.judge)
            progress.add("classify", len(prompts) * options.classify_orders * len(roles))
            classifications, entries = {}, {}
            for role in roles:
                items = [(p.messages, text) for p, text in zip(prompts, answers[role].texts)]
                classifications[role], entries[role] = classify(judge_engine, items, renderer,
                                                                options.classify_orders, progress.callback("classify"))
            win_rates, compared = ({}, {}) if not options.baseline else _win_rates(
                judge_engine, prompts, groups, answers, constitution, renderer, options, progress)
    finally:
        engines.close()
    report = build_report([p.category or "" for p in prompts], groups, classifications, win_rates)
    judge = {"model": options.judge, "name": judge_name, "classify_orders": options.classify_orders,
             "label_principles": options.label_principles}
    report["meta"] = {"models": {role: found.info() for role, found in answers.items()}, "judge": judge,
                      "prompts": len(prompts), "source": loaded.source, "skipped": len(loaded.skipped),
                      "group_rules": [list(rule) for rule in rules], "created_at": created}
    counts = {"inputs": len(prompts) + len(loaded.skipped), "skipped": len(loaded.skipped),
              "completed": len(prompts), "pending": 0}
    records = folder.trace_records(prompts, answers, classifications, entries, compared)
    staging = output.staging_dir(out)
    try:
        folder.write_folder(staging, options=options, records=records, skipped=loaded.skipped,
                            manifest_data=folder.manifest(options, answers, judge, constitution, counts, created,
                                                          time.perf_counter() - started),
                            report=report, constitution_text=constitution_path.read_text(encoding="utf-8"))
        output.publish(staging, out)
    except BaseException:
        output.discard(staging)
        raise
    _print(console, report, out)
    return report


def _print(console: Console, report: dict, out: Path) -> None:
    console.print(headline_table(report))
    table = winrate_table(report)
    if table is not None:
        console.print(table)
    console.print(category_table(report))
    meta = report["meta"]
    console.print(key_value_table("eval", {
        **{role: info["name"] for role, info in meta["models"].items()},
        "judge": f"{meta['judge']['name']} ({meta['judge']['classify_orders']} option orders per answer"
                 + (f", {meta['judge']['label_principles']} principles x 2 orders per pair)" if "baseline"
                    in meta["models"] else ")"),
        "judge consistency": judge_note(report),
        "prompts": f"{meta['prompts']} ({meta['skipped']} skipped)",
        "report": str(out / folder.REPORT), "inspect": f"cai inspect {out}"}))
