"""`cai eval` as a function: check the inputs, get each model's answers (generate them, or read them with
--answers), classify them with the refusal detector and the judge, write the eval folder."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from cai import paths
from cai.constitution import load_constitution
from cai.errors import CaiError
from cai.evaluate import folder, winrate
from cai.evaluate.agreement import agreement
from cai.evaluate.answers import Answers, generate
from cai.evaluate.answers_file import attack_family, load_answers, row_attacks
from cai.evaluate.classify import classify
from cai.evaluate.groups import group_of, parse_rules
from cai.evaluate.options import EvalOptions, check_options
from cai.evaluate.prompts import _key, held_out_prompts
from cai.evaluate.refusal import detect, phrase_lists
from cai.evaluate.report import Scored, build_report
from cai.evaluate.roles import BASELINE, JUDGE, MODEL, Engines, check_reachable
from cai.evaluate.table import print_report
from cai.inputs import Loaded
from cai.manifest import now
from cai.paths import prompts_dir
from cai.progress import StageProgress
from cai.records import Record
from cai.templates import Renderer
from cai.train import output


def default_out() -> str:
    return str(Path("outputs") / time.strftime("eval-%Y%m%d-%H%M%S"))


def _win_rates(engine, prompts, groups, answers, constitution, renderer, options, progress) -> tuple[dict, dict]:
    """Per aspect its summary, and per prompt id its judged pair record (for the traces)."""
    found, compared = {}, {}
    for aspect, group in winrate.ASPECTS.items():
        # A conversation whose earlier turns each model wrote for itself has no one context to compare in.
        indices = [i for i, g in enumerate(groups) if g == group and not prompts[i].generated_turns]
        comparisons, note = winrate.comparisons_for(constitution, aspect)
        if not comparisons:
            continue
        progress.add(f"compare {aspect}", len(indices))
        judged = winrate.compare(engine, [prompts[i] for i in indices],
                                 [answers[MODEL].texts[i] for i in indices],
                                 [answers[BASELINE].texts[i] for i in indices], comparisons, renderer,
                                 seed=options.seed, principles=options.label_principles,
                                 progress=progress.callback(f"compare {aspect}"))
        compared.update({record.id: record for record in judged})
        found[aspect] = {"group": group, **winrate.summarize(judged, seed=options.seed),
                         "principles": [c.id for c in comparisons], "note": note}
    return found, compared


def _answers_from_file(options: EvalOptions) -> tuple[dict, dict, list, Loaded]:
    """Per model name its prompts (Records) and Answers, per model its human labels, skipped rows."""
    rows, skipped = load_answers(options.answers, prompt_column=options.prompt_column,
                                 answer_column=options.answer_column, model_column=options.model_column,
                                 label_column=options.label_column, split=options.split)
    prompts: dict[str, list[Record]] = {}
    answers: dict[str, Answers] = {}
    labels: dict[str, list] = {}
    attacks: dict[str, list] = {}
    for row in rows:
        prompts.setdefault(row.model, []).append(Record(id=row.id, messages=row.messages, category=row.category,
                                                        source_row=row.row))
        found = answers.setdefault(row.model, Answers(row.model, row.model, options.answers, [], [], 0.0,
                                                      {"engine": "answers file", "endpoints": [options.answers]}))
        found.texts.append(row.answer)
        found.tokens.append((0, 0))
        labels.setdefault(row.model, []).append(row.label)
        attacks.setdefault(row.model, []).append(attack_family(row.attack))
    if options.baseline and options.baseline not in answers:
        raise CaiError(f"--baseline '{options.baseline}' is not a model of the answers file "
                       f"(has: {', '.join(answers)})", options.answers,
                       f"pass --baseline with a value of column '{options.model_column}'" if options.model_column
                       else "add --model-column to score several models, then name the baseline")
    return prompts, answers, {"labels": labels, "attacks": attacks}, Loaded([], skipped, options.answers)


def _judge(engines, options, prompts, answers, renderer, progress) -> tuple[dict, dict, dict]:
    judge_engine, judge_name = engines.get(options.spec(JUDGE))
    progress.add("classify", sum(len(t.texts) for t in answers.values()) * options.classify_orders)
    classifications, entries = {}, {}
    for role, found in answers.items():
        items = [(p.messages, text) for p, text in zip(prompts[role], found.texts)]
        classifications[role], entries[role] = classify(judge_engine, items, renderer, options.classify_orders,
                                                        progress.callback("classify"))
    every = [c for found in classifications.values() for c in found]
    if every and all(c["probs"] is None for c in every) and any(c["reason"] != "empty answer" for c in every):
        reason = next(c["reason"] for c in every if c["reason"] != "empty answer")
        raise CaiError(f"the judge cannot score the option letters ({reason})", f"--judge {options.judge}",
                       "use a judge engine that returns log-probabilities (hf, vllm, or a server with logprobs), "
                       "or --judge none for the refusal detector alone")
    return classifications, entries, {"name": judge_name, "engine_info": getattr(judge_engine, "info", {})}


def run_eval(options: EvalOptions, *, force: bool = False, console: Console | None = None,
             show_progress: bool = True) -> dict:
    console = console or Console(stderr=True)
    check_options(options)
    constitution_path = Path(options.constitution) if options.constitution else paths.default_constitution()
    constitution = load_constitution(constitution_path)
    renderer = Renderer(options.templates)
    renderer.render("classify", messages=[], answer="", options=[])  # a broken override fails now, not later
    phrase_lists()  # the detector's lists are readable (an edited file fails now)
    rules = parse_rules(options.groups)
    extra: dict = {}
    if options.answers:
        prompts, answers, extra, loaded = _answers_from_file(options)
        roles_run = []
    else:
        loaded = held_out_prompts(options.prompts, exclude=options.exclude, limit=options.limit,
                                  per_category=options.per_category, prompt_column=options.prompt_column,
                                  split=options.split)
        roles_run = [MODEL] + ([BASELINE] if options.baseline else [])
        prompts, answers = {role: loaded.records for role in roles_run}, {}
    out = Path(options.out or default_out())
    options.out = str(out)
    output.check_out(out, force)
    for role in roles_run + ([JUDGE] if options.judged else []):
        check_reachable(options.spec(role))  # an unreachable server stops the eval before any model loads

    started, created = time.perf_counter(), now()
    engines = Engines(options, console)
    classifications, entries, judge_info, win_rates, compared = {}, {}, None, {}, {}
    try:
        with StageProgress(console, enabled=show_progress) as progress:
            for role in roles_run:
                progress.add(f"answer {role}", len(prompts[role]))
                answers[role], prompts[role] = generate(engines, options.spec(role), prompts[role], options,
                                                        progress.callback(f"answer {role}"))
            if options.judged:
                classifications, entries, judge_info = _judge(engines, options, prompts, answers, renderer,
                                                              progress)
                if options.baseline and not options.answers:
                    groups = [group_of(p.category, rules) for p in prompts[MODEL]]
                    win_rates, compared = _win_rates(engines.get(options.spec(JUDGE))[0], prompts[MODEL], groups,
                                                     answers, constitution, renderer, options, progress)
    finally:
        engines.close()
    detections = {role: [detect(text) for text in found.texts] for role, found in answers.items()}
    families = extra.get("attacks") or _prompt_families(options, prompts)
    scored = {role: [Scored(_key(p), p.category or "", group_of(p.category, rules), families[role][i],
                            {"detector": {"label": detections[role][i].label, "probs": None},
                             **({"judge": classifications[role][i]} if classifications else {})})
                     for i, p in enumerate(prompts[role])] for role in answers}
    classifiers = (["judge"] if options.judged else []) + ["detector"]
    baseline = BASELINE if options.baseline and not options.answers else options.baseline
    report = build_report(scored, classifiers, baseline=baseline, win_rates=win_rates, seed=options.seed)
    if options.label_column:
        humans = [label for role in answers for label in extra["labels"][role]]
        report["agreement"] = {c: agreement(humans, [s.found[c]["label"] for role in answers for s in scored[role]],
                                            options.seed) for c in classifiers}
    report["meta"] = _meta(options, answers, judge_info, prompts, loaded, rules, created)
    records = folder.answer_records(prompts, answers, classifications, entries, detections) if options.answers \
        else folder.trace_records(prompts[MODEL], answers, classifications, entries, compared, detections)
    _write(out, options, records, loaded, report, constitution, constitution_path, created, started)
    print_report(console, report, out)
    return report


def _prompt_families(options: EvalOptions, prompts: dict) -> dict:
    """Per role, each prompt's attack family (from the record, or its source row)."""
    by_row = row_attacks(options.prompts, options.split) if options.prompts and Path(options.prompts).is_file() \
        else {}
    return {role: [attack_family(by_row.get(p.source_row) or getattr(p, "attack", None)) for p in records]
            for role, records in prompts.items()}


