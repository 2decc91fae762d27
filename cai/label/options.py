"""The label options of a run configuration: checking them, and turning them into pipeline steps."""

from __future__ import annotations

from cai.errors import CaiError
from cai.label.judge import Planner
from cai.label.pairs import COLUMNS, INITIAL_FINAL, SAMPLES, PairMode, parse_pair_mode
from cai.label.steps import LabelStep, SampleStep


def parse_clamp(value) -> list[float]:
    """`0.4,0.6` (flag or recipe text) or `[0.4, 0.6]` (recipe list) -> [0.4, 0.6]."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        low, high = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise CaiError(f"cannot read clamp {value!r}", "--clamp", "give two numbers, e.g. --clamp 0.4,0.6") from None
    if not 0.0 <= low <= 0.5 <= high <= 1.0:
        raise CaiError(f"clamp {low},{high} must satisfy 0 <= low <= 0.5 <= high <= 1", "--clamp",
                       "use e.g. 0.4,0.6 (the paper's band), or 0,1 for no clamping")
    return [low, high]


def pair_mode(config) -> PairMode:
    """--pairs, defaulting to the policy samples when --samples asks for several, else initial vs final."""
    text = config.pairs or (SAMPLES if config.samples > 1 else INITIAL_FINAL)
    return parse_pair_mode(text, config.rounds, config.samples, (config.a_column or "", config.b_column or ""))


def check_label_options(config) -> None:
    """Validate (and normalise in place) the label options; raises CaiError naming the flag."""
    config.clamp = parse_clamp(config.clamp)  # the numbers (--samples, --min-margin...): cai.config.check_numbers
    mode = pair_mode(config)
    if config.samples > 1 and mode.kind != SAMPLES:
        raise CaiError(f"--samples {config.samples} draws answers that --pairs {config.pairs} never compares",
                       "--pairs", "drop --pairs (samples are then paired) or drop --samples")
    if config.samples > 1 and config.temperature == 0:
        raise CaiError("--samples needs sampling, but --temperature is 0 (every sample would be the same)",
                       "--temperature", "set a temperature above 0, e.g. 0.7")
    # A column not given is found by name when `cai label` reads the rows (cai.label.dataset).
    if mode.kind == COLUMNS and config.a_column and config.a_column == config.b_column:
        raise CaiError("a pair dataset needs two different answer columns", "--a-column/--b-column",
                       "name both, e.g. --a-column chosen --b-column rejected, or neither to find them by name")


def label_note(config, constitution) -> str | None:
    """Why a run makes no labels (None: it does)."""
    if not config.label:
        return "off (--no-label): the revision is chosen"
    if not constitution.comparisons:
        return "off: the constitution has no comparisons, so the revision is chosen"
    if pair_mode(config).kind == INITIAL_FINAL and config.rounds == 0:
        return "off: with --rounds 0 there is no revision to compare"
    return None


def label_steps(config, constitution, renderer, gates=None) -> list:
    """The steps after the revision rounds: extra policy samples (--samples k) and the labelling."""
    from cai.quality import settings_from_config

    mode = pair_mode(config)
    gates = gates or settings_from_config(config)
    steps: list = [SampleStep(config.samples, gates)] if config.samples > 1 and mode.kind == SAMPLES else []
    if label_note(config, constitution) is None:
        planner = Planner(constitution.comparisons, renderer, config.seed, config.label_principles, config.cot)
        steps.append(LabelStep(planner, mode, tuple(config.clamp)))
    return steps


def label_report(config, constitution, stats: dict) -> dict:
    """The manifest's `labels` section: how labelling was set up, and what it found (`stats`: a
    cai.label.stats.LabelTally's, gathered while the export streamed the records)."""
    note = label_note(config, constitution)
    mode = pair_mode(config)
    setup = {"status": note or "on", "pairs": config.pairs or mode.kind, "principles_per_pair": config.label_principles,
             "method": "cot" if config.cot else "logprobs", "clamp": config.clamp if config.cot else None}
    return {**setup, **stats}


def label_tally(config):
    from cai.label.stats import LabelTally

    return LabelTally(config.min_margin, pair_mode(config).rule)
