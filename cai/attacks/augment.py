"""`cai augment` as a function: prompts in, attacked variants out, as JSONL that `cai run` reads as it is.

Every check (attack names, an engine for model-based attacks, the templates rendering) happens before
the output file is touched; the file is written whole at the end, through a temporary file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cai.attacks import FAMILY_OF, select_attacks
from cai.attacks.catalog import Template, load_templates
from cai.attacks.model_based import from_answer, rewrite_request
from cai.attacks.transforms import apply_template
from cai.errors import CaiError
from cai.evaluate.groups import BENIGN, group_of
from cai.inputs import load_prompts
from cai.records import Record
from cai.sampling import example_rng

DEFAULT_ATTACKS = "wrapper,encoding,structure"


@dataclass
class AugmentOptions:
    prompts: str
    out: str
    attacks: str = DEFAULT_ATTACKS
    per_prompt: int = 1
    seed: int = 0
    benign_contrast: bool = False
    prompt_column: str | None = None
    split: str = "train"
    limit: int | None = None
    engine: str | None = None
    model: str = "default"
    max_new_tokens: int = 96
    temperature: float = 0.7
    templates: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Planned:
    source: Record
    template: Template
    contrast: bool  # a benign prompt under the same attack (`--benign-contrast`)


@dataclass
class Report:
    out: Path
    rows: list[dict]
    sources: int = 0
    benign_left_out: int = 0
    dropped: list[str] = field(default_factory=list)  # model-based variants the model's answer could not make

    def by_family(self) -> Counter:
        return Counter(row["attack"].split("/")[0] for row in self.rows)


def choose(source_id: str, attacks: list[str], templates: dict[str, list[Template]], per_prompt: int,
           seed: int) -> list[Template]:
    """`per_prompt` distinct templates for one source: attacks in an order drawn from the seed and the source
    id, taken in turn; each attack's templates in their own drawn order, so another source id gets others."""
    order = list(attacks)
    example_rng(seed, source_id, "attacks").shuffle(order)
    shuffled = {}
    for attack in order:
        shuffled[attack] = list(templates[attack])
        example_rng(seed, source_id, "template", attack).shuffle(shuffled[attack])
    chosen: list[Template] = []
    depth = 0
    while len(chosen) < per_prompt and any(depth < len(t) for t in shuffled.values()):
        chosen += [shuffled[a][depth] for a in order if depth < len(shuffled[a])]
        depth += 1
    return chosen[:per_prompt]


def plan(records: list[Record], attacks: list[str], templates: dict, options: AugmentOptions) -> tuple[list, int]:
    planned, benign_left_out = [], 0
    for record in records:
        benign = group_of(record.category) == BENIGN
        if benign and not options.benign_contrast:
            benign_left_out += 1
            continue
        planned += [Planned(record, t, benign) for t in choose(record.id, attacks, templates, options.per_prompt,
                                                                options.seed)]
    return planned, benign_left_out


def to_row(item: Planned, messages: list) -> dict:
    return {"id": f"{item.source.id}~{item.template.id}", "source_id": item.source.id,
            "category": item.source.category, "attack": f"{item.template.family}/{item.template.attack}",
            "attack_template": item.template.id, "benign_contrast": item.contrast, "messages": messages}


def _check(options: AugmentOptions, engine) -> tuple[list[str], dict]:
    if options.per_prompt < 1:
        raise CaiError("--per-prompt must be at least 1", "--per-prompt", "pass 1 or more")
    attacks = select_attacks(options.attacks)
    model_based = [a for a in attacks if FAMILY_OF[a] == "model"]
    if model_based and engine is None and not options.engine:
        raise CaiError(f"model-based attacks ({', '.join(model_based)}) need an engine", "--attacks",
                       "add --engine hf (or vllm, openai) and optionally --model, or leave the model family out")
    templates = load_templates(options.templates)
    missing = [a for a in attacks if not templates.get(a)]
    if missing:
        raise CaiError(f"no templates for {', '.join(missing)}", "prompts/attacks", "add them to the family's file")
    out = Path(options.out)
    if out.exists() and not options.force:
        raise CaiError("the output file already exists", str(out), "pass --force to replace it, or another --out")
    return attacks, templates


def _rewrite(planned: list[Planned], options: AugmentOptions, engine, report: Report) -> dict[int, list]:
    """Index into `planned` -> the conversation the engine's rewrite made (model-based attacks only)."""
    from cai.engines import Sampling

    wanted = [(i, item) for i, item in enumerate(planned) if item.template.family == "model"]
    if not wanted:
        return {}
    requests = [rewrite_request(item.template, item.source.messages) for _, item in wanted]  # render errors first
    owns = engine is None
    if owns:
        from cai.engines import build_engine
        from cai.models import resolve_model

        path, _ = resolve_model(options.model)
        engine = build_engine(options.engine, path, seed=options.seed)
    try:
        sampling = Sampling(max_new_tokens=options.max_new_tokens, temperature=options.temperature, seed=options.seed)
        completions = engine.chat(requests, sampling)
    finally:
        if owns:
            engine.close()
    made = {}
    for (index, item), completion in zip(wanted, completions, strict=True):
        messages, why = from_answer(item.template, item.source.messages, completion.text)
        if messages is None:
            report.dropped.append(f"{item.source.id} ({item.template.id}): {why}")
        else:
            made[index] = messages
    return made


def augment(options: AugmentOptions, engine=None) -> Report:
    """`engine`: an already built engine for the model-based attacks (tests); the caller closes it."""
    attacks, templates = _check(options, engine)
    loaded = load_prompts(options.prompts, prompt_column=options.prompt_column, split=options.split,
                          limit=options.limit)
    planned, benign_left_out = plan(loaded.records, attacks, templates, options)
    report = Report(Path(options.out), [], len(loaded.records), benign_left_out)
    deterministic = {i: apply_template(item.template, item.source.messages)
                     for i, item in enumerate(planned) if item.template.family != "model"}
    deterministic.update(_rewrite(planned, options, engine, report))
    report.rows = [to_row(item, deterministic[i]) for i, item in enumerate(planned) if i in deterministic]
    _write(report.out, report.rows)
    return report


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(partial, path)
