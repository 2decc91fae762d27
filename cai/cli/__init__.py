"""The `cai` command. Thin: parse options, call into the package; errors end as one line (cai.cli.funnel)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cai.quiet import quiet_loggers

quiet_loggers()  # also runs in vLLM's spawned workers, which import this module again

app = typer.Typer(name="cai", no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="Turn a constitution into alignment data: critiques, revisions and preference labels.")


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", help="Show other libraries' warnings, notices and "
                                                "progress bars too (or set CAI_VERBOSE=1).")] = False,
          debug: Annotated[bool, typer.Option("--debug", envvar="CAI_DEBUG", help=(
              "Show the full traceback of an unexpected error instead of writing it to a file."))] = False) -> None:
    """Turn a constitution into alignment data: critiques, revisions and preference labels."""
    if verbose:
        from cai.quiet import be_verbose

        be_verbose()
    if debug:
        os.environ["CAI_DEBUG"] = "1"  # the error funnel reads it after the command has returned


def _register() -> None:
    # Each command lives in its own module; importing it adds it to `app` (in this order in --help).
    import importlib

    for name in ("run", "label", "inspect", "constitution", "prompts", "train", "eval", "push", "augment"):
        importlib.import_module(f"cai.cli.{name}")


def main() -> None:
    from cai.cli.funnel import run
    from cai.quiet import quiet_libraries

    # Our own progress bars and summaries replace the libraries' notices and per-shard bars.
    quiet_libraries()
    _register()
    sys.exit(run(app))
