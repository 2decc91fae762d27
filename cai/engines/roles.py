"""Fitting a conversation to the roles a chat template accepts.

Many templates have no system role: they raise on one (Mistral, Gemma-style strict alternation) or
silently drop it. The template is asked once, with a probe conversation; when it cannot show a system
message, each system message is folded into the user turn after it, which every template accepts.
"""

from __future__ import annotations

from cai.records import Conversation

_PROBE_TEXT = "cai-system-probe-7f3a"


def fold_system(conversation: Conversation) -> Conversation:
    """Each system message's text joined to the start of the next user turn (a user turn of its own
    when none follows)."""
    out: Conversation = []
    pending: list[str] = []
    for message in conversation:
        if message["role"] == "system":
            pending.append(message["content"])
            continue
        if pending and message["role"] == "user":
            message = {**message, "content": "\n\n".join([*pending, message["content"]])}
            pending = []
        out.append(dict(message))
    if pending:
        out.append({"role": "user", "content": "\n\n".join(pending)})
    return out


def template_shows_system(tokenizer) -> bool:
    """Whether the tokenizer's chat template renders a leading system message (without raising, and
    without dropping it)."""
    probe = [{"role": "system", "content": _PROBE_TEXT}, {"role": "user", "content": "hello"}]
    try:
        text = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - templates raise what they like (TemplateError, ValueError...)
        return False
    return _PROBE_TEXT in text


class TemplateRoles:
    """One engine's answer to "does the template take a system role?", asked once and kept."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._system: bool | None = None

    @property
    def system(self) -> bool:
        if self._system is None:
            self._system = self.tokenizer is None or template_shows_system(self.tokenizer)
        return self._system

    def fit(self, conversation: Conversation) -> Conversation:
        if any(m["role"] == "system" for m in conversation) and not self.system:
            return fold_system(conversation)
        return list(conversation)
