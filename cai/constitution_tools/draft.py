"""An imported constitution before it is written: our schema's fields, plus a note per entry saying where
it came from and why it got its category, and warnings about what could not be brought over.

`to_yaml` writes it as a commented YAML file that `parse_constitution` accepts; `write_draft` checks
exactly that before anything is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cai.constitution import parse_constitution
from cai.errors import CaiError


@dataclass
class Draft:
    name: str
    description: str = ""
    principles: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    few_shot: list[dict] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)  # id(entry) -> comment written above it
    warnings: list[str] = field(default_factory=list)  # shown to the user and written in the header
    sources: list[str] = field(default_factory=list)

    def note(self, entry: dict, text: str) -> dict:
        self.notes[id(entry)] = text
        return entry


class _Dumper(yaml.SafeDumper):
    """Long text as folded blocks (`>-`), text with line breaks as literal blocks (`|-`): easy to edit."""


def _text(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if len(value) > 60 and value == value.strip() and "  " not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=">")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def _dump(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=92, default_flow_style=False)


def _section(draft: Draft, key: str, entries: list[dict]) -> list[str]:
    if not entries:
        return []
    lines = ["", f"{key}:"]
    for entry in entries:
        if id(entry) in draft.notes:
            lines.append(f"  # {draft.notes[id(entry)]}")
        lines += ["  " + line for line in _dump([entry]).rstrip("\n").split("\n")]
    return lines


def to_yaml(draft: Draft) -> str:
    header = ["# Imported by `cai constitution import` from:"] + [f"#   {s}" for s in draft.sources]
    header.append("# Categories were guessed from keywords (see the note above each principle): check them.")
    header += [f"# warning: {w}" for w in draft.warnings]
    top = {"name": draft.name, "version": 1}
    if draft.description:
        top["description"] = draft.description
    lines = header + [_dump(top).rstrip("\n")]
    lines += _section(draft, "principles", draft.principles)
    lines += _section(draft, "comparisons", draft.comparisons)
    lines += _section(draft, "few_shot", draft.few_shot)
    return "\n".join(lines) + "\n"


def write_draft(draft: Draft, out: str | Path, force: bool = False) -> Path:
    out = Path(out)
    if out.is_dir():
        raise CaiError("-o names a folder", str(out), f"give a file name, e.g. {out / 'imported.yaml'}")
    if out.exists() and not force:
        raise CaiError("the output file already exists", str(out), "choose another -o, or add --force to replace it")
    if not out.parent.exists():
        raise CaiError("the output folder does not exist", str(out.parent), "create it first")
    text = to_yaml(draft)
    parse_constitution(text, str(out))  # the promise: what we write validates
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, out)
    return out


def read_json(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise CaiError("file not found", str(path), "pass the JSON file to import")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise CaiError("the file is not UTF-8 text", str(path), "save it as UTF-8") from None
    except json.JSONDecodeError as error:
        raise CaiError(f"not valid JSON: {error.msg}", f"{path}:{error.lineno}",
                       "fix the JSON syntax on that line (both formats are JSON files)") from None


def json_line(path: str | Path, needle: str) -> int:
    """The line of the first occurrence of `needle` in a JSON file: good enough to point at an entry."""
    text = Path(path).read_text(encoding="utf-8-sig")
    position = text.find(json.dumps(needle, ensure_ascii=False))
    if position < 0:
        position = text.find(needle)
    return text.count("\n", 0, position) + 1 if position >= 0 else 1
