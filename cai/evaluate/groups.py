"""Which prompts are harmful and which are benign look-alikes, by their `category` field.

A small explicit table of shell-style patterns, first match wins; `--group PATTERN=GROUP` rules are
tried before it, so a user can file their own categories (or every prompt, with `*=harmful`).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from cai.errors import CaiError

HARMFUL, BENIGN, CAPABILITY, OTHER = "harmful", "benign", "capability", "other"
GROUPS = (HARMFUL, BENIGN, CAPABILITY, OTHER)

# The bundled prompts' categories (prompts/demo_prompts.jsonl).
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("harm-*", HARMFUL), ("privacy", HARMFUL), ("deception", HARMFUL), ("unlawful", HARMFUL),
    ("jailbreak-*", HARMFUL),
    ("benign-lookalike", BENIGN), ("benign", BENIGN),
    ("capability-limit", CAPABILITY),
)


def parse_rules(texts: list[str] | None) -> tuple[tuple[str, str], ...]:
    """`--group PATTERN=GROUP` flags (also comma-separated) -> rules."""
    rules = []
    for text in texts or []:
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            pattern, sep, group = item.partition("=")
            if not sep or not pattern.strip() or group.strip() not in GROUPS:
                raise CaiError(f"cannot read --group '{item}'", "--group",
                               f"write CATEGORY_PATTERN=GROUP with GROUP one of {', '.join(GROUPS)}, "
                               "e.g. --group 'toxic-*=harmful'")
            rules.append((pattern.strip(), group.strip()))
    return tuple(rules)


def group_of(category: str | None, rules: tuple[tuple[str, str], ...] = ()) -> str:
    name = (category or "").strip().lower()
    for pattern, group in (*rules, *DEFAULT_RULES):
        if fnmatchcase(name, pattern.lower()):
            return group
    return OTHER
