"""The one small interface every engine implements.

`chat` turns conversations into completions; `choice_probs` gives next-token probabilities of
candidate answers (used by the labelling stage). Engines receive whole stages as one call so they can
batch and schedule as they see fit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cai.records import Conversation

# Called by engines as work finishes: (items finished since last call, tokens generated since last call).
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0   # 1.0: no nucleus cut-off (the CAI paper's setting); engines skip the step then
    n: int = 1
    seed: int = 0


@dataclass
class Completion:
    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass
class ChoiceProbs:
    """Probabilities of each candidate at the answer position; `missing` lists candidates the engine
    could not score (for example outside a server's top-k), which is not the same as probability 0."""

    probs: dict[str, float]
    missing: list[str] = field(default_factory=list)
    prompt_tokens: int = 0


class Engine(ABC):
    name: str = "engine"

    def __init__(self, model_id: str):
        self.model_id = model_id
        self.info: dict = {}

    @property
    @abstractmethod
    def context_length(self) -> int: ...

    @abstractmethod
    def count_tokens(self, conversation: Conversation) -> int:
        """Tokens of the prompt that `chat` would send for this conversation."""

    @abstractmethod
    def chat(self, conversations: Sequence[Conversation], sampling: Sampling,
             progress: ProgressFn | None = None) -> list[Completion]: ...

    def choice_probs(self, conversations: Sequence[Conversation], choices: Sequence[str],
                     assistant_prefix: str = "", progress: ProgressFn | None = None) -> list[ChoiceProbs]:
        raise NotImplementedError(f"the {self.name} engine cannot score choices")

    def close(self) -> None:  # noqa: B027 - optional hook: engines without workers have nothing to release
        """Release the model and any worker processes."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
