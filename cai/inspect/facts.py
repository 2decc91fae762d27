"""The summary's key/value facts in words, shared by the terminal and the HTML report."""

from __future__ import annotations

from cai.inspect.loader import RunView
from cai.inspect.summary import LabelStats, Summary


def share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f}%)" if whole else "0"


def _listed(counts: dict, number: str = "{}") -> str:
    return ", ".join(f"{key} × {number.format(value)}" for key, value in counts.items())


def run_facts(run: RunView, summary: Summary) -> dict[str, str]:
    manifest = run.manifest
    config = run.config or manifest.get("config") or {}
    facts = {"run": str(run.path), "status": run.status}
    if manifest.get("model"):
        facts["model"] = f"{manifest['model']} on {manifest.get('engine', '?')}"
    constitution = manifest.get("constitution") or {}
    if constitution:
        facts["constitution"] = f"{constitution.get('name', '?')} ({constitution.get('principles', '?')} principles)"
    counts = manifest.get("counts") or {}
    pending = f", {counts['pending']} pending" if counts.get("pending") and run.status != "complete" else ""
    facts["examples"] = f"{summary.examples} finished{pending}, {len(summary.skipped)} skipped"
    rounds = str(summary.round_count)
    if summary.rounds:
        rounds += " in all; per example: " + ", ".join(f"{k} round{'' if k == 1 else 's'} × {v}"
                                                for k, v in summary.rounds.items())
    if config.get("rounds") is not None:
        rounds += f" (configured: {config['rounds']})"
    facts["rounds"] = rounds
    facts["revisions that changed the answer"] = share(summary.rounds_changed, summary.round_count)
    facts["examples whose final answer differs"] = share(summary.examples_changed, summary.examples)
    facts["examples with errors"] = str(len({example_id for example_id, _ in summary.errors}))
    if summary.tokens:
        facts["tokens"] = ", ".join(f"{k} {v:,}" for k, v in summary.tokens.items())
    for key in ("created_at", "updated_at"):
        if manifest.get(key):
            facts[key.replace("_", " ")] = str(manifest[key])
    return facts


def label_facts(stats: LabelStats, examples: int) -> dict[str, str]:
    """Empty when the run has no labels."""
    if not stats.labels and not stats.preferences:
        return {}
    facts = {"labelled examples": share(stats.examples, examples), "labels": str(stats.labels)}
    if stats.invalid:
        facts["unusable labels"] = f"{stats.invalid}: " + _listed(stats.invalid_reasons)
    if stats.mean_scores:
        facts["mean probability each answer is better"] = _listed(stats.mean_scores, "{:.3f}").replace(" × ", " ")
    if stats.mean_probs:
        facts["mean raw letter probability"] = _listed(stats.mean_probs, "{:.3f}").replace(" × ", " ")
    if stats.by_order:
        facts["orders asked"] = _listed(stats.by_order)
    if stats.preferences:
        facts["preferences"] = str(stats.preferences)
        if stats.chosen:
            facts["chosen answer"] = _listed(stats.chosen)
        facts["final revision chosen"] = share(stats.revision_chosen, stats.preferences)
    if stats.agree_total:
        facts["agrees with the expected winner (e.g. revision wins)"] = share(stats.agrees, stats.agree_total)
    if stats.flips:
        facts["verdicts that flipped with the order"] = str(stats.flips)
    if stats.mean_score_chosen is not None:
        facts["mean score of the chosen answer"] = f"{stats.mean_score_chosen:.3f}"
    if stats.mean_margin is not None:
        facts["mean margin"] = f"{stats.mean_margin:.3f}"
    return facts
