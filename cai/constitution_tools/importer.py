"""`cai constitution import`: read public-format JSON files into one Draft, by format and by shape.

Formats: `anthropic` (the paper repository's instructions object and/or comparison list; either file,
or both), `llm-swarm` (the example's constitutions + system_chat object), or `auto` to tell them apart by
shape. Sections the files do not provide can come from a base constitution (`--base default`), so the
comparison list alone still makes a usable constitution.
"""

from __future__ import annotations

from pathlib import Path

from cai.constitution import CATEGORIES, Constitution, load_constitution
from cai.constitution_tools import import_anthropic as anthropic
from cai.constitution_tools import import_llm_swarm as swarm
from cai.constitution_tools.draft import Draft, read_json
from cai.errors import CaiError
from cai.paths import default_constitution

FORMATS = ("auto", "anthropic", "llm-swarm")


def _shape(data) -> str:
    if swarm.is_swarm(data):
        return "llm-swarm"
    if anthropic.is_instructions(data) or anthropic.is_comparisons(data):
        return "anthropic"
    return "unknown"


def _add_file(draft: Draft, path: Path, fmt: str, category: str | None, as_comparisons: bool = False) -> None:
    data = read_json(path)
    shape = _shape(data)
    expected = ("an object keyed harmful0, harmful1, … with \"prompt\" and \"edit_request\", or a list of "
                "comparison questions" if fmt == "anthropic" else
                "an object with a \"constitutions\" list of {\"critic\", \"revision\"}")
    if shape == "unknown" or (fmt != "auto" and shape != fmt):
        seen = f"it looks like the {shape} format" if shape != "unknown" else "its shape is neither format"
        raise CaiError(f"not a {fmt if fmt != 'auto' else 'known'} file: {seen}", f"{path}:1",
                       f"expected {expected}" if fmt != "auto" else "pass an Anthropic or llm-swarm JSON file")
    if as_comparisons and not anthropic.is_comparisons(data):
        raise CaiError("--comparisons needs a JSON list of comparison questions", f"{path}:1",
                       "pass the comparison principles file (a list of strings)")
    if shape == "llm-swarm":
        swarm.add_constitutions(draft, data, path, category)
    elif anthropic.is_instructions(data):
        anthropic.add_instructions(draft, data, path, category)
    else:
        anthropic.add_comparisons(draft, data, path)


def _from_base(draft: Draft, base: Constitution) -> None:
    """Fill the sections no imported file provided from `base`."""
    if not draft.principles:
        draft.principles = [{"id": p.id, "category": p.category, "critique": p.critique, "revision": p.revision,
                             "weight": p.weight, **({"applies_to": list(p.applies_to)} if p.applies_to else {})}
                            for p in base.principles]
        draft.few_shot = draft.few_shot or [
            {"principle": f.principle, "messages": [dict(m) for m in f.messages], "response": f.response,
             "critique": f.critique, "revision": f.revision} for f in base.few_shot]
        draft.sources.append(f"{base.source} (principles and few-shot examples of the base constitution)")
    if not draft.comparisons and base.comparisons:
        draft.comparisons = [{"id": c.id, "category": c.category, "question": c.question, "weight": c.weight}
                             for c in base.comparisons]
        draft.sources.append(f"{base.source} (comparisons of the base constitution)")


def import_files(files: list[str | Path], fmt: str = "auto", comparisons: str | Path | None = None,
                 name: str = "imported", category: str | None = None, base: str | None = None) -> Draft:
    if fmt not in FORMATS:
        raise CaiError(f"unknown format '{fmt}'", "--format", f"use one of: {', '.join(FORMATS)}")
    if category is not None and category not in CATEGORIES:
        raise CaiError(f"unknown category '{category}'", "--category", f"use one of: {', '.join(CATEGORIES)}")
    draft = Draft(name=name)
    for path in files:
        _add_file(draft, Path(path), fmt, category)
    if comparisons is not None:
        _add_file(draft, Path(comparisons), "anthropic", category, as_comparisons=True)
    if base is not None:
        _from_base(draft, load_constitution(default_constitution() if base == "default" else base))
    if not draft.principles:
        raise CaiError("the files hold comparison questions but no critique/revision principles",
                       str(files[0]) if files else "--comparisons",
                       "also pass the critique/revision instructions file, or add --base default to keep "
                       "the bundled principles")
    if not draft.comparisons:
        draft.warnings.append("no comparison principles: runs with this constitution make no preference labels; "
                              "add --comparisons FILE or --base default")
    _check_ids(draft)
    return draft


def _check_ids(draft: Draft) -> None:
    seen: set[str] = set()
    for entry in draft.principles + draft.comparisons:
        if entry["id"] in seen:
            raise CaiError(f"two imported entries share the id '{entry['id']}'", draft.sources[-1],
                           "import the files one at a time, or rename the keys in one of them")
        seen.add(entry["id"])
