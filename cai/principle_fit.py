"""Which principles fit a row: a principle's optional `applies_to` names attack families, attack names or
prompt categories (shell-style patterns such as `jailbreak-*`). Sampling draws from the principles that
fit, so an encoded prompt gets the obfuscation principle; a row nothing fits draws from all of them."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase


def row_keys(category: str | None, attack: str | None) -> set[str]:
    """What `applies_to` entries are matched against: the category, and the attack's family, name and
    "family/name" (`cai augment` writes `attack` as "family/name")."""
    keys = {category.strip().lower()} if category and category.strip() else set()
    if attack and attack.strip():
        attack = attack.strip().lower()
        family, _, name = attack.partition("/")
        keys |= {attack, family} | ({name} if name else set())
    return keys


def fits(applies_to: Sequence[str], keys: set[str]) -> bool:
    return any(fnmatchcase(key, pattern.lower()) for pattern in applies_to for key in keys)


def applicable(principles: Sequence, category: str | None, attack: str | None) -> tuple:
    keys = row_keys(category, attack)
    fitting = tuple(p for p in principles if p.applies_to and fits(p.applies_to, keys))
    return fitting or tuple(principles)
