"""What an OpenAI-compatible server serves: which model id to ask for, its context, its tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cai.errors import CaiError
from cai.records import Conversation

# The CLI's own default for --model: "whatever the server serves" when talking to a server.
_UNSPECIFIED = (None, "", "default")


def choose_model(served: list[list[dict]], requested: str | None, model_path: str | None,
                 base_urls: Sequence[str]) -> tuple[str, int | None]:
    """(model id to send, the server's context length if it says). `served` holds each server's
    /v1/models entries; the model must be served by every base URL, since requests go to all."""
    per_server = [[entry.get("id") for entry in entries if entry.get("id")] for entries in served]
    for url, ids in zip(base_urls, per_server):
        if not ids:
            raise CaiError("the server lists no models at /v1/models", url, "check that the server finished loading")
    first = per_server[0]
    wanted = [name for name in (requested, model_path) if name not in _UNSPECIFIED]
    model = next((name for name in wanted if name in first), None)
    if model is None and requested in _UNSPECIFIED:
        # `default` resolves to the embedded model's folder, which a local server may serve by path.
        model = model_path if model_path in first else first[0]
    if model is None:
        raise CaiError(f"model '{requested}' is not served", base_urls[0],
                       f"pass --model with one of: {', '.join(first)}")
    for url, ids in zip(base_urls, per_server):
        if model not in ids:
            raise CaiError(f"model '{model}' is not served here (it serves {', '.join(ids)})", url,
                           "give --base-url only servers that serve the same model")
    entry = next(e for e in served[0] if e.get("id") == model)
    context = entry.get("max_model_len") or entry.get("context_length")
    return model, int(context) if context else None


def load_tokenizer(model: str):
    """The served model's tokenizer when it is on this machine (a local folder or the hub cache), for
    exact token counts; None otherwise (counts are then estimated). Never downloads."""
    try:
        from transformers import AutoTokenizer

        if Path(model).is_dir():
            tokenizer = AutoTokenizer.from_pretrained(model)
        else:
            tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception:  # not a hub id, not cached, unreadable...: estimate instead
        return None
    return tokenizer if getattr(tokenizer, "chat_template", None) else None


def estimate_tokens(conversation: Conversation) -> int:
    """About four characters a token, plus a few tokens of chat markup per message."""
    return sum(len(str(m.get("content", ""))) // 4 + 6 for m in conversation) + 4
