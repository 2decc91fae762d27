"""`cai constitution validate`: check files against the schema, reporting problems as one line each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cai.constitution import Constitution, load_constitution
from cai.errors import CaiError


@dataclass
class Checked:
    path: Path
    constitution: Constitution | None = None
    problem: CaiError | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.problem is not None:
            return self.problem.line()
        c = self.constitution
        return (f"{self.path}: ok — '{c.name}': principles {len(c.principles)}, comparisons {len(c.comparisons)}, "
                f"few-shot examples {len(c.few_shot)}")


def check_file(path: str | Path) -> Checked:
    """The loader stops at the first problem, so a file reports one problem at a time: fix it and re-run."""
    path = Path(path)
    if path.is_dir():
        return Checked(path, problem=CaiError("this is a folder, not a constitution file", str(path),
                                              f"pass the YAML files inside it, e.g. {path}/*.yaml"))
    try:
        return Checked(path, constitution=load_constitution(path))
    except CaiError as error:
        return Checked(path, problem=error)


def check_files(paths: list[str | Path]) -> list[Checked]:
    return [check_file(p) for p in paths]
