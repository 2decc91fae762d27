"""The one small interface every engine implements.

At its core an engine takes requests one at a time: `submit(key, request)` queues one, `collect()`
returns the ones that finished, as (key, result or exception), in whatever order the engine finishes
them. The continuous scheduler (cai.scheduler) feeds it this way. The whole-list calls `chat` (turns
conversations into completions) and `choice_probs` (next-token probabilities of candidate answers, for
labelling) are built on the same two methods, so each engine has one path.
"""

from __future__ import annotations

import itertools
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


@dataclass(frozen=True)
class Request:
    """One unit of engine work: generate for a conversation, or (with `choices`) score the choices at the
    answer position after `assistant_prefix`. `alone` asks the engine not to batch it with others (a retry
    of a request that failed in company)."""

    conversation: Conversation
    sampling: Sampling = Sampling()
    choices: tuple[str, ...] = ()
    assistant_prefix: str = ""
    alone: bool = False

    @property
    def scores(self) -> bool:
        return bool(self.choices)


Finished = tuple  # (key, Completion | ChoiceProbs | BaseException)


class Engine(ABC):
    name: str = "engine"
    can_score: bool = True  # answers choice requests (`choice_probs`); the feedback role needs it

    def __init__(self, model_id: str):
        self.model_id = model_id
        self.info: dict = {}

    # -- the request interface ----------------------------------------------------------------
    @property
    def window(self) -> int:
        """Examples worth keeping in flight to keep this engine busy (the scheduler's default)."""
        return 32

    def submit(self, key, request: Request) -> None:
        """Queue one request; its result comes back from `collect` under `key`."""
        self._state()["waiting"] += 1
        self._submit(key, request)

    def collect(self, block: bool = True) -> list[Finished]:
        """Requests finished since the last call. With `block`, waits (doing the engine's work) until at
        least one has finished, unless nothing is pending."""
        state = self._state()
        if state["stash"]:
            found, state["stash"] = state["stash"], []
            return found
        if not state["waiting"]:
            return []
        found = self._collect(block)
        state["waiting"] -= len(found)
        return found

    def pending(self) -> int:
        state = self._state()
        return state["waiting"] + len(state["stash"])

    def _state(self) -> dict:
        if "_requests" not in self.__dict__:
            self._requests = {"waiting": 0, "stash": [], "calls": itertools.count()}
        return self._requests

    def _submit(self, key, request: Request) -> None:
        raise NotImplementedError(f"the {self.name} engine takes no single requests")

    def _collect(self, block: bool) -> list[Finished]:
        raise NotImplementedError(f"the {self.name} engine takes no single requests")

    def run_all(self, requests: Sequence[Request], progress: ProgressFn | None = None) -> list:
        """Every request's result in order; raises the first failure once all have finished. Results of
        other callers' requests that finish meanwhile are kept for their next `collect`."""
        state = self._state()
        call = ("run_all", next(state["calls"]))
        for index, request in enumerate(requests):
            self.submit((call, index), request)
        results: list = [None] * len(requests)
        left = len(requests)
        while left:
            found = self._collect(True)
            state["waiting"] -= len(found)
            mine = []
            for key, result in found:
                if isinstance(key, tuple) and len(key) == 2 and key[0] == call:
                    results[key[1]] = result
                    mine.append(result)
                else:
                    state["stash"].append((key, result))
            left -= len(mine)
            if progress and mine:
                progress(len(mine), sum(r.completion_tokens for r in mine if isinstance(r, Completion)))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    @property
    @abstractmethod
    def context_length(self) -> int: ...

    @abstractmethod
    def count_tokens(self, conversation: Conversation) -> int:
        """Tokens of the prompt that `chat` would send for this conversation."""

    def chat(self, conversations: Sequence[Conversation], sampling: Sampling,
             progress: ProgressFn | None = None) -> list[Completion]:
        return self.run_all([Request(list(c), sampling) for c in conversations], progress)

    def choice_probs(self, conversations: Sequence[Conversation], choices: Sequence[str],
                     assistant_prefix: str = "", progress: ProgressFn | None = None) -> list[ChoiceProbs]:
        return self.run_all([Request(list(c), choices=tuple(choices), assistant_prefix=assistant_prefix)
                             for c in conversations], progress)

    def close(self) -> None:  # noqa: B027 - optional hook: engines without workers have nothing to release
        """Release the model and any worker processes."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def takes_requests(engine) -> bool:
    """Whether the engine's whole-list calls are its request interface (every built-in engine). One that
    overrides `chat` with its own whole-list logic (a wrapper, a test double) gets whole-list calls only."""
    chat = getattr(type(engine), "chat", None)
    return isinstance(engine, Engine) and chat is Engine.chat
