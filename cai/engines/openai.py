"""Any OpenAI-compatible server (`vllm serve`, SGLang, TGI, a hosted endpoint) over /v1/chat/completions.

Each request is one coroutine on a background event loop, at most `concurrency` in flight, spread over
the base URLs, so the servers' own schedulers see a full queue; `collect` takes the answers as they
come. The API key is read from an environment variable and lives only in request headers: it never
reaches the manifest, the logs or an error message.

Choice probabilities ask for one token with `top_logprobs`; an assistant prefix is continued with
vLLM's `continue_final_message` (also understood by SGLang), which renders exactly the prompt the
in-process engines score. Servers without it answer in a new assistant turn instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cai.engines.background import BackgroundRequests
from cai.engines.base import ChoiceProbs, Completion, Engine, Finished, Request, Sampling
from cai.engines.choices import probs_from_top_k, text_variants
from cai.engines.http_client import RetryPolicy, ServerPool, ServerUnreachable, normalise_base_url, run_sync
from cai.engines.roles import TemplateRoles
from cai.engines.server_model import choose_model, estimate_tokens, load_tokenizer
from cai.errors import CaiError
from cai.records import Conversation

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
CHOICE_TOP_K = 20  # the OpenAI API's maximum for top_logprobs


@dataclass(frozen=True)
class OpenAIOptions:
    base_urls: tuple[str, ...] = (DEFAULT_BASE_URL,)
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 32
    timeout: float = 600.0
    max_retries: int = 5
    backoff: float = 0.5
    requested_model: str | None = None   # what the user typed for --model ('default', a hub id, ...)
    max_model_len: int | None = None
    seed: int = 0   # the run's seed, sent with every request so a server that honours it repeats itself

    @classmethod
    def from_options(cls, options: dict, seed: int = 0) -> OpenAIOptions:
        urls = options.get("base_url") or [DEFAULT_BASE_URL]
        urls = [urls] if isinstance(urls, str) else list(urls)
        known = {k: options[k] for k in ("api_key_env", "concurrency", "timeout", "max_retries", "backoff",
                                         "requested_model", "max_model_len") if options.get(k) is not None}
        return cls(base_urls=tuple(normalise_base_url(u) for u in urls), seed=seed, **known)


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(self, model_path: str, options: OpenAIOptions = OpenAIOptions()):
        if options.concurrency < 1 or options.timeout <= 0 or options.max_retries < 0:
            raise CaiError("concurrency must be >= 1, timeout > 0 and max-retries >= 0", "--engine openai",
                           "correct --concurrency, --timeout or --max-retries")
        self.options = options
        self.policy = RetryPolicy(options.max_retries, options.backoff)
        self.api_key = os.environ.get(options.api_key_env) or None
        served = run_sync(self._list_models())
        model, self._server_context = choose_model(served, options.requested_model, model_path, options.base_urls)
        super().__init__(model)
        self.tokenizer = load_tokenizer(model)
        # The server applies the template; with the model's tokenizer here we know what it accepts.
        self.roles = TemplateRoles(self.tokenizer)
        self.info = {"base_urls": list(options.base_urls), "served_model": model,
                     "concurrency": options.concurrency, "timeout_s": options.timeout,
                     "max_retries": options.max_retries, "api_key_env": options.api_key_env,
                     "api_key_set": self.api_key is not None, "seed": options.seed,
                     "token_counts": "local tokenizer" if self.tokenizer else "estimated (about 4 characters a token)"}
        self._loop: BackgroundRequests | None = None   # started with the first request
        self._variants: dict = {}

    def _pool(self) -> ServerPool:
        return ServerPool(list(self.options.base_urls), self.api_key, self.options.timeout, self.policy,
                          max_connections=self.options.concurrency)

    async def _list_models(self) -> list[list[dict]]:
        """Each server's /v1/models entries; this is also the reachability check."""
        async with self._pool() as pool:
            return [(await pool.request("GET", "/models", base=i)).get("data", [])
                    for i in range(len(self.options.base_urls))]

    @property
    def context_length(self) -> int:
        if self.options.max_model_len:
            return self.options.max_model_len
        if self._server_context:
            return self._server_context
        limit = getattr(self.tokenizer, "model_max_length", None)
        return int(limit) if limit and limit < 10**7 else 4096

    def count_tokens(self, conversation: Conversation) -> int:
        if self.tokenizer is None:
            return estimate_tokens(conversation)
        text = self.tokenizer.apply_chat_template(self.roles.fit(conversation), tokenize=False,
                                                  add_generation_prompt=True)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def window(self) -> int:
        return self.options.concurrency

    def _submit(self, key, request: Request) -> None:
        if self._loop is None:
            self._loop = BackgroundRequests(self._pool(), self.options.concurrency)
        self._loop.post(key, request, self._request_body(request))

    def _collect(self, block: bool) -> list[Finished]:
        found = []
        for key, request, answer in self._loop.finished(block):
            if isinstance(answer, ServerUnreachable):
                raise answer  # no server: every request would fail; stop the run (finished work is saved)
            if isinstance(answer, BaseException):
                found.append((key, answer))
            else:
                found.append((key, self._choice_result(answer, request) if request.scores
                               else self._completion(answer, request)))
        return found

    def _body(self, messages: Conversation, sampling: Sampling, n: int) -> dict:
        body = {"model": self.model_id, "messages": self.roles.fit(messages), "max_tokens": sampling.max_new_tokens,
                "temperature": max(sampling.temperature, 0.0), "n": n, "seed": sampling.seed}
        if sampling.temperature > 0:  # 1.0 too: `vllm serve` otherwise applies the model's generation_config
            body["top_p"] = sampling.top_p
        return body

    def _request_body(self, request: Request) -> dict:
        if not request.scores:
            # Greedy samples are all the same text; vLLM refuses n > 1 without sampling.
            copies = request.sampling.n if request.sampling.temperature <= 0 else 1
            return self._body(list(request.conversation), request.sampling, request.sampling.n // copies)
        body = self._body(list(request.conversation), Sampling(max_new_tokens=1, temperature=0.0), 1)
        body.update(logprobs=True, top_logprobs=CHOICE_TOP_K)
        if request.assistant_prefix:
            body["messages"] = body["messages"] + [{"role": "assistant", "content": request.assistant_prefix}]
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _completion(self, answer: dict, request: Request) -> Completion:
        copies = request.sampling.n if request.sampling.temperature <= 0 else 1
        choices = sorted(answer.get("choices", []), key=lambda c: c.get("index", 0)) * copies
        usage = answer.get("usage") or {}
        return Completion(texts=[(c.get("message") or {}).get("content") or "" for c in choices],
                          prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0),
                          finish_reasons=[c.get("finish_reason") or "stop" for c in choices])

    def _choice_result(self, answer: dict, request: Request) -> ChoiceProbs:
        if request.choices not in self._variants:
            self._variants[request.choices] = text_variants(request.choices, self.tokenizer)
        content = ((answer.get("choices") or [{}])[0].get("logprobs") or {}).get("content") or []
        top = content[0].get("top_logprobs", []) if content else []
        pairs = [(entry.get("token"), entry.get("logprob", float("-inf"))) for entry in top]
        return probs_from_top_k(pairs, self._variants[request.choices],
                               int((answer.get("usage") or {}).get("prompt_tokens") or 0))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
