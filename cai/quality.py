"""Quality gates: small pure checks run on every generated turn, each returning a reason or nothing.

A gate never edits text. Its reason is written into the trace beside the turn; a flagged revision does
not replace the answer it revises, and an example whose final answer is flagged stays out of the
exported splits unless `--keep-flagged`. Thresholds live here, in `GateSettings`, and are run options.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cai.errors import CaiError
from cai.paths import prompts_dir

TRUNCATED, EMPTY, UNCHANGED, ECHO, COPY, META, REPETITION = (
    "truncated", "empty", "unchanged", "echoes-critique", "copies-example", "meta", "repetition")
GATES = (TRUNCATED, EMPTY, UNCHANGED, ECHO, COPY, META, REPETITION)

# Which gates look at which kind of turn: only a revision has an answer before it and a critique to echo.
TURN_GATES = {
    "answer": (TRUNCATED, EMPTY, REPETITION),
    "critique": (TRUNCATED, EMPTY, COPY, REPETITION),
    "revision": GATES,
    "sample": (TRUNCATED, EMPTY, REPETITION),
}

# Measured on the demo prompts with the default model (see README, "Quality gates"): echoing revisions
# share most of their word trigrams with the critique; real revisions that quote a phrase share < 0.3.
DEFAULT_ECHO_THRESHOLD = 0.6
# Share of repeated word trigrams: fluent answers stay under 0.2, loops ("1.\n2.\n3.") go over 0.6.
DEFAULT_REPETITION_THRESHOLD = 0.5
NGRAM = 3
MIN_NGRAMS = 8  # below this a text is too short to call repetitive or an echo


@dataclass(frozen=True)
class Turn:
    """One generated text and what the gates need to judge it."""

    kind: str                          # answer | critique | revision | sample
    text: str
    finish_reason: str | None = None   # the engine's: "length" means the token limit cut it
    before: str | None = None          # revision: the answer it revises
    critique: str | None = None        # revision: the critique it answers
    request: str | None = None         # revision: the request to revise, which it must not parrot either
    examples: tuple[str, ...] = ()     # the few-shot worked examples' texts the model saw before it


@dataclass(frozen=True)
class GateSettings:
    enabled: tuple[str, ...] = GATES
    echo_threshold: float = DEFAULT_ECHO_THRESHOLD
    repetition_threshold: float = DEFAULT_REPETITION_THRESHOLD
    meta_patterns: tuple[re.Pattern, ...] = field(default_factory=lambda: load_meta_patterns())


_WORD, _TOKEN, _DIGIT = re.compile(r"\w+"), re.compile(r"\w+|[^\w\s]"), re.compile(r"\d")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _tokens(text: str) -> list[str]:
    """Words and punctuation, digits folded to 0, so "1.\n2.\n3." reads as the loop it is. (A digit is a
    word character, so folding before splitting gives the same tokens as folding each one.)"""
    return _TOKEN.findall(_DIGIT.sub("0", text.lower()))


def _ngrams(tokens: list[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


@lru_cache(maxsize=256)
def _grams_of(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], frozenset]:
    """(words, their trigrams, the trigram set) of a text. Cached: one revision is checked against its
    critique, its revision request and every worked example, and the examples recur in every record."""
    words = tuple(_words(text))
    grams = tuple(_ngrams(list(words)))
    return words, grams, frozenset(grams)


def echo_overlap(revision: str, critique: str) -> float:
    """Share of the revision's word trigrams that also occur in the critique. A short revision has too few
    trigrams for a share: it is an echo (1.0) when its words appear in the critique as they stand, else 0."""
    words, grams, _ = _grams_of(revision)
    if len(grams) < MIN_NGRAMS:
        return 1.0 if len(words) >= 3 and f" {' '.join(words)} " in f" {' '.join(_grams_of(critique)[0])} " else 0.0
    in_critique = _grams_of(critique)[2]
    return sum(map(in_critique.__contains__, grams)) / len(grams)


def repetition_share(text: str) -> float:
    """Share of token trigrams that repeat an earlier one (0 for short texts)."""
    grams = _ngrams(_tokens(text))
    if len(grams) < MIN_NGRAMS:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def _normalised(text: str | None) -> str:
    return " ".join((text or "").split())


def check_truncated(turn: Turn, settings: GateSettings) -> str | None:
    return TRUNCATED if turn.finish_reason == "length" else None


def check_empty(turn: Turn, settings: GateSettings) -> str | None:
    return EMPTY if not turn.text.strip() else None


def check_unchanged(turn: Turn, settings: GateSettings) -> str | None:
    if turn.before is None or not turn.text.strip():
        return None
    return UNCHANGED if _normalised(turn.text) == _normalised(turn.before) else None


def check_echo(turn: Turn, settings: GateSettings) -> str | None:
    sources = [text for text in (turn.critique, turn.request) if text]
    return ECHO if any(echo_overlap(turn.text, text) >= settings.echo_threshold for text in sources) else None


def check_copy(turn: Turn, settings: GateSettings) -> str | None:
    """Small models copy the worked example they were shown (its answer to another prompt) instead of writing
    their own; the same trigram share as the echo gate decides."""
    _, grams, _ = _grams_of(turn.text)
    if len(grams) >= MIN_NGRAMS and turn.examples:
        # No one example can hold a larger share than all of them together: one look settles most turns.
        in_any = _union_of(turn.examples)
        if sum(map(in_any.__contains__, grams)) / len(grams) < settings.echo_threshold:
            return None
    return COPY if any(echo_overlap(turn.text, text) >= settings.echo_threshold for text in turn.examples) else None


@lru_cache(maxsize=16)
def _union_of(texts: tuple[str, ...]) -> frozenset:
    return frozenset().union(*(_grams_of(text)[2] for text in texts))


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def check_meta(turn: Turn, settings: GateSettings) -> str | None:
    """A pattern's `^` is the start of any paragraph: small models often open with a line of their own
    ("A good thing, but a little too long.") and then describe "the response" in the next paragraph."""
    paragraphs = [part.strip() for part in _PARAGRAPH_BREAK.split(turn.text.strip())]
    return META if any(p.search(part) for part in paragraphs for p in settings.meta_patterns) else None


def check_repetition(turn: Turn, settings: GateSettings) -> str | None:
    return REPETITION if repetition_share(turn.text) >= settings.repetition_threshold else None


CHECKS: dict[str, Callable[[Turn, GateSettings], str | None]] = {
    TRUNCATED: check_truncated, EMPTY: check_empty, UNCHANGED: check_unchanged,
    ECHO: check_echo, COPY: check_copy, META: check_meta, REPETITION: check_repetition,
}


def final_flags(initial_flags: list[str], revisions: list[tuple[bool, list[str]]]) -> list[str]:
    """Why an example's final answer is unfit for training (empty: it is); `revisions` holds, per round,
    (whether it became the answer, its reasons). With rounds, the final answer must be a clean revision: when
    every revision was flagged, the reasons of the last one (an unrevised first answer is not what revision
    rounds are for). Without rounds, the first answer's own."""
    if not revisions:
        return list(initial_flags)
    if any(used for used, _ in revisions):
        return []
    return list(dict.fromkeys(revisions[-1][1] or [EMPTY]))


