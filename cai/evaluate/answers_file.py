"""`cai eval --answers FILE`: answers a user already has, from any source `cai run` reads.

Each row holds a prompt (--prompt-column, found as `cai run` finds it when not given), an answer
(--answer-column, else the first of ANSWER_COLUMNS), optionally the model that wrote it (--model-column:
several models in one file) and a human label (--label-column). A named column missing from the first
row stops the eval before anything is written; a later row without a prompt or answer is skipped with
its reason; a label outside the known classes is an error naming its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from cai.errors import CaiError
from cai.evaluate.agreement import human_label
from cai.inputs import PROMPT_COLUMNS, Skipped, _as_messages, _open_source

ANSWER_COLUMNS = ("answer", "response", "completion", "output", "reply")
SINGLE_MODEL = "answers"  # the model's name when the file has no --model-column


@dataclass
class AnswerRow:
    row: int
    id: str
    messages: list[dict]
    answer: str
    model: str
    label: str | None
    category: str | None
    attack: object = None


def attack_family(value) -> str | None:
    """`attack` as `cai augment` writes it ('family/template') or as a dict with a `family` key."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        family = value.get("family") or value.get("name")
        return str(family) if family else None
    return str(value).split("/", 1)[0].split(":", 1)[0].strip() or None


def _column(row: dict, wanted: str | None, known: tuple[str, ...], flag: str, source: str, what: str) -> str:
    if wanted:
        if wanted not in row:
            raise CaiError(f"{what} column '{wanted}' not found (has: {', '.join(map(str, row))})", source,
                           f"pass {flag} with one of those names")
        return wanted
    found = next((c for c in known if c in row), None)
    if found is None:
        raise CaiError(f"no {what} column (looked for {', '.join(known)}; has: {', '.join(map(str, row))})",
                       source, f"name it with {flag}")
    return found


def load_answers(source: str, *, prompt_column: str | None = None, answer_column: str | None = None,
                 model_column: str | None = None, label_column: str | None = None,
                 split: str = "train") -> tuple[list[AnswerRow], list[Skipped]]:
    rows: list[AnswerRow] = []
    skipped: list[Skipped] = []
    columns: dict | None = None
    for number, row, problem in _open_source(source, split):
        if problem or not isinstance(row, dict):
            skipped.append(Skipped(number, None, problem or "row is not an object"))
            continue
        if columns is None:  # the first readable row fixes the columns, and says which are missing
            columns = {"prompt": _column(row, prompt_column, PROMPT_COLUMNS, "--prompt-column", source, "prompt"),
                       "answer": _column(row, answer_column, ANSWER_COLUMNS, "--answer-column", source, "answer")}
            for key, wanted, flag in (("model", model_column, "--model-column"),
                                      ("label", label_column, "--label-column")):
                if wanted:
                    columns[key] = _column(row, wanted, (), flag, source, key)
        row_id = str(row.get("id") or row.get("prompt_id") or f"row-{number}")
        messages, problem = _as_messages(row.get(columns["prompt"]))
        answer = row.get(columns["answer"])
        if problem is None and not isinstance(answer, str):
            problem = "no answer" if answer is None else f"answer has unsupported type {type(answer).__name__}"
        if problem:
            skipped.append(Skipped(number, row_id, problem))
            continue
        label = human_label(row.get(columns["label"]), f"{source}: row {number}", columns["label"]) \
            if "label" in columns else None
        model = str(row.get(columns["model"]) or "").strip() if "model" in columns else SINGLE_MODEL
        if not model:
            skipped.append(Skipped(number, row_id, f"empty model name in column '{columns['model']}'"))
            continue
        category = row.get("category") or row.get("topic")
        rows.append(AnswerRow(number, row_id, messages, answer.strip(), model, label,
                              category and str(category), row.get("attack")))
    if not rows:
        raise CaiError("no answers to score" + (f" ({len(skipped)} rows skipped: {skipped[0].reason})"
                                                if skipped else " (the source is empty)"), source,
                       "pass a file with a prompt and an answer column")
    return rows, skipped


def row_attacks(source: str, split: str = "train") -> dict[int, object]:
    """Row number -> its `attack` value, for prompts whose records do not carry it."""
    return {number: row.get("attack") for number, row, problem in _open_source(source, split)
            if not problem and isinstance(row, dict) and row.get("attack") not in (None, "")}
