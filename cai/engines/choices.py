"""Choice probabilities from top-k log-probabilities (vLLM and OpenAI-compatible servers).

A choice such as "A" can be produced by several tokens ("A", " A"); its probability is the sum over
those variants. A choice none of whose variants appear in the top k is reported in `missing`: its
probability is below the k-th one, not zero, and the caller decides what to do with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from cai.engines.base import ChoiceProbs


def first_token_variants(tokenizer, choice: str) -> set[int]:
    """Token ids that start `choice` written bare or after a space (the same rule as the hf engine)."""
    ids = set()
    for variant in (choice, " " + choice):
        encoded = tokenizer.encode(variant, add_special_tokens=False)
        if encoded:
            ids.add(encoded[0])
    return ids


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
    """For servers, which return token text: the decoded variants when a tokenizer is at hand, else
    the choice with and without a leading space."""
    variants: dict[str, set[str]] = {}
    for choice in choices:
        texts = {choice, " " + choice}
        if tokenizer is not None:
            texts |= {tokenizer.decode([i]) for i in first_token_variants(tokenizer, choice)}
        variants[choice] = texts
    return variants
