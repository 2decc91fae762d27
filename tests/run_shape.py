"""The structure of a finished run (trace keys, dataset splits and columns), to compare engines.

Values differ between engines (bf16 vs fp32, different kernels); the structure must not. A label's
`scores` map exists only when the label is valid, so it is left out of the comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

# Every engine run in the engine tests uses these options, so their runs are comparable: float32 as
# the session's shared engines (conftest.ENGINE_DTYPE), not `auto`, which differs between CPUs.
RUN_OPTIONS = {"limit": 2, "rounds": 1, "max_new_tokens": 16, "few_shot": 1, "temperature": 0.0,
               "test_size": 0.5, "seed": 1, "label_principles": 1, "dtype": "float32",
               "gates": "none"}  # which short turns the gates flag may differ by engine; the structure must not


def cli_args(options: dict = RUN_OPTIONS) -> list[str]:
    args = []
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def key_paths(value, prefix: str = "", skip: frozenset = frozenset({"scores"})) -> set[str]:
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in skip:
                continue
            path = f"{prefix}.{key}"
            paths.add(path)
            paths |= key_paths(item, path, skip)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, prefix + "[]", skip)
    return paths


def run_shape(run_dir: str | Path) -> dict:
    from datasets import load_from_disk

    run_dir = Path(run_dir)
    records = [json.loads(line) for line in (run_dir / "traces.jsonl").read_text().splitlines()]
    dataset = load_from_disk(str(run_dir / "dataset"))
    return {"ids": sorted(r["id"] for r in records),
            "rounds": sorted(len(r["rounds"]) for r in records),
            "labels": sorted(len(r["labels"]) for r in records),
            "trace_keys": set().union(*(key_paths(r) for r in records)),
            "splits": {name: sorted(split.column_names) for name, split in dataset.items()},
            "sft_rows": sum(len(dataset[s]) for s in dataset if s.endswith("_sft"))}


def run_content(run_dir: str | Path) -> dict:
    """What must be equal between engines running the same model greedily on RUN_OPTIONS, whatever their
    precision: the sampled principles, the split of each example, and the prompt tokens of the first
    stage (its prompts do not depend on any answer)."""
    from datasets import load_from_disk

    run_dir = Path(run_dir)
    records = {r["id"]: r for r in map(json.loads, (run_dir / "traces.jsonl").read_text().splitlines())}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    dataset = load_from_disk(str(run_dir / "dataset"))
    return {"principles": {i: [r["principle_id"] for r in record["rounds"]] for i, record in records.items()},
            "sft_split": {name: sorted(dataset[name]["prompt_id"]) for name in ("train_sft", "test_sft")},
            "respond_prompt_tokens": manifest["stages"]["respond"]["prompt_tokens"]}

