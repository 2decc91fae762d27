"""Shared fixtures. Real engines are built once per session: loading a model is the slow part."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
# The one precision every shared engine is built in. `auto` means bfloat16 on CPUs with native bf16
# (AVX512-BF16, AMX) and float32 elsewhere; vLLM's and transformers' bf16 kernels differ by more than
# the tolerances of the tests that compare engines, so those compare in float32 on every machine.
ENGINE_DTYPE = "float32"


@pytest.fixture(scope="session")
def default_model_path() -> str:
    from cai.models import default_model_dir

    return str(default_model_dir())


@pytest.fixture(scope="session")
def hf_engine(default_model_path):
    from cai.engines.hf import HFEngine

    engine = HFEngine(default_model_path, dtype=ENGINE_DTYPE, batch_size=8)
    yield engine
    engine.close()


@pytest.fixture
def write_jsonl(tmp_path):
    def write(rows: list, name: str = "prompts.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


# --- vLLM (in-process) and a real vLLM OpenAI-compatible server, one of each per session ---------

@pytest.fixture(scope="session")
def vllm_engine(default_model_path):
    """The in-process vLLM engine on the default model (about 40 s to start on CPU)."""
    from cai.engines.vllm import VLLMEngine
    from cai.engines.vllm_setup import VLLMOptions

    engine = VLLMEngine(default_model_path, VLLMOptions(seed=0, dtype=ENGINE_DTYPE))
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def vllm_server(default_model_path):
    """`python -m vllm.entrypoints.openai.api_server` on 127.0.0.1 and a free port; always stopped,
    also when a test or the start-up fails."""
    from servers import VLLMServer

    server = VLLMServer(default_model_path, dtype=ENGINE_DTYPE)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hf_reference_run(tmp_path_factory, hf_engine):
    """The engine tests' workload run on the hf engine: the structure every other engine must match."""
    from rich.console import Console
    from run_shape import RUN_OPTIONS

    from cai.config import RunConfig
    from cai.runner import execute_run

    out = tmp_path_factory.mktemp("hf-reference") / "run"
    config = RunConfig(engine="hf", out=str(out), **RUN_OPTIONS)
    execute_run(config, engine=hf_engine, show_progress=False, console=Console(file=open(os.devnull, "w")))
    return out


# --- Ray: one local cluster per session, on 127.0.0.1 with the dashboard off ---------------------

# CPUs the session's cluster offers: two replicas of one CPU, plus room for Ray Data's small tasks.
RAY_TEST_CPUS = 4


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray cluster for the session; this process is connected to it (so in-process runs reuse it)
    and subprocess drivers join it with --ray-address. Always shut down, also when a test fails."""
    import ray

    from cai.distributed.cluster import start_local

    start_local(RAY_TEST_CPUS)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
