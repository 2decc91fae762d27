"""Reproducible per-example choices: the same seed and example id always give the same principle,
whichever order examples run in, so a resumed run samples exactly what the first one would have."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence


def example_rng(seed: int, example_id: str, *purpose) -> random.Random:
    key = "\x1f".join(str(part) for part in (seed, example_id, *purpose))
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def pick_weighted(items: Sequence, rng: random.Random):
    weights = [getattr(item, "weight", 1.0) for item in items]
    return rng.choices(list(items), weights=weights, k=1)[0]


def pick_many(items: Sequence, k: int, rng: random.Random) -> list:
    """k distinct items, weighted, without replacement (all of them when k >= len)."""
    pool = list(items)
    chosen = []
    while pool and len(chosen) < k:
        item = pick_weighted(pool, rng)
        chosen.append(item)
        pool.remove(item)
    return chosen


def conversation_key(messages: Sequence[dict]) -> str:
    """A canonical text of a conversation's roles and contents (extra message keys ignored)."""
    return json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)


def stable_fraction(key: str, salt: str = "split") -> float:
    """A number in [0, 1) fixed by the key (a prompt's `conversation_key`): puts an example in the train
    or the test split."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
