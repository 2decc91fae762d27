"""Shared fixtures. Real engines are built once per session: loading a model is the slow part."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def default_model_path() -> str:
    from cai.models import default_model_dir

    return str(default_model_dir())


@pytest.fixture(scope="session")
def hf_engine(default_model_path):
    from cai.engines.hf import HFEngine

    engine = HFEngine(default_model_path, batch_size=8)
    yield engine
    engine.close()


@pytest.fixture
def write_jsonl(tmp_path):
    def write(rows: list, name: str = "prompts.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
