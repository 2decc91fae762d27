"""`cai inspect RUN`: the summary, a filtered list, one example's story, or an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app
from cai.errors import CaiError

Opt = typer.Option


@app.command("inspect")
def inspect_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run folder (the --out of `cai run`); it may still "
                                                            "be running.")],
    list_: Annotated[bool, Opt("--list", help="One row per example; narrow it with the filters below.")] = False,
    principle: Annotated[Optional[str], Opt(help="Only examples with a round under this principle id.")] = None,
    category: Annotated[Optional[str], Opt(help="Only examples with a round under this principle category, "
                                                "or whose prompt has this category.")] = None,
    changed: Annotated[Optional[bool], Opt("--changed/--unchanged", help="Only examples whose answer the "
                                           "revisions changed / left as it was.", show_default=False)] = None,
    grep: Annotated[Optional[str], Opt(help="Only examples containing this text (any case) in the prompt, "
                                            "answers, critiques or errors.")] = None,
    errors: Annotated[bool, Opt("--errors", help="Only examples that recorded an error.")] = False,
    flagged: Annotated[Optional[str], Opt(metavar="REASON", help=(
        "Only examples with a turn flagged by this quality gate (truncated, empty, unchanged, "
        "echoes-critique, meta, repetition), or 'any'."))] = None,
    limit: Annotated[Optional[int], Opt(help="Show at most N rows of the list.")] = None,
    example_id: Annotated[Optional[str], Opt("--id", help="Tell one example's story, by id.")] = None,
    index: Annotated[Optional[int], Opt(help="Tell one example's story, by its # in the list "
                                             "(0 is the first, -1 the last).")] = None,
    html: Annotated[Optional[Path], Opt(help="Write one self-contained HTML report (summary, filterable "
                                             "list, stories with diffs) to this file.")] = None,
) -> None:
    """Read a run's traces: summary, filtered list, one example's story with word diffs, or an HTML report."""
    from rich.console import Console

    from cai.inspect import load_run
    from cai.inspect.filters import ExampleFilter, check_filter_values, find_example, select
    from cai.inspect.story import story_view
    from cai.inspect.summary import summarize_run
    from cai.inspect.terminal import list_view, summary_view

    if example_id is not None and index is not None:
        raise CaiError("--id and --index both pick an example", "--index", "give only one of them")
    if flagged is not None:
        from cai.quality import check_flag_reason

        check_flag_reason(flagged)
    flt = ExampleFilter(principle, category, changed, grep, errors, flagged)
    # A filter without --list can only mean "list what matches".
    list_ = list_ or any(v is not None for v in (principle, category, changed, grep, limit, flagged)) or errors
    view = load_run(run)
    console = Console()
    if html is not None:
        from cai.inspect.html_report import write_report

        written = write_report(view, summarize_run(view), html)
        Console(stderr=True).print(f"wrote {written} ({len(view.examples)} examples)", highlight=False,
                                   markup=False)
        if not list_ and example_id is None and index is None:
            return
    if example_id is not None or index is not None:
        console.print(story_view(find_example(view.examples, example_id, index)))
    elif list_:
        check_filter_values(flt, view.examples)
        chosen = select(view.examples, flt)
        console.print(list_view(chosen[:limit] if limit is not None else chosen, len(view.examples)))
        if limit is not None and len(chosen) > limit:
            console.print(f"… {len(chosen) - limit} more match; raise --limit to see them", style="dim")
    else:
        console.print(summary_view(view, summarize_run(view)))

