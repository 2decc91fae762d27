"""The pipeline's stages as pure functions: records -> requests, and records + completions -> records.

A stage never knows which engine runs it. Each stage is a small object with `requests` (distilabel's
format_input) and `apply` (format_output); both are deterministic given the seed and the example id.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from cai.constitution import Constitution, Principle
from cai.records import Conversation, Record, Round
from cai.sampling import example_rng, pick_weighted
from cai.templates import Renderer

_LABEL_PREFIX = re.compile(r"^\s*(revision|revised response|rewritten response|critique)\s*:\s*", re.I)


def clean_output(text: str) -> str:
    """Strip whitespace and a leading 'Revision:'-style label that small models like to echo."""
    return _LABEL_PREFIX.sub("", text.strip(), count=1).strip()


def sample_principle(constitution: Constitution, seed: int, example_id: str, round_index: int) -> Principle:
    return pick_weighted(constitution.principles, example_rng(seed, example_id, "principle", round_index))


def few_shot_turns(constitution: Constitution, renderer: Renderer, count: int) -> Conversation:
    """The worked examples as chat turns; they go first so every request shares this prefix."""
    turns: Conversation = []
    for example in constitution.few_shot[:count]:
        principle = constitution.principle(example.principle)
        turns += [dict(m) for m in example.messages]
        turns.append({"role": "assistant", "content": example.response})
        turns.append({"role": "user", "content": renderer.render("critique", principle=principle,
                                                                 response=example.response)})
        turns.append({"role": "assistant", "content": example.critique})
        turns.append({"role": "user", "content": renderer.render("revision", principle=principle,
                                                                 response=example.response,
                                                                 critique=example.critique)})
        turns.append({"role": "assistant", "content": example.revision})
    return turns


class RespondStage:
    name = "respond"

    def requests(self, records: list[Record]) -> list[Conversation]:
        return [copy.deepcopy(r.messages) for r in records]

    def apply(self, records: list[Record], texts: list[str]) -> list[Record]:
        out = []
        for record, text in zip(records, texts, strict=True):
            record = copy.deepcopy(record)
            record.initial_response = clean_output(text)
            if not record.initial_response:
                record.errors.append("respond: the model returned an empty answer")
            out.append(record)
        return out


@dataclass
class CritiqueStage:
    constitution: Constitution
    renderer: Renderer
    seed: int
    round_index: int
    prefix: Conversation

    @property
    def name(self) -> str:
        return f"critique {self.round_index + 1}"

    def _prompt(self, record: Record) -> tuple[Principle, str]:
        principle = sample_principle(self.constitution, self.seed, record.id, self.round_index)
        return principle, self.renderer.render("critique", principle=principle, response=record.latest_response)

    def requests(self, records: list[Record]) -> list[Conversation]:
        conversations = []
        for record in records:
            _, prompt = self._prompt(record)
            conversations.append(self.prefix + record.messages + [
                {"role": "assistant", "content": record.latest_response},
                {"role": "user", "content": prompt}])
        return [copy.deepcopy(c) for c in conversations]

    def apply(self, records: list[Record], texts: list[str]) -> list[Record]:
        out = []
        for record, text in zip(records, texts, strict=True):
            principle, prompt = self._prompt(record)
            record = copy.deepcopy(record)
            record.rounds.append(Round(principle.id, principle.category, prompt, clean_output(text)))
            out.append(record)
        return out


@dataclass
class RevisionStage:
    constitution: Constitution
    renderer: Renderer
    round_index: int
    prefix: Conversation

    @property
    def name(self) -> str:
        return f"revise {self.round_index + 1}"

    def _context(self, record: Record) -> tuple[str, Round, str]:
        current = record.rounds[self.round_index]
        earlier = [r.revision for r in record.rounds[:self.round_index] if r.revision]
        answer = earlier[-1] if earlier else record.initial_response
        principle = self.constitution.principle(current.principle_id)
        prompt = self.renderer.render("revision", principle=principle, response=answer, critique=current.critique)
        return answer, current, prompt

    def requests(self, records: list[Record]) -> list[Conversation]:
        conversations = []
        for record in records:
            answer, current, prompt = self._context(record)
            conversations.append(self.prefix + record.messages + [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": current.critique_prompt},
                {"role": "assistant", "content": current.critique},
                {"role": "user", "content": prompt}])
        return [copy.deepcopy(c) for c in conversations]

    def apply(self, records: list[Record], texts: list[str]) -> list[Record]:
        out = []
        for record, text in zip(records, texts, strict=True):
            answer, _, prompt = self._context(record)
            record = copy.deepcopy(record)
            current = record.rounds[self.round_index]
            current.revision_prompt = prompt
            current.revision = clean_output(text)
            if not current.revision:
                record.errors.append(f"revise {self.round_index + 1}: empty revision, kept the previous answer")
                current.revision = answer
            out.append(record)
        return out
