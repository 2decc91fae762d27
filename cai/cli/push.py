"""`cai push RUN REPO_ID`: publish a run's datasets to the Hugging Face Hub (thin: see cai.push)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cai.cli import app

Opt = typer.Option


@app.command("push")
def push_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A finished run folder (the --out of `cai run` or "
                                                            "`cai label`).")],
    repo_id: Annotated[str, typer.Argument(metavar="REPO_ID", help="The dataset repo, e.g. you/my-cai-data; "
                                                                   "created if it does not exist.")],
    private: Annotated[bool, Opt("--private", help="Create the repo as private.")] = False,
    include_traces: Annotated[bool, Opt("--include-traces", help="Upload traces.jsonl too (every critique, "
                                                                 "revision and label).")] = False,
    token_env: Annotated[str, Opt(help="Environment variable holding the Hub token; without it, the Hub's "
                                       "own login (`hf auth login`) is used. The token is never printed "
                                       "or written.")] = "HF_TOKEN",
    license_id: Annotated[Optional[str], Opt("--license", help="License id for the card's metadata, e.g. "
                                             "apache-2.0 or cc-by-4.0. (default: the run's --license, else "
                                             "left for you to fill)")] = None,
) -> None:
    """Push the datasets (push_to_hub), the dataset card and the constitution to a Hub dataset repo."""
    from rich.console import Console

    from cai.push import PushPlan, push_run, read_token

    plan = PushPlan(run, repo_id, private, include_traces, license_id)
    splits = push_run(plan, read_token(token_env))
    Console(stderr=True).print(f"pushed {', '.join(f'{k} {v}' for k, v in splits.items())} to "
                               f"https://huggingface.co/datasets/{repo_id}", highlight=False, markup=False)
