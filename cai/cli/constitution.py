"""`cai constitution validate|show|new|import`: writing and checking constitution files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app

Opt = typer.Option

constitution_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                               help="Check, show, start or import constitution files.")
app.add_typer(constitution_app, name="constitution")


@constitution_app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Constitution YAML files.", show_default=False)],
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Print only problems.")] = False,
) -> None:
    """Check files against the schema: exit 0 when all are valid, else 1 with one line per problem
    (file:line, what is wrong, how to fix it)."""
    from cai.constitution_tools.validate import check_files

    checked = check_files(files)
    for result in checked:
        if not result.ok or not quiet:
            typer.echo(result.line())
    if not all(result.ok for result in checked):
        sys.exit(1)


@constitution_app.command("show")
def show_command(
    file: Annotated[Optional[Path], typer.Argument(help="A constitution YAML file. Default: the bundled one.",
                                                   show_default=False)] = None,
) -> None:
    """Show the principles (id, category, critique and revision requests, weight), the comparison
    principles and the few-shot examples as tables."""
    from rich.console import Console

    from cai.constitution import load_constitution
    from cai.constitution_tools.show import constitution_view
    from cai.paths import default_constitution

    Console().print(constitution_view(load_constitution(file or default_constitution())))


@constitution_app.command("new")
def new_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the new constitution (.yaml).",
                                         show_default=False)],
    force: Annotated[bool, Opt("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Write a commented starter constitution that validates as written."""
    from cai.constitution_tools.scaffold import write_scaffold

    written = write_scaffold(file, force)
    typer.echo(f"wrote {written}: edit it, then check it with `cai constitution validate {written}`")


@constitution_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="JSON files in a public format.",
                                                show_default=False)],
    out: Annotated[Path, Opt("--out", "-o", help="The YAML constitution to write.", show_default=False)],
    format_: Annotated[str, Opt("--format", "-f", help="anthropic (the Constitutional AI paper's repository: "
                                "the critique/revision instructions object and/or the list of comparison "
                                "principles), llm-swarm (its CAI example's constitutions + system_chat), "
                                "or auto (tell by shape).")] = "auto",
    comparisons: Annotated[Optional[Path], Opt(help="Also read comparison principles from this JSON list "
                                               "(Anthropic shape).")] = None,
    name: Annotated[Optional[str], Opt(help="The constitution's name. Default: the output file's stem.")] = None,
    category: Annotated[Optional[str], Opt(help="Give every imported principle this category instead of "
                                           "guessing one from keywords.")] = None,
    base: Annotated[Optional[str], Opt(help="Take the sections the files lack (principles, comparisons, "
                                       "few-shot) from this constitution, or 'default'.")] = None,
    force: Annotated[bool, Opt("--force", help="Replace the output file if it exists.")] = False,
) -> None:
    """Convert public constitution formats into a cai constitution YAML that validates."""
    from cai.constitution_tools.draft import write_draft
    from cai.constitution_tools.importer import import_files

    draft = import_files(files, format_, comparisons, name or out.stem, category, base)
    written = write_draft(draft, out, force)
    for warning in draft.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"wrote {written}: {len(draft.principles)} principles, {len(draft.comparisons)} comparisons, "
               f"{len(draft.few_shot)} few-shot examples; check the categories "
               f"with `cai constitution show {written}`")
