"""The end of a run: one streamed pass over the traces makes the dataset, the counts and the reports.

Each record is read once, handed to every tally and to the export, and dropped, so finishing a run of
millions of examples holds only their ids (for de-duplication) and the tallies' counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cai.card import write_card
from cai.export import export_dataset
from cai.label.options import label_report, label_tally
from cai.quality import gate_summary
from cai.quality_report import QualityTally
from cai.records import Record
from cai.store import CONSTITUTION, DATASET


class RecordCounts:
    def __init__(self):
        self.completed = self.changed = self.with_errors = self.failed = 0

    def add(self, record: Record) -> None:
        self.completed += 1
        self.changed += bool(record.initial_response and record.final_response
                             and record.final_response.strip() != record.initial_response.strip())
        self.with_errors += bool(record.errors)
        self.failed += bool(record.failure)

    def counts(self) -> dict:
        return {"completed": self.completed, "changed_by_revision": self.changed,
                "with_errors": self.with_errors, "failed": self.failed}


def observed(records: Iterable[Record], *tallies) -> Iterator[Record]:
    """The records, each shown to every tally on its way through."""
    for record in records:
        for tally in tallies:
            tally.add(record)
        yield record


def finish_run(session) -> dict:
    """Export the dataset and write the complete manifest and the dataset card; returns the manifest."""
    plan = session.plan
    config, store = plan.config, plan.store
    counts, labels = RecordCounts(), label_tally(config)
    quality = QualityTally(gate_summary(config), config.keep_flagged)
    splits = export_dataset(observed(store.iter_records(), counts, labels, quality), store.path / DATASET,
                            config.test_size, config.min_margin, config.keep_flagged)
    session.counts.update(counts.counts())
    manifest = session.write("complete", splits=splits,
                             labels=label_report(config, plan.constitution, labels.stats()),
                             quality=quality.report())
    write_card(store.path / DATASET, manifest, (store.path / CONSTITUTION).read_text(encoding="utf-8"))
    return manifest
