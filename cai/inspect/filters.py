"""Choosing examples: the filters of `cai inspect --list`, and finding one example by id or index."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from cai.errors import CaiError
from cai.inspect.loader import Example


@dataclass(frozen=True)
class ExampleFilter:
    principle: str | None = None  # a principle id used in some round
    category: str | None = None  # a principle category used in some round, or the prompt's own category
    changed: bool | None = None  # True: revisions changed the answer; False: they did not
    grep: str | None = None  # case-insensitive text anywhere in the prompt, answers or critiques
    errors: bool = False  # only examples that recorded an error
    flagged: str | None = None  # a quality-gate reason on any turn, or "any"

    def matches(self, example: Example) -> bool:
        if self.principle and all(r.principle_id != self.principle for r in example.rounds):
            return False
        if self.category and example.category != self.category and all(
                r.category != self.category for r in example.rounds):
            return False
        if self.changed is not None and (not example.rounds or example.changed != self.changed):
            return False
        if self.errors and not example.errors:
            return False
        if self.flagged and not any(self.flagged in ("any", *reasons) for _, reasons in example.turn_flags()):
            return False
        return not self.grep or self.grep.lower() in searchable_text(example).lower()


def searchable_text(example: Example) -> str:
    parts = [example.id, example.category or ""]
    parts += [str(m.get("content", "")) for m in example.messages]
    parts.append(example.initial_response)
    for round_ in example.rounds:
        parts += [round_.principle_id, round_.critique, round_.revision]
    parts += example.errors
    return "\n".join(parts)


def check_filter_values(flt: ExampleFilter, examples: list[Example]) -> None:
    """A filter value that names nothing in the run is most likely a typo: say so rather than list nothing."""
    if flt.principle:
        known = sorted({r.principle_id for e in examples for r in e.rounds})
        if flt.principle not in known:
            raise CaiError(f"no round in this run used principle '{flt.principle}'", "--principle",
                           _close(flt.principle, known, "the summary lists the principles used"))
    if flt.category:
        known = sorted({r.category for e in examples for r in e.rounds} | {e.category for e in examples if e.category})
        if flt.category not in known:
            raise CaiError(f"no example or round in this run has category '{flt.category}'", "--category",
                           _close(flt.category, known, "the summary lists the categories used"))


def _close(value: str, known: list[str], otherwise: str) -> str:
    near = difflib.get_close_matches(value, known, n=3)
    return f"did you mean {', '.join(near)}?" if near else otherwise


def select(examples: list[Example], flt: ExampleFilter) -> list[Example]:
    return [e for e in examples if flt.matches(e)]


def find_example(examples: list[Example], example_id: str | None = None, index: int | None = None) -> Example:
    if not examples:
        raise CaiError("the run has no finished example yet", fix="wait for the first chunk to finish")
    if example_id is not None:
        for example in examples:
            if example.id == example_id:
                return example
        ids = [e.id for e in examples]
        raise CaiError(f"no example with id '{example_id}'", "--id",
                       _close(example_id, ids, "`cai inspect RUN --list` shows the ids"))
    assert index is not None
    if not -len(examples) <= index < len(examples):
        raise CaiError(f"index {index} is out of range", "--index",
                       f"use 0 to {len(examples) - 1} (or -1 for the last example)")
    return examples[index]
