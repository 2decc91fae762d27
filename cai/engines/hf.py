"""transformers engine: real batching with left padding; the CPU default.

Requests queue up; each `collect` runs one batch of whatever is queued, the oldest request with the
compatible ones closest to it in length (so a batch pads little), and returns those results.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cai.engines.base import ChoiceProbs, Completion, Engine, Finished, Request, Sampling
from cai.engines.choices import choice_token_ids
from cai.engines.roles import TemplateRoles
from cai.records import Conversation


def cpu_supports_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class HFEngine(Engine):
    name = "hf"

    def __init__(self, model_path: str, dtype: str = "auto", batch_size: int = 16, seed: int = 0):
        super().__init__(model_path)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        if dtype == "auto":
            dtype = "bfloat16" if torch.cuda.is_available() or cpu_supports_bf16() else "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.roles = TemplateRoles(self.tokenizer)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device).eval()
        self.batch_size, self.seed = batch_size, seed
        self.queue: list[_Queued] = []
        self._order, self._batch_number = itertools.count(), itertools.count()
        self.info = {"dtype": dtype, "batch_size": batch_size, "device": self.device}

    @property
    def context_length(self) -> int:
        config = self.model.config
        return int(getattr(config, "max_position_embeddings", None) or self.tokenizer.model_max_length)

    def _prompt_text(self, conversation: Conversation, assistant_prefix: str = "") -> str:
        text = self.tokenizer.apply_chat_template(self.roles.fit(conversation), tokenize=False,
                                                  add_generation_prompt=True)
        return text + assistant_prefix

    def count_tokens(self, conversation: Conversation) -> int:
        return len(self.tokenizer(self._prompt_text(conversation), add_special_tokens=False)["input_ids"])

    @property
    def window(self) -> int:
        # Twice the batch: while one batch runs, the queue holds enough to pick a well-padded next one.
        return 2 * self.batch_size

    def _submit(self, key, request: Request) -> None:
        text = self._prompt_text(request.conversation, request.assistant_prefix)
        self.queue.append(_Queued(next(self._order), key, request, text))

    def _collect(self, block: bool) -> list[Finished]:
        batch = self._next_batch()
        if not batch:
            return []
        try:
            if batch[0].request.scores:
                results = self._score([q.text for q in batch], batch[0].request)
            else:
                results = self._generate([q.text for q in batch], batch[0].request.sampling)
        except Exception as error:  # noqa: BLE001 - every member gets the error; the scheduler retries alone
            results = [error] * len(batch)
        return [(q.key, result) for q, result in zip(batch, results)]

    def _next_batch(self) -> list[_Queued]:
        """The oldest request and up to batch_size-1 compatible ones nearest to it in length: little
        padding (shortest-first among what is queued) without letting a long request starve."""
        if not self.queue:
            return []
        oldest = min(self.queue, key=lambda q: q.order)
        if oldest.request.alone:
            group = [oldest]
        else:
            shape = _shape(oldest.request)
            group = sorted((q for q in self.queue if not q.request.alone and _shape(q.request) == shape),
                           key=lambda q: (len(q.text), q.order))
            at = group.index(oldest)
            start = max(0, min(at, len(group) - self.batch_size))
            group = group[start:start + self.batch_size]
        taken = {id(q) for q in group}
        self.queue = [q for q in self.queue if id(q) not in taken]
        return group

    def _encode(self, texts: list[str]):
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in batch.items()}

    def _generate(self, texts: list[str], sampling: Sampling) -> list[Completion]:
        torch = self.torch
        eos = self.tokenizer.eos_token_id
        inputs = self._encode(texts)
        torch.manual_seed(sampling.seed + next(self._batch_number))
        sample = sampling.temperature > 0
        # top_p is always passed, so a model's generation_config (often top_p 0.9) cannot cut the
        # nucleus behind the user's back; transformers skips the step at 1.0.
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None, top_k=None,
                num_return_sequences=sampling.n, pad_token_id=self.tokenizer.pad_token_id)
        generated = output[:, inputs["input_ids"].shape[1]:]
        stops = {eos, self.tokenizer.pad_token_id}
        results = []
        for row in range(len(texts)):
            prompt_tokens = int(inputs["attention_mask"][row].sum())
            rows = generated[row * sampling.n:(row + 1) * sampling.n]
            lengths = [_generated_length(r.tolist(), stops) for r in rows]
            decoded = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
            # "length" only when no end token came: one generated as the last allowed token is a stop.
            reasons = ["stop" if any(t in stops for t in r.tolist()) else "length" for r in rows]
            results.append(Completion(decoded, prompt_tokens, sum(lengths), reasons))
        return results

    def _score(self, texts: list[str], request: Request) -> list[ChoiceProbs]:
        """Next-token probability of each choice after the assistant prefix, summing the tokens that
        spell it (`choice_token_ids`: e.g. 'A' and ' A')."""
        torch = self.torch
        variants = {c: choice_token_ids(self.tokenizer, c) for c in request.choices}
        unscorable = [c for c, ids in variants.items() if not ids]  # no single token spells it: missing, not 0
        inputs = self._encode(texts)
        # Positions as generate() counts them, so a left-padded row scores as it would alone.
        positions = (inputs["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
        # Only the last position's logits: the vocabulary projection of every prompt position would cost a
        # fifth of a small model's forward pass and a [batch, length, vocabulary] tensor, all unused.
        with torch.inference_mode():
            logits = self.model(**inputs, position_ids=positions, logits_to_keep=1).logits[:, -1, :].float()
        probs = torch.softmax(logits, dim=-1)
        return [ChoiceProbs({c: float(probs[row, sorted(ids)].sum()) for c, ids in variants.items() if ids},
                            list(unscorable), int(inputs["attention_mask"][row].sum())) for row in range(len(texts))]

    def close(self) -> None:
        self.model = None


def _generated_length(token_ids: list[int], stop_ids: set) -> int:
    """Tokens actually generated: up to and including the first end/pad token."""
    for position, token in enumerate(token_ids):
        if token in stop_ids:
            return position + 1
    return len(token_ids)


@dataclass
class _Queued:
    order: int
    key: object
    request: Request
    text: str


def _shape(request: Request) -> tuple:
    """Requests that can share a batch: the same sampling, or the same choices after the same prefix."""
    return (request.choices, request.assistant_prefix) if request.scores else ("chat", request.sampling)
