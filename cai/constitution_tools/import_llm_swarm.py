"""Importing the JSON of the llm-swarm Constitutional AI example.

Shape: `{"constitutions": [{"critic": "...", "revision": "..."}, …], "system_chat": [[message, …], …]}`.
Each constitution entry becomes a principle, with an id made of its guessed category and a number.
Each system_chat dialogue becomes a few-shot example when it has the shape of one: the conversation
(ending with the user), the assistant's answer, the user's critique request, the assistant's critique,
the user's revision request, the assistant's revision. The critique request is matched to a principle:
exact text first, then the most similar one; dialogues matching none are left out with a warning
(our few-shot examples re-render their requests from a principle, so they need one).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from cai.constitution_tools.categories import guess_category
from cai.constitution_tools.draft import Draft, json_line
from cai.errors import CaiError

_SIMILAR_ENOUGH = 0.6  # difflib ratio above which two critique requests count as the same principle
_ROLES = ("assistant", "user", "assistant", "user", "assistant")  # the last five turns of a dialogue


def is_swarm(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("constitutions"), list)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def add_constitutions(draft: Draft, data: dict, path: Path, category: str | None = None) -> None:
    numbers: dict[str, int] = {}
    for index, item in enumerate(data["constitutions"]):
        if not (isinstance(item, dict) and isinstance(item.get("critic"), str) and item["critic"].strip()
                and isinstance(item.get("revision"), str) and item["revision"].strip()):
            raise CaiError(f"constitutions[{index}] needs \"critic\" and \"revision\" texts",
                           f"{path}:{_item_line(path, item)}",
                           "write it as {\"critic\": \"…\", \"revision\": \"…\"}")
        critique, revision = item["critic"].strip(), item["revision"].strip()
        chosen, why = (category, "category given with --category") if category else guess_category(critique, revision)
        numbers[chosen] = numbers.get(chosen, 0) + 1
        entry = {"id": f"{chosen}-{numbers[chosen]}", "category": chosen, "critique": critique, "revision": revision}
        draft.principles.append(draft.note(entry, f"constitutions[{index}] of {path.name}; {why}"))
    if not draft.principles:
        raise CaiError("\"constitutions\" is empty", f"{path}:{json_line(path, 'constitutions')}",
                       "add at least one {\"critic\": …, \"revision\": …} entry")
    dialogues = _dialogues(data.get("system_chat"))
    for index, dialogue in enumerate(dialogues):
        example = _few_shot(draft, dialogue, index)
        if example is not None:
            draft.few_shot.append(example)
    draft.sources.append(f"{path} (llm-swarm CAI example: {len(data['constitutions'])} constitutions, "
                         f"{len(dialogues)} system_chat dialogues, {len(draft.few_shot)} kept as few-shot examples)")


def _item_line(path: Path, item) -> int:
    text = item.get("critic") if isinstance(item, dict) and isinstance(item.get("critic"), str) else "constitutions"
    return json_line(path, text)


def _dialogues(system_chat) -> list:
    if not isinstance(system_chat, list):
        return []
    if system_chat and all(isinstance(m, dict) for m in system_chat):
        # One flat list of turns instead of a list of dialogues: read it as six-turn dialogues.
        return [system_chat[i:i + 6] for i in range(0, len(system_chat), 6)]
    return system_chat


def _few_shot(draft: Draft, dialogue, index: int) -> dict | None:
    def skip(why: str) -> None:
        draft.warnings.append(f"system_chat[{index}] left out: {why}")

    if not isinstance(dialogue, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str)
            and m.get("role") in ("system", "user", "assistant")
            for m in dialogue):
        return skip("it is not a list of {role, content} messages")
    if len(dialogue) < 6 or tuple(m["role"] for m in dialogue[-5:]) != _ROLES or dialogue[-6]["role"] != "user":
        return skip("it is not prompt, answer, critique request, critique, revision request, revision")
    conversation = [{"role": m["role"], "content": m["content"].strip()} for m in dialogue[:-5]]
    answer, critique_request, critique, _, revision = (m["content"].strip() for m in dialogue[-5:])
    if not (answer and critique and revision and conversation[-1]["content"]):
        return skip("one of its turns is empty")
    principle, how = _match(draft.principles, critique_request)
    if principle is None:
        return skip("its critique request matches no principle; add one with that request to keep it")
    entry = {"principle": principle["id"], "messages": conversation, "response": answer,
             "critique": critique, "revision": revision}
    return draft.note(entry, f"system_chat[{index}]; critique request {how} '{principle['id']}'")


def _match(principles: list[dict], request: str) -> tuple[dict | None, str]:
    wanted = _norm(request)
    for principle in principles:
        if _norm(principle["critique"]) in wanted:
            return principle, "contains the critique of"
    scored = [(difflib.SequenceMatcher(a=wanted, b=_norm(p["critique"])).ratio(), p) for p in principles]
    ratio, best = max(scored, key=lambda pair: pair[0])
    if ratio >= _SIMILAR_ENOUGH:
        return best, f"is {ratio:.0%} similar to the critique of"
    return None, ""
