"""Recipes and flags, a light `cai --help`, and a wheel that carries the data folders."""

import subprocess
import sys
import zipfile

import pytest

from cai.config import resolve_config
from cai.errors import CaiError


def test_recipe_gives_defaults_and_flags_override(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("rounds: 4\nmax-new-tokens: 99\nseed: 5\n")
    config = resolve_config({"rounds": 1, "limit": None}, str(recipe))
    assert (config.rounds, config.max_new_tokens, config.seed, config.limit) == (1, 99, 5, None)


def test_unknown_recipe_key_names_its_line(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("rounds: 4\nrunds: 2\n")
    with pytest.raises(CaiError) as caught:
        resolve_config({}, str(recipe))
    assert caught.value.line().startswith(f"{recipe}:2: unknown option 'runds'")


def test_resume_refuses_flags_that_would_change_results():
    saved = resolve_config({"seed": 1}).to_dict()
    assert resolve_config({}, saved=saved).seed == 1
    assert resolve_config({"quiet": None, "batch_size": 4}, saved=saved).batch_size == 4
    with pytest.raises(CaiError, match="--seed differs from the run being resumed"):
        resolve_config({"seed": 2}, saved=saved)


def test_help_does_not_import_heavy_libraries():
    code = ("import sys, cai.cli as c; c._register(); "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'vllm', 'trl', 'ray') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "cai", "run", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--resume" in help_text.stdout and "--config" in help_text.stdout


def test_wheel_ships_constitution_and_prompts(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(repo)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("cai-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("cai/_data/constitution/default.yaml", "cai/_data/prompts/critique.jinja",
                   "cai/_data/prompts/revision.jinja", "cai/_data/prompts/demo_prompts.jsonl", "cai/cli/run.py",
                   "cai/_data/prompts/attacks/wrapper.yaml", "cai/_data/prompts/demo_augmented.jsonl"):
        assert needed in names
