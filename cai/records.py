"""The data that flows through the pipeline: one Record per example, one Round per critique/revision."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

Message = dict  # {"role": ..., "content": ...}
Conversation = list  # list[Message]


@dataclass
class Round:
    principle_id: str
    category: str
    critique_prompt: str
    critique: str = ""
    revision_prompt: str = ""
    revision: str = ""


@dataclass
class Record:
    id: str
    messages: list[Message]
    category: str | None = None
    source_row: int | None = None
    initial_response: str | None = None
    rounds: list[Round] = field(default_factory=list)
    # Answers drawn from the policy for the same prompt (RL-CAI pairs; sample 0 is the initial answer),
    # or the two answers of a pair dataset given to `cai label`.
    samples: list[str] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    # Set by the labelling stage: {"chosen", "rejected", "score_chosen", ...}; None means "revision wins".
    preference: dict | None = None
    errors: list[str] = field(default_factory=list)
    tokens: dict = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    @property
    def latest_response(self) -> str | None:
        """The answer as it stands: the last revision, or the initial response."""
        for round_ in reversed(self.rounds):
            if round_.revision:
                return round_.revision
        return self.initial_response

    @property
    def final_response(self) -> str | None:
        return self.latest_response

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Record":
        data = dict(data)
        data["rounds"] = [Round(**r) for r in data.get("rounds", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
