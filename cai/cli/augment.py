"""`cai augment PROMPTS --out FILE`: adversarial and benign-contrast variants of prompts, for `cai run`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cai.attacks import FAMILIES
from cai.cli import app

Opt = typer.Option
MODEL = "Model-based attacks"
_FAMILIES_HELP = "; ".join(f"{family}: {', '.join(names)}" for family, names in FAMILIES.items())


@app.command("augment", help=(
    "Write attacked variants of prompts (wrappers, encodings, structure, model rewrites) as JSONL that "
    "`cai run --prompts` reads as it is. Each row keeps id, source_id, category, attack (family/name), "
    f"attack_template and benign_contrast. Attacks — {_FAMILIES_HELP}."))
def augment_command(
    prompts: Annotated[str, typer.Argument(help="Prompts: any source `cai run` reads (.jsonl/.json/.csv/.parquet/"
                                                ".txt, a save_to_disk folder, a hub id).", show_default=False)],
    out: Annotated[str, Opt(help="The JSONL file to write.", show_default=False)],
    attacks: Annotated[str, Opt(help="Comma list of attack names and family names, or 'all' (the model family "
                                "needs --engine).")] = "wrapper,encoding,structure",
    per_prompt: Annotated[int, Opt(help="Variants per prompt, each a different attack template.")] = 1,
    seed: Annotated[int, Opt(help="Seed: with the source id it fixes which attack and template a prompt gets.")] = 0,
    benign_contrast: Annotated[bool, Opt("--benign-contrast", help=(
        "Also attack the prompts whose category is benign (benign, benign-lookalike), tagged "
        "benign_contrast: true, so the data teaches that a wrapper alone does not make a request harmful. "
        "Without it benign prompts are left out."))] = False,
    prompt_column: Annotated[Optional[str], Opt(help="Column with the prompt text or chat messages.")] = None,
    split: Annotated[str, Opt(help="Split of a hub dataset or DatasetDict.")] = "train",
    limit: Annotated[Optional[int], Opt(help="Use only the first N valid prompts.")] = None,
    templates: Annotated[Optional[str], Opt(help="Folder of <family>.yaml attack templates replacing the bundled "
                                            "prompts/attacks/ ones, attack by attack.")] = None,
    force: Annotated[bool, Opt("--force", help="Replace --out if it exists.")] = False,
    engine: Annotated[Optional[str], Opt(rich_help_panel=MODEL, help="Engine for the model family: auto, vllm, "
                                         "hf or openai.")] = None,
    model: Annotated[str, Opt(rich_help_panel=MODEL, help="Model that rewrites the requests: hub id, folder or "
                              "'default'.")] = "default",
    max_new_tokens: Annotated[int, Opt(rich_help_panel=MODEL, help="Tokens per rewrite.")] = 96,
    temperature: Annotated[float, Opt(rich_help_panel=MODEL, help="Sampling temperature of rewrites.")] = 0.7,
) -> None:
    from cai.attacks.augment import AugmentOptions, augment

    report = augment(AugmentOptions(prompts=prompts, out=out, attacks=attacks, per_prompt=per_prompt, seed=seed,
                                    benign_contrast=benign_contrast, prompt_column=prompt_column, split=split,
                                    limit=limit, engine=engine, model=model, max_new_tokens=max_new_tokens,
                                    temperature=temperature, templates=templates, force=force))
    families = ", ".join(f"{family} {count}" for family, count in sorted(report.by_family().items()))
    typer.echo(f"wrote {len(report.rows)} rows from {report.sources} prompts ({families or 'none'}) to {report.out}",
               err=True)
    if report.benign_left_out:
        typer.echo(f"left out {report.benign_left_out} benign prompts (add --benign-contrast to attack them too)",
                   err=True)
    for problem in report.dropped:
        typer.echo(f"dropped {problem}", err=True)
    typer.echo(f"next: cai run --prompts {report.out}", err=True)
