"""The training data: a run's exported splits, in the layouts TRL's trainers read directly.

SFT trains on `train_sft` as conversational prompt/completion rows (the prompt turns, then the final
revision as the completion), so the loss falls on the answer only, not on the user's words. DPO trains
on `train_prefs` (prompt turns, chosen and rejected assistant turns), optionally keeping only pairs
whose label margin reaches --min-margin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cai.errors import CaiError
from cai.store import DATASET

DEFAULT_SPLITS = {"sft": ("train_sft", "test_sft"), "dpo": ("train_prefs", "test_prefs")}


@dataclass
class TrainData:
    source: str
    split: str
    train: list[dict]
    test: list[dict]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out

    def datasets(self):
        from datasets import Dataset

        return Dataset.from_list(self.train), (Dataset.from_list(self.test) if self.test else None)


def dataset_folder(run: str | Path) -> Path:
    """A run folder (its dataset/ inside) or a `save_to_disk` DatasetDict folder given directly."""
    path = Path(run)
    if not path.exists():
        raise CaiError("no such folder", str(path), "pass the --out folder of a `cai run` (or its dataset/)")
    if (path / DATASET / "dataset_dict.json").is_file():
        return path / DATASET
    if (path / "dataset_dict.json").is_file():
        return path
    hint = ("the run has not exported its dataset yet; let `cai run` finish (or resume it with --resume)"
            if (path / "traces.jsonl").is_file() else "pass the --out folder of a `cai run`")
    raise CaiError("no exported dataset here (looked for dataset/dataset_dict.json)", str(path), hint)


def _read(folder: Path, split: str):
    from datasets import load_from_disk

    data = load_from_disk(str(folder))
    if split not in data:
        raise CaiError(f"split '{split}' not found (has: {', '.join(data)})", str(folder),
                       "pass --split with one of those names")
    return data[split]


def _sft_row(row: dict) -> tuple[dict | None, str | None]:
    messages = row.get("messages") or []
    if not messages or messages[-1].get("role") != "assistant" or not (messages[-1].get("content") or "").strip():
        return None, "no final assistant answer"
    if not any(m.get("role") == "user" for m in messages[:-1]):
        return None, "no user turn before the answer"
    return {"prompt": messages[:-1], "completion": messages[-1:]}, None


def _dpo_row(row: dict, min_margin: float) -> tuple[dict | None, str | None]:
    if not row.get("prompt") or not row.get("chosen") or not row.get("rejected"):
        return None, "missing prompt, chosen or rejected"
    margin = row.get("margin")
    if min_margin and margin is not None and margin < min_margin:
        return None, f"margin below {min_margin}"
    return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}, None


def _convert(rows, method: str, min_margin: float, limit: int | None, dropped: dict) -> list[dict]:
    out = []
    for row in rows:
        if limit is not None and len(out) >= limit:
            break
        converted, reason = _sft_row(row) if method == "sft" else _dpo_row(row, min_margin)
        if converted is None:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            out.append(converted)
    return out


def load_train_data(run: str | Path, method: str, split: str | None = None, min_margin: float = 0.0,
                    limit: int | None = None, with_test: bool = True) -> TrainData:
    folder = dataset_folder(run)
    train_split, test_split = DEFAULT_SPLITS[method]
    split = split or train_split
    dropped: dict[str, int] = {}
    train = _convert(_read(folder, split), method, min_margin, limit, dropped)
    if not train:
        what = "preference pairs" if method == "dpo" else "SFT rows"
        fix = ("lower --min-margin, or make more data with `cai run` (pairs need a revision that changed the answer)"
               if method == "dpo" else "make more data with `cai run`")
        detail = f" ({', '.join(f'{v} dropped: {k}' for k, v in dropped.items())})" if dropped else ""
        raise CaiError(f"split '{split}' holds no usable {what}{detail}", str(folder), fix)
    test: list[dict] = []
    from datasets import load_from_disk

    if with_test and split == train_split and test_split in load_from_disk(str(folder)):
        test = _convert(_read(folder, test_split), method, min_margin, None, {})
    return TrainData(str(folder), split, train, test, dropped)
