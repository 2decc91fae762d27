"""`cai push RUN REPO_ID`: a run's datasets, card, constitution (and optionally traces) to a Hub dataset repo.

The token is read from the environment variable the user names (HF_TOKEN by default) or, failing that, from
the Hub's own login (`hf auth login`); it is handed to huggingface_hub and never printed or written. Every
check that can fail without the network runs before anything is uploaded, and nothing in the run folder is
changed: the card is rendered afresh in memory for the Hub's file layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cai.errors import CaiError
from cai.store import CONSTITUTION, DATASET, MANIFEST, TRACES

DEFAULT_TOKEN_ENV = "HF_TOKEN"
_NETWORK_ERRORS = {"ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "TransportError",
                   "NetworkError", "ConnectionError", "Timeout", "ProxyError"}


@dataclass
class PushPlan:
    run: Path
    repo_id: str
    private: bool
    include_traces: bool
    license_id: str | None


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text


def read_token(token_env: str) -> str | None:
    """The token from `token_env`, else the Hub's stored login; None when there is neither."""
    value = os.environ.get(token_env, "").strip()
    if value:
        return value
    if token_env != DEFAULT_TOKEN_ENV and token_env in os.environ:
        raise CaiError(f"the variable {token_env} is empty", "--token-env", f"export {token_env}=<your Hub token>")
    from huggingface_hub import get_token

    return get_token()


def check_run(run: Path, include_traces: bool) -> dict:
    """The run's manifest; refuses a folder that has no finished export to push."""
    import json

    if not (run / MANIFEST).is_file():
        raise CaiError("not a cai run: no manifest.json", str(run), "pass the --out folder of a `cai run`")
    manifest = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("kind") == "eval" or not (run / DATASET / "dataset_dict.json").is_file():
        raise CaiError("this folder has no exported dataset", str(run / DATASET),
                       "push a finished `cai run` or `cai label` folder (its dataset/ is written at the end)")
    if include_traces and not (run / TRACES).is_file():
        raise CaiError("--include-traces: the run has no traces.jsonl", str(run), "drop --include-traces")
    return manifest


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except Exception:  # noqa: BLE001 - its validation error names no fix
        raise CaiError(f"not a Hub repo id: {repo_id!r}", "REPO_ID",
                       "use owner/name with letters, digits, '-', '_' and '.', e.g. you/my-cai-data") from None


def _check_online() -> None:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise CaiError("the Hub is switched off: offline mode is on (HF_HUB_OFFLINE=1)", "cai push",
                       "unset HF_HUB_OFFLINE (and HF_DATASETS_OFFLINE), then run cai push again")


def _failure(error: Exception, token: str | None) -> CaiError:
    """One line for the ways a push fails: no network, a refused token, a repo that cannot be written."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return CaiError("the Hub is switched off: offline mode is on", "cai push", "unset HF_HUB_OFFLINE")
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, HfHubHTTPError) and status in (401, 403):
        return CaiError(f"the Hub refused the token (HTTP {status})", "cai push",
                        "log in with `hf auth login` or export HF_TOKEN with a token that has write access")
    if isinstance(error, HfHubHTTPError):
        return CaiError(f"the Hub answered HTTP {status}: {_redact(str(error).splitlines()[0], token)}", "cai push",
                        "check the repo id and your rights to it, then run cai push again")
    # The HTTP client's own exception types change between huggingface_hub releases; their names do not.
    kinds = {cls.__name__ for cls in type(error).__mro__}
    if kinds & _NETWORK_ERRORS or isinstance(error, (ConnectionError, TimeoutError)):
        return CaiError("cannot reach the Hub (network error)", "cai push",
                        "check your connection (and HF_ENDPOINT if you set it), then run cai push again")
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return CaiError(f"the push failed: {_redact(first_line, token)}", "cai push",
                    "check the message, then run cai push again")


def _non_empty_splits(dataset) -> dict[str, int]:
    # The Hub cannot hold a split without rows (push_to_hub writes no file for it), so those stay behind.
    return {name: len(part) for name, part in dataset.items() if len(part)}


def push_run(plan: PushPlan, token: str | None) -> dict[str, int]:
    """Upload and return the pushed splits' sizes. Raises CaiError on any failure, with the token redacted."""
    from datasets import DatasetDict, load_from_disk

    from cai.card import CARD, HUB_FILES, config_of, render_card, split_sizes

    manifest = check_run(plan.run, plan.include_traces)
    _check_repo_id(plan.repo_id)
    _check_online()
    if token is None:
        raise CaiError("no Hub token: not logged in and HF_TOKEN is not set", "cai push",
                       "run `hf auth login`, or export HF_TOKEN (or the variable you name with --token-env)")
    dataset = load_from_disk(str(plan.run / DATASET))
    splits = _non_empty_splits(dataset)
    if not splits:
        raise CaiError("every split of the dataset is empty", str(plan.run / DATASET), "run cai run on more prompts")
    constitution_text = (plan.run / CONSTITUTION).read_text(encoding="utf-8")
    sizes = {name: size for name, size in split_sizes(dataset).items() if name in splits}
    card = render_card(manifest, constitution_text, sizes, plan.license_id, files=HUB_FILES, repo_id=plan.repo_id)
    try:
        from huggingface_hub import CommitOperationAdd, HfApi

        api = HfApi(token=token)
        api.create_repo(plan.repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
        for config in dict.fromkeys(config_of(name) for name in splits):
            part = DatasetDict({name: dataset[name] for name in splits if config_of(name) == config})
            part.push_to_hub(plan.repo_id, config_name=config, private=plan.private, token=token)
        # Our card replaces the one push_to_hub wrote: same configs and split sizes, plus the whole story.
        files = [CommitOperationAdd(CARD, card.encode("utf-8")),
                 CommitOperationAdd(CONSTITUTION, constitution_text.encode("utf-8"))]
        if plan.include_traces:
            files.append(CommitOperationAdd(TRACES, str(plan.run / TRACES)))
        api.create_commit(plan.repo_id, files, repo_type="dataset", commit_message="cai: dataset card, constitution"
                          + (" and traces" if plan.include_traces else ""))
    except CaiError:
        raise
    except Exception as error:  # noqa: BLE001 - every library failure becomes one line
        raise _failure(error, token) from None
    return splits
