"""`cai run` and `cai label` as functions: plan, build the engines, run the pending examples, finish.

Order matters for "never lose work": every check happens before the run folder is touched (cai.plan),
finished examples reach traces.jsonl as they finish (cai.session), and the export reads them back from
there (cai.finish). The executor (cai.executor) owns the scheduling loop.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cai.config import RunConfig
from cai.engines import Sampling
from cai.errors import CaiError
from cai.executor import run_pending
from cai.finish import finish_run
from cai.label.pairs import COLUMNS
from cai.plan import RunPlan, length_check, plan_generation, plan_labelling
from cai.progress import StageProgress
from cai.run_engines import open_run_engines
from cai.session import RunSession
from cai.summary import print_summary


def default_out_dir() -> str:
    return str(Path("outputs") / time.strftime("run-%Y%m%d-%H%M%S"))


def execute_run(config: RunConfig, *, resume: bool = False, force: bool = False,
                console: Console | None = None, show_progress: bool = True, engine=None,
                feedback_engine=None) -> dict:
    """`engine` (the policy's) and `feedback_engine`: already built engines to use instead of building them
    from the config (tests, notebooks); the caller then owns them and closes them. Without
    `feedback_engine` the --label-* options decide (see cai.run_engines). A config with `pairs: columns`
    is a `cai label` run (so resuming one from its saved config works)."""
    planner = plan_labelling if config.pairs == COLUMNS else plan_generation
    plan = planner(config, resume=resume, force=force, engine_given=engine is not None)
    return run_plan(plan, console=console, show_progress=show_progress, engine=engine,
                    feedback_engine=feedback_engine)


def execute_label(config: RunConfig, **options) -> dict:
    """`cai label`: the pairs of a dataset, judged by the feedback model."""
    config.pairs = COLUMNS
    return execute_run(config, **options)


def run_plan(plan: RunPlan, *, console: Console | None = None, show_progress: bool = True, engine=None,
             feedback_engine=None) -> dict:
    console = console or Console(stderr=True)
    config, store = plan.config, plan.store
    if plan.found_columns:  # said once the input is accepted
        console.print(f"pairs: A = {config.a_column}, B = {config.b_column} (found by name; "
                      "--a-column/--b-column choose others)", markup=False, highlight=False)
    if config.executor == "ray":  # the replicas build the engines; the driver loads only the tokenizer
        from cai.distributed.plan import driver_engines

        engines = driver_engines(config, console, plan.labelling)
    else:
        engines = open_run_engines(config, console, plan.labelling, engine, feedback_engine)
    try:
        previous = store.read_manifest() if plan.resume else {}
        if previous.get("engine") and previous["engine"] != engines.policy.name:
            raise CaiError(f"the run was made on the {previous['engine']} engine, this one is {engines.policy.name}",
                           "--resume", f"resume with --engine {previous['engine']}, or start a new run with --out")
        done = store.done_ids() if plan.resume else set()  # the only per-example state a resume keeps
        plan.input.scan(length_check(engines.policy, plan.prefix, config),
                        "shorten the prompts, use a model with a longer context, or lower --max-new-tokens", done)
        if not plan.resume:
            store.create(config.to_dict(), plan.constitution_text, plan.force)
        store.repair_tail()
        store.write_skipped([dataclasses.asdict(s) for s in plan.input.skipped])
        pending = plan.input.usable - plan.input.already
        session = RunSession(plan, engines, previous, pending, plan.input.already,
                             getattr(engines.policy, "executor", None))  # Ray's, filled in as it runs
        session.start()
        try:
            with session.noting_sigint():
                _work(plan, session, engines, done, pending, console, show_progress)
                session.finished()
                manifest = finish_run(session)
        except BaseException as error:
            if not session.stopped(error):
                raise
            console.print(f"[yellow]interrupted[/]: finished examples are saved; continue with "
                          f"`cai run --out {escape(str(config.out))} --resume`")
            if isinstance(error, KeyboardInterrupt):
                raise
            raise KeyboardInterrupt from error
    finally:
        engines.close()
    print_summary(console, manifest, store.path)
    return manifest


def _work(plan: RunPlan, session: RunSession, engines, done: set[str], pending: int, console: Console,
          show_progress: bool) -> None:
    """The executor's loop, with every finished example saved by the session."""
    config = plan.config
    sampling = Sampling(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                        top_p=config.top_p, seed=config.seed)
    with plan.store.trace_writer() as session.writer, StageProgress(console, enabled=show_progress) as progress:
        if config.executor == "ray":
            from cai.distributed.driver import run_on_ray

            run_on_ray(plan, plan.input.records(done), engines, session.stats, progress, session.checkpoint)
        else:
            run_pending(plan.steps, plan.input.records(done), engines.by_role(), sampling, config,
                        session.stats, progress, session.checkpoint, pending)
