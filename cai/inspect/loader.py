"""Reading a run folder for inspection, whatever state it is in.

A run may still be writing (the last line of traces.jsonl half written), may have been killed, or may
come from an older or newer cai whose records carry fields we do not know. Nothing here raises on such
data: odd lines are counted and reported as notes, unknown fields are ignored, missing ones get defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cai.errors import CaiError
from cai.inspect.labels import LabelView, read_label
from cai.quality import final_flags
from cai.store import CONFIG, CONSTITUTION, MANIFEST, SKIPPED, TRACES, is_run


@dataclass
class RoundView:
    principle_id: str
    category: str
    critique_prompt: str
    critique: str
    revision_prompt: str
    revision: str
    before: str  # the answer this round set out to revise
    critique_flags: list[str] = field(default_factory=list)  # quality-gate reasons (cai.quality)
    revision_flags: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.revision.strip()) and self.revision.strip() != self.before.strip()

    @property
    def used(self) -> bool:
        """Whether this revision became the answer (a flagged one never does)."""
        return bool(self.revision.strip()) and not self.revision_flags


@dataclass
class Example:
    index: int  # position in input order (source row), the number `--index` takes
    id: str
    messages: list[dict]
    category: str | None
    source_row: int | None
    initial_response: str
    rounds: list[RoundView]
    labels: list[LabelView]
    preference: dict | None
    errors: list[str]
    tokens: dict
    initial_flags: list[str] = field(default_factory=list)
    sample_flags: list[list[str]] = field(default_factory=list)
    generated_turns: list[int] = field(default_factory=list)  # indexes of assistant turns the policy wrote

    @property
    def final_response(self) -> str:
        for round_ in reversed(self.rounds):
            if round_.used:
                return round_.revision
        return self.initial_response

    @property
    def flags(self) -> list[str]:
        """Why the final answer is unfit for training: cai.quality.final_flags, as for a Record."""
        return final_flags(self.initial_flags, [(r.used, r.revision_flags) for r in self.rounds])

    def turn_flags(self) -> list[tuple[str, list[str]]]:
        """(turn name, reasons) of every flagged turn, in trace order."""
        turns = [("answer", self.initial_flags)]
        for number, round_ in enumerate(self.rounds, start=1):
            turns += [(f"critique {number}", round_.critique_flags), (f"revision {number}", round_.revision_flags)]
        turns += [(f"sample {i}", flags) for i, flags in enumerate(self.sample_flags) if i > 0]
        return [(name, reasons) for name, reasons in turns if reasons]

    @property
    def changed(self) -> bool:
        """Whether the revisions left a different answer from the one the model first gave."""
        return bool(self.rounds) and self.final_response.strip() != self.initial_response.strip()

    @property
    def prompt(self) -> str:
        """The last user turn: what the example asks."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message.get("content", "")
        return self.messages[-1].get("content", "") if self.messages else ""


@dataclass
class RunView:
    path: Path
    examples: list[Example]
    manifest: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was odd about the files, in words

    @property
    def status(self) -> str:
        return str(self.manifest.get("status") or ("running or killed" if self.examples else "just started"))


