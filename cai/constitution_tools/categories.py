"""Guessing a category for an imported principle from the words in it.

Public constitutions have no categories, and ours require one of CATEGORIES. The guess counts keyword
stems per category in the critique and revision requests; the category with most hits wins, ties go to
the earlier category in _KEYWORDS, and text with no hit is "harm", since most public critique requests
are about harmful content. The importer writes the reason next to each guess so a person can check it.
"""

from __future__ import annotations

import re

from cai.constitution import CATEGORIES

DEFAULT_CATEGORY = "harm"

# Word stems (regular expressions), matched at the start of a word ("manipulat" matches "manipulative").
_KEYWORDS = {
    "privacy": ("privacy", "private", "personal information", "personal data", "surveil", "stalk", "dox",
                "home address", "phone number"),
    "legal": ("illegal", "law", "legal", "crime", "criminal", "unlawful", "copyright", "piracy"),
    "integrity": ("dishonest", "honest", "decept", "deceiv", "lie", "lying", "mislead", "misinform",
                  "disinform", "manipulat", "fake", "truth", "imperson", "scam", "fraud"),
    "refusal-quality": ("preach", "condescend", "lectur", "moraliz", "moralis", "sanctimon", "judgment",
                        "judgement", "evasive", "accus", "polite", "tone", "refus"),
    "robustness": ("jailbreak", "role-play", "roleplay", "pretend", "hypothetical", "trick", "override",
                   "bypass"),
    "helpfulness": ("helpful", "unhelpful", "useful", "informative", "thorough", "answer the question",
                    "capabilit"),
    "harm": ("harm(?!less)", "dangerous", "unsafe", "violen", "toxic", "racist", "sexist", "weapon", "kill", "hurt",
             "self-harm", "suicid", "abus", "unethical", "offensive", "socially biased", "safety"),
}
assert set(_KEYWORDS) <= set(CATEGORIES)


def guess_category(*texts: str) -> tuple[str, str]:
    """(category, why): why names the matched words, or says nothing matched."""
    text = " ".join(texts).lower()
    best, best_hits = DEFAULT_CATEGORY, []
    for category, stems in _KEYWORDS.items():
        hits = [stem.split("(")[0] for stem in stems if re.search(r"\b" + stem, text)]
        if len(hits) > len(best_hits):
            best, best_hits = category, hits
    if not best_hits:
        return DEFAULT_CATEGORY, f"no keyword matched; '{DEFAULT_CATEGORY}' is the default"
    return best, "keywords: " + ", ".join(best_hits)
