"""Importing the JSON files of the Constitutional AI paper's public repository.

Two shapes:
- critique/revision instructions: an object keyed `harmful0`, `harmful1`, … whose values are
  `{"prompt": ["<critique request>", …], "edit_request": "<revision request>"}`; each critique request
  becomes one principle (the key is its id; a second request under one key gets `-2`, and so on);
- comparison principles: a list of strings, each a question for the feedback model.
"""

from __future__ import annotations

from pathlib import Path

from cai.constitution_tools.categories import guess_category
from cai.constitution_tools.draft import Draft, json_line
from cai.errors import CaiError


def is_instructions(data) -> bool:
    return isinstance(data, dict) and bool(data) and all(
        isinstance(v, dict) and "edit_request" in v for v in data.values())


def is_comparisons(data) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(v, str) for v in data)


def _requests(value, path: Path, key: str) -> list[str]:
    prompts = value.get("prompt")
    prompts = [prompts] if isinstance(prompts, str) else prompts
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise CaiError(f"'{key}' needs \"prompt\": a list of critique requests (text)",
                       f"{path}:{json_line(path, key)}", "write it as \"prompt\": [\"Identify ways in which …\"]")
    if not isinstance(value.get("edit_request"), str) or not value["edit_request"].strip():
        raise CaiError(f"'{key}' needs \"edit_request\": the revision request (text)",
                       f"{path}:{json_line(path, key)}", "write it as \"edit_request\": \"Please rewrite …\"")
    return [p.strip() for p in prompts]


def add_instructions(draft: Draft, data: dict, path: Path, category: str | None = None) -> None:
    for key, value in data.items():
        revision = value["edit_request"].strip() if isinstance(value.get("edit_request"), str) else ""
        for number, critique in enumerate(_requests(value, path, key), start=1):
            principle_id = key if number == 1 else f"{key}-{number}"
            chosen, why = (category, "category given with --category") if category else guess_category(critique,
                                                                                                      revision)
            entry = {"id": principle_id, "category": chosen, "critique": critique, "revision": revision}
            draft.principles.append(draft.note(entry, f"from '{key}' in {path.name}; {why}"))
    draft.sources.append(f"{path} (Anthropic critique/revision instructions, {len(data)} entries)")


def add_comparisons(draft: Draft, data: list, path: Path) -> None:
    for index, question in enumerate(data):
        if not question.strip():
            raise CaiError(f"comparison {index} is empty", f"{path}:{json_line(path, question)}", "remove it")
        chosen, why = guess_category(question)
        entry = {"id": f"cmp{index}", "category": chosen, "question": question.strip()}
        draft.comparisons.append(draft.note(entry, f"item {index} of {path.name}; {why}"))
    draft.sources.append(f"{path} (Anthropic comparison principles, {len(data)} questions)")
