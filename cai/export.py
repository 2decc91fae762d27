"""Records -> Hugging Face datasets in the layouts TRL and the alignment-handbook read directly.

SFT rows: `messages` (prompt turns + the final revision). Preference rows: TRL's explicit
conversational format (`prompt` turns; `chosen`/`rejected` hold only the assistant turn), plus the
string columns of the public cai-conversation-harmless layout.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from cai.label.stats import keeps
from cai.records import Record
from cai.sampling import conversation_key, stable_fraction

SPLITS = ("train_sft", "test_sft", "train_prefs", "test_prefs")


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _last_user(record: Record) -> str:
    return next(m["content"] for m in reversed(record.messages) if m["role"] == "user")


def sft_row(record: Record) -> dict | None:
    final = record.final_response
    if not final:
        return None
    return {"prompt_id": record.id, "category": record.category or "",
            "messages": record.messages + _assistant(final), "flags": record.flags}


def preference(record: Record, min_margin: float = 0.0) -> tuple[str, str, float | None] | None:
    """(chosen, rejected, score of chosen). A label, when present, decides, and an unusable label or a
    (near-)tie under `min_margin` exports nothing; without a label the revision wins."""
    verdict = record.preference
    if verdict is not None:
        return (verdict["chosen"], verdict["rejected"], verdict["score_chosen"]) if keeps(verdict, min_margin) else None
    if not record.rounds or not record.initial_response:
        return None
    final = record.final_response
    if not final or final.strip() == record.initial_response.strip():
        return None  # an unchanged answer teaches no preference
    return final, record.initial_response, None


def _round_index(name: str) -> int | None:
    """`round-2` -> 2; None for any other answer name."""
    head, _, number = name.partition("-")
    return int(number) if head == "round" and number.isdigit() else None


def _steps(record: Record) -> dict:
    """The H4 string columns of the row: what produced the two answers of the exported pair.

    initial vs final (or no label): the initial answer and the last round. `rounds:I,J`: round I's answer
    and round J's, with the critique and revision prompt of round J. Policy samples and a dataset's
    columns: the pair's two answers in pair order; no critique produced them, so those columns are empty."""
    names = (record.preference or {}).get("pair") or ["initial", "final"]
    if list(names) == ["initial", "final"]:
        earlier, later = 0, len(record.rounds)
    else:
        earlier, later = (_round_index(n) for n in names)
    if earlier is None or later is None:
        verdict = record.preference
        by_name = {verdict["chosen_name"]: verdict["chosen"], verdict["rejected_name"]: verdict["rejected"]}
        return {"init_response": by_name[names[0]], "critic_prompt": "", "critic_response": "",
                "revision_prompt": "", "revision_response": by_name[names[1]]}
    last = record.rounds[later - 1] if later else None
    return {"init_response": record.answer_after(earlier) or "",
            "critic_prompt": last.critique_prompt if last else "", "critic_response": last.critique if last else "",
            "revision_prompt": last.revision_prompt if last else "",
            "revision_response": (record.answer_after(later) if later else "") or ""}


def pref_row(record: Record, min_margin: float = 0.0) -> dict | None:
    pair = preference(record, min_margin)
    if pair is None:
        return None
    chosen, rejected, score = pair
    return {
        "prompt_id": record.id, "category": record.category or "",
        "prompt": record.messages, "chosen": _assistant(chosen), "rejected": _assistant(rejected),
        "score_chosen": score if score is not None else 1.0,
        "score_rejected": 1.0 - score if score is not None else 0.0,
        "margin": 2.0 * score - 1.0 if score is not None else 1.0,
        "init_prompt": _last_user(record), **_steps(record),
        # Pairs of policy samples never include a flagged sample; other pairs end in the final answer.
        "flags": [] if record.samples and not record.rounds else record.flags,
    }


def rows_of(record: Record, test_size: float, min_margin: float = 0.0,
            keep_flagged: bool = False) -> list[tuple[str, dict]]:
    """(split, row) for each row one record makes; a failed example makes none. A row whose `flags` are not
    empty (its final answer failed a quality gate) is left out unless `keep_flagged`. The split follows the
    prompt conversation, not the row id, so the same prompt at two rows (or renamed duplicate ids) never
    lands in both train and test."""
    if record.failure:  # a turn failed twice: the example is incomplete
        return []
    part = "test" if stable_fraction(conversation_key(record.messages)) < test_size else "train"
    return [(f"{part}_{kind}", row) for kind, row in (("sft", sft_row(record)), ("prefs", pref_row(record, min_margin)))
            if row is not None and (keep_flagged or not row["flags"])]


def build_rows(records: list[Record], test_size: float, min_margin: float = 0.0,
               keep_flagged: bool = False) -> dict[str, list[dict]]:
    """Rows of each split, in id order (what `export_dataset` writes, held in memory)."""
    rows: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for record in sorted(records, key=lambda r: r.id):
        for split, row in rows_of(record, test_size, min_margin, keep_flagged):
            rows[split].append(row)
    return rows


def _features():
    from datasets import Features, Value

    message = [{"role": Value("string"), "content": Value("string")}]
    text = Value("string")
    flags = [Value("string")]
    sft = Features({"prompt_id": text, "category": text, "messages": message, "flags": flags})
    prefs = Features({"prompt_id": text, "category": text, "prompt": message, "chosen": message,
                      "rejected": message, "score_chosen": Value("float64"), "score_rejected": Value("float64"),
                      "margin": Value("float64"),
                      "init_prompt": text, "init_response": text, "critic_prompt": text,
                      "critic_response": text, "revision_prompt": text, "revision_response": text,
                      "flags": flags})
    return sft, prefs


def export_dataset(records: Iterable[Record], out_dir: Path, test_size: float, min_margin: float = 0.0,
                   keep_flagged: bool = False) -> dict[str, int]:
    """Save a DatasetDict with the H4 split names; returns the row count of each split.

    Streams: each row goes to its split's JSONL file as its record passes, then datasets turns each file
    into Arrow on disk and sorts it by id (an index over one column), so memory stays flat however many
    records there are, and a run gives the same dataset whatever order its examples finished in."""
    from datasets import Dataset, DatasetDict

    sft_features, pref_features = _features()
    work = out_dir.with_name(out_dir.name + ".work")
    temporary = out_dir.with_name(out_dir.name + ".tmp")
    for folder in (work, temporary):
        shutil.rmtree(folder, ignore_errors=True)
    work.mkdir(parents=True)
    counts = dict.fromkeys(SPLITS, 0)
    handles = {name: (work / f"{name}.jsonl").open("w", encoding="utf-8") for name in SPLITS}
    try:
        for record in records:
            for split, row in rows_of(record, test_size, min_margin, keep_flagged):
                handles[split].write(json.dumps(row, ensure_ascii=False) + "\n")
                counts[split] += 1
    finally:
        for handle in handles.values():
            handle.close()

    def table(name: str):
        features = sft_features if name.endswith("sft") else pref_features
        if not counts[name]:  # from_dict keeps the schema of an empty split (the JSON reader cannot)
            return Dataset.from_dict({key: [] for key in features}, features=features)
        data = Dataset.from_json(str(work / f"{name}.jsonl"), features=features, cache_dir=str(work / "cache"))
        return data.sort("prompt_id")

    try:
        dataset = DatasetDict({name: table(name) for name in SPLITS})
        # One shard per split: datasets writes no file at all for an empty split otherwise, and then
        # cannot load it back.
        dataset.save_to_disk(str(temporary), num_shards={name: 1 for name in SPLITS})
        del dataset
        if out_dir.exists():
            shutil.rmtree(out_dir)
        temporary.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return counts
