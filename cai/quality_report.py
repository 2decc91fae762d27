"""What the quality gates found in a run: counts per turn kind and reason, for the manifest and the summary."""

from __future__ import annotations

from collections import Counter

from cai.quality import in_gate_order
from cai.records import Record


def turn_flags(record: Record) -> list[tuple[str, list[str]]]:
    """(turn kind, reasons) for every generated turn of a record, in trace order."""
    turns = [("answer", record.initial_flags)] if record.initial_response is not None else []
    for round_ in record.rounds:
        turns += [("critique", round_.critique_flags), ("revision", round_.revision_flags)]
    turns += [("sample", flags) for flags in record.sample_flags[1:]]  # sample 0 is the answer itself
    return turns


class QualityTally:
    """The manifest's `quality` section, gathered one record at a time."""

    def __init__(self, settings: dict, keep_flagged: bool):
        self.settings, self.keep_flagged = settings, keep_flagged
        self.turns: dict[str, Counter] = {}
        self.checked: Counter = Counter()
        self.examples: Counter = Counter()
        self.flagged_examples = 0

    def add(self, record: Record) -> None:
        for kind, reasons in turn_flags(record):
            self.checked[kind] += 1
            self.turns.setdefault(kind, Counter()).update(reasons)
        if record.flags:
            self.flagged_examples += 1
            self.examples.update(record.flags)

    def report(self) -> dict:
        def ordered(counter: Counter) -> dict[str, int]:
            return {k: counter[k] for k in in_gate_order(counter)}

        return {"gates": self.settings, "keep_flagged": self.keep_flagged,
                "turns_checked": dict(self.checked),
                "turns_flagged": {kind: ordered(c) for kind, c in self.turns.items()},
                "examples_flagged": self.flagged_examples, "flagged": ordered(self.examples),
                "kept_out": 0 if self.keep_flagged else self.flagged_examples}


def summary_line(report: dict) -> str:
    """One line for the run's summary table."""
    if not report.get("gates", {}).get("enabled"):
        return "gates off"
    flagged = report.get("flagged") or {}
    reasons = ", ".join(f"{reason} {count}" for reason, count in flagged.items())
    kept = "kept, marked in `flags`" if report.get("keep_flagged") else "kept out of the splits"
    if not report.get("examples_flagged"):
        return "no final answer flagged"
    return f"{report['examples_flagged']} final answers flagged ({reasons}); {kept}"