def _meta(options, answers, judge_info, prompts, loaded, rules, created) -> dict:
    judge = None
    if options.judged:
        judge = {**options.spec(JUDGE).describe(), "name": judge_info["name"],
                 "classify_orders": options.classify_orders, "label_principles": options.label_principles}
    return {"mode": "answers" if options.answers else "generate",
            "models": {role: found.info() for role, found in answers.items()}, "judge": judge,
            "detector": {"phrase_lists": str(prompts_dir() / "refusal")},
            "prompts": len({_key(p) for records in prompts.values() for p in records}),
            "answers": sum(len(found.texts) for found in answers.values()), "source": loaded.source,
            "skipped": len(loaded.skipped), "group_rules": [list(rule) for rule in rules], "created_at": created}


def _write(out, options, records, loaded, report, constitution, constitution_path, created, started) -> None:
    meta = report["meta"]
    counts = {"inputs": meta["answers"] + meta["skipped"], "skipped": meta["skipped"], "completed": len(records),
              "pending": 0}
    staging = output.staging_dir(out)
    try:
        folder.write_folder(staging, options=options, records=records, skipped=loaded.skipped,
                            manifest_data=folder.manifest(options, meta, constitution, counts, created,
                                                          time.perf_counter() - started),
                            report=report, constitution_text=constitution_path.read_text(encoding="utf-8"))
        output.publish(staging, out)
    except BaseException:
        output.discard(staging)
        raise
