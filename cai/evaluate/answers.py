"""Each model's answers to the held-out prompts, through the engine interface (cai.evaluate.roles
says which engine and servers each model runs on)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from cai.engines import Sampling
from cai.evaluate.options import EvalOptions
from cai.records import Record
from cai.turns import fill_pending_turns


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


def generate(engines, spec, records: list[Record], options: EvalOptions, progress) -> tuple[Answers, list[Record]]:
    """The model's answer to each prompt, and the prompts as it saw them: an assistant turn left for the
    model (content null, as `cai augment` writes escalations) is written by this model first, turn by
    turn, as `cai run` does, so each model is judged on the conversation it took part in."""
    engine, name = engines.get(spec)
    sampling = Sampling(max_new_tokens=options.max_new_tokens, temperature=options.temperature, seed=options.seed)
    started = time.perf_counter()
    records, _, _ = fill_pending_turns(engine, records, sampling, progress)
    completions = engine.chat([copy.deepcopy(r.messages) for r in records], sampling, progress)
    tokens = [(r.tokens["prompt"] + c.prompt_tokens, r.tokens["completion"] + c.completion_tokens)
              for r, c in zip(records, completions, strict=True)]
    answers = Answers(spec.model, name, engine.model_id, [c.text.strip() for c in completions], tokens,
                      time.perf_counter() - started, spec.describe())
    return answers, records
