"""`cai constitution show`: a constitution as tables, so a long YAML file can be read at a glance."""

from __future__ import annotations

from collections import Counter

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cai.constitution import Constitution


def _share(weight: float, total: float) -> str:
    return f"{weight:g} ({100 * weight / total:.0f}%)" if total else f"{weight:g}"


def principles_table(constitution: Constitution) -> Table:
    total = sum(p.weight for p in constitution.principles)
    table = Table(title=f"principles ({len(constitution.principles)})", title_justify="left", show_lines=True)
    table.add_column("id", style="bold", overflow="fold")
    table.add_column("category")
    table.add_column("critique request", ratio=1)
    table.add_column("revision request", ratio=1)
    table.add_column("applies to")
    table.add_column("weight (chance a round picks it)", justify="right")
    for p in constitution.principles:
        table.add_row(Text(p.id), Text(p.category), Text(p.critique), Text(p.revision),
                      Text(", ".join(p.applies_to) if p.applies_to else "any row"), _share(p.weight, total))
    return table


def comparisons_table(constitution: Constitution) -> Table:
    total = sum(c.weight for c in constitution.comparisons)
    table = Table(title=f"comparison principles ({len(constitution.comparisons)})", title_justify="left",
                  show_lines=True)
    table.add_column("id", style="bold", overflow="fold")
    table.add_column("category")
    table.add_column("question", ratio=1)
    table.add_column("weight", justify="right")
    for c in constitution.comparisons:
        table.add_row(Text(c.id), Text(c.category), Text(c.question), _share(c.weight, total))
    return table


def few_shot_table(constitution: Constitution) -> Table:
    table = Table(title=f"few-shot examples ({len(constitution.few_shot)})", title_justify="left", show_lines=True)
    for column in ("principle", "user", "response", "critique", "revision"):
        table.add_column(column, ratio=None if column == "principle" else 1)
    for example in constitution.few_shot:
        user = next((m["content"] for m in reversed(example.messages) if m["role"] == "user"), "")
        table.add_row(Text(example.principle), Text(user), Text(example.response), Text(example.critique),
                      Text(example.revision))
    return table


def constitution_view(constitution: Constitution) -> Group:
    header = Text.assemble((constitution.name, "bold"), f"  version {constitution.version}  ",
                           (constitution.source, "dim"))
    parts: list = [header]
    if constitution.description:
        parts.append(Text(constitution.description))
    categories = Counter(p.category for p in constitution.principles)
    parts.append(Text("categories: " + ", ".join(f"{k} × {v}" for k, v in categories.items()), style="dim"))
    parts.append(principles_table(constitution))
    if constitution.comparisons:
        parts.append(comparisons_table(constitution))
    else:
        parts.append(Text("no comparison principles: preference labelling has nothing to ask", style="yellow"))
    if constitution.few_shot:
        parts.append(few_shot_table(constitution))
    return Group(*parts)
