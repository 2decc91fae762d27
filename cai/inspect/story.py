"""One example's story in the terminal: the prompt, the first answer, each round's principle, critique
and revision (as a word diff against the answer before it), then the labels and the preference."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cai.inspect.diff import DELETE, INSERT, change_counts, word_diff
from cai.inspect.loader import Example
from cai.inspect.terminal import pairs_table

INSERT_STYLE, DELETE_STYLE = "bold green", "red strike"
_PREFERENCE_HIDDEN = ("chosen", "rejected", "prompt", "messages", "all_pairs")


def diff_text(before: str, after: str) -> Text:
    text = Text()
    segments = word_diff(before, after)
    for number, (kind, segment) in enumerate(segments):
        text.append(segment, style=INSERT_STYLE if kind == INSERT else DELETE_STYLE if kind == DELETE else "")
        if kind == DELETE and not segment[-1:].isspace() and number + 1 < len(segments):
            text.append(" ")  # keep "old" and "new" words apart on screen; not part of either text
    return text


def example_meta(example: Example) -> str:
    meta = [f"category {example.category}"] if example.category else []
    if example.source_row is not None:
        meta.append(f"input row {example.source_row}")
    if example.tokens:
        meta.append("tokens " + ", ".join(f"{k} {v}" for k, v in example.tokens.items()))
    return " · ".join(meta)


def flag_note(reasons: list[str], consequence: str = "") -> Text:
    return Text(f"flagged: {', '.join(reasons)}{consequence}", style="bold yellow") if reasons else Text("")


def _round_panel(number: int, round_) -> Panel:
    inserted, deleted = change_counts(word_diff(round_.before, round_.revision))
    heading = f"revision (+{inserted} / -{deleted} words)" if round_.changed else "revision (unchanged)"
    body = [Text("critique request: ", style="dim") + Text(round_.critique_prompt, style="dim"),
            Text("critique", style="bold"), Text(round_.critique or "(no critique)"),
            flag_note(round_.critique_flags), Text(heading, style="bold"),
            diff_text(round_.before, round_.revision) if round_.revision else Text("(no revision)"),
            flag_note(round_.revision_flags, " — not used; the answer before it stands")]
    # Titles are Text, not markup: principle ids and categories are the user's, and may hold "[".
    return Panel(Group(*body), title=Text(f"round {number} · {round_.principle_id} ({round_.category})"),
                 title_align="left", border_style="magenta")


def story_view(example: Example) -> Group:
    parts: list = [Text(f"example {example.index}: {example.id}", style="bold")]
    if example_meta(example):
        parts.append(Text(example_meta(example), style="dim"))
    for number, message in enumerate(example.messages):
        role = str(message.get("role", "?"))
        parts.append(Panel(Text(str(message.get("content", ""))),
                           title=Text(f"{role} (written by the policy)" if number in example.generated_turns else role),
                           title_align="left", border_style="cyan"))
    initial = Group(Text(example.initial_response or "(no answer)"),
                    *([flag_note(example.initial_flags)] if example.initial_flags else []))
    parts.append(Panel(initial, title="initial answer", title_align="left", border_style="blue"))
    parts += [_round_panel(number, round_) for number, round_ in enumerate(example.rounds, start=1)]
    if example.flags:
        parts.append(Text(f"final answer flagged ({', '.join(example.flags)}): left out of the exported "
                          "splits unless --keep-flagged", style="bold yellow"))
    if example.labels:
        parts.append(labels_table(example))
    if example.preference:
        parts.append(pairs_table("preference", preference_rows(example.preference)))
    if example.errors:
        parts.append(Panel(Text("\n".join(example.errors)), title="errors", title_align="left", border_style="red"))
    return Group(*parts)


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_format(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    return "-" if value is None else str(value)


def preference_rows(preference: dict) -> dict[str, str]:
    return {key: _format(value) for key, value in preference.items() if key not in _PREFERENCE_HIDDEN}


def labels_table(example: Example) -> Table:
    """One row per question asked: principle, order, raw letter probabilities, normalised scores, the rest."""
    labels = example.labels
    choices = sorted({c for label in labels for c in label.probs})
    names = list(dict.fromkeys(n for label in labels for n in label.scores))
    other = list(dict.fromkeys(k for label in labels for k in label.other))
    table = Table(title="labels", title_justify="left")
    columns = ["principle", "pair", "order", *(f"P({c})" for c in choices), *(f"score {n}" for n in names),
               "valid", *other]
    for column in columns:
        table.add_column(column)
    for label in labels:
        table.add_row(Text(label.principle or "?"), Text(label.pair or "-"), Text(label.order or "-"),
                      *(_format(label.probs.get(c)) for c in choices),
                      *(_format(label.scores.get(n)) for n in names),
                      "-" if label.valid is None else "yes" if label.valid else "no",
                      *(Text(_format(label.other.get(k))) for k in other))
    return table