def _text(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _example(index: int, data: dict) -> Example:
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    initial = _text(data.get("initial_response"))
    rounds, before = [], initial
    for raw in data.get("rounds") or []:
        if not isinstance(raw, dict):
            continue
        view = RoundView(_text(raw.get("principle_id")), _text(raw.get("category")),
                         _text(raw.get("critique_prompt")), _text(raw.get("critique")),
                         _text(raw.get("revision_prompt")), _text(raw.get("revision")), before,
                         _flags(raw.get("critique_flags")), _flags(raw.get("revision_flags")))
        rounds.append(view)
        if view.used:
            before = view.revision
    labels = [read_label(raw) for raw in data.get("labels") or [] if isinstance(raw, dict)]
    preference = data.get("preference") if isinstance(data.get("preference"), dict) else None
    errors = [_text(e) for e in data.get("errors") or []]
    tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
    source_row = data.get("source_row") if isinstance(data.get("source_row"), int) else None
    category = data.get("category") if isinstance(data.get("category"), str) else None
    samples = [_flags(f) for f in data.get("sample_flags") or []]
    return Example(index, _text(data.get("id")), messages, category, source_row, initial, rounds, labels,
                   preference, errors, tokens, _flags(data.get("initial_flags")), samples,
                   [i for i in data.get("generated_turns") or [] if isinstance(i, int)])


def _flags(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def read_examples(path: Path) -> tuple[list[Example], list[str]]:
    """The records in traces.jsonl, plus notes on lines that could not be used."""
    if not path.is_file():
        return [], ["no traces.jsonl yet: no example has finished"]
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    # Every record ends with a newline, so text after the last one is a record still being written.
    torn_tail = bool(lines[-1].strip())
    lines = lines[:-1]
    examples, seen, bad, duplicates = [], set(), [], 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("id"), (str, int)):
            bad.append(number)
            continue
        if str(data["id"]) in seen:
            duplicates += 1
            continue
        seen.add(str(data["id"]))
        examples.append(data)
    # Input order (the source row), not file order: the continuous schedule writes in completion order.
    examples.sort(key=lambda d: d["source_row"] if isinstance(d.get("source_row"), int) else float("inf"))
    examples = [_example(index, data) for index, data in enumerate(examples)]
    notes = []
    if torn_tail:
        notes.append("the last line of traces.jsonl is incomplete (the run is still writing or was killed); "
                     "it was left out")
    if bad:
        notes.append(f"{len(bad)} unreadable line(s) in traces.jsonl left out (line {', '.join(map(str, bad[:5]))}"
                     f"{', …' if len(bad) > 5 else ''})")
    if duplicates:
        notes.append(f"{duplicates} repeated example id(s) in traces.jsonl: the first copy is shown")
    return examples, notes


def _json_file(path: Path, notes: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        notes.append(f"{path.name} is not valid JSON; its details are not shown")
        return {}
    return data if isinstance(data, dict) else {}


def _skipped(path: Path, notes: list[str]) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _config(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _looks_like_run(path: Path) -> bool:
    # A run that has just started holds only its config and constitution snapshot.
    return is_run(path) or ((path / CONFIG).is_file() and (path / CONSTITUTION).is_file())


def _suggest_run(path: Path) -> str:
    """When pointed at a folder of runs (like outputs/), name the newest run inside it."""
    runs = sorted((p for p in path.iterdir() if p.is_dir() and _looks_like_run(p)), key=lambda p: p.stat().st_mtime)
    if runs:
        return f"this folder holds runs; try `cai inspect {runs[-1]}`"
    return "pass the --out folder of a `cai run` (it holds traces.jsonl and manifest.json)"


def load_run(path: str | Path) -> RunView:
    path = Path(path)
    if path.is_file() and path.name in (TRACES, MANIFEST):
        path = path.parent  # the user pointed at a file inside the run
    if not path.exists():
        raise CaiError("no such folder", str(path), "pass the --out folder of a `cai run`")
    if not path.is_dir():
        raise CaiError("not a run folder (this is a file)", str(path), "pass the --out folder of a `cai run`")
    if not _looks_like_run(path):
        raise CaiError("not a cai run: no traces.jsonl or manifest.json here", str(path), _suggest_run(path))
    examples, notes = read_examples(path / TRACES)
    manifest = _json_file(path / MANIFEST, notes)
    return RunView(path, examples, manifest, _config(path / CONFIG), _skipped(path / SKIPPED, notes), notes)


def constitution_snapshot(run: RunView):
    """The constitution the run used, or None when its snapshot is missing or no longer parses."""
    from cai.constitution import parse_constitution

    path = run.path / CONSTITUTION
    if not path.is_file():
        return None
    try:
        return parse_constitution(path.read_text(encoding="utf-8"), str(path))
    except (CaiError, UnicodeDecodeError):
        return None