def in_gate_order(reasons) -> list[str]:
    """Reasons sorted as the gates run (unknown ones last), so every count lists them alike."""
    order = {gate: i for i, gate in enumerate(GATES)}
    return sorted(reasons, key=lambda reason: order.get(reason, len(order)))


def check_turn(turn: Turn, settings: GateSettings) -> list[str]:
    """The reasons this turn is flagged, in the fixed gate order (empty: it is clean)."""
    applicable = TURN_GATES[turn.kind]
    reasons = [CHECKS[gate](turn, settings) for gate in GATES if gate in applicable and gate in settings.enabled]
    return [reason for reason in reasons if reason]


# -- settings from a run's options ---------------------------------------------------------------

def load_meta_patterns(path: str | Path | None = None) -> tuple[re.Pattern, ...]:
    """The `meta` gate's patterns, one regular expression a line ('#' starts a comment)."""
    source = Path(path) if path else prompts_dir() / "quality" / "meta_patterns.txt"
    if not source.is_file():
        raise CaiError("meta-pattern file not found", str(source), "pass an existing file to --meta-patterns")
    patterns = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            patterns.append(re.compile(line, re.IGNORECASE))
        except re.error as error:
            raise CaiError(f"bad regular expression: {error}", f"{source}:{number}",
                           "fix the pattern or escape special characters with a backslash") from None
    return tuple(patterns)


def parse_gates(value) -> tuple[str, ...]:
    """`all`, `none`, or a comma-separated list (flag text or recipe list) of gate names."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    names = [str(item).strip() for item in items if str(item).strip()]
    if names == ["all"]:
        return GATES
    if names in (["none"], []):
        return ()
    unknown = [name for name in names if name not in GATES]
    if unknown:
        raise CaiError(f"unknown quality gate '{unknown[0]}'", "--gates",
                       f"use all, none, or a comma-separated list of: {', '.join(GATES)}")
    return tuple(gate for gate in GATES if gate in names)


def _check_share(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise CaiError(f"--{name} must be a share in (0, 1], got {value!r}", f"--{name}",
                       f"e.g. --{name} 0.5 (1 flags only texts that repeat entirely)")
    return float(value)


def settings_from_config(config) -> GateSettings:
    """The gate settings of a RunConfig; raises CaiError naming the option on bad values."""
    return GateSettings(enabled=parse_gates(config.gates),
                        echo_threshold=_check_share("echo-threshold", config.echo_threshold),
                        repetition_threshold=_check_share("repetition-threshold", config.repetition_threshold),
                        meta_patterns=load_meta_patterns(config.meta_patterns))


def gate_summary(config) -> dict:
    """The gate settings as the manifest records them."""
    return {"enabled": list(parse_gates(config.gates)), "echo_threshold": config.echo_threshold,
            "repetition_threshold": config.repetition_threshold,
            "meta_patterns": config.meta_patterns or "bundled (prompts/quality/meta_patterns.txt)"}


def check_flag_reason(reason: str) -> str:
    """A `--flagged` filter value: a gate name or `any`."""
    if reason != "any" and reason not in GATES:
        raise CaiError(f"unknown flag reason '{reason}'", "--flagged", f"use any, or one of: {', '.join(GATES)}")
    return reason
