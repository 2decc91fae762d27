"""Where the bundled data files live, both in a checkout and in an installed wheel."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # The wheel carries the folders inside the package (cai/_data/...); a checkout has them at the top.
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def constitution_dir() -> Path:
    return _data_dir("constitution")


def prompts_dir() -> Path:
    return _data_dir("prompts")


def default_constitution() -> Path:
    return constitution_dir() / "default.yaml"


def demo_prompts() -> Path:
    return prompts_dir() / "demo_prompts.jsonl"
