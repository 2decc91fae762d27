"""The run directory: config, constitution snapshot, append-only traces, skipped rows, manifest.

traces.jsonl is the checkpoint: records are appended as they finish (one by one with the continuous
schedule, a chunk at a time with stages) and fsynced on a short timer, so a killed run loses at most
the work in flight; a torn last line (killed mid-write) is dropped on resume.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from cai.errors import CaiError
from cai.records import Record
from cai.repeats import id_hash, id_hashes, repeated_values

# Seconds between fsyncs of traces.jsonl while examples stream in.
FSYNC_EVERY_S = 1.0

TRACES, MANIFEST, CONFIG, SKIPPED, CONSTITUTION, DATASET = (
    "traces.jsonl", "manifest.json", "config.yaml", "skipped.jsonl", "constitution.yaml", "dataset")


def is_run(path: Path) -> bool:
    return (path / MANIFEST).is_file() or (path / TRACES).is_file()


class RunStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creating ---------------------------------------------------------------------------
    def check_writable(self, resume: bool, force: bool) -> None:
        """Refuse to clobber another run; called before any work so nothing is half made."""
        if not self.path.exists() or not any(self.path.iterdir()):
            if resume:
                raise CaiError("nothing to resume: the folder holds no run", str(self.path),
                               "drop --resume to start a new run there")
            return
        if not is_run(self.path):
            raise CaiError("the output folder is not empty and is not a cai run", str(self.path),
                           "choose another --out")
        if not resume and not force:
            raise CaiError("the output folder already holds a run", str(self.path),
                           "add --resume to continue it, --force to replace it, or choose another --out")

    def saved_config(self) -> dict | None:
        path = self.path / CONFIG
        return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None

    def create(self, config: dict, constitution_text: str, force: bool) -> None:
        if force and is_run(self.path):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path / CONFIG, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        _atomic_write(self.path / CONSTITUTION, constitution_text)

    # -- traces -----------------------------------------------------------------------------
    def read_records(self) -> list[Record]:
        return list(self.iter_records())

    def iter_records(self) -> Iterator[Record]:
        """The finished examples one at a time, first copy of each id. Sessions append only ids not yet
        there, so a repeat means two processes wrote to one run; it is dropped all the same. Only ids whose
        hash repeats are remembered (a quick first pass keeps 8 bytes a line), so memory stays flat
        however many examples there are."""
        path = self.path / TRACES
        if not path.is_file():
            return
        repeated = _repeated_id_hashes(path)
        seen = set()
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed run
                example_id = data.get("id")
                if id_hash(example_id) in repeated:
                    if example_id in seen:
                        continue
                    seen.add(example_id)
                yield Record.from_dict(data)

    def repair_tail(self) -> None:
        """Cut a torn last line so appended records start on a fresh line."""
        path = self.path / TRACES
        if not path.is_file():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def done_ids(self) -> set[str]:
        """Ids of the examples already in traces.jsonl: all resume needs to know, without the records."""
        path = self.path / TRACES
        if not path.is_file():
            return set()
        done = set()
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    done.add(json.loads(line)["id"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line from a killed run
        return done

    def trace_writer(self, fsync_every: float = FSYNC_EVERY_S) -> TraceWriter:
        return TraceWriter(self.path / TRACES, fsync_every)

    def append(self, records: list[Record]) -> None:
        with (self.path / TRACES).open("a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # -- skipped rows and manifest ----------------------------------------------------------
    def write_skipped(self, skipped: list[dict]) -> None:
        _atomic_write(self.path / SKIPPED, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped))

    def read_skipped(self) -> list[dict]:
        path = self.path / SKIPPED
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def read_manifest(self) -> dict:
        path = self.path / MANIFEST
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def write_manifest(self, manifest: dict) -> None:
        _atomic_write(self.path / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _line_id(line: str):
    """A trace line's id, read without parsing the rest (records are written id first)."""
    if line.startswith(_ID_OPENING):
        try:
            return _DECODER.raw_decode(line, len(_ID_OPENING))[0]
        except json.JSONDecodeError:
            return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    return data.get("id") if isinstance(data, dict) else None


_ID_OPENING, _DECODER = '{"id": ', json.JSONDecoder()


def _repeated_id_hashes(path: Path) -> set[int]:
    """The hashes that more than one line's id has (two ids may share one; iter_records compares the ids
    themselves). One 8-byte integer per line while counting."""
    hashes = id_hashes()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            hashes.append(id_hash(_line_id(line)))
    return repeated_values(hashes)


class TraceWriter:
    """Appends finished examples one by one. Each line reaches the operating system at once (a killed
    process loses nothing written); fsync, which guards against a crash of the machine, runs at most
    every `fsync_every` seconds and on close, since per line it would cost more than the work."""

    def __init__(self, path: Path, fsync_every: float = FSYNC_EVERY_S):
        self.path, self.fsync_every = path, fsync_every
        self.handle = None
        self.synced = 0.0

    def __enter__(self) -> TraceWriter:
        self.handle = self.path.open("a", encoding="utf-8")
        self.synced = time.monotonic()
        return self

    def write(self, records: list[Record]) -> None:
        for record in records:
            self.handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self.handle.flush()
        if time.monotonic() - self.synced >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        os.fsync(self.handle.fileno())
        self.synced = time.monotonic()

    def __exit__(self, *exc) -> None:
        self.handle.flush()
        self.sync()
        self.handle.close()


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
