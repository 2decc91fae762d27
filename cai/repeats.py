"""Finding repeated ids in 8 bytes an example: a first pass keeps each id's hash, and only ids whose hash
repeats need to be held and compared afterwards (in practice none), so memory stays flat in the size of
the input or the traces."""

from __future__ import annotations

from array import array


def id_hash(example_id) -> int:
    return hash(example_id)


def id_hashes() -> array:
    """An empty store for hashes, 8 bytes each."""
    return array("q")


def repeated_values(values: array) -> set[int]:
    """The values that occur more than once (numpy sorts 8 bytes a value; datasets already needs it)."""
    import numpy as np

    ordered = np.sort(np.frombuffer(values, dtype=np.int64)) if len(values) else np.empty(0, dtype=np.int64)
    return set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
