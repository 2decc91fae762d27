"""Conversations whose assistant turns the policy writes, turn by turn.

The marker: an assistant message with `"content": null` in an input conversation is a turn for the
model to fill. Before the last user turn is answered, each pending turn is one more request: the
conversation up to that turn goes to the policy, and its answer takes the turn's place. So an
escalation is answered the way a real chat unfolds, and the critique sees the whole conversation.

`TurnStage` is pure like every stage (records -> requests, records + completions -> records);
`WithTurns` runs it until no turn is pending, then the respond step it wraps.
"""

from __future__ import annotations

from dataclasses import dataclass

from cai.records import Conversation, Message, Record, copy_messages


def is_pending(message: Message) -> bool:
    return message.get("role") == "assistant" and message.get("content") is None


def pending_turns(messages: Conversation) -> int:
    return sum(1 for m in messages if is_pending(m))


def for_counting(messages: Conversation) -> Conversation:
    """The conversation with pending turns as empty text, so a tokenizer can count the rest."""
    return [{**m, "content": ""} if is_pending(m) else m for m in messages]


def _first_pending(messages: Conversation) -> int:
    return next(i for i, m in enumerate(messages) if is_pending(m))


class TurnStage:
    """Fills the first pending assistant turn of each record (every record given must have one)."""

    name = "turns"

    def requests(self, records: list[Record]) -> list[Conversation]:
        return [copy_messages(r.messages[:_first_pending(r.messages)]) for r in records]

    def apply(self, records: list[Record], texts: list[str]) -> list[Record]:
        from cai.stages import clean_output

        out = []
        for record, text in zip(records, texts, strict=True):
            record = record.clone()
            index = _first_pending(record.messages)
            record.messages[index] = {**record.messages[index], "content": clean_output(text)}
            record.generated_turns.append(index)
            if not record.messages[index]["content"]:
                record.errors.append(f"turns: the model returned an empty answer for message {index}")
            out.append(record)
        return out


def fill_pending_turns(engine, records: list[Record], sampling, progress=None) -> tuple[list[Record], int, int]:
    """Every pending assistant turn written by `engine`, one engine call per turn depth; returns the
    records (copies where a turn was filled, their tokens counted), and the prompt and completion tokens.
    `progress(items, tokens)` hears of the tokens only: its bar counts answers, not turns."""
    records = list(records)
    stage = TurnStage()
    tokens_only = (lambda items, tokens: progress(0, tokens)) if progress else None
    prompt_tokens = completion_tokens = 0
    while waiting := [i for i, r in enumerate(records) if pending_turns(r.messages)]:
        batch = [records[i] for i in waiting]
        completions = engine.chat(stage.requests(batch), sampling, tokens_only)
        for i, record, completion in zip(waiting, stage.apply(batch, [c.text for c in completions]),
                                         completions, strict=True):
            record.tokens["prompt"] += completion.prompt_tokens
            record.tokens["completion"] += completion.completion_tokens
            prompt_tokens += completion.prompt_tokens
            completion_tokens += completion.completion_tokens
            records[i] = record
    return records, prompt_tokens, completion_tokens


@dataclass
class WithTurns:
    """A step that first fills every pending assistant turn, one engine call per turn depth, then runs
    `step` (the respond step). Records without pending turns cost no extra call."""

    step: object

    @property
    def name(self) -> str:
        return self.step.name

    def execute(self, engine, records: list[Record], sampling, progress) -> tuple[list[Record], int, int]:
        records, prompt_tokens, completion_tokens = fill_pending_turns(engine, records, sampling, progress)
        records, step_prompt, step_completion = self.step.execute(engine, records, sampling, progress)
        return records, prompt_tokens + step_prompt, completion_tokens + step_completion
