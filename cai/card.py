"""The dataset card: a README.md in the exported dataset folder, rendered from the run's manifest.

The Hub reads the YAML block on top (splits and sizes, tags, license); people read the body: how the data
was made, its columns, what the labels say, how to load it, and what to be careful about. The metadata is
dumped by yaml.safe_dump, so no constitution or model name can break it; the body comes from the
template prompts/dataset_card.md.jinja, where every run value enters as a variable, never as code.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from cai.store import CONSTITUTION

CARD = "README.md"
TEMPLATE = "dataset_card.md.jinja"
LOCAL_FILES = "{split}/data-*.arrow"  # where save_to_disk puts a split: `load_dataset(folder, "prefs")` reads them
HUB_FILES = "{config}/{split}-*"  # where push_to_hub(config_name=...) puts a split
# SFT and preference rows have different columns, so each kind is its own config (one config must share a
# schema); prefs is the default, what DPO reads.
CONFIGS = (("sft", "_sft"), ("prefs", "_prefs"))
DEFAULT_CONFIG = "prefs"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def split_sizes(dataset) -> dict[str, dict]:
    """Rows and bytes of each split of a DatasetDict, as the card's dataset_info lists them."""
    return {name: {"num_examples": len(part), "num_bytes": int(part.data.nbytes)} for name, part in dataset.items()}


def metadata(manifest: dict, splits: dict[str, int], license_id: str | None, files: str,
             nbytes: dict[str, int] | None = None) -> dict:
    """The card's YAML header. `splits`: split name -> rows, in the order they are listed."""
    data: dict = {}
    if license_id:
        data["license"] = license_id
    data.update({
        "pretty_name": f"cai {manifest.get('constitution', {}).get('name', 'constitution')} data",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["constitutional-ai", "rlaif", "dpo", "sft", "synthetic", "cai"],
        "size_categories": [size_category(max(splits.values(), default=0))],
    })
    configs, infos = [], []
    for config, suffix in CONFIGS:
        names = [name for name in splits if name.endswith(suffix)]
        if not names:
            continue
        entry = {"config_name": config, **({"default": True} if config == DEFAULT_CONFIG else {}),
                 "data_files": [{"split": name, "path": files.format(config=config, split=name)} for name in names]}
        configs.append(entry)
        infos.append({"config_name": config, "splits": [
            {"name": name, **({"num_bytes": nbytes[name]} if nbytes else {}), "num_examples": splits[name]}
            for name in names]})
    data.update({"configs": configs, "dataset_info": infos})
    return data


def config_of(split: str) -> str:
    return next(config for config, suffix in CONFIGS if split.endswith(suffix))


def _markdown_text(value) -> str:
    """User text (constitution and model names) shown literally in Markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _environment():
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from cai.paths import prompts_dir

    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(str(prompts_dir())), undefined=StrictUndefined,
                                        keep_trailing_newline=True, autoescape=False, trim_blocks=True,
                                        lstrip_blocks=True)
    env.filters["md"] = _markdown_text
    return env


def _is_small(model_name: str) -> bool:
    """A policy of a few hundred million parameters at most: its answers are rough."""
    sizes = re.findall(r"(\d+(?:\.\d+)?)\s*([mb])\b", model_name.lower())
    return any(unit == "m" or float(number) < 1 for number, unit in sizes)


def _quality(section: dict | None) -> dict | None:
    """The manifest's `quality` section with every key the template reads (older or newer runs may lack some)."""
    if not section:
        return None
    gates = section.get("gates") if isinstance(section.get("gates"), dict) else {}
    return {"on": bool(gates.get("enabled", True)), "gates": list(gates.get("enabled") or []),
            "flagged": dict(section.get("flagged") or {}), "turns_flagged": dict(section.get("turns_flagged") or {}),
            "keep_flagged": bool(section.get("keep_flagged")), "kept_out": section.get("kept_out")}


def card_context(manifest: dict, constitution_text: str, splits: dict[str, int], license_id: str | None,
                 repo_id: str | None = None) -> dict:
    config = manifest.get("config") or {}
    feedback = manifest.get("feedback") or None
    if feedback and feedback.get("shared_with_policy"):
        feedback = None  # the policy's own engine labelled: the card says so in those words
    labels = manifest.get("labels") or {}
    quality = _quality(manifest.get("quality"))
    model = str(manifest.get("model") or "?")
    return {
        "manifest": manifest, "config": config, "splits": splits, "license": license_id, "repo_id": repo_id,
        "constitution": manifest.get("constitution") or {}, "constitution_sha256": content_hash(constitution_text),
        "model": model, "engine": manifest.get("engine") or "?", "feedback": feedback,
        "labels": labels, "labelled": labels.get("status", "off") == "on", "quality": quality,
        "counts": manifest.get("counts") or {}, "small_policy": _is_small(model),
        "small_data": sum(splits.values()) < 1000,
        "config_yaml": yaml.safe_dump({k: v for k, v in config.items() if v is not None}, sort_keys=False,
                                      allow_unicode=True).strip(),
    }


def render_card(manifest: dict, constitution_text: str, sizes: dict[str, dict] | None = None,
                license_id: str | None = None, files: str = LOCAL_FILES, repo_id: str | None = None) -> str:
    """`sizes`: from split_sizes (default: the manifest's row counts, without bytes)."""
    if sizes is None:
        sizes = {name: {"num_examples": rows} for name, rows in (manifest.get("splits") or {}).items()}
    splits = {name: size["num_examples"] for name, size in sizes.items()}
    nbytes = {name: size["num_bytes"] for name, size in sizes.items()} if all(
        "num_bytes" in size for size in sizes.values()) else None
    license_id = license_id or (manifest.get("config") or {}).get("license") or None
    header = yaml.safe_dump(metadata(manifest, splits, license_id, files, nbytes), sort_keys=False,
                            allow_unicode=True)
    if not license_id:
        header = "# license: not chosen yet; add a line `license: <id>` here, or set it with `--license`\n" + header
    context = card_context(manifest, constitution_text, splits, license_id, repo_id)
    body = _environment().get_template(TEMPLATE).render(**context)
    return f"---\n{header}---\n\n{body.strip()}\n"


def write_card(dataset_dir: Path, manifest: dict, constitution_text: str, license_id: str | None = None) -> Path:
    """README.md and the constitution beside the dataset; load_from_disk ignores both."""
    from datasets import load_from_disk

    dataset_dir = Path(dataset_dir)
    sizes = split_sizes(load_from_disk(str(dataset_dir)))  # what the folder holds, to the byte
    (dataset_dir / CONSTITUTION).write_text(constitution_text, encoding="utf-8")
    path = dataset_dir / CARD
    path.write_text(render_card(manifest, constitution_text, sizes, license_id), encoding="utf-8")
    return path
