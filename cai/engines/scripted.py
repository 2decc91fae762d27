"""A scripted engine for unit tests of the pipeline logic. Never evidence that a feature works.

By default every `collect` finishes all queued requests in submission order, as one batch per kind
(so `calls` shows how the pipeline batched). `finish="random"` finishes a random part of the queue in a
random order each time, like a real engine whose sequences end at different lengths; a callable picks
which of the queued (key, request) pairs finish (the first one when it picks none); `fail` makes
chosen requests raise, to test per-request isolation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache

from cai.engines.base import ChoiceProbs, Completion, Engine, Finished, Request
from cai.records import Conversation


def _echo(conversation: Conversation, sample: int) -> str:
    last = conversation[-1]["content"]
    return f"answer {sample} to: {last[:60]}"


@lru_cache(maxsize=4096)
def _words(text: str) -> int:
    """A token is a word here. Cached: the same few-shot turns and answers recur in every request, and the
    overhead bench (bench/schedule.py --overhead) should measure the pipeline, not this engine."""
    return len(text.split())


class ScriptedFailure(RuntimeError):
    pass


class ScriptedEngine(Engine):
    name = "scripted"

    def __init__(self, reply: Callable[[Conversation, int], str] = _echo,
                 probs: Callable[[Conversation], dict] | None = None, context: int = 8192,
                 finish="all", fail: Callable[[Request], bool] | None = None, seed: int = 0,
                 window: int = 32):
        super().__init__("scripted")
        self.reply, self.probs, self._context = reply, probs, context
        self.can_score = probs is not None
        self.finish, self.fail, self.rng, self._window = finish, fail, random.Random(seed), window
        self.calls: list[tuple[str, int]] = []  # (method, batch size): lets tests check batching
        self.queue: list[tuple[object, Request]] = []
        self.failures: list[Request] = []       # every request that was made to fail
        self.most_pending = 0                   # the largest queue seen: lets tests check the window

    @property
    def context_length(self) -> int:
        return self._context

    @property
    def window(self) -> int:
        return self._window

    def count_tokens(self, conversation: Conversation) -> int:
        return sum(_words(m["content"]) + 4 for m in conversation)

    def _submit(self, key, request: Request) -> None:
        self.queue.append((key, request))
        self.most_pending = max(self.most_pending, len(self.queue))

    def _collect(self, block: bool) -> list[Finished]:
        if callable(self.finish):
            taken = self.finish(list(self.queue)) or self.queue[:1]
            chosen = {id(item) for item in taken}
            self.queue = [item for item in self.queue if id(item) not in chosen]
        elif self.finish == "random" and len(self.queue) > 1:
            taken = self.rng.sample(self.queue, self.rng.randint(1, len(self.queue)))
            chosen = {id(item) for item in taken}
            self.queue = [item for item in self.queue if id(item) not in chosen]
        else:
            taken, self.queue = self.queue, []
        for kind in ("chat", "choice_probs") if self.probs else ("chat",):
            size = sum(1 for _, r in taken if r.scores == (kind == "choice_probs"))
            if size:
                self.calls.append((kind, size))
        return [(key, self._answer(request)) for key, request in taken]

    def _answer(self, request: Request):
        if self.fail is not None and self.fail(request):
            self.failures.append(request)
            return ScriptedFailure("scripted failure")
        conversation = request.conversation
        if request.scores:
            if self.probs is None:
                return NotImplementedError("the scripted engine cannot score choices")
            return ChoiceProbs(dict(self.probs(conversation)))
        texts = [self.reply(conversation, i) for i in range(request.sampling.n)]
        return Completion(texts, self.count_tokens(conversation), sum(len(t.split()) for t in texts))
