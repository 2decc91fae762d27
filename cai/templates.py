"""Renders the Jinja2 templates in prompts/ in a sandbox.

User text (prompts, answers, critiques) only ever enters as variables, so `{{ 7*7 }}` inside a
prompt stays verbatim: Jinja never parses variable values as template code.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cai.errors import CaiError
from cai.paths import prompts_dir

TEMPLATE_NAMES = ("critique", "revision", "comparison")


class Renderer:
    """Looks templates up first in an optional user folder, then in the bundled prompts/."""

    def __init__(self, override_dir: str | Path | None = None):
        search = [str(override_dir)] if override_dir else []
        search.append(str(prompts_dir()))
        # auto_reload off: templates do not change during a run, and checking each one's mtime on every
        # render was a stat call per prompt.
        self.env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(search), undefined=StrictUndefined,
                                                 keep_trailing_newline=False, autoescape=False, auto_reload=False)

    def render(self, name: str, **variables) -> str:
        try:
            template = self.env.get_template(f"{name}.jinja")
            return template.render(**variables).strip()
        except TemplateError as error:
            where = getattr(error, "filename", None) or f"{name}.jinja"
            line = getattr(error, "lineno", None)
            raise CaiError(f"template error: {error.message}", f"{where}:{line}" if line else where,
                           "fix the template or remove your override") from None
