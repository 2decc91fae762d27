"""The attack templates: YAML files in prompts/attacks/ (one per family), or a user's folder of the same
files (`--templates DIR`) whose attacks replace the bundled ones. Each template is Jinja2 rendered in the
sandbox, and user text only ever enters as a variable, never as template code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cai.attacks import FAMILIES, FAMILY_OF, known_names
from cai.errors import CaiError
from cai.paths import prompts_dir

# The keys a template may have, besides `id` and `text`; which attacks use which is in each file's header.
_KEYS = {"id", "text", "pieces", "dialogue", "shots", "turns", "vars"}
_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class Template:
    attack: str
    id: str
    source: str            # file it came from, for error messages
    text: str = ""
    pieces: int = 2
    dialogue: str = "messages"
    shots: tuple = ()
    turns: tuple = ()
    vars: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return FAMILY_OF[self.attack]

    def render(self, source_text: str, **variables) -> str:
        """`source_text`: one of this template's strings (its `text` or a turn)."""
        try:
            return _ENV.from_string(source_text).render(**self.vars, **variables).strip()
        except TemplateError as error:
            raise CaiError(f"template '{self.id}' failed to render ({type(error).__name__}: {error.message})",
                           self.source, "fix the template (user text enters only as variables such as "
                           "{{ request }})") from None


def _bad(what: str, where: str, fix: str = "see the bundled prompts/attacks/ files for the layout"):
    return CaiError(what, where, fix)


def _template(attack: str, entry, where: str) -> Template:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
        raise _bad(f"every template of '{attack}' needs an `id`", where)
    unknown = set(entry) - _KEYS
    if unknown:
        raise _bad(f"unknown key '{min(unknown)}' in template '{entry['id']}'", where,
                   f"use only: {', '.join(sorted(_KEYS))}")
    text, turns = entry.get("text", ""), entry.get("turns") or ()
    if not isinstance(text, str) or not all(isinstance(t, str) for t in turns):
        raise _bad(f"template '{entry['id']}' has text that is not a string", where)
    if attack == "escalation" and len(turns) < 2:
        raise _bad(f"escalation template '{entry['id']}' needs at least 2 `turns` before the request", where)
    if attack != "escalation" and not text.strip():
        raise _bad(f"template '{entry['id']}' has no `text`", where)
    pieces = entry.get("pieces", 2)
    if not isinstance(pieces, int) or isinstance(pieces, bool) or pieces < 2:
        raise _bad(f"`pieces` of template '{entry['id']}' must be a whole number of at least 2", where)
    shots = entry.get("shots") or ()
    if not all(isinstance(s, dict) and set(s) == {"user", "assistant"} and all(isinstance(v, str) for v in s.values())
               for s in shots):
        raise _bad(f"every shot of template '{entry['id']}' needs `user` and `assistant` text", where)
    return Template(attack, entry["id"].strip(), f"{where}: {entry['id']}", text, pieces,
                    str(entry.get("dialogue", "messages")), tuple(shots), tuple(turns),
                    dict(entry.get("vars") or {}))


def _read(path: Path) -> dict[str, list[Template]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise _bad("YAML syntax error in attack templates", f"{path}:{mark.line + 1}" if mark else str(path),
                   "check indentation and quoting on that line") from None
    if not isinstance(data, dict):
        raise _bad("attack templates must be a mapping of attack name to a list of templates", str(path))
    out = {}
    for attack, entries in data.items():
        if attack not in FAMILY_OF:
            raise _bad(f"unknown attack '{attack}'", str(path), f"use one of: {known_names()}")
        if not isinstance(entries, list) or not entries:
            raise _bad(f"'{attack}' needs a list of at least one template", str(path))
        out[attack] = [_template(attack, entry, str(path)) for entry in entries]
    return out


def load_templates(override_dir: str | Path | None = None) -> dict[str, list[Template]]:
    """Attack name -> its templates; a file in `override_dir` named like a bundled one replaces the
    templates of the attacks it defines."""
    templates: dict[str, list[Template]] = {}
    folders = [prompts_dir() / "attacks"]
    if override_dir:
        if not Path(override_dir).is_dir():
            raise _bad("templates folder not found", str(override_dir), "pass a folder of <family>.yaml files")
        folders.append(Path(override_dir))
    for folder in folders:
        for family in FAMILIES:
            path = folder / f"{family}.yaml"
            if path.is_file():
                templates.update(_read(path))
    return templates
