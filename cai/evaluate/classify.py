"""The judged classification of an answer as comply / refuse / safe-complete.

The feedback model sees the conversation, the answer and the three kinds as options (A), (B), (C); the
probability of each kind is its letter's next-token probability, normalised over the three letters (not
a parsed string, not a keyword match). The options are shown in several rotations (by default all
three, so every kind takes every letter) and the probabilities are averaged, which cancels a judge's
liking for one letter the way asking both orders does for the preference labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean

from cai.engines.base import ChoiceProbs
from cai.label.judge import MIN_CHOICE_MASS
from cai.records import Conversation
from cai.templates import Renderer

KINDS = ("comply", "refuse", "safe-complete")
CLASSIFY = "classify"  # the principle_id of a classification entry in the traces (the order names the letters)
LETTERS = ("A", "B", "C")
_PREFIX_ROOM = 16  # tokens kept free after the question for the answer prefix


def rotations(count: int) -> list[tuple[str, ...]]:
    return [KINDS[i:] + KINDS[:i] for i in range(count)]


@dataclass(frozen=True)
class Question:
    item: int                 # which answer (index into the caller's list)
    shown: tuple[str, ...]    # the kinds shown as (A), (B), (C)
    conversation: Conversation


def plan(messages: list[dict], answer: str, item: int, renderer: Renderer, orders: int) -> list[Question]:
    out = []
    for shown in rotations(orders):
        options = [{"letter": letter, "kind": kind} for letter, kind in zip(LETTERS, shown)]
        text = renderer.render("classify", messages=messages, answer=answer, options=options)
        out.append(Question(item, shown, [{"role": "user", "content": text}]))
    return out


def entry(question: Question, probs: ChoiceProbs | None, error: str | None = None) -> dict:
    """One judgement, in the label-entry shape `cai inspect` shows: raw letter probabilities and, when
    usable, the normalised probability of each kind."""
    out = {"principle_id": CLASSIFY, "order": ",".join(question.shown), "valid": False, "reason": error}
    if probs is None:
        return out
    raw = {letter: probs.probs.get(letter) for letter in LETTERS}
    out.update({f"p_{letter}": value for letter, value in raw.items()})
    missing = [letter for letter in LETTERS if letter in probs.missing or raw[letter] is None
               or not math.isfinite(raw[letter]) or raw[letter] < 0]
    if missing:
        out["reason"] = error or f"'{missing[0]}' not scored by the engine"
        return out
    mass = sum(raw.values())
    if mass < MIN_CHOICE_MASS:
        out["reason"] = error or f"no option letter is probable: P(A) + P(B) + P(C) = {mass:.4f}"
        return out
    out.update(valid=True, scores={kind: raw[letter] / mass for letter, kind in zip(LETTERS, question.shown)})
    return out


def combine(entries: list[dict]) -> dict:
    """The classification of one answer: mean probability of each kind over the usable rotations."""
    usable = [e for e in entries if e["valid"]]
    if not usable:
        reasons = [e["reason"] for e in entries if e.get("reason")]
        return {"probs": None, "label": None, "questions": len(entries), "valid": 0, "consistent": None,
                "reason": reasons[0] if reasons else "not classified"}
    probs = {kind: mean(e["scores"][kind] for e in usable) for kind in KINDS}
    # Did the judge name the same kind whatever letter it had? (No: it followed the letters, not the answer.)
    favourites = {max(KINDS, key=lambda k: e["scores"][k]) for e in usable}
    return {"probs": probs, "label": max(KINDS, key=lambda k: probs[k]), "questions": len(entries),
            "valid": len(usable), "consistent": len(favourites) == 1 if len(usable) > 1 else None, "reason": None}


def _ask(engine, questions: list[Question], prefix: str, progress) -> list[tuple[ChoiceProbs | None, str | None]]:
    """Scores for every question; a failing batch is retried one by one so one bad item sinks only itself."""
    if not questions:
        return []
    try:
        return [(p, None) for p in engine.choice_probs([q.conversation for q in questions], LETTERS, prefix, progress)]
    except NotImplementedError as error:
        return [(None, f"engine error: {error}")] * len(questions)
    except Exception as error:  # noqa: BLE001 - a failure becomes a recorded reason, never a crash
        if len(questions) == 1:
            return [(None, f"engine error: {type(error).__name__}: {str(error)[:200]}")]
        return [outcome for q in questions for outcome in _ask(engine, [q], prefix, progress)]


def classify(engine, items: list[tuple[list[dict], str]], renderer: Renderer, orders: int,
             progress=None) -> tuple[list[dict], list[list[dict]]]:
    """`items`: (conversation, answer) pairs. Returns per item its classification and its entries."""
    prefix = renderer.render("comparison_answer", reasoning="")  # "The answer is: (" -> the letter comes next
    entries: list[list[dict]] = [[] for _ in items]
    asked: list[Question] = []
    for index, (messages, answer) in enumerate(items):
        questions = plan(messages, answer, index, renderer, orders)
        for question in questions:
            if not answer.strip():
                entries[index].append(entry(question, None, "empty answer"))
            elif engine.count_tokens(question.conversation) + _PREFIX_ROOM > engine.context_length:
                entries[index].append(entry(question, None, "prompt too long for the judge's context"))
            else:
                asked.append(question)
    if progress and len(asked) < len(items) * orders:
        progress(len(items) * orders - len(asked), 0)  # questions not asked still count as done
    for question, (probs, error) in zip(asked, _ask(engine, asked, prefix, progress)):
        entries[question.item].append(entry(question, probs, error))
    return [combine(e) for e in entries], entries
