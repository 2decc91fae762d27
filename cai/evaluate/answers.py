"""Each model's answers to the held-out prompts, through the engine interface.

Only one model is loaded at a time (memory): `Engines` keeps the last one open and hands it out again
when the next role (say the judge) asks for the same model.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from cai.engines import Sampling, build_engine
from cai.errors import CaiError
from cai.evaluate.options import EvalOptions
from cai.models import resolve_model
from cai.records import Record


@dataclass
class Answers:
    model: str           # as the user named it
    name: str            # display name
    path: str
    texts: list[str]
    tokens: list[tuple[int, int]]  # (prompt, completion) per answer
    seconds: float = 0.0

    def info(self) -> dict:
        return {"model": self.model, "name": self.name, "path": self.path,
                "prompt_tokens": sum(t[0] for t in self.tokens), "completion_tokens": sum(t[1] for t in self.tokens),
                "seconds": round(self.seconds, 2)}


class Engines:
    def __init__(self, options: EvalOptions, console):
        self.options, self.console = options, console
        self.engine, self.path, self.name = None, None, None

    def get(self, model: str):
        path, name = resolve_model(model)
        if self.engine is not None and self.path == path:
            return self.engine, name
        self.close()
        # A plain line, not a spinner: this runs inside the stages' live progress display.
        self.console.print(f"loading {name} on the {self.options.engine} engine", style="dim", highlight=False,
                           markup=False)
        try:
            self.engine = build_engine(self.options.engine, path, seed=self.options.seed,
                                       dtype=self.options.dtype, batch_size=self.options.batch_size)
        except OSError as error:  # transformers: not a model folder, or a hub id not available offline
            raise CaiError(f"cannot load the model ({str(error).splitlines()[0][:160]})", model,
                           "pass a model folder, a hub id available offline, or 'default'") from None
        self.path, self.name = path, name
        return self.engine, name

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = self.path = None


def generate(engines: Engines, model: str, records: list[Record], options: EvalOptions, progress) -> Answers:
    engine, name = engines.get(model)
    sampling = Sampling(max_new_tokens=options.max_new_tokens, temperature=options.temperature, seed=options.seed)
    started = time.perf_counter()
    completions = engine.chat([copy.deepcopy(r.messages) for r in records], sampling, progress)
    return Answers(model, name, engine.model_id, [c.text.strip() for c in completions],
                   [(c.prompt_tokens, c.completion_tokens) for c in completions], time.perf_counter() - started)
