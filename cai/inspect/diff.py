"""Word-level diff between two answers, as segments both the terminal and the HTML report can draw.

Tokens are words with the whitespace that follows them, compared without that whitespace: a reflowed line
is not a change. Joining the equal and inserted segments gives the new text back exactly (the old one up
to whitespace), and a changed word shows as one deletion next to one insertion.
"""

from __future__ import annotations

import difflib
import re

EQUAL, INSERT, DELETE = "equal", "insert", "delete"

_TOKEN = re.compile(r"\s+|\S+\s*")
_SMALL_COMMON_WORDS = 2


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """[(kind, text)] with kind equal/insert/delete; runs of the same kind are merged."""
    old, new = tokens(before), tokens(after)
    # Compare on the bare words so a word followed by a space and the same word ending a line match.
    matcher = difflib.SequenceMatcher(a=[t.strip() for t in old], b=[t.strip() for t in new], autojunk=False)
    opcodes = matcher.get_opcodes()
    segments: list[tuple[str, str]] = []

    def add(kind: str, text: str) -> None:
        if text and segments and segments[-1][0] == kind:
            segments[-1] = (kind, segments[-1][1] + text)
        elif text:
            segments.append((kind, text))

    deleted, inserted = [], []  # a pending change, written out when the next kept stretch starts
    for number, (op, a0, a1, b0, b1) in enumerate(opcodes):
        kept = "".join(new[b0:b1])
        if op == "equal" and not _absorbed(opcodes, number, len(kept.split())):
            add(DELETE, "".join(deleted))
            add(INSERT, "".join(inserted))
            deleted, inserted = [], []
            add(EQUAL, kept)
        else:
            deleted += old[a0:a1]
            inserted += new[b0:b1]
    add(DELETE, "".join(deleted))
    add(INSERT, "".join(inserted))
    return segments


def _absorbed(opcodes: list, number: int, words: int) -> bool:
    """A word or two in common between two bigger changes ("a", "the") reads better as part of the change."""
    if not 0 < number < len(opcodes) - 1 or words > _SMALL_COMMON_WORDS:
        return False
    size = [max(op[2] - op[1], op[4] - op[3]) for op in (opcodes[number - 1], opcodes[number + 1])]
    return words < min(size)


def side(segments: list[tuple[str, str]], kind: str) -> str:
    """The text of one side: kind INSERT gives the new text, DELETE the old one (up to whitespace)."""
    return "".join(text for k, text in segments if k in (EQUAL, kind))


def change_counts(segments: list[tuple[str, str]]) -> tuple[int, int]:
    """(words inserted, words deleted)."""
    inserted = sum(len(text.split()) for k, text in segments if k == INSERT)
    deleted = sum(len(text.split()) for k, text in segments if k == DELETE)
    return inserted, deleted
