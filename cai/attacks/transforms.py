"""The deterministic transforms: a source conversation and a template in, the attacked conversation out.

The request is the source's last user message. Single-message attacks replace it; escalation puts its
harmless lead-in turns before the source conversation, so the request stays the last user turn, verbatim.
Pure functions: no engine, no randomness (the template was already drawn).
"""

from __future__ import annotations

import re
from itertools import pairwise

from cai.attacks.catalog import Template
from cai.attacks.encodings import encode
from cai.records import Conversation


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def pending() -> dict:
    """An assistant turn for the policy to write when `cai run` answers the conversation (cai/turns.py)."""
    return {"role": "assistant", "content": None}


def split_source(messages: Conversation) -> tuple[Conversation, Conversation, str]:
    """(leading system messages, the turns after them but before the request, the request)."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    return list(messages[:head]), list(messages[head:-1]), messages[-1]["content"]


def split_payload(text: str, pieces: int) -> list[str]:
    """Cut at word starts (or, for too few words, at even character positions) into parts that join back
    to `text` exactly."""
    pieces = max(1, min(pieces, len(text)))
    starts = [m.start() for m in re.finditer(r"\S+", text)][1:]
    if len(starts) < pieces - 1:
        starts = list(range(1, len(text)))
    cuts = [starts[(len(starts) * k) // pieces] for k in range(1, pieces)] if pieces > 1 else []
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def _single(template: Template, request: str) -> str:
    if template.family == "encoding":
        return template.render(template.text, encoded=encode(template.attack, request))
    if template.attack == "payload-split":
        return template.render(template.text, parts=split_payload(request, template.pieces))
    if template.attack == "many-shot" and template.dialogue == "text":
        return template.render(template.text, shots=list(template.shots), request=request)
    return template.render(template.text, request=request)


def lead_in(turns: list[str]) -> Conversation:
    """User turns, each followed by an assistant turn left for the policy."""
    out: Conversation = []
    for turn in turns:
        out += [user(turn), pending()]
    return out


def apply_template(template: Template, messages: Conversation) -> Conversation:
    system, earlier, request = split_source(messages)
    if template.attack == "escalation":
        return system + lead_in([template.render(t, request=request) for t in template.turns]) + earlier + [
            user(request)]
    if template.attack == "many-shot" and template.dialogue == "messages":
        shots = [m for shot in template.shots
                 for m in (user(shot["user"]), {"role": "assistant", "content": shot["assistant"]})]
        return system + shots + earlier + [user(template.render(template.text, request=request))]
    return system + earlier + [user(_single(template, request))]
