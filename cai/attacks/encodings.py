"""Encodings as pairs of pure functions; `decode(encode(text)) == text` for every text, so a test can
prove an encoded prompt still carries the request (including text such as `{{ 7*7 }}`)."""

from __future__ import annotations

import base64
import codecs
import re


def _swap_table(pairs: str) -> dict[int, str]:
    """A character swap (its own inverse): each pair's two characters trade places."""
    table = {}
    for a, b in pairs.split():
        table[ord(a)], table[ord(b)] = b, a
    return table


# Digits and letters trade places, so digits already in the text survive the round trip.
_LEET = _swap_table("a4 e3 i1 o0 s5 t7")
# Latin letters and their Cyrillic look-alikes trade places.
_HOMOGLYPHS = _swap_table("aа eе oо pр cс xх yу iі AА BВ EЕ HН KК MМ OО PР CС TТ XХ")


def _b64_encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _b64_decode(text: str) -> str:
    return base64.b64decode(text.encode("ascii")).decode("utf-8")


def _rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


def _spaced(text: str) -> str:
    return " ".join(text)


def _unspaced(text: str) -> str:
    return text[::2]


def _reverse_words(text: str) -> str:
    return re.sub(r"\S+", lambda match: match.group()[::-1], text)


ENCODINGS = {
    "base64": (_b64_encode, _b64_decode),
    "rot13": (_rot13, _rot13),
    "leetspeak": (lambda t: t.translate(_LEET), lambda t: t.translate(_LEET)),
    "spaced": (_spaced, _unspaced),
    "homoglyph": (lambda t: t.translate(_HOMOGLYPHS), lambda t: t.translate(_HOMOGLYPHS)),
    "reversed": (_reverse_words, _reverse_words),
}


def encode(name: str, text: str) -> str:
    return ENCODINGS[name][0](text)


def decode(name: str, text: str) -> str:
    return ENCODINGS[name][1](text)
