"""`cai prompts show STAGE`: see exactly what a stage sends, before spending a run on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app

Opt = typer.Option

prompts_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                          help="See the prompts the stages send.")
app.add_typer(prompts_app, name="prompts")


@prompts_app.command("show")
def show_command(
    stage: Annotated[str, typer.Argument(metavar="STAGE", help="respond, critique, revision or comparison.",
                                         show_default=False)],
    constitution: Annotated[Optional[Path], Opt(help="Constitution YAML. Default: the bundled one.")] = None,
    principle: Annotated[Optional[str], Opt(help="Principle id (for comparison: a comparison id). "
                                            "Default: the first one.")] = None,
    prompt: Annotated[Optional[str], Opt(help="The user's message, or a JSON list of {role, content} "
                                         "messages. Default: a built-in example.")] = None,
    response: Annotated[Optional[str], Opt(help="The answer being critiqued/revised (comparison: answer "
                                           "'initial').")] = None,
    critique: Annotated[Optional[str], Opt(help="revision: the critique the model wrote.")] = None,
    revision: Annotated[Optional[str], Opt(help="comparison: answer 'final'.")] = None,
    few_shot: Annotated[Optional[int], Opt(help="Worked examples put first, as in `cai run`. (default: 2)")] = None,
    order: Annotated[str, Opt(help="comparison: 'forward' shows initial as (A), 'swapped' as (B).")] = "forward",
    cot: Annotated[bool, Opt("--cot", help="comparison: the chain-of-thought variant.")] = False,
    templates: Annotated[Optional[Path], Opt(help="Folder of *.jinja templates overriding the bundled ones.")] = None,
    model: Annotated[Optional[str], Opt(help="Also show the text after this model's chat template (hub id, "
                                        "local folder or 'default'); loads the tokenizer only.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the messages as JSON.")] = False,
) -> None:
    """Render the exact messages a stage sends for a constitution, principle and conversation."""
    from rich.console import Console

    from cai.config import RunConfig
    from cai.constitution import load_constitution
    from cai.constitution_tools.preview import build_preview, chat_template_text
    from cai.constitution_tools.preview_view import preview_view
    from cai.models import check_model
    from cai.paths import default_constitution
    from cai.templates import Renderer

    loaded = load_constitution(constitution or default_constitution())
    preview = build_preview(stage, loaded, Renderer(templates), principle_id=principle, prompt=prompt,
                            response=response, critique=critique, revision=revision,
                            few_shot=RunConfig.few_shot if few_shot is None else few_shot, order=order, cot=cot)
    if model:
        check_model(model)
    templated = chat_template_text(model, preview) if model else None
    if as_json:
        data = preview.to_dict()
        if templated:
            data.update(model=model, text=templated[0], tokens=templated[1])
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    Console().print(preview_view(preview, templated, model))
