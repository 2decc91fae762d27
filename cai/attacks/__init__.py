"""`cai augment`: adversarial and benign-contrast variants of prompts.

Four families of attacks. Wrappers, encodings and structure are deterministic (templates in
prompts/attacks/ plus small pure functions); model-based attacks ask an engine to rewrite the request.
"""

from __future__ import annotations

from cai.errors import CaiError

FAMILIES: dict[str, tuple[str, ...]] = {
    "wrapper": ("instruction-override", "role-play", "fiction", "hypothetical", "refusal-suppression",
                "prefix-injection", "authority"),
    "encoding": ("base64", "rot13", "leetspeak", "spaced", "homoglyph", "reversed"),
    "structure": ("payload-split", "many-shot", "escalation"),
    "model": ("paraphrase", "past-tense", "translate", "decompose"),
}
FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}
DETERMINISTIC = ("wrapper", "encoding", "structure")


def known_names() -> str:
    return "all, " + ", ".join(f"{family} ({', '.join(names)})" for family, names in FAMILIES.items())


def select_attacks(text: str) -> list[str]:
    """`--attacks` -> attack names: a comma list of attack names and family names, or `all`."""
    chosen: list[str] = []
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        if item == "all":
            names = list(FAMILY_OF)
        elif item in FAMILIES:
            names = list(FAMILIES[item])
        elif item in FAMILY_OF:
            names = [item]
        else:
            raise CaiError(f"unknown attack '{item}'", "--attacks", f"use families or names from: {known_names()}")
        chosen += [n for n in names if n not in chosen]
    if not chosen:
        raise CaiError("no attack given", "--attacks", f"name at least one of: {known_names()}")
    return chosen
