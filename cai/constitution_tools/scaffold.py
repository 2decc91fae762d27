"""`cai constitution new`: write the commented starter constitution (constitution/scaffold.yaml)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cai.constitution import parse_constitution
from cai.errors import CaiError
from cai.paths import constitution_dir

_NAME_LINE = re.compile(r"^name: \S+", re.M)


def scaffold_text(name: str | None = None) -> str:
    """The scaffold, named after `name` (the file's stem) so several new files do not all say the same."""
    text = (constitution_dir() / "scaffold.yaml").read_text(encoding="utf-8")
    if name:
        # A JSON string is a valid YAML double-quoted scalar, whatever characters the name holds.
        text = _NAME_LINE.sub(lambda _: "name: " + json.dumps(name, ensure_ascii=False), text, count=1)
    return text


def write_scaffold(path: str | Path, force: bool = False) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CaiError("this is a folder", str(path), f"give a file name, e.g. {path / 'my-constitution.yaml'}")
    if path.exists() and not force:
        raise CaiError("the file already exists", str(path), "choose another name, or add --force to replace it")
    if not path.parent.exists():
        raise CaiError("the folder does not exist", str(path.parent), "create it first")
    text = scaffold_text(path.stem)
    parse_constitution(text, str(path))  # never hand the user a file that does not validate
    path.write_text(text, encoding="utf-8")
    return path
