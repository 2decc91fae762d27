"""Reading prompts from local files, `save_to_disk` folders or the hub, into Records.

Row-level problems (empty, malformed, wrong shape, duplicate id) skip the row with a reason; they never
stop the run. Problems with the source itself (missing file, unknown column) are one-line errors.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cai.errors import CaiError
from cai.records import Record
from cai.turns import is_pending

PROMPT_COLUMNS = ("prompt", "messages", "conversation", "instruction", "question", "text", "init_prompt")
ROLES = ("system", "user", "assistant")
DUPLICATE = "duplicate id"


@dataclass
class Skipped:
    row: int
    id: str | None
    reason: str


@dataclass
class Loaded:
    records: list[Record]
    skipped: list[Skipped]
    source: str
    columns: tuple[str, str] | None = None  # `cai label`: the two answer columns used


def skipped_summary(skipped: list[Skipped], most: int = 3) -> str:
    """'3 rows skipped: malformed JSON (2), empty prompt (1)': the count and the commonest reasons."""
    # "line 7: malformed JSON (Expecting value)" and "line 9: ..." are one reason: drop the place and detail.
    kinds = Counter(re.sub(r" \(.*\)$", "", re.sub(r"^line \d+: ", "", s.reason).split(": ")[0]) for s in skipped)
    reasons = ", ".join(f"{reason} ({count})" for reason, count in kinds.most_common(most))
    rows = f"{len(skipped)} row{'s' if len(skipped) != 1 else ''}"
    return f"{rows} skipped: {reasons}" if skipped else "the source has no rows"


def require_rows(records: list, skipped: list[Skipped], source: str, what: str, fix: str) -> None:
    """Refuse a run with nothing to do, before anything is written: say how many rows were skipped and why."""
    if not records:
        raise CaiError(f"no usable {what} ({skipped_summary(skipped)})", source,
                       fix if skipped else f"pass a source with {what} in it (and the right --split)")


def _rows_jsonl(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as error:
                yield number, None, f"line {number}: malformed JSON ({error.msg})"


def _rows_json(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CaiError(f"malformed JSON ({error.msg})", f"{path}:{error.lineno}",
                       "fix the file, or use JSONL (one object a line) so bad rows can be skipped") from None
    if isinstance(data, dict):  # {"data": [...]} and similar wrappers
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    for index, row in enumerate(data):
        yield index + 1, row, None


def _rows_csv(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict | None, str | None]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle, delimiter=delimiter), start=2):  # line 1: the header
            yield index, row, None


def _rows_text(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, {"prompt": line.rstrip("\n")}, None


def _rows_dataset(dataset) -> Iterator[tuple[int, dict | None, str | None]]:
    for index, row in enumerate(dataset):
        yield index, row, None


def _open_source(source: str, split: str) -> Iterator[tuple[int, dict | None, str | None]]:
    path = Path(source)
    if path.is_dir():
        from datasets import DatasetDict, load_from_disk

        try:
            data = load_from_disk(str(path))
        except Exception as error:  # datasets raises several kinds here
            raise CaiError(f"not a `save_to_disk` dataset folder ({error})", source,
                           "pass a file, a dataset folder, or a hub id") from None
        if isinstance(data, DatasetDict):
            if split not in data:
                raise CaiError(f"split '{split}' not found (has: {', '.join(data)})", source,
                               "pass --split with one of those names")
            data = data[split]
        return _rows_dataset(data)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return _rows_jsonl(path)
        if suffix == ".json":
            return _rows_json(path)
        if suffix in (".csv", ".tsv"):
            return _rows_csv(path, "\t" if suffix == ".tsv" else ",")
        if suffix == ".parquet":
            from datasets import Dataset

            return _rows_dataset(Dataset.from_parquet(str(path)))
        return _rows_text(path)
    if path.suffix or "/" not in source or source.startswith((".", "/")):
        raise CaiError("prompt source not found", source, "pass an existing file or folder, or a hub id like org/name")
    return _hub_rows(source, split)


def _hub_rows(source: str, split: str):
    from datasets import load_dataset

    try:
        return _rows_dataset(load_dataset(source, split=split))
    except Exception as error:
        raise CaiError(f"could not load hub dataset ({type(error).__name__}: {str(error)[:120]})", source,
                       "check the id and --split, or download it and pass the local folder") from None


def _as_messages(value) -> tuple[list[dict] | None, str | None]:
    if isinstance(value, str):
        return ([{"role": "user", "content": value}], None) if value.strip() else (None, "empty prompt")
    if isinstance(value, list):
        if not value:
            return None, "empty conversation"
        for index, message in enumerate(value):
            if not (isinstance(message, dict) and message.get("role") in ROLES
                    and (isinstance(message.get("content"), str) or is_pending(message))):
                return None, ("conversation messages need a role (system/user/assistant) and text content "
                              "(or null content: an assistant turn for the model to write)")
            if is_pending(message) and (index == 0 or value[index - 1].get("role") != "user"):
                return None, "an assistant turn left for the model (content null) must follow a user message"
        if value[-1]["role"] != "user":
            return None, "conversation must end with a user message"
        if not any(m["content"].strip() for m in value if m["role"] == "user"):
            return None, "empty prompt"
        return [{"role": m["role"], "content": m["content"]} for m in value], None
    return None, f"prompt has unsupported type {type(value).__name__}"


def _pick_column(row: dict, wanted: str | None) -> str | None:
    if wanted:
        return wanted
    return next((c for c in PROMPT_COLUMNS if c in row), None)


def iter_prompts(source: str, *, prompt_column: str | None = None, split: str = "train",
                 limit: int | None = None, duplicate_rows: set[int] | None = None) -> Iterator[Record | Skipped]:
    """Every row of the source, as a Record or the reason it is skipped, read lazily: one row in memory at a
    time, plus the ids seen, to skip duplicates. `duplicate_rows` (the rows an earlier pass found to repeat
    an id) stands in for the ids, so the passes after the first keep no per-example state."""
    seen: set[str] = set()
    usable = skipped = 0
    for row_number, row, problem in _open_source(source, split):
        if limit is not None and usable >= limit:
            return
        if problem or not isinstance(row, dict):
            skipped += 1
            yield Skipped(row_number, None, problem or "row is not an object")
            continue
        column = _pick_column(row, prompt_column)
        if column is None or column not in row:
            if prompt_column and not usable and not skipped:
                raise CaiError(f"column '{prompt_column}' not found (has: {', '.join(map(str, row))})", source,
                               "pass --prompt-column with one of those names")
            skipped += 1
            yield Skipped(row_number, None, f"no prompt column (looked for {', '.join(PROMPT_COLUMNS)})")
            continue
        messages, problem = _as_messages(row[column])
        example_id = str(row.get("id") or row.get("prompt_id") or f"row-{row_number}")
        duplicate = row_number in duplicate_rows if duplicate_rows is not None else example_id in seen
        if problem or duplicate:
            skipped += 1
            yield Skipped(row_number, example_id, problem or DUPLICATE)
            continue
        if duplicate_rows is None:
            seen.add(example_id)
        usable += 1
        category = row.get("category") or row.get("topic")
        attack = row.get("attack")
        yield Record(id=example_id, messages=messages, category=category and str(category),
                     source_row=row_number, attack=attack and str(attack))


def load_prompts(source: str, *, prompt_column: str | None = None, split: str = "train",
                 limit: int | None = None) -> Loaded:
    """All rows at once, for the commands whose inputs are small (eval, augment)."""
    records: list[Record] = []
    skipped: list[Skipped] = []
    for item in iter_prompts(source, prompt_column=prompt_column, split=split, limit=limit):
        (skipped if isinstance(item, Skipped) else records).append(item)
    return Loaded(records, skipped, source)
