"""The constitution: principles for critique/revision, comparison principles, few-shot examples.

Loaded from YAML and validated strictly: unknown keys, missing fields, duplicate ids and empty
lists are errors that name the file, the line and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cai.errors import CaiError

CATEGORIES = ("harm", "privacy", "integrity", "legal", "refusal-quality", "helpfulness", "robustness")


@dataclass(frozen=True)
class Principle:
    id: str
    category: str
    critique: str
    revision: str
    weight: float = 1.0
    # Attack families, attack names or prompt categories this principle is for (empty: no restriction,
    # drawn only when no principle fits the row; see cai/principle_fit.py).
    applies_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    id: str
    category: str
    question: str
    weight: float = 1.0


@dataclass(frozen=True)
class FewShot:
    principle: str
    messages: tuple[dict, ...]
    response: str
    critique: str
    revision: str


@dataclass(frozen=True)
class Constitution:
    name: str
    principles: tuple[Principle, ...]
    comparisons: tuple[Comparison, ...] = ()
    few_shot: tuple[FewShot, ...] = ()
    version: int | str = 1
    description: str = ""
    source: str = ""
    by_id: dict = field(default_factory=dict, compare=False, repr=False)

    def principle(self, principle_id: str) -> Principle:
        return self.by_id[principle_id]


# field name -> (required, type); the schema is small enough to state by hand.
_TOP = {"name": (True, str), "version": (False, (int, str)), "description": (False, str),
        "principles": (True, list), "comparisons": (False, list), "few_shot": (False, list)}
_PRINCIPLE = {"id": (True, str), "category": (True, str), "critique": (True, str),
              "revision": (True, str), "weight": (False, (int, float)), "applies_to": (False, list)}
_COMPARISON = {"id": (True, str), "category": (False, str), "question": (True, str),
               "weight": (False, (int, float))}
_FEW_SHOT = {"principle": (True, str), "messages": (True, list), "response": (True, str),
             "critique": (True, str), "revision": (True, str)}


class _Located:
    """Line numbers of mapping keys and sequence items, from the YAML node tree."""

    def __init__(self, node):
        self.node = node

    def line(self, *path) -> int:
        node = self.node
        for step in path:
            found = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == step:
                        found = value
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                found = node.value[step]
            if found is None:
                break
            node = found
        return node.start_mark.line + 1


def _check_fields(item, schema: dict, where: str, loc: _Located, path: tuple, kind: str) -> None:
    if not isinstance(item, dict):
        raise CaiError(f"{kind} must be a mapping of fields", f"{where}:{loc.line(*path)}",
                       f"write it as `key: value` lines ({', '.join(schema)})")
    for key in item:
        if key not in schema:
            raise CaiError(f"unknown key '{key}' in {kind}", f"{where}:{loc.line(*path, key)}",
                           f"remove it or use one of: {', '.join(schema)}")
    for key, (required, kind_type) in schema.items():
        if key not in item:
            if required:
                raise CaiError(f"{kind} is missing '{key}'", f"{where}:{loc.line(*path)}",
                               f"add a '{key}:' field")
            continue
        value = item[key]
        if not isinstance(value, kind_type) or isinstance(value, bool):
            raise CaiError(f"'{key}' in {kind} has the wrong type", f"{where}:{loc.line(*path, key)}",
                           f"give a {_type_name(kind_type)}")
        if isinstance(value, str) and not value.strip() and key != "description":
            raise CaiError(f"'{key}' in {kind} is empty", f"{where}:{loc.line(*path, key)}",
                           "write some text")
    if "weight" in item and item["weight"] <= 0:
        raise CaiError("weight must be positive", f"{where}:{loc.line(*path, 'weight')}",
                       "use a number above 0 (1.0 is the default)")


def _type_name(kind_type) -> str:
    names = {str: "text", list: "list", int: "number", float: "number"}
    kinds = kind_type if isinstance(kind_type, tuple) else (kind_type,)
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _check_ids(items: list, where: str, loc: _Located, section: str, seen: dict) -> None:
    for index, item in enumerate(items):
        line = loc.line(section, index, "id")
        if item["id"] in seen:
            raise CaiError(f"duplicate id '{item['id']}' (first used on line {seen[item['id']]})",
                           f"{where}:{line}", "give every principle a unique id")
        seen[item["id"]] = line


def _check_applies_to(entries: list, where: str, loc: _Located, index: int) -> None:
    fix = "list attack families, attack names or prompt categories, e.g. [encoding, jailbreak-obfuscation]"
    if not entries:
        raise CaiError("'applies_to' is empty", f"{where}:{loc.line('principles', index, 'applies_to')}",
                       f"remove it (the principle then fits every row) or {fix}")
    seen = set()
    for number, entry in enumerate(entries):
        line = f"{where}:{loc.line('principles', index, 'applies_to', number)}"
        if not isinstance(entry, str) or isinstance(entry, bool):
            raise CaiError("'applies_to' entries must be text", line, fix)
        if not entry.strip() or any(c.isspace() for c in entry.strip()):
            raise CaiError(f"'applies_to' entry '{entry}' is empty or has spaces", line, fix)
        if entry.strip().lower() in seen:
            raise CaiError(f"'applies_to' lists '{entry}' twice", line, "remove the repeat")
        seen.add(entry.strip().lower())


def _check_messages(messages: list, where: str, line: int) -> tuple[dict, ...]:
    for message in messages:
        if not (isinstance(message, dict) and set(message) == {"role", "content"}
                and message["role"] in ("system", "user", "assistant") and isinstance(message["content"], str)):
            raise CaiError("few-shot messages must be {role, content} with role system/user/assistant",
                           f"{where}:{line}", "write each message as {role: user, content: \"...\"}")
    if not messages or messages[-1]["role"] != "user":
        raise CaiError("few-shot messages must end with a user message", f"{where}:{line}",
                       "end the list with the user's request")
    return tuple(dict(m) for m in messages)


def parse_constitution(text: str, where: str = "<constitution>") -> Constitution:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise CaiError(f"YAML syntax error: {problem}", f"{where}{line}",
                       "check indentation and quoting on that line") from None
    if node is None or not isinstance(data, dict):
        raise CaiError("the file is empty or not a mapping", f"{where}:1",
                       "start from `cai constitution new FILE`")
    loc = _Located(node)
    _check_fields(data, _TOP, where, loc, (), "constitution")
    if not data["principles"]:
        raise CaiError("'principles' is empty", f"{where}:{loc.line('principles')}",
                       "add at least one critique/revision principle")
    for section, schema, kind in (("principles", _PRINCIPLE, "principle"),
                                  ("comparisons", _COMPARISON, "comparison"),
                                  ("few_shot", _FEW_SHOT, "few-shot example")):
        for index, item in enumerate(data.get(section) or []):
            _check_fields(item, schema, where, loc, (section, index), kind)
    seen: dict = {}
    _check_ids(data["principles"], where, loc, "principles", seen)
    _check_ids(data.get("comparisons") or [], where, loc, "comparisons", seen)
    for index, item in enumerate(data["principles"]):
        if item["category"] not in CATEGORIES:
            raise CaiError(f"unknown category '{item['category']}'",
                           f"{where}:{loc.line('principles', index, 'category')}",
                           f"use one of: {', '.join(CATEGORIES)}")
        if "applies_to" in item:
            _check_applies_to(item["applies_to"], where, loc, index)
    principles = tuple(Principle(**{k: _stripped(v) for k, v in p.items()}) for p in data["principles"])
    comparisons = tuple(Comparison(**{"category": "general", **{k: v.strip() if isinstance(v, str) else v
                                                               for k, v in c.items()}})
                        for c in data.get("comparisons") or [])
    by_id = {p.id: p for p in principles}
    few_shot = []
    for index, item in enumerate(data.get("few_shot") or []):
        if item["principle"] not in by_id:
            raise CaiError(f"few-shot example names unknown principle '{item['principle']}'",
                           f"{where}:{loc.line('few_shot', index, 'principle')}",
                           "use the id of one of the principles above")
        messages = _check_messages(item["messages"], where, loc.line("few_shot", index, "messages"))
        few_shot.append(FewShot(item["principle"], messages, item["response"].strip(),
                                item["critique"].strip(), item["revision"].strip()))
    return Constitution(name=data["name"], principles=principles, comparisons=comparisons,
                        few_shot=tuple(few_shot), version=data.get("version", 1),
                        description=(data.get("description") or "").strip(), source=where, by_id=by_id)


def load_constitution(path: str | Path) -> Constitution:
    path = Path(path)
    if not path.is_file():
        raise CaiError("constitution file not found", str(path),
                       "pass an existing YAML file to --constitution (or omit it for the default)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CaiError("the file is not UTF-8 text", str(path), "save it as UTF-8") from None
    return parse_constitution(text, str(path))


def _stripped(value):
    """Text fields without surrounding whitespace; a list (applies_to) as a tuple of stripped entries."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return tuple(x.strip() for x in value)
    return value
