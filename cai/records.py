"""The data that flows through the pipeline: one Record per example, one Round per critique/revision."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

from cai.quality import final_flags

Message = dict  # {"role": ..., "content": ...}
Conversation = list  # list[Message]


def copy_messages(messages: Conversation) -> Conversation:
    """A copy of a conversation a request may keep (its messages are flat dicts of strings)."""
    return [dict(message) for message in messages]


def _nested_copy(value):
    """Labels and the like: small nested dicts, copied whole."""
    return None if value is None else pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


@dataclass
class Round:
    principle_id: str
    category: str
    critique_prompt: str
    critique: str = ""
    revision_prompt: str = ""
    revision: str = ""
    # The engine's finish reason of each turn, and the quality gates' reasons (cai.quality); a revision
    # with reasons is kept here for the trace but never replaces the answer it revises.
    critique_finish: str | None = None
    critique_flags: list[str] = field(default_factory=list)
    revision_finish: str | None = None
    revision_flags: list[str] = field(default_factory=list)

    @property
    def clean_revision(self) -> str | None:
        return self.revision if self.revision and not self.revision_flags else None

    def copy(self) -> Round:
        """A deep copy (its only mutable parts are the two lists of flags)."""
        new = object.__new__(Round)
        new.__dict__ = {**self.__dict__, "critique_flags": list(self.critique_flags),
                        "revision_flags": list(self.revision_flags)}
        return new


@dataclass
class Record:
    id: str
    messages: list[Message]
    category: str | None = None
    source_row: int | None = None
    # "family/name" of the attack an augmented prompt carries (`cai augment`), e.g. "encoding/base64".
    attack: str | None = None
    initial_response: str | None = None
    initial_finish: str | None = None
    initial_flags: list[str] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    # Answers drawn from the policy for the same prompt (RL-CAI pairs; sample 0 is the initial answer),
    # or the two answers of a pair dataset given to `cai label`.
    samples: list[str] = field(default_factory=list)
    sample_flags: list[list[str]] = field(default_factory=list)  # per sample, as initial_flags
    labels: list[dict] = field(default_factory=list)
    # Set by the labelling stage: {"chosen", "rejected", "score_chosen", ...}; None means "revision wins".
    preference: dict | None = None
    errors: list[str] = field(default_factory=list)
    # Indexes into `messages` of the assistant turns the policy wrote (inputs marked them `content: null`).
    generated_turns: list[int] = field(default_factory=list)
    # Set when a generation turn failed twice: {"stage", "reason"}; such an example is never exported.
    failure: dict | None = None
    tokens: dict = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    @property
    def latest_response(self) -> str | None:
        """The answer as it stands: the last clean revision, or the initial response."""
        return self.answer_after(len(self.rounds))

    @property
    def final_response(self) -> str | None:
        return self.latest_response

    def answer_after(self, rounds: int) -> str | None:
        """The answer as it stood after the first `rounds` rounds (0: the initial response)."""
        for round_ in reversed(self.rounds[:rounds]):
            if round_.clean_revision:
                return round_.clean_revision
        return self.initial_response

    @property
    def flags(self) -> list[str]:
        """Why the final answer is not fit for training (empty: it is): cai.quality.final_flags."""
        return final_flags(self.initial_flags, [(bool(r.clean_revision), r.revision_flags) for r in self.rounds])

    def clone(self) -> Record:
        """A deep copy: stages are pure, they change a copy of the record they are given. Every stage
        clones, so this is written out field by field (about 5x faster than a pickle round trip, itself
        several times faster than copy.deepcopy); tests/test_records.py fails when a field is added here
        without a copy."""
        new = object.__new__(Record)
        new.__dict__ = {**self.__dict__,
                        "messages": copy_messages(self.messages),
                        "initial_flags": list(self.initial_flags),
                        "rounds": [round_.copy() for round_ in self.rounds],
                        "samples": list(self.samples),
                        "sample_flags": [list(flags) for flags in self.sample_flags],
                        "labels": _nested_copy(self.labels) if self.labels else [],
                        "preference": _nested_copy(self.preference),
                        "errors": list(self.errors),
                        "generated_turns": list(self.generated_turns),
                        "failure": _nested_copy(self.failure),
                        "tokens": dict(self.tokens)}
        return new

    def to_dict(self) -> dict:
        """Plain data (a copy), fields in declaration order (`id` first: the store reads it without parsing
        the rest), as `dataclasses.asdict` gives but faster: the clone's fields, its rounds as dicts."""
        data = self.clone().__dict__
        data["rounds"] = [round_.__dict__ for round_ in data["rounds"]]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Record:
        data = dict(data)
        data["rounds"] = [Round(**r) for r in data.get("rounds", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
