"""transformers engine: real batching with left padding; the CPU default.

Conversations are sorted by length before batching so each batch pads little, then results are put
back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence

from cai.engines.base import ChoiceProbs, Completion, Engine, ProgressFn, Sampling
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

    def _batches(self, texts: list[str]):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def _encode(self, texts: list[str]):
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in batch.items()}

    def chat(self, conversations: Sequence[Conversation], sampling: Sampling,
             progress: ProgressFn | None = None) -> list[Completion]:
        torch = self.torch
        texts = [self._prompt_text(c) for c in conversations]
        results: list[Completion | None] = [None] * len(texts)
        eos = self.tokenizer.eos_token_id
        for batch_number, indices in enumerate(self._batches(texts)):
            inputs = self._encode([texts[i] for i in indices])
            torch.manual_seed(sampling.seed + batch_number)
            sample = sampling.temperature > 0
            # top_p is always passed, so a model's generation_config (often top_p 0.9) cannot cut the
            # nucleus behind the user's back; transformers skips the step at 1.0.
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None, top_k=None,
                    num_return_sequences=sampling.n, pad_token_id=self.tokenizer.pad_token_id)
            width = inputs["input_ids"].shape[1]
            generated = output[:, width:]
            batch_tokens = 0
            for row, index in enumerate(indices):
                prompt_tokens = int(inputs["attention_mask"][row].sum())
                rows = generated[row * sampling.n:(row + 1) * sampling.n]
                stops = {eos, self.tokenizer.pad_token_id}
                lengths = [_generated_length(r.tolist(), stops) for r in rows]
                decoded = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
                # "length" only when no end token came: one generated as the last allowed token is a stop.
                reasons = ["stop" if any(t in stops for t in r.tolist()) else "length" for r in rows]
                results[index] = Completion(decoded, prompt_tokens, sum(lengths), reasons)
                batch_tokens += sum(lengths)
            if progress:
                progress(len(indices), batch_tokens)
        return results  # type: ignore[return-value]

    def choice_probs(self, conversations: Sequence[Conversation], choices: Sequence[str],
                     assistant_prefix: str = "", progress: ProgressFn | None = None) -> list[ChoiceProbs]:
        """Next-token probability of each choice after the assistant prefix, summing the tokens that
        spell it (`choice_token_ids`: e.g. 'A' and ' A')."""
        torch = self.torch
        variants = {c: choice_token_ids(self.tokenizer, c) for c in choices}
        unscorable = [c for c, ids in variants.items() if not ids]  # no single token spells it: missing, not 0
        texts = [self._prompt_text(c, assistant_prefix) for c in conversations]
        results: list[ChoiceProbs | None] = [None] * len(texts)
        for indices in self._batches(texts):
            inputs = self._encode([texts[i] for i in indices])
            # Positions as generate() counts them, so a left-padded row scores as it would alone.
            positions = (inputs["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(**inputs, position_ids=positions).logits[:, -1, :].float()
            probs = torch.softmax(logits, dim=-1)
            for row, index in enumerate(indices):
                scores = {c: float(probs[row, sorted(ids)].sum()) for c, ids in variants.items() if ids}
                results[index] = ChoiceProbs(scores, list(unscorable), int(inputs["attention_mask"][row].sum()))
            if progress:
                progress(len(indices), 0)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self.model = None


def _generated_length(token_ids: list[int], stop_ids: set) -> int:
    """Tokens actually generated: up to and including the first end/pad token."""
    for position, token in enumerate(token_ids):
        if token in stop_ids:
            return position + 1
    return len(token_ids)

