"""Which two answers of a record are compared.

A pair names its answers ("initial", "final", "round-2", "sample-1", or the dataset's column names)
so labels and verdicts say what won, and carries the answer a simple rule expects to win (the later
revision), so a run can report how often the feedback model agrees with "revision wins".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from cai.errors import CaiError
from cai.records import Record

INITIAL_FINAL, SAMPLES, COLUMNS = "initial-final", "samples", "columns"


@dataclass(frozen=True)
class Pair:
    names: tuple[str, str]
    texts: tuple[str, str]
    expected: str | None = None  # the name a rule expects to win, if any

    def text(self, name: str) -> str:
        return self.texts[self.names.index(name)]


@dataclass(frozen=True)
class PairMode:
    kind: str                              # initial-final | rounds | samples | columns
    rounds: tuple[int, int] = (0, 0)       # for kind == "rounds": round indices, 0 = the initial answer
    columns: tuple[str, str] = ("", "")    # for kind == "columns": the dataset's answer columns

    @property
    def rule(self) -> str | None:
        """The rule the labels are compared with, in words (None: no rule applies)."""
        if self.kind in (INITIAL_FINAL, "rounds"):
            return "revision wins"
        if self.kind == COLUMNS and "chosen" in self.columns:
            return "dataset's chosen wins"
        return None


def parse_pair_mode(text: str, rounds: int, samples: int, columns: tuple[str, str] = ("", "")) -> PairMode:
    """`initial-final`, `rounds:I,J` (0 = the initial answer), `samples` or `columns`."""
    text = text.strip()
    if text == INITIAL_FINAL:
        return PairMode(INITIAL_FINAL)
    if text == SAMPLES:
        if samples < 2:
            raise CaiError("--pairs samples needs two or more answers per prompt", "--samples",
                           "add --samples 2 (or more)")
        return PairMode(SAMPLES)
    if text == COLUMNS:
        return PairMode(COLUMNS, columns=columns)
    if text.startswith("rounds:"):
        try:
            first, second = (int(part) for part in text[len("rounds:"):].split(","))
        except ValueError:
            raise CaiError(f"cannot read --pairs '{text}'", "--pairs",
                           "write rounds:I,J with two round numbers, e.g. rounds:1,2 "
                           "(0 is the initial answer)") from None
        first, second = sorted((first, second))
        if first == second or first < 0 or second > rounds:
            raise CaiError(f"--pairs {text} needs two different rounds between 0 and {rounds}", "--pairs",
                           f"pick rounds from 0 (the initial answer) to {rounds} (--rounds)")
        return PairMode("rounds", rounds=(first, second))
    raise CaiError(f"unknown --pairs '{text}'", "--pairs", "use initial-final, rounds:I,J or samples")


def _round_answer(record: Record, index: int) -> str | None:
    if index == 0:
        return record.initial_response
    if index > len(record.rounds):
        return None
    return record.answer_after(index)  # a flagged revision leaves the answer before it standing


def pairs_for(record: Record, mode: PairMode) -> list[Pair]:
    """The pairs to label for one record; empty when the record lacks the answers."""
    if mode.kind == INITIAL_FINAL:
        if not record.rounds or not record.initial_response:
            return []
        return [Pair(("initial", "final"), (record.initial_response, record.final_response or ""), "final")]
    if mode.kind == "rounds":
        first, second = mode.rounds
        texts = (_round_answer(record, first), _round_answer(record, second))
        if None in texts:
            return []
        return [Pair((f"round-{first}", f"round-{second}"), texts, f"round-{second}")]  # type: ignore[arg-type]
    if mode.kind == COLUMNS:
        names = mode.columns
        expected = "chosen" if "chosen" in names else None
        return [Pair(names, (record.samples[0], record.samples[1]), expected)] if len(record.samples) == 2 else []
    # A flagged sample (cut off, empty, looping) is never a pair's answer: the judge is not asked about it.
    flags = record.sample_flags or [[] for _ in record.samples]
    named = [(f"sample-{i}", text) for i, (text, flagged) in enumerate(zip(record.samples, flags)) if not flagged]
    return [Pair((a[0], b[0]), (a[1], b[1])) for a, b in combinations(named, 2)]
