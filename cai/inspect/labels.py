"""Reading preference labels without depending on their exact field names.

A label holds at least the comparison principle, the order the two answers were shown in, and the
probabilities of the choices; inspection should keep working when the labelling stage adds or renames
fields, so every field is looked up under the names it is likely to have, and numbers we do not
recognise are kept and shown as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_PRINCIPLE_KEYS = ("principle_id", "principle", "comparison_id", "comparison")
_ORDER_KEYS = ("order", "position", "orientation")
_PROBS_KEYS = ("probs", "probabilities", "p")
_RAW_KEYS = ("raw", "raw_output", "output", "text", "reasoning")
# Flat probability fields such as p_A / p_b / prob_A, mapped to the choice letter.
_FLAT_PREFIXES = ("p_", "prob_", "p")


@dataclass
class LabelView:
    principle: str = ""
    order: str = ""
    probs: dict[str, float] = field(default_factory=dict)  # choice ("A", "B", ...) -> probability
    scores: dict[str, float] = field(default_factory=dict)  # answer name ("initial", "final") -> probability
    pair: str = ""  # the answers compared, e.g. "initial vs final"
    valid: bool | None = None  # None: the label does not say
    other: dict[str, object] = field(default_factory=dict)  # other scalar fields, shown as they are
    raw: str = ""


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _flat_choice(key: str) -> str | None:
    for prefix in _FLAT_PREFIXES:
        rest = key[len(prefix):] if key.lower().startswith(prefix) else ""
        if len(rest) == 1 and rest.isalpha():
            return rest.upper()
    return None


def _first(data: dict, keys: tuple, kind, used: set):
    for key in keys:
        if isinstance(data.get(key), kind) and not isinstance(data.get(key), bool):
            used.add(key)
            return data[key]
    return None


def _probabilities(mapping: dict, letters: bool) -> dict[str, float]:
    out = {}
    for key, value in mapping.items():
        if _number(value) is not None:
            out[str(key).strip("() ").upper() if letters else str(key)] = _number(value)
    return out


def read_label(data: dict) -> LabelView:
    used: set = set()
    label = LabelView(principle=_first(data, _PRINCIPLE_KEYS, str, used) or "")
    order = _first(data, _ORDER_KEYS, (str, int, list, tuple), used)
    if order is not None:
        label.order = "".join(map(str, order)) if isinstance(order, (list, tuple)) else str(order)
    probs = _first(data, _PROBS_KEYS, dict, used)
    label.probs = _probabilities(probs, letters=True) if probs else {}
    for key, value in data.items():
        choice = _flat_choice(key)
        if choice and _number(value) is not None and choice not in label.probs:
            label.probs[choice] = _number(value)
            used.add(key)
    label.probs = dict(sorted(label.probs.items()))
    scores = _first(data, ("scores",), dict, used)
    label.scores = _probabilities(scores, letters=False) if scores else {}
    pair = _first(data, ("pair",), (list, tuple), used)
    label.pair = " vs ".join(map(str, pair)) if pair else ""
    if isinstance(data.get("valid"), bool):
        label.valid = data["valid"]
        used.add("valid")
    label.raw = _first(data, _RAW_KEYS, str, used) or ""
    for key, value in data.items():
        if key not in used and (isinstance(value, (str, int, float, bool)) or value is None):
            label.other[key] = value
    return label


def response_text(value) -> str:
    """An answer stored either as text or as a conversation ending with the assistant's turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for message in reversed(value):
            if isinstance(message, dict) and message.get("role") == "assistant":
                return str(message.get("content", ""))
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return ""
