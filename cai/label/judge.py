"""The labelling logic, free of any engine: plan the questions, score each answer, combine the scores.

Each pair is judged under K comparison principles (sampled per example, reproducibly), each asked in
both orders. One answer gives P("A") and P("B") at the answer position; normalised, and in the
swapped order read the other way round, it is the probability that the pair's first answer is better.
A principle counts only when both of its orders gave a usable answer, so every soft label is averaged
over both positions and a judge that always says "A" cannot move it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean

from cai.constitution import Comparison
from cai.engines.base import ChoiceProbs
from cai.label.pairs import Pair
from cai.records import Conversation, Record
from cai.sampling import example_rng, pick_many
from cai.templates import Renderer

CHOICES = ("A", "B")
ORDERS = ("forward", "swapped")  # forward: the pair's first answer is shown as (A)
# Below this total probability on "A" and "B" the model was not answering the question at all.
MIN_CHOICE_MASS = 0.01
# A soft label this close to 0.5 is a tie (float noise of averaging symmetric answers).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Question:
    pair: Pair
    principle: Comparison
    order: str
    conversation: Conversation

    @property
    def shown(self) -> tuple[str, str]:
        """Names of the answers shown as (A) and (B)."""
        first, second = self.pair.names
        return (first, second) if self.order == "forward" else (second, first)


@dataclass
class Planner:
    comparisons: tuple[Comparison, ...]
    renderer: Renderer
    seed: int
    principles_per_pair: int
    cot: bool = False

    def principles(self, record_id: str, pair: Pair) -> list[Comparison]:
        rng = example_rng(self.seed, record_id, "label", *pair.names)
        return pick_many(self.comparisons, self.principles_per_pair, rng)

    def questions(self, record: Record, pair: Pair) -> list[Question]:
        """Order by order, so the questions that share the longest prompt prefix (one order's options
        under every principle) are asked one after another and meet the prefix cache warm."""
        out = []
        principles = self.principles(record.id, pair)
        for order in ORDERS:
            for principle in principles:
                question = Question(pair, principle, order, [])
                shown_a, shown_b = (pair.text(name) for name in question.shown)
                text = self.renderer.render("comparison", messages=record.messages, question=principle.question,
                                            answer_a=shown_a, answer_b=shown_b, cot=self.cot)
                out.append(Question(pair, principle, order, [{"role": "user", "content": text}]))
        return out

    def answer_prefix(self, reasoning: str | None = None) -> str:
        """What the assistant turn starts with, so the very next token is the letter."""
        return self.renderer.render("comparison_answer", reasoning=(reasoning or "").strip())


def skip_reason(pair: Pair) -> str | None:
    """Pairs not worth asking about: the answer is known (or meaningless) without the model."""
    if not all(text and text.strip() for text in pair.texts):
        return "an answer is empty"
    if pair.texts[0].strip() == pair.texts[1].strip():
        return "the two answers are identical"
    return None


def _problem(probs: ChoiceProbs) -> str | None:
    for letter in CHOICES:
        if letter in probs.missing:
            return f"'{letter}' not scored: outside the engine's top candidates"
        value = probs.probs.get(letter)
        if value is None or not math.isfinite(value) or value < 0:
            return f"'{letter}' not scored: the engine returned {value!r}"
    mass = probs.probs["A"] + probs.probs["B"]
    if mass < MIN_CHOICE_MASS:
        return f"both letters improbable: P(A) + P(B) = {mass:.4f} < {MIN_CHOICE_MASS}"
    return None


def score(question: Question, probs: ChoiceProbs | None, error: str | None = None,
          clamp: tuple[float, float] | None = None, reasoning: str | None = None) -> dict:
    """One label entry for record.labels: the raw letter probabilities and, when usable, the normalised
    (and, for chain-of-thought, clamped) probability of each answer of the pair."""
    shown_a, shown_b = question.shown
    entry = {"pair": list(question.pair.names), "principle_id": question.principle.id, "order": question.order,
             "A": shown_a, "B": shown_b, "p_A": None, "p_B": None, "missing": [], "valid": False, "reason": error}
    if reasoning is not None:
        entry["reasoning"] = reasoning
    if probs is not None:
        entry.update(p_A=probs.probs.get("A"), p_B=probs.probs.get("B"), missing=list(probs.missing))
        entry["reason"] = error or _problem(probs)
    if entry["reason"] is None and probs is not None:
        p_a = probs.probs["A"] / (probs.probs["A"] + probs.probs["B"])
        if clamp is not None:
            p_a = min(max(p_a, clamp[0]), clamp[1])
        entry.update(valid=True, scores={shown_a: p_a, shown_b: 1.0 - p_a})
    return entry


def verdict(pair: Pair, entries: list[dict], method: str) -> dict:
    """Combine one pair's label entries into its soft label and preference."""
    first, second = pair.names
    out = {"pair": [first, second], "expected": pair.expected, "method": method, "questions": len(entries),
           "valid": sum(e["valid"] for e in entries), "principles": [], "flips": 0, "scores": None,
           "chosen_name": None, "rejected_name": None, "score_chosen": None, "score_rejected": None,
           "margin": None, "agrees": None, "reason": None}
    by_principle: dict[str, dict[str, dict]] = {}
    for entry in entries:
        if entry["valid"]:
            by_principle.setdefault(entry["principle_id"], {})[entry["order"]] = entry
    both = {pid: orders for pid, orders in by_principle.items() if len(orders) == len(ORDERS)}
    if not both:
        reasons = [e["reason"] for e in entries if e["reason"]]
        out["reason"] = reasons[0] if reasons else "no principle got a usable answer in both orders"
        return out
    p_first = mean(orders[o]["scores"][first] for orders in both.values() for o in ORDERS)
    out["principles"] = list(both)
    out["flips"] = sum((o["forward"]["scores"][first] > 0.5) != (o["swapped"]["scores"][first] > 0.5)
                       for o in both.values())
    out["scores"] = {first: p_first, second: 1.0 - p_first}
    if abs(p_first - 0.5) <= TIE_TOLERANCE:
        out["reason"] = "tie: the judge found no difference"
        return out
    chosen, rejected = (first, second) if p_first > 0.5 else (second, first)
    out.update(chosen_name=chosen, rejected_name=rejected, score_chosen=out["scores"][chosen],
               score_rejected=out["scores"][rejected], margin=abs(2.0 * p_first - 1.0),
               agrees=None if pair.expected is None else chosen == pair.expected)
    return out


def preference(pairs: list[Pair], verdicts: list[dict]) -> dict | None:
    """The record's exported preference: its labelled pair, or with several pairs (k policy samples)
    the one the judge separated most clearly. Invalid verdicts export nothing (chosen is None)."""
    if not verdicts:
        return None
    usable = [i for i, v in enumerate(verdicts) if v["chosen_name"] is not None]
    index = max(usable, key=lambda i: verdicts[i]["margin"]) if usable else 0
    best, pair = dict(verdicts[index]), pairs[index]
    best["chosen"] = pair.text(best["chosen_name"]) if best["chosen_name"] else None
    best["rejected"] = pair.text(best["rejected_name"]) if best["rejected_name"] else None
    if len(verdicts) > 1:
        best["all_pairs"] = [{k: v[k] for k in ("pair", "scores", "chosen_name", "margin", "reason")}
                             for v in verdicts]
    return best
