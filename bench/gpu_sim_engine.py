"""A simulated GPU vLLM behind cai's Engine interface (submit/collect), on a virtual clock. A MODEL, not a GPU.

What it models, step by step as vLLM V1's scheduler does:
  - continuous batching: up to `max_num_seqs` sequences run; each step gives every running sequence its next
    token (or its next prefill chunk), then admits waiting requests first-come first-served while the step's
    token budget (`max_num_batched_tokens`, chunked prefill) and the KV cache allow;
  - the time of one step = a + b x (sequences decoding in it) + c x (prompt tokens computed in it); the clock
    advances by that, nothing sleeps;
  - a paged KV cache of `kv_tokens` in blocks of 16, with prefix caching: full blocks are keyed by a hash of
    their tokens and everything before them, so the few-shot prefix and a conversation's earlier turns are
    computed once while they stay cached (freed blocks are evicted least recently used first);
  - when a running sequence needs a block and none is free, the sequence admitted last is preempted: its
    blocks are freed and it is recomputed later (vLLM V1's recompute preemption).
What it assumes: a token is 4 characters of the rendered messages (plus one per role marker); output lengths
are drawn from a real run's trace per kind of turn (answer, critique, revision), independently of each other
and of the prompt; a label question is a prompt with 1 output token; the step cost does not grow with the
context length (b is an average over contexts of about 1k tokens); no network, no tokenizer, no sampling cost
beyond b.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from dataclasses import dataclass

from cai.engines.base import ChoiceProbs, Completion, Engine, Finished, Request

BLOCK = 16
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class GPUModel:
    """Step-time curve and memory of one GPU serving one model (defaults: an 8B model in bf16 on an H100 SXM)."""

    step_s: float = 0.006             # a: read 16 GB of weights at 3.35 TB/s (4.8 ms) + launch and scheduling
    per_sequence_s: float = 0.00006   # b: one sequence's KV read (~1k tokens x 128 KiB) + its share of compute
    per_prefill_token_s: float = 0.000035  # c: 16 GFLOP a token at ~460 TFLOP/s (about half of bf16 peak)
    kv_tokens: int = 400_000          # (80 GB x 0.9 - 16 GB weights - ~4 GB activations) / 128 KiB a token
    context: int = 8192
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192

    def step_time(self, decoding: int, prefill_tokens: int) -> float:
        return self.step_s + self.per_sequence_s * decoding + self.per_prefill_token_s * prefill_tokens


def tokens_of(conversation, assistant_prefix: str = "") -> list[str]:
    out: list[str] = []
    for message in conversation:
        out.append(f"<{message['role']}>")
        text = message["content"]
        out.extend(text[i:i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN))
    out.append("<assistant>")
    out.extend(assistant_prefix[i:i + CHARS_PER_TOKEN] for i in range(0, len(assistant_prefix), CHARS_PER_TOKEN))
    return out


class _Sequence:
    __slots__ = ("key", "request", "tokens", "hashes", "prompt_len", "target", "computed", "produced", "held",
                 "text")

    def __init__(self, key, request: Request, prompt: list[str], words: list[str]):
        self.key, self.request, self.text = key, request, " ".join(words)
        self.tokens = prompt + [w + " " for w in words]  # the prompt, then the output it will produce
        self.prompt_len, self.target, self.computed, self.produced = len(prompt), len(words), 0, 0
        self.held: list[int] = []
        self.hashes: list[int] = []

    @property
    def length(self) -> int:
        return self.prompt_len + self.produced

    def block_hash(self, index: int) -> int:
        while len(self.hashes) <= index:  # chained: a block's key covers everything before it
            i = len(self.hashes)
            chunk = tuple(self.tokens[i * BLOCK:(i + 1) * BLOCK])
            self.hashes.append(hash((self.hashes[-1] if self.hashes else 0, chunk)))
        return self.hashes[index]


class KVCache:
    """Blocks in use (by reference count), freed-but-cached blocks (LRU), and partial last blocks."""

    def __init__(self, tokens: int):
        self.total = tokens // BLOCK
        self.used: dict[int, int] = {}
        self.cached: OrderedDict[int, None] = OrderedDict()
        self.partial = 0
        self.hit_tokens = 0

    def free(self) -> int:
        return self.total - len(self.used) - len(self.cached) - self.partial

    def reuse_prefix(self, seq: _Sequence) -> None:
        """Take the cached full blocks the sequence starts with (at least one token is always computed)."""
        for index in range((seq.length - 1) // BLOCK):
            key = seq.block_hash(index)
            if key in self.used:
                self.used[key] += 1
            elif key in self.cached:
                del self.cached[key]
                self.used[key] = 1
            else:
                break
            seq.held.append(key)
        seq.computed = len(seq.held) * BLOCK

    def grow(self, seq: _Sequence, count: int) -> bool:
        """Compute `count` more tokens of the sequence if blocks can be found (evicting cached ones)."""
        after = seq.computed + count
        needed = -(-after // BLOCK) - -(-seq.computed // BLOCK)
        while self.free() < needed and self.cached:
            self.cached.popitem(last=False)
        if self.free() < needed:
            return False
        self.partial -= 1 if seq.computed % BLOCK else 0
        for index in range(seq.computed // BLOCK, after // BLOCK):
            key = seq.block_hash(index)
            if key in self.cached:
                del self.cached[key]
            self.used[key] = self.used.get(key, 0) + 1
            seq.held.append(key)
        self.partial += 1 if after % BLOCK else 0
        seq.computed = after
        return True

    def release(self, seq: _Sequence) -> None:
        for key in seq.held:
            self.used[key] -= 1
            if not self.used[key]:
                del self.used[key]
                self.cached[key] = None
        self.partial -= 1 if seq.computed % BLOCK else 0
        seq.held, seq.computed = [], 0


class SimulatedGPUEngine(Engine):
    """`lengths(request) -> int` draws a request's output length; `clock` is the simulated seconds so far."""

    name = "gpu-sim"

    def __init__(self, model: GPUModel, lengths, seed: int = 0):
        super().__init__("gpu-sim")
        self.model, self.lengths, self.rng = model, lengths, random.Random(seed)
        self.kv = KVCache(model.kv_tokens)
        self.waiting: deque[_Sequence] = deque()
        self.running: list[_Sequence] = []
        self.refused: list[Finished] = []
        self.clock = 0.0
        self.steps = self.generated = self.prompt_tokens = self.preemptions = self.batch_sum = 0
        self.prefill_computed = 0       # prompt tokens actually computed (not served by the prefix cache)
        self.prefill_seconds = 0.0      # the c x prefill-tokens part of the clock

    @property
    def context_length(self) -> int:
        return self.model.context

    @property
    def window(self) -> int:
        return self.model.max_num_seqs  # as the vllm engine: the sequences it schedules at once

    def count_tokens(self, conversation) -> int:
        return len(tokens_of(conversation))

    def _submit(self, key, request: Request) -> None:
        tokens = tokens_of(request.conversation, request.assistant_prefix)
        if len(tokens) >= self.model.context or request.sampling.n != 1 and not request.scores:
            self.refused.append((key, ValueError(f"prompt of {len(tokens)} tokens, n={request.sampling.n}: "
                                                 f"not simulated")))
            return
        target = 1 if request.scores else max(1, min(self.lengths(request), request.sampling.max_new_tokens,
                                                     self.model.context - len(tokens)))
        # Random three-letter words, one token each: outputs never share cache blocks by accident.
        words = ["".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz", k=3)) for _ in range(target)]
        self.prompt_tokens += len(tokens)
        self.waiting.append(_Sequence(key, request, tokens, words))

    def _collect(self, block: bool) -> list[Finished]:
        found, self.refused = self.refused, []
        while not found and (self.running or self.waiting):
            found = self.step()
            if not block:
                break
        return found

    def step(self) -> list[Finished]:
        """One scheduler step: decide what runs, advance the clock by its cost, return what finished."""
        budget, scheduled, preempted = self.model.max_num_batched_tokens, [], False
        index = 0
        while index < len(self.running) and budget:
            seq = self.running[index]
            count = min(seq.length - seq.computed, budget)
            while not self.kv.grow(seq, count):
                victim = self.running.pop()  # the one admitted last gives its blocks up
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    break
            else:
                scheduled.append((seq, count))
                budget -= count
                index += 1
        # As vLLM: no admissions in a step that had to preempt (the freed room goes to the running ones).
        while self.waiting and budget and not preempted and len(self.running) < self.model.max_num_seqs:
            seq = self.waiting[0]
            self.kv.reuse_prefix(seq)
            hit = seq.computed
            count = min(seq.length - seq.computed, budget)
            if not self.kv.grow(seq, count):
                self.kv.release(seq)
                break
            self.kv.hit_tokens += hit
            self.running.append(self.waiting.popleft())
            scheduled.append((seq, count))
            budget -= count
        if not scheduled:
            raise RuntimeError("the KV cache cannot hold even one request: raise kv_tokens")
        decoding = sum(1 for seq, count in scheduled if count == 1 and seq.produced)
        prefill = sum(c for s, c in scheduled) - decoding
        self.clock += self.model.step_time(decoding, prefill)
        self.prefill_computed += prefill
        self.prefill_seconds += self.model.per_prefill_token_s * prefill
        self.steps += 1
        self.batch_sum += len(scheduled)
        done = []
        for seq, _ in scheduled:
            if seq.computed == seq.length:
                seq.produced += 1
                self.generated += 0 if seq.request.scores else 1
                if seq.produced == seq.target:
                    done.append(seq)
        if done:
            ids = {id(seq) for seq in done}
            self.running = [seq for seq in self.running if id(seq) not in ids]
        return [(seq.key, self._finish(seq)) for seq in done]

    def _preempt(self, seq: _Sequence) -> None:
        self.kv.release(seq)
        self.waiting.appendleft(seq)
        self.preemptions += 1

    def _finish(self, seq: _Sequence):
        self.kv.release(seq)
        request = seq.request
        if request.scores:
            first, second = request.choices[0], request.choices[1]
            return ChoiceProbs({first: 0.6, second: 0.3}, prompt_tokens=seq.prompt_len)
        finish = "length" if seq.target == request.sampling.max_new_tokens else "stop"
        return Completion([seq.text], seq.prompt_len, seq.target, [finish])
