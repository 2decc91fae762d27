"""The `cai` command. Thin: parse options, call into the package, turn CaiError into one line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cai.errors import CaiError
from cai.quiet import quiet_loggers

quiet_loggers()  # also runs in vLLM's spawned workers, which import this module again

app = typer.Typer(name="cai", no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                  help="Turn a constitution into alignment data: critiques, revisions and preference labels.")


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", help="Show other libraries' warnings, notices and "
                                                "progress bars too (or set CAI_VERBOSE=1).")] = False) -> None:
    """Turn a constitution into alignment data: critiques, revisions and preference labels."""
    if verbose:
        from cai.quiet import be_verbose

        be_verbose()


def _register() -> None:
    # Each command lives in its own module; importing it adds it to `app`.
    from cai.cli import run  # noqa: F401
    from cai.cli import label  # noqa: F401
    from cai.cli import inspect  # noqa: F401
    from cai.cli import constitution  # noqa: F401
    from cai.cli import prompts  # noqa: F401
    from cai.cli import train  # noqa: F401
    from cai.cli import eval  # noqa: F401
    from cai.cli import push  # noqa: F401
    from cai.cli import augment  # noqa: F401


def main() -> None:
    from cai.quiet import quiet_libraries

    # Our own progress bars and summaries replace the libraries' notices and per-shard bars.
    quiet_libraries()
    _register()
    try:
        app(standalone_mode=False)
    except CaiError as error:
        typer.echo(f"error: {error.line()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as error:  # click's usage errors arrive here in non-standalone mode
        import click

        modules = [click.exceptions]
        try:  # typer 0.2x raises the exceptions of its own vendored click copy
            from typer._click import exceptions as vendored

            modules.append(vendored)
        except ImportError:
            pass
        if isinstance(error, tuple(m.ClickException for m in modules)):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, tuple(m.Abort for m in modules)):
            sys.exit(1)
        raise
