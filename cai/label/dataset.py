"""Reading an existing pair dataset for `cai label`: a prompt and two answers per row.

Accepted layouts: text columns (prompt, answer A, answer B); TRL's explicit conversational layout
(`prompt` turns, `chosen`/`rejected` holding the assistant turn); and the implicit one, where each
answer column holds the whole conversation and the prompt is what the two have in common.
Row-level problems skip the row with a reason, as for `cai run`.
"""

from __future__ import annotations

from cai.errors import CaiError
from cai.inputs import Loaded, Skipped, _as_messages, _open_source, _pick_column
from cai.records import Record


def _split_conversation(value) -> tuple[list[dict] | None, str | None]:
    """A conversation ending with the assistant's reply -> (the turns before it, the reply)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        return None, None
    users = [i for i, m in enumerate(value) if m.get("role") == "user"]
    start = users[-1] + 1 if users else 0
    reply = value[start:]
    if len(reply) != 1 or reply[0].get("role") != "assistant" or not isinstance(reply[0].get("content"), str):
        return None, None
    return [{"role": m.get("role"), "content": m.get("content")} for m in value[:start]], reply[0]["content"]


def _answer(value) -> tuple[list[dict] | None, str | None]:
    """(prompt turns if the value carries them, answer text)."""
    if isinstance(value, str):
        return None, value
    return _split_conversation(value)


def _row_pair(row: dict, prompt_column: str | None, auto_column: str | None, columns: tuple[str, str]):
    """-> (messages, (answer a, answer b), None) or (None, None, reason)."""
    (turns_a, a), (turns_b, b) = (_answer(row[c]) for c in columns)
    if a is None or b is None:
        return None, None, "an answer is neither text nor a conversation ending with one assistant reply"
    messages, problem = _as_messages(row[prompt_column or auto_column]) if prompt_column or auto_column \
        else (None, "no prompt column")
    if problem and not prompt_column and turns_a and turns_a == turns_b:
        messages, problem = _as_messages(turns_a)  # implicit layout: the prompt is the shared conversation
    return (None, None, problem) if problem else (messages, (a, b), None)


# Common pair layouts, tried in this order when --a-column/--b-column are not given.
PAIR_LAYOUTS = (("chosen", "rejected"), ("response_a", "response_b"), ("response_0", "response_1"),
                ("completion_a", "completion_b"))


def find_pair_columns(row: dict, source: str) -> tuple[str, str]:
    found = next((layout for layout in PAIR_LAYOUTS if all(c in row for c in layout)), None)
    if found is None:
        known = "; ".join("/".join(layout) for layout in PAIR_LAYOUTS)
        raise CaiError(f"no answer columns found by name (has: {', '.join(map(str, row))}; looked for {known})",
                       source, "name them with --a-column and --b-column")
    return found


def load_pairs(source: str, a_column: str | None = None, b_column: str | None = None, *,
               prompt_column: str | None = None, split: str = "train", limit: int | None = None) -> Loaded:
    """A column left None comes from the first of PAIR_LAYOUTS the first row has (Loaded.columns says which)."""
    records: list[Record] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    columns = (a_column, b_column) if a_column and b_column else None
    for row_number, row, problem in _open_source(source, split):
        if limit is not None and len(records) >= limit:
            break
        if problem or not isinstance(row, dict):
            skipped.append(Skipped(row_number, None, problem or "row is not an object"))
            continue
        if columns is None:  # a column not given comes from the common layout the first row has
            found = find_pair_columns(row, source)
            columns = (a_column or found[0], b_column or found[1])
            if columns[0] == columns[1]:
                raise CaiError(f"both answer columns would be '{columns[0]}'", "--a-column/--b-column",
                               "name two different columns, e.g. --a-column chosen --b-column rejected")
        wanted = [c for c in (*columns, prompt_column) if c]
        missing = next((c for c in wanted if c not in row), None)
        if missing and not records and not skipped:  # the first row: the column is not in the dataset at all
            raise CaiError(f"column '{missing}' not found (has: {', '.join(map(str, row))})", source,
                           "name the columns with --prompt-column, --a-column and --b-column")
        example_id = str(row.get("id") or row.get("prompt_id") or f"row-{row_number}")
        if missing:
            skipped.append(Skipped(row_number, example_id, f"no '{missing}' column in this row"))
            continue
        auto = _pick_column({k: v for k, v in row.items() if k not in columns}, None)
        messages, answers, problem = _row_pair(row, prompt_column, auto, columns)
        if problem:
            skipped.append(Skipped(row_number, example_id, problem))
            continue
        if example_id in seen:
            example_id = f"{example_id}-row-{row_number}"  # pair datasets repeat prompts with other answers
        seen.add(example_id)
        category = row.get("category") or row.get("topic")
        records.append(Record(id=example_id, messages=messages, category=category and str(category),
                              source_row=row_number, samples=[answers[0], answers[1]]))
    return Loaded(records, skipped, source, columns)
