"""The eval folder, laid out like a run so `cai inspect` opens it:

- traces.jsonl: one Record per prompt: the model's answer as `initial_response`, both answers as
  `samples` (model, baseline), as `labels` the refusal detector's verdict per answer (principle_id
  "detector"), the judge's questions (the classification rotations, principle_id "classify", then the
  comparison questions) and the comparison verdict as `preference`. With --answers: one Record per row;
- manifest.json, config.yaml, constitution.yaml, skipped.jsonl, as for a run;
- report.json: the rates, win-rates and per-category tables.

Written into a staging folder and moved into place whole.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from cai.manifest import now, versions
from cai.records import Record
from cai.store import CONFIG, CONSTITUTION, MANIFEST, SKIPPED, TRACES

REPORT = "report.json"
DETECTOR = "detector"  # the principle_id of the refusal detector's entry in the traces


def detector_entry(found, role: str) -> dict:
    """The refusal detector's verdict in the label-entry shape `cai inspect` lists."""
    return {"principle_id": DETECTOR, "pair": [role], "valid": found.label is not None, **found.to_dict()}


def _judged(role: str, index: int, classifications: dict, entries: dict) -> tuple[list[dict], list[str]]:
    if not classifications:  # --judge none
        return [], []
    found = classifications[role][index]
    return ([{**e, "pair": [role]} for e in entries[role][index]],
            [f"classify {role}: {found['reason']}"] if found["probs"] is None else [])


def trace_records(prompts: list[Record], answers: dict, classifications: dict, entries: dict,
                  compared: dict[str, Record], detections: dict) -> list[Record]:
    """`answers`, `classifications`, `entries`, `detections`: per role ("model", "baseline") one item per
    prompt; `compared`: prompt id -> its judged pair record, for the prompts a win-rate compared."""
    out = []
    for index, prompt in enumerate(prompts):
        labels, errors = [], []
        for role in answers:
            judged, problems = _judged(role, index, classifications, entries)
            labels += [detector_entry(detections[role][index], role), *judged]
            errors += problems
            if not answers[role].texts[index]:
                errors.append(f"answer {role}: the model returned an empty answer")
        pair = compared.get(prompt.id)
        if pair is not None:
            labels += pair.labels
            if (pair.preference or {}).get("scores") is None and pair.samples[0].strip() != pair.samples[1].strip():
                errors.append(f"compare: {(pair.preference or {}).get('reason') or 'no verdict'}")
        out.append(Record(id=prompt.id, messages=prompt.messages, category=prompt.category,
                          source_row=prompt.source_row, generated_turns=list(prompt.generated_turns),
                          initial_response=answers["model"].texts[index],
                          samples=[answers[role].texts[index] for role in answers], labels=labels,
                          preference=pair.preference if pair is not None else None, errors=errors,
                          tokens=_tokens(answers, index, pair)))
    return out


def answer_records(prompts: dict, answers: dict, classifications: dict, entries: dict,
                   detections: dict) -> list[Record]:
    """`cai eval --answers`: one Record per answer row, its model's name in the labels' `pair`."""
    out = []
    for role, found in answers.items():
        for index, prompt in enumerate(prompts[role]):
            judged, errors = _judged(role, index, classifications, entries)
            record_id = prompt.id if len(answers) == 1 else f"{role}/{prompt.id}"
            out.append(Record(id=record_id, messages=prompt.messages, category=prompt.category,
                              source_row=prompt.source_row, initial_response=found.texts[index],
                              samples=[found.texts[index]], errors=errors,
                              labels=[detector_entry(detections[role][index], role), *judged]))
    return out


def _tokens(answers: dict, index: int, pair: Record | None) -> dict:
    """Tokens spent on this prompt: every model's answer, plus the judge's comparison questions."""
    spent = {"prompt": sum(a.tokens[index][0] for a in answers.values()),
             "completion": sum(a.tokens[index][1] for a in answers.values())}
    if pair is not None:
        spent = {key: spent[key] + pair.tokens.get(key, 0) for key in spent}
    return spent


def manifest(options, meta: dict, constitution, counts: dict, created: str, seconds: float) -> dict:
    """`meta`: the report's meta (every model and the judge with its engine and endpoints)."""
    names = [found["name"] for found in meta["models"].values()]
    return {"kind": "eval", "cai_version": versions()["cai"], "status": "complete", "created_at": created,
            "updated_at": now(), "model": " vs ".join(names), "engine": options.engine, "mode": meta["mode"],
            "models": meta["models"], "judge": meta["judge"], "detector": meta["detector"],
            "constitution": {"name": constitution.name, "version": constitution.version,
                             "source": constitution.source, "principles": len(constitution.principles),
                             "comparisons": len(constitution.comparisons)},
            "config": options.to_dict(), "counts": counts, "report": REPORT, "seconds": round(seconds, 2),
            "versions": versions()}


def write_folder(staging: Path, *, options, records: list[Record], skipped: list, manifest_data: dict,
                 report: dict, constitution_text: str) -> None:
    def write(name: str, text: str) -> None:
        (staging / name).write_text(text, encoding="utf-8")

    write(CONFIG, yaml.safe_dump(options.to_dict(), sort_keys=False, allow_unicode=True))
    write(CONSTITUTION, constitution_text)
    write(TRACES, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records))
    write(SKIPPED, "".join(json.dumps(dataclasses.asdict(s), ensure_ascii=False) + "\n" for s in skipped))
    write(REPORT, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write(MANIFEST, json.dumps(manifest_data, indent=2, ensure_ascii=False) + "\n")
