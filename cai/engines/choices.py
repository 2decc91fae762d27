"""Which tokens count as a choice, and choice probabilities from top-k log-probabilities.

A choice such as "A" can be produced by several tokens: "A" and " A" in byte-level BPE (GPT-2,
Llama 3), "A" and "▁A" in SentencePiece (Llama 2, Mistral, Gemma). `choice_token_ids` is the one rule
all engines use: a token counts for a choice only if it decodes to the choice itself. SentencePiece
often encodes " A" as a bare "▁" followed by "▁A"; counting that bare space (as a first-token rule
would) adds its probability to every letter and pulls each label toward 0.5.

A choice none of whose variants appear in the top k is reported in `missing`: its probability is
below the k-th one, not zero, and the caller decides what to do with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from cai.engines.base import ChoiceProbs


def choice_token_ids(tokenizer, choice: str) -> set[int]:
    """Token ids that spell `choice` on their own: the first token of the choice written bare and
    after a space, and the vocabulary's own entry for it (SentencePiece's "A" without the word-start
    mark, which follows "(" in "(A)" but which no encoding of a lone "A" yields). Candidates that do
    not decode to the choice (a bare space, the start of a longer word) are left out."""
    candidates = set()
    for text in (choice, " " + choice):
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if encoded:
            candidates.add(encoded[0])
    lookup = getattr(tokenizer, "convert_tokens_to_ids", None)  # not every tokenizer wrapper has one
    direct = lookup(choice) if lookup else None
    if isinstance(direct, int) and direct != getattr(tokenizer, "unk_token_id", None):
        candidates.add(direct)
    return {i for i in candidates if tokenizer.decode([i]).strip() == choice.strip()}


def probs_from_top_k(top: Iterable[tuple[object, float]], variants: dict[str, set],
                     prompt_tokens: int = 0) -> ChoiceProbs:
    """`top` holds (token key, log-probability) pairs; `variants` maps each choice to the keys that
    count for it (token ids for vLLM, token strings for a server)."""
    found: dict[str, float] = {}
    for key, logprob in top:
        for choice, keys in variants.items():
            if key in keys:
                found[choice] = found.get(choice, 0.0) + math.exp(logprob)
    missing = [c for c in variants if c not in found]
    return ChoiceProbs(found, missing, prompt_tokens)


def text_variants(choices: Sequence[str], tokenizer=None) -> dict[str, set[str]]:
    """For servers, which return token text: the choice with and without a leading space, plus the
    text of each token `choice_token_ids` counts when the model's tokenizer is at hand."""
    variants: dict[str, set[str]] = {}
    for choice in choices:
        texts = {choice, " " + choice}
        if tokenizer is not None:
            texts |= {tokenizer.decode([i]) for i in choice_token_ids(tokenizer, choice)}
        variants[choice] = texts
    return variants
