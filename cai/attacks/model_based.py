"""Model-based attacks: the engine rewrites the request (paraphrase, past tense, translation) or breaks it
into escalating sub-questions. The instructions are templates; these functions build the request to the
engine and turn its answer into the attacked conversation."""

from __future__ import annotations

import re

from cai.attacks.catalog import Template
from cai.attacks.transforms import lead_in, split_source, user
from cai.records import Conversation

_LABEL = re.compile(r"^\s*(rewritten request|rewritten question|request|question|translation|paraphrase|"
                    r"new wording|answer)\s*:\s*", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):-]\s*(\S.*)$")


def rewrite_request(template: Template, messages: Conversation) -> Conversation:
    """What the engine is asked: the template's instruction about the source's request."""
    return [user(template.render(template.text, request=split_source(messages)[2]))]


def clean_rewrite(text: str) -> str:
    """The first paragraph of the answer, without a leading label or wrapping quotes."""
    text = _LABEL.sub("", text.strip(), count=1).strip()
    lines = text.split("\n", 1)
    if len(lines) == 2 and lines[0].rstrip().endswith(":"):  # "Here is the rewritten request:" then the rewrite
        text = _LABEL.sub("", lines[1].strip(), count=1).strip()
    text = text.split("\n\n")[0].strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip("“”").strip()


def sub_questions(text: str) -> list[str]:
    return [m.group(2).strip() for line in text.splitlines() if (m := _NUMBERED.match(line))]


def from_answer(template: Template, messages: Conversation, answer: str) -> tuple[Conversation | None, str]:
    """The attacked conversation, or None and why when the answer cannot be used."""
    system, earlier, request = split_source(messages)
    if template.attack == "decompose":
        questions = sub_questions(answer)
        if len(questions) < 2:
            return None, "the model did not write at least 2 numbered sub-questions"
        return system + lead_in(questions) + earlier + [user(request)], ""
    rewritten = clean_rewrite(answer)
    if not rewritten:
        return None, "the model's rewrite was empty"
    return system + earlier + [user(rewritten)], ""
