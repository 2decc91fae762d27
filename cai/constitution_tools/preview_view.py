"""Drawing a prompt preview in the terminal: one panel per message, the few-shot prefix dimmed, then
(with --model) the exact text after the chat template. Text is never read as rich markup."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from cai.constitution_tools.preview import Preview

_ROLE_STYLES = {"system": "yellow", "user": "cyan", "assistant": "green"}


def preview_view(preview: Preview, templated: tuple[str, int] | None = None, model: str | None = None) -> Group:
    heading = f"stage {preview.stage}"
    if preview.principle_id:
        heading += f" · principle {preview.principle_id}"
    parts: list = [Text(heading, style="bold")]
    if preview.principle_text:
        parts.append(Text(preview.principle_text, style="dim"))
    count = len(preview.messages)
    summary = f"{count} messages"
    if preview.prefix_messages:
        summary += f", the first {preview.prefix_messages} from the constitution's few-shot examples (dimmed)"
    parts.append(Text(summary, style="dim"))
    if preview.note:
        parts.append(Text(preview.note, style="dim"))
    for number, message in enumerate(preview.messages):
        role = message["role"]
        in_prefix = number < preview.prefix_messages
        title = f"{number + 1}. {role}" + (" · few-shot" if in_prefix else "")
        parts.append(Panel(Text(message["content"], style="dim" if in_prefix else ""), title=Text(title),
                           title_align="left", border_style="dim" if in_prefix else _ROLE_STYLES.get(role, "white")))
    if preview.assistant_prefix:
        parts.append(Panel(Text(preview.assistant_prefix), title="assistant · starts with (the model continues)",
                           title_align="left", border_style="green"))
    if templated:
        text, tokens = templated
        parts.append(Panel(Text(text), title=Text(f"as {model} reads it: its chat template applied · {tokens} tokens"),
                           title_align="left", border_style="magenta"))
    return Group(*parts)
