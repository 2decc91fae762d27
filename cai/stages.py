"""The pipeline's stages as pure functions: records -> requests, and records + completions -> records.

A stage never knows which engine runs it. Each stage is a small object with `requests` (distilabel's
format_input) and `apply` (format_output); both are deterministic given the seed and the example id.
`apply` runs the quality gates (cai.quality) on each completion and records the finish reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cai.constitution import Constitution, Principle
from cai.engines.base import Completion
from cai.engines.roles import fold_system
from cai.principle_fit import applicable
from cai.quality import GateSettings, Turn, check_turn
from cai.records import Conversation, Record, Round, copy_messages
from cai.sampling import example_rng, pick_weighted
from cai.templates import Renderer

_LABEL_PREFIX = re.compile(r"^\s*(revision|revised response|rewritten response|critique)\s*:\s*", re.I)


def clean_output(text: str) -> str:
    """Strip whitespace and a leading 'Revision:'-style label that small models like to echo."""
    return _LABEL_PREFIX.sub("", text.strip(), count=1).strip()


def sample_principle(constitution: Constitution, seed: int, example_id: str, round_index: int,
                     category: str | None = None, attack: str | None = None) -> Principle:
    """Drawn from the principles whose `applies_to` fits the row's category or attack, else from all."""
    return pick_weighted(applicable(constitution.principles, category, attack),
                         example_rng(seed, example_id, "principle", round_index))


def with_few_shot(prefix: Conversation, messages: Conversation) -> Conversation:
    """The worked examples placed where every chat template accepts them: first, or right after a
    leading system message (which templates only accept first). The prefix ends on an assistant turn
    and the record's turns start with a user turn, so user/assistant alternation holds at the join."""
    if messages and messages[0]["role"] == "system":
        return [messages[0], *prefix, *messages[1:]]
    return [*prefix, *messages]


def few_shot_turns(constitution: Constitution, renderer: Renderer, count: int) -> Conversation:
    """The worked examples as chat turns; they go first (after any system message) so every request
    shares this prefix."""
    turns: Conversation = []
    for example in constitution.few_shot[:count]:
        principle = constitution.principle(example.principle)
        # A worked example's own system message would sit mid-conversation: fold it into its user turn.
        turns += fold_system([dict(m) for m in example.messages])
        turns.append({"role": "assistant", "content": example.response})
        turns.append({"role": "user", "content": renderer.render("critique", principle=principle,
                                                                 response=example.response)})
        turns.append({"role": "assistant", "content": example.critique})
        turns.append({"role": "user", "content": renderer.render("revision", principle=principle,
                                                                 response=example.response,
                                                                 critique=example.critique)})
        turns.append({"role": "assistant", "content": example.revision})
    return turns


def finish_reason(completion: Completion, index: int = 0) -> str | None:
    reasons = completion.finish_reasons
    return reasons[index] if index < len(reasons) else None


def example_texts(prefix: Conversation) -> tuple[str, ...]:
    """The worked examples' assistant turns (answers, critiques, revisions): what a model may copy."""
    return tuple(m["content"] for m in prefix if m["role"] == "assistant")


@dataclass
class RespondStage:
    gates: GateSettings = field(default_factory=GateSettings)
    name = "respond"

    def requests(self, records: list[Record]) -> list[Conversation]:
        return [copy_messages(r.messages) for r in records]

    def apply(self, records: list[Record], completions: list[Completion]) -> list[Record]:
        out = []
        for record, completion in zip(records, completions, strict=True):
            record = record.clone()
            record.initial_response = clean_output(completion.text)
            record.initial_finish = finish_reason(completion)
            record.initial_flags = check_turn(Turn("answer", record.initial_response, record.initial_finish),
                                              self.gates)
            if not record.initial_response:
                record.errors.append("respond: the model returned an empty answer")
            out.append(record)
        return out


