"""A scripted engine for unit tests of the pipeline logic. Never evidence that a feature works."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cai.engines.base import ChoiceProbs, Completion, Engine, ProgressFn, Sampling
from cai.records import Conversation


def _echo(conversation: Conversation, sample: int) -> str:
    last = conversation[-1]["content"]
    return f"answer {sample} to: {last[:60]}"


class ScriptedEngine(Engine):
    name = "scripted"

    def __init__(self, reply: Callable[[Conversation, int], str] = _echo,
                 probs: Callable[[Conversation], dict] | None = None, context: int = 8192):
        super().__init__("scripted")
        self.reply, self.probs, self._context = reply, probs, context
        self.calls: list[tuple[str, int]] = []  # (method, batch size): lets tests check batching

    @property
    def context_length(self) -> int:
        return self._context

    def count_tokens(self, conversation: Conversation) -> int:
        return sum(len(m["content"].split()) + 4 for m in conversation)

    def chat(self, conversations: Sequence[Conversation], sampling: Sampling,
             progress: ProgressFn | None = None) -> list[Completion]:
        self.calls.append(("chat", len(conversations)))
        out = []
        for conversation in conversations:
            texts = [self.reply(conversation, i) for i in range(sampling.n)]
            out.append(Completion(texts, self.count_tokens(conversation), sum(len(t.split()) for t in texts)))
            if progress:
                progress(1, out[-1].completion_tokens)
        return out

    def choice_probs(self, conversations: Sequence[Conversation], choices: Sequence[str],
                     assistant_prefix: str = "", progress: ProgressFn | None = None) -> list[ChoiceProbs]:
        if self.probs is None:
            return super().choice_probs(conversations, choices, assistant_prefix, progress)
        self.calls.append(("choice_probs", len(conversations)))
        out = [ChoiceProbs(dict(self.probs(c))) for c in conversations]
        if progress:
            progress(len(out), 0)
        return out
