"""`cai prompts show STAGE`: the exact messages a stage would send, built by the stages' own code.

Nothing here formats a prompt by itself: the respond, critique and revision stages and the labelling
planner are asked for their requests on a one-example record, with the chosen principle as the only
one to sample from. So what is shown is what a run sends, templates and few-shot prefix included.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from cai.constitution import Constitution
from cai.errors import CaiError
from cai.records import Record, Round
from cai.stages import CritiqueStage, RespondStage, RevisionStage, few_shot_turns
from cai.templates import Renderer

STAGES = ("respond", "critique", "revision", "comparison")

# A made-up example, used when the user gives none: a harmless request that small models often refuse.
SAMPLE_PROMPT = "How do I kill a Python process that has stopped responding?"
SAMPLE_RESPONSE = "Sorry, I can't help with killing anything."
SAMPLE_CRITIQUE = ("The request is about ending a stuck program, which is harmless; refusing it because of the "
                   "word \"kill\" is over-cautious and unhelpful.")
SAMPLE_REVISION = ("Find its process id with `ps aux | grep python`, then run `kill <pid>`; if it still runs, "
                   "use `kill -9 <pid>`.")


@dataclass
class Preview:
    stage: str
    principle_id: str
    principle_text: str
    messages: list[dict]
    prefix_messages: int = 0  # how many leading messages are the few-shot examples
    assistant_prefix: str = ""  # comparison: the text the assistant's turn starts with
    note: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def sample_messages(prompt: str | None) -> list[dict]:
    """The conversation: --prompt text, a JSON list of {role, content} messages, or the built-in sample."""
    if prompt is None:
        return [{"role": "user", "content": SAMPLE_PROMPT}]
    if prompt.lstrip().startswith("["):
        try:
            messages = json.loads(prompt)
        except json.JSONDecodeError:
            messages = None
        if isinstance(messages, list) and messages and all(
                isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["content"], str)
                for m in messages):
            if messages[-1]["role"] != "user":
                raise CaiError("the conversation must end with a user message", "--prompt",
                               "end the JSON list with {\"role\": \"user\", \"content\": \"...\"}")
            return messages
    return [{"role": "user", "content": prompt}]


def _principle(constitution: Constitution, principle_id: str | None):
    if principle_id is None:
        return constitution.principles[0]
    if principle_id not in constitution.by_id:
        raise CaiError(f"no principle '{principle_id}' in {constitution.source or 'the constitution'}", "--principle",
                       "`cai constitution show` lists the ids")
    return constitution.by_id[principle_id]


def _comparison(constitution: Constitution, comparison_id: str | None):
    if not constitution.comparisons:
        raise CaiError("the constitution has no comparisons", constitution.source or "--constitution",
                       "add a `comparisons:` section (see `cai constitution new`)")
    if comparison_id is None:
        return constitution.comparisons[0]
    for comparison in constitution.comparisons:
        if comparison.id == comparison_id:
            return comparison
    raise CaiError(f"no comparison '{comparison_id}' in {constitution.source or 'the constitution'}", "--principle",
                   "for the comparison stage, --principle takes a comparison id (`cai constitution show` lists them)")


def build_preview(stage: str, constitution: Constitution, renderer: Renderer, *, principle_id: str | None = None,
                  prompt: str | None = None, response: str | None = None, critique: str | None = None,
                  revision: str | None = None, few_shot: int = 2, order: str = "forward",
                  cot: bool = False) -> Preview:
    if stage not in STAGES:
        raise CaiError(f"unknown stage '{stage}'", "STAGE", f"use one of: {', '.join(STAGES)}")
    record = Record("preview", sample_messages(prompt), initial_response=response or SAMPLE_RESPONSE)
    if stage == "respond":
        return Preview(stage, "", "", RespondStage().requests([record])[0],
                       note="the conversation as given: the respond stage sends it unchanged")
    if stage == "comparison":
        return _comparison_preview(constitution, renderer, record, comparison_id=principle_id,
                                   revision=revision or SAMPLE_REVISION, order=order, cot=cot)
    principle = _principle(constitution, principle_id)
    only = dataclasses.replace(constitution, principles=(principle,))  # the only one a round can sample
    prefix = few_shot_turns(constitution, renderer, few_shot)
    critique_stage = CritiqueStage(only, renderer, seed=0, round_index=0, prefix=prefix)
    if stage == "critique":
        messages = critique_stage.requests([record])[0]
    else:
        critique_prompt = renderer.render("critique", principle=principle, response=record.initial_response)
        record.rounds = [Round(principle.id, principle.category, critique_prompt, critique or SAMPLE_CRITIQUE)]
        messages = RevisionStage(only, renderer, round_index=0, prefix=prefix).requests([record])[0]
    return Preview(stage, principle.id, f"{principle.category}: {principle.critique}", messages, len(prefix))


def _comparison_preview(constitution: Constitution, renderer: Renderer, record: Record, *, comparison_id,
                        revision: str, order: str, cot: bool) -> Preview:
    from cai.label.judge import ORDERS, Planner
    from cai.label.pairs import Pair

    if order not in ORDERS:
        raise CaiError(f"unknown order '{order}'", "--order", f"use one of: {', '.join(ORDERS)}")
    comparison = _comparison(constitution, comparison_id)
    planner = Planner((comparison,), renderer, seed=0, principles_per_pair=1, cot=cot)
    pair = Pair(("initial", "final"), (record.initial_response, revision), "final")
    question = next(q for q in planner.questions(record, pair) if q.order == order)
    shown_a, shown_b = question.shown
    note = f"(A) is the {shown_a} answer, (B) the {shown_b} one"
    if cot:
        note += "; chain of thought: the model first writes its reasoning, then the answer prefix follows it"
        prefix = planner.answer_prefix("<the model's reasoning>")
    else:
        prefix = planner.answer_prefix()
    return Preview("comparison", comparison.id, comparison.question, question.conversation,
                   assistant_prefix=prefix, note=note)


def chat_template_text(model: str, preview: Preview) -> tuple[str, int]:
    """The text the model reads, through the model's own chat template (tokenizer only, no weights)."""
    from cai.models import resolve_model

    path, _ = resolve_model(model)
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise CaiError(f"cannot load the tokenizer: {str(error).splitlines()[0]}", "--model",
                       "give a local model folder, a hub id available offline, or 'default'") from None
    if not getattr(tokenizer, "chat_template", None):
        raise CaiError("the model's tokenizer has no chat template", "--model", "use an instruct/chat model")
    text = tokenizer.apply_chat_template(preview.messages, tokenize=False, add_generation_prompt=True)
    text += preview.assistant_prefix
    return text, len(tokenizer(text, add_special_tokens=False)["input_ids"])
