"""The numbers `cai inspect RUN` shows: how much was done, which principles were used, what changed,
what the labels say, and what went wrong. Plain data, so the terminal and the HTML report share it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import mean

from cai.inspect.labels import response_text
from cai.inspect.loader import Example, RunView, constitution_snapshot
from cai.quality import in_gate_order


@dataclass
class PrincipleUse:
    principle: str
    category: str
    rounds: int = 0
    changed: int = 0  # rounds under this principle whose revision differs from the answer before


@dataclass
class LabelStats:
    examples: int = 0  # examples with at least one label
    labels: int = 0
    invalid: int = 0  # labels marked unusable
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    by_principle: dict[str, int] = field(default_factory=dict)
    by_order: dict[str, int] = field(default_factory=dict)
    mean_probs: dict[str, float] = field(default_factory=dict)  # choice letter -> mean raw probability
    mean_scores: dict[str, float] = field(default_factory=dict)  # answer name -> mean normalised probability
    preferences: int = 0
    chosen: dict[str, int] = field(default_factory=dict)  # name of the chosen answer -> examples
    revision_chosen: int = 0  # preferences whose chosen answer is the final revision
    agrees: int = 0  # verdicts that agree with the run's rule (e.g. "revision wins")...
    agree_total: int = 0  # ...out of the verdicts the rule applies to
    flips: int = 0  # principles whose answer changed with the order the answers were shown in
    mean_score_chosen: float | None = None
    mean_margin: float | None = None


@dataclass
class Summary:
    examples: int
    rounds: dict[int, int]  # rounds done -> examples
    round_count: int
    principles: list[PrincipleUse]
    categories: dict[str, int]  # principle category -> rounds
    prompt_categories: dict[str, int]  # the input's own category -> examples
    rounds_changed: int
    examples_changed: int
    unchanged_examples: int
    labels: LabelStats
    skipped: list[dict]
    skip_reasons: dict[str, int]
    errors: list[tuple[str, str]]  # (example id, error)
    error_kinds: dict[str, int]
    tokens: dict[str, int]
    unused_principles: list[str]
    # Quality gates: reason -> {turn kind -> turns flagged}; reason -> examples whose final answer it flags.
    quality: dict[str, dict[str, int]] = field(default_factory=dict)
    final_flags: dict[str, int] = field(default_factory=dict)
    examples_flagged: int = 0


def _reason_kind(reason: str) -> str:
    """Groups reasons that differ only in details: the text before the first ':' names the kind."""
    return reason.split(":", 1)[0].strip() or reason


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _add_preference(stats: LabelStats, example: Example, chosen_scores: list, margins: list) -> None:
    preference = example.preference or {}
    stats.preferences += 1
    chosen = response_text(preference.get("chosen")).strip()
    if chosen and chosen == example.final_response.strip():
        stats.revision_chosen += 1
    name = preference.get("chosen_name")
    if isinstance(name, str):
        stats.chosen[name] = stats.chosen.get(name, 0) + 1
    if isinstance(preference.get("agrees"), bool):
        stats.agree_total += 1
        stats.agrees += preference["agrees"]
    if isinstance(preference.get("flips"), int):
        stats.flips += preference["flips"]
    for key, bucket in (("score_chosen", chosen_scores), ("margin", margins)):
        if _number(preference.get(key)) is not None:
            bucket.append(_number(preference[key]))


def _label_stats(examples: list[Example]) -> LabelStats:
    stats = LabelStats()
    probs: dict[str, list[float]] = defaultdict(list)
    scores: dict[str, list[float]] = defaultdict(list)
    principles, orders, invalid = Counter(), Counter(), Counter()
    chosen_scores: list[float] = []
    margins: list[float] = []
    for example in examples:
        stats.examples += bool(example.labels)
        for label in example.labels:
            stats.labels += 1
            principles[label.principle or "?"] += 1
            if label.order:
                orders[label.order] += 1
            if label.valid is False:
                invalid[str(label.other.get("reason") or "no reason given")] += 1
            for choice, value in label.probs.items():
                probs[choice].append(value)
            for name, value in label.scores.items():
                scores[name].append(value)
        if example.preference:
            _add_preference(stats, example, chosen_scores, margins)
    stats.invalid, stats.invalid_reasons = sum(invalid.values()), dict(invalid.most_common())
    stats.by_principle, stats.by_order = dict(principles.most_common()), dict(orders.most_common())
    stats.mean_probs = {choice: mean(values) for choice, values in sorted(probs.items())}
    stats.mean_scores = {name: mean(values) for name, values in sorted(scores.items())}
    stats.chosen = dict(Counter(stats.chosen).most_common())
    stats.mean_score_chosen = mean(chosen_scores) if chosen_scores else None
    stats.mean_margin = mean(margins) if margins else None
    return stats


def _quality(examples: list[Example]) -> tuple[dict[str, dict[str, int]], dict[str, int], int]:
    by_reason: dict[str, Counter] = defaultdict(Counter)
    final: Counter = Counter()
    flagged = 0
    for example in examples:
        for turn, reasons in example.turn_flags():
            for reason in reasons:
                by_reason[reason][turn.split(" ")[0]] += 1
        if example.flags:
            flagged += 1
            final.update(example.flags)
    return {r: dict(by_reason[r]) for r in in_gate_order(by_reason)}, dict(final.most_common()), flagged


def summarize(run: RunView, principle_ids: list[str] | None = None) -> Summary:
    """`principle_ids`: the constitution's principles, to list those no round used (None: unknown)."""
    examples = run.examples
    uses: dict[str, PrincipleUse] = {}
    categories: Counter = Counter()
    rounds_changed = 0
    tokens: Counter = Counter()
    for example in examples:
        for round_ in example.rounds:
            use = uses.setdefault(round_.principle_id, PrincipleUse(round_.principle_id, round_.category))
            use.rounds += 1
            use.changed += round_.changed
            rounds_changed += round_.changed
            categories[round_.category or "?"] += 1
        for key, value in example.tokens.items():
            if isinstance(value, int):
                tokens[key] += value
    errors = [(example.id, error) for example in examples for error in example.errors]
    skip_reasons = Counter(_reason_kind(str(s.get("reason", "?"))) for s in run.skipped)
    examples_changed = sum(example.changed for example in examples)
    quality, final_flags, examples_flagged = _quality(examples)
    return Summary(
        examples=len(examples),
        rounds=dict(sorted(Counter(len(e.rounds) for e in examples).items())),
        round_count=sum(len(e.rounds) for e in examples),
        principles=sorted(uses.values(), key=lambda u: (-u.rounds, u.principle)),
        categories=dict(categories.most_common()),
        prompt_categories=dict(Counter(e.category or "-" for e in examples).most_common()),
        rounds_changed=rounds_changed,
        examples_changed=examples_changed,
        unchanged_examples=sum(1 for e in examples if e.rounds and not e.changed),
        labels=_label_stats(examples),
        skipped=run.skipped,
        skip_reasons=dict(skip_reasons.most_common()),
        errors=errors,
        error_kinds=dict(Counter(_reason_kind(error) for _, error in errors).most_common()),
        tokens=dict(tokens),
        unused_principles=[p for p in principle_ids or [] if p not in uses] if examples else [],
        quality=quality, final_flags=final_flags, examples_flagged=examples_flagged,
    )


def summarize_run(run: RunView) -> Summary:
    """The summary, with the run's own constitution snapshot to spot principles no round used."""
    constitution = constitution_snapshot(run)
    return summarize(run, [p.id for p in constitution.principles] if constitution else None)
