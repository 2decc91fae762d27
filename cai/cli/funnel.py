"""The one place where errors leave the CLI: each known kind becomes one line, never a traceback.

Only public typer names are used (typer.Abort, typer.Exit); click's usage errors are recognised by
what they offer (`exit_code` and `format_message`), since typer vendors its own copy of click.
An unexpected error writes its traceback to a file and prints where; `--debug` or CAI_DEBUG=1 shows it.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

from cai.errors import CaiError

INPUT_ERROR, FAILURE, INTERRUPTED = 2, 1, 130


def debug_enabled() -> bool:
    return os.environ.get("CAI_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _say(line: str) -> None:
    typer.echo(f"error: {line}", err=True)


def _is_usage_error(error: BaseException) -> bool:
    return isinstance(getattr(error, "exit_code", None), int) and callable(getattr(error, "format_message", None))


def _usage_line(error) -> str:
    context = getattr(error, "ctx", None)
    command = getattr(context, "command_path", None) or "cai"
    message = " ".join(str(error.format_message()).split())
    return CaiError(message, command, f"see `{command} --help`").line()


def _known_line(error: BaseException) -> tuple[str, int] | None:
    """(one line, exit status) for failures that are the machine's, not cai's: memory, disk, permissions."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
        return CaiError("out of memory while running the model", fix=(
            "lower --batch-size (hf) or --max-model-len / --gpu-memory-utilization (vllm), "
            "or use a smaller --model")).line(), FAILURE
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return CaiError("no space left on the device", str(error.filename or "the output folder"),
                        "free some space or choose another --out").line(), FAILURE
    if isinstance(error, PermissionError):
        return CaiError("permission denied", str(error.filename or "a file cai writes"),
                        "choose a folder you can write to (--out)").line(), FAILURE
    return None


def _write_traceback(error: BaseException) -> Path | None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    name = time.strftime("cai-error-%Y%m%d-%H%M%S") + f"-{os.getpid()}.txt"
    path = Path(tempfile.gettempdir()) / name
    try:
        path.write_text(f"cai {' '.join(sys.argv[1:])}\n\n{text}", encoding="utf-8")
    except OSError:
        return None
    return path


def _unexpected(error: BaseException) -> int:
    if debug_enabled():
        traceback.print_exception(type(error), error, error.__traceback__)
    what = " ".join(str(error).split())[:200]
    summary = f"unexpected {type(error).__name__}" + (f": {what}" if what else "")
    if debug_enabled():
        _say(CaiError(summary, fix="the traceback is above; please report it with the command you ran").line())
        return FAILURE
    path = _write_traceback(error)
    where = f"traceback in {path}" if path else "the traceback could not be written"
    _say(f"{summary} — {where} — fix: rerun with --debug (or CAI_DEBUG=1) to see it here, and report it")
    return FAILURE


def run(app) -> int:
    """Run the typer app; returns the process exit status."""
    try:
        result = app(standalone_mode=False)
    except CaiError as error:
        _say(error.line())
        return INPUT_ERROR
    except (KeyboardInterrupt, typer.Abort):  # older typer turns Ctrl-C into Abort
        return INTERRUPTED
    except typer.Exit as error:
        return error.exit_code
    except BrokenPipeError:  # `cai inspect RUN | head`: the reader left, nothing is wrong
        return 0
    except Exception as error:  # noqa: BLE001 - the funnel: every error ends here as one line
        if _is_usage_error(error):
            if type(error).__name__ == "NoArgsIsHelpError":  # bare `cai` / `cai train`: the help is the answer
                typer.echo(error.format_message(), err=True)
            else:
                _say(_usage_line(error))
            return error.exit_code
        known = _known_line(error)
        if known:
            if debug_enabled():
                traceback.print_exception(type(error), error, error.__traceback__)
            _say(known[0])
            return known[1]
        return _unexpected(error)
    return result if isinstance(result, int) else 0
