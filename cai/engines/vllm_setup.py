"""Turning cai's options into `vllm.LLM(...)` arguments, with the CPU-specific choices in one place.

On CPU, vLLM sizes its KV cache as a share of the machine's RAM (`gpu_memory_utilization`, default
0.92) and refuses to start when other processes hold memory, so unless the user chose a size we
reserve a fixed one. Compiling the model costs about 90 s more start-up on CPU than it gains on the
short runs cai usually does there, so eager mode is the CPU default. And `--dtype auto` means
bfloat16 on CPU only where the CPU computes it natively.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GiB = 1024**3
DEFAULT_CPU_KV_CACHE_GIB = 2
# vLLM's offline default on CPU is 4096 tokens a step (its server uses 2048). With cai's long
# few-shot prompts, 2048 keeps decoding moving between prefill chunks: +7% tokens/s measured with
# bench/engines.py (32 prompts, 2 rounds, 64 new tokens, 2-core AVX2 machine), level with the server.
CPU_STEP_TOKENS = 2048


@dataclass(frozen=True)
class VLLMOptions:
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None  # None: vLLM's default on GPU, a fixed KV cache on CPU
    max_model_len: int | None = None
    enforce_eager: bool | None = None            # None: eager on CPU, compiled/graphs on GPU
    dtype: str = "auto"
    seed: int = 0
    max_num_batched_tokens: int | None = None   # tokens per scheduler step; None: 2048 on CPU, vLLM's on GPU


def _verbose() -> bool:
    from cai.quiet import verbose_requested

    return verbose_requested()


def quiet_logs() -> None:
    """vLLM logs its start-up at INFO and routine notes (no Triton on CPU, forced shutdown of idle
    workers) at WARNING; cai shows its own progress, so only errors pass. An explicit
    VLLM_LOGGING_LEVEL from the user wins (set it to INFO to debug a start-up)."""
    if not _verbose():  # --verbose / CAI_VERBOSE=1 shows vLLM's own logs
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")


def llm_kwargs(model_path: str, options: VLLMOptions, on_cpu: bool) -> tuple[dict, dict]:
    """(keyword arguments for vllm.LLM, a summary for the manifest)."""
    dtype = options.dtype
    if dtype == "auto" and on_cpu:
        dtype = cpu_dtype()
    kwargs: dict = {"model": model_path, "seed": options.seed, "dtype": dtype,
                    "tensor_parallel_size": options.tensor_parallel_size, "enable_prefix_caching": True,
                    # Room for the top-k log-probabilities choice_probs asks for.
                    "max_logprobs": 20,
                    # Its checkpoint bar ignores TQDM_DISABLE; cai's quiet terminal hides it (cai.quiet).
                    "use_tqdm_on_load": _verbose()}
    eager = options.enforce_eager if options.enforce_eager is not None else on_cpu
    kwargs["enforce_eager"] = eager
    if options.max_model_len:
        kwargs["max_model_len"] = options.max_model_len
    step_tokens = options.max_num_batched_tokens or (CPU_STEP_TOKENS if on_cpu else None)
    if step_tokens:
        kwargs["max_num_batched_tokens"] = step_tokens
    kv_cache = "vLLM default"
    if options.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = options.gpu_memory_utilization
        kv_cache = f"gpu_memory_utilization={options.gpu_memory_utilization}"
    elif on_cpu:
        user_space = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "")
        if user_space:
            kv_cache = f"VLLM_CPU_KVCACHE_SPACE={user_space} GiB"
        else:
            kwargs["kv_cache_memory_bytes"] = DEFAULT_CPU_KV_CACHE_GIB * GiB
            kv_cache = f"{DEFAULT_CPU_KV_CACHE_GIB} GiB (default on CPU)"
    summary = {"device": "cpu" if on_cpu else "gpu", "enforce_eager": eager, "kv_cache": kv_cache,
               "tensor_parallel_size": options.tensor_parallel_size, "prefix_caching": True,
               "max_model_len": options.max_model_len, "seed": options.seed,
               "max_num_batched_tokens": kwargs.get("max_num_batched_tokens")}
    return kwargs, summary


def cpu_dtype() -> str:
    """vLLM's own `auto` picks bfloat16 on CPU, which without native bf16 instructions (AVX512-BF16 or
    AMX) runs about 5x slower than float32 (measured: 20 vs 110 tok/s on a 2-core AVX2 machine).
    Same rule as the hf engine, so both engines compute in the same precision."""
    from cai.engines.hf import cpu_supports_bf16

    return "bfloat16" if cpu_supports_bf16() else "float32"


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
