"""The output folder: a plain transformers model (weights, config, tokenizer with its chat template),
with the resolved training config and the metrics beside it.

Everything is written into a hidden staging folder next to --out and moved into place at the end, so a
failed or interrupted training never leaves a half-written model where a model is expected.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from cai.errors import CaiError

CONFIG_FILE, RESULTS_FILE = "train_config.yaml", "train_results.json"


def check_out(out: Path, force: bool) -> None:
    """Refuse to overwrite anything unless --force; called before any work."""
    if out.exists() and not out.is_dir():
        raise CaiError("the output path is a file", str(out), "choose a folder with --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CaiError("the output folder is not empty", str(out), "choose another --out, or add --force to replace it")


def staging_dir(out: Path) -> Path:
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def save_model(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)  # keeps the chat template, so `cai run --model DIR` formats prompts alike


def write_side_files(folder: Path, config: dict, results: dict) -> None:
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (folder / RESULTS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def publish(staging: Path, out: Path) -> None:
    """Move the finished folder into place (replacing an old one only now, when the new one is whole)."""
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
