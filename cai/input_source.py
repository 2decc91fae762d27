"""A run's input as something to pass over, not a list: checked in one pass before anything is written,
read again lazily while the run goes, so only ids (the skipped ones and, for resume, the done ones) stay
in memory however many prompts there are. Finding repeated ids keeps 8 bytes a row: the first scan
hashes them, and only a source where a hash repeats is read once more to tell which rows repeat an id."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cai.inputs import DUPLICATE, Skipped, require_rows
from cai.records import Record
from cai.repeats import id_hash, id_hashes, repeated_values

# A check of one record: the reason it cannot run, or None.
Check = Callable[[Record], "str | None"]


@dataclass
class InputSource:
    """`rows(duplicate_rows)` yields every row as a Record or a Skipped, the same way each time it is called.
    `duplicate_rows` is None on the first scan, then the rows that scan found repeating an id, so the later
    passes need not hold every id to find them again."""

    rows: Callable[..., Iterable[Record | Skipped]]
    source: str
    what: str  # "prompts" or "pairs", for the error line
    fix: str  # how to fix a source whose every row was skipped
    usable: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # ids a check turned away (too long for the model)
    already: int = 0  # usable rows a resumed run has done
    duplicate_rows: set[int] | None = None  # found by the first scan
    # Hash ids on the first scan rather than hold them. Off for a source read with a row limit: there the
    # limit counts rows that are not repeats, so repeats must be known as the rows are read (and the
    # limit bounds the ids held anyway).
    hash_ids: bool = True

    def scan(self, check: Check | None = None, fix: str | None = None, done: set[str] = frozenset()) -> InputSource:
        """Count the usable rows. Without `check`: gather the skipped rows. With it: the rows it turns away
        join them (the first scan runs before the engine exists, this one after). Refuses a source with
        nothing to run (one line, exit 2) before the caller writes anything. `done`: ids a resumed run
        already has; `already` counts the usable ones among them."""
        hashing = check is None and self.duplicate_rows is None and self.hash_ids
        hashes = id_hashes()
        usable, turned_away, self.already = 0, [], 0
        for item in self.rows(frozenset() if hashing else self.duplicate_rows):
            if isinstance(item, Skipped):
                if check is None:
                    turned_away.append(item)
                continue
            if hashing:
                hashes.append(id_hash(item.id))
            reason = check(item) if check else None
            if reason:
                self.dropped.add(item.id)
                turned_away.append(Skipped(item.source_row or 0, item.id, reason))
            else:
                usable += 1
                self.already += item.id in done
        if hashing and (repeated := repeated_values(hashes)):
            self.duplicate_rows = self._rows_repeating(repeated)
            return self.scan(check, fix, done)  # again, now that the repeats are known
        self.usable = usable
        self.skipped = turned_away if check is None else self.skipped + turned_away
        if check is None:
            self.duplicate_rows = {s.row for s in turned_away if s.reason == DUPLICATE}
        require_rows(range(usable), self.skipped, self.source, self.what, fix or self.fix)
        return self

    def records(self, done: set[str] = frozenset()) -> Iterator[Record]:
        """The usable records not yet done, in input order, read afresh."""
        for item in self.rows(self.duplicate_rows):
            if isinstance(item, Record) and item.id not in self.dropped and item.id not in done:
                yield item

    def _rows_repeating(self, hashes: set[int]) -> set[int]:
        """The rows whose id an earlier row has, among the ids with one of these hashes."""
        seen, rows = set(), set()
        for item in self.rows(frozenset()):
            if isinstance(item, Record) and id_hash(item.id) in hashes:
                if item.id in seen:
                    rows.add(item.source_row)
                seen.add(item.id)
        return rows

    @property
    def inputs(self) -> int:
        return self.usable + len(self.skipped)