class PromptMemo:
    """What a stage rendered for a record's request, kept until its `apply` needs the same prompt again
    (then dropped): rendering is a fifth of the scheduler's own cost, and both calls would do it. Keyed on
    every input of the prompt, so a changed record never gets a stale one."""

    LIMIT = 1 << 16  # requests that never came back (failed examples) cannot pile up

    def __init__(self):
        self.kept: dict = {}

    def get(self, key, make):
        found = self.kept.pop(key, None)
        if found is None:
            found = make()
            if len(self.kept) >= self.LIMIT:
                self.kept.clear()
            self.kept[key] = found
        return found


@dataclass
class CritiqueStage:
    constitution: Constitution
    renderer: Renderer
    seed: int
    round_index: int
    prefix: Conversation
    gates: GateSettings = field(default_factory=GateSettings)
    memo: PromptMemo = field(default_factory=PromptMemo, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"critique {self.round_index + 1}"

    def _prompt(self, record: Record) -> tuple[Principle, str]:
        def make() -> tuple[Principle, str]:
            principle = sample_principle(self.constitution, self.seed, record.id, self.round_index,
                                         record.category, record.attack)
            return principle, self.renderer.render("critique", principle=principle, response=record.latest_response)

        return self.memo.get((record.id, record.category, record.attack, record.latest_response), make)

    def requests(self, records: list[Record]) -> list[Conversation]:
        conversations = []
        for record in records:
            _, prompt = self._prompt(record)
            conversations.append(with_few_shot(self.prefix, record.messages) + [
                {"role": "assistant", "content": record.latest_response},
                {"role": "user", "content": prompt}])
        return [copy_messages(c) for c in conversations]

    def apply(self, records: list[Record], completions: list[Completion]) -> list[Record]:
        out = []
        for record, completion in zip(records, completions, strict=True):
            principle, prompt = self._prompt(record)
            record = record.clone()
            critique, finish = clean_output(completion.text), finish_reason(completion)
            turn = Turn("critique", critique, finish, examples=example_texts(self.prefix))
            record.rounds.append(Round(principle.id, principle.category, prompt, critique, critique_finish=finish,
                                       critique_flags=check_turn(turn, self.gates)))
            out.append(record)
        return out


@dataclass
class RevisionStage:
    constitution: Constitution
    renderer: Renderer
    round_index: int
    prefix: Conversation
    gates: GateSettings = field(default_factory=GateSettings)
    memo: PromptMemo = field(default_factory=PromptMemo, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"revise {self.round_index + 1}"

    def _context(self, record: Record) -> tuple[str, Round, str]:
        current = record.rounds[self.round_index]
        answer = record.answer_after(self.round_index) or ""  # the last clean answer

        def make() -> str:
            principle = self.constitution.principle(current.principle_id)
            return self.renderer.render("revision", principle=principle, response=answer, critique=current.critique)

        return answer, current, self.memo.get((current.principle_id, answer, current.critique), make)

    def requests(self, records: list[Record]) -> list[Conversation]:
        conversations = []
        for record in records:
            answer, current, prompt = self._context(record)
            conversations.append(with_few_shot(self.prefix, record.messages) + [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": current.critique_prompt},
                {"role": "assistant", "content": current.critique},
                {"role": "user", "content": prompt}])
        return [copy_messages(c) for c in conversations]

    def apply(self, records: list[Record], completions: list[Completion]) -> list[Record]:
        out = []
        for record, completion in zip(records, completions, strict=True):
            answer, _, prompt = self._context(record)
            record = record.clone()
            current = record.rounds[self.round_index]
            current.revision_prompt = prompt
            current.revision = clean_output(completion.text)
            current.revision_finish = finish_reason(completion)
            # A flagged revision stays in the trace; `answer_after` skips it, so the next round revises
            # the last clean answer.
            current.revision_flags = check_turn(Turn("revision", current.revision, current.revision_finish,
                                                     before=answer, critique=current.critique,
                                                     request=self.constitution.principle(current.principle_id).revision,
                                                     examples=example_texts(self.prefix)), self.gates)
            out.append(record)
        return out
