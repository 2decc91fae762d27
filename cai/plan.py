"""Planning a run: everything that can be checked before any work, in the order a user wants to hear it.

The constitution and its templates, the input (one pass: usable and skipped rows), the model's folder
and the output folder are checked before an engine is built or the run folder touched; the check that
needs the engine (a prompt too long for the model's context) comes right after it is built, still
before anything is written. Generation (`cai run`) and labelling (`cai label`) plan differently: their
inputs and their steps; everything after the plan is shared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from cai import paths
from cai.config import RunConfig
from cai.constitution import Constitution, load_constitution
from cai.input_source import Check, InputSource
from cai.inputs import Skipped, iter_prompts
from cai.label.dataset import load_pairs
from cai.label.options import label_note, label_steps
from cai.models import check_model
from cai.pipeline import build_steps
from cai.records import Record
from cai.stages import few_shot_turns
from cai.store import CONSTITUTION, RunStore
from cai.templates import Renderer
from cai.turns import for_counting, pending_turns

# Room left for the answer, critique and revision that later stages add to the conversation.
_STAGE_SLACK_TOKENS = 64


@dataclass
class RunPlan:
    config: RunConfig
    constitution: Constitution
    constitution_text: str  # what the run folder keeps (constitution.yaml)
    renderer: Renderer
    prefix: list  # the few-shot turns
    steps: list
    input: InputSource
    store: RunStore
    resume: bool
    force: bool
    found_columns: bool = False  # `cai label`: the answer columns were found by name

    @property
    def labelling(self) -> bool:
        return label_note(self.config, self.constitution) is None


def _constitution(config: RunConfig, resume: bool) -> tuple[Constitution, Path]:
    path = Path(config.constitution) if config.constitution else paths.default_constitution()
    snapshot = Path(config.out) / CONSTITUTION if config.out else None
    if resume and snapshot and snapshot.is_file():  # the run's own copy: the file may have been edited since
        return dataclasses.replace(load_constitution(snapshot), source=str(path)), snapshot
    return load_constitution(path), path


def _plan(config: RunConfig, resume: bool, force: bool, engine_given: bool, open_input, steps_for) -> RunPlan:
    constitution, path = _constitution(config, resume)
    renderer = Renderer(config.templates)
    prefix = few_shot_turns(constitution, renderer, config.few_shot)  # renders every template once: fails early
    source, found_columns = open_input()
    source.scan()
    if not engine_given:
        check_model(config.model, engine=config.engine)
    store = RunStore(config.out)
    store.check_writable(resume, force)
    return RunPlan(config, constitution, path.read_text(encoding="utf-8"), renderer, prefix,
                   steps_for(constitution, renderer), source, store, resume, force, found_columns)


def plan_generation(config: RunConfig, *, resume: bool = False, force: bool = False,
                    engine_given: bool = False) -> RunPlan:
    """`cai run`: prompts in, answer -> critique/revise x R -> samples -> labels."""
    prompts = config.prompts or str(paths.demo_prompts())

    def rows(duplicate_rows: set[int] | None = None):
        return iter_prompts(prompts, prompt_column=config.prompt_column, split=config.split, limit=config.limit,
                            duplicate_rows=duplicate_rows)

    def open_input():
        return InputSource(rows, prompts, "prompts",
                           "fix the rows (see the reasons), or name the prompt column with --prompt-column",
                           hash_ids=config.limit is None), False

    return _plan(config, resume, force, engine_given, open_input,
                 lambda constitution, renderer: build_steps(config, constitution, renderer))


def plan_labelling(config: RunConfig, *, resume: bool = False, force: bool = False,
                   engine_given: bool = False) -> RunPlan:
    """`cai label`: a dataset of ready-made pairs in, only the label step. Pair datasets are read whole
    (the columns are found from the first row); they are the size of a preference set, not a prompt pool."""
    def open_input():
        loaded = load_pairs(config.prompts, config.a_column, config.b_column, prompt_column=config.prompt_column,
                            split=config.split, limit=config.limit)
        found_by_name = bool(loaded.columns) and not (config.a_column and config.b_column)
        if loaded.columns:
            config.a_column, config.b_column = loaded.columns  # saved with the run, so a resume reads the same
        items: list[Record | Skipped] = [*loaded.skipped, *loaded.records]
        # load_pairs renames a repeated id instead of skipping it: no duplicate rows to pass on.
        return InputSource(lambda duplicate_rows: iter(items), loaded.source, "pairs",
                           "fix the rows, or name the columns with --prompt-column, --a-column and --b-column"), \
            found_by_name

    return _plan(config, resume, force, engine_given, open_input,
                 lambda constitution, renderer: label_steps(config, constitution, renderer))


def length_check(engine, prefix: list, config: RunConfig) -> Check:
    """A prompt too long for the model once its answers, critiques and revisions join it."""
    budget = engine.context_length - 3 * config.max_new_tokens - _STAGE_SLACK_TOKENS
    prefix_tokens = engine.count_tokens(prefix + [{"role": "user", "content": ""}]) if prefix else 0

    def too_long(record: Record) -> str | None:
        # Each assistant turn left for the policy to write takes up to one answer's tokens too.
        tokens = engine.count_tokens(for_counting(record.messages)) + prefix_tokens
        if tokens > budget - pending_turns(record.messages) * config.max_new_tokens:
            return (f"prompt too long: {tokens} tokens with the few-shot prefix; the model's "
                    f"context of {engine.context_length} leaves {budget} after room for answers")
        return None

    return too_long
