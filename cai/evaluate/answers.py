"""Each model's answers to the held-out prompts, through the engine interface (cai.evaluate.roles
says which engine and servers each model runs on)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from cai.engines import Sampling
from cai.evaluate.options import EvalOptions
from cai.records import Record


@dataclass
class Answers:
    model: str           # as the user named it
    name: str            # display name
    path: str
    texts: list[str]
    tokens: list[tuple[int, int]]  # (prompt, completion) per answer
    seconds: float = 0.0
    where: dict = field(default_factory=dict)  # engine and endpoints (RoleSpec.describe)

    def info(self) -> dict:
        return {"model": self.model, "name": self.name, "path": self.path, **self.where,
                "prompt_tokens": sum(t[0] for t in self.tokens), "completion_tokens": sum(t[1] for t in self.tokens),
                "seconds": round(self.seconds, 2)}


def generate(engines, spec, records: list[Record], options: EvalOptions, progress) -> Answers:
    engine, name = engines.get(spec)
    sampling = Sampling(max_new_tokens=options.max_new_tokens, temperature=options.temperature, seed=options.seed)
    started = time.perf_counter()
    completions = engine.chat([copy.deepcopy(r.messages) for r in records], sampling, progress)
    return Answers(spec.model, name, engine.model_id, [c.text.strip() for c in completions],
                   [(c.prompt_tokens, c.completion_tokens) for c in completions], time.perf_counter() - started,
                   spec.describe())
