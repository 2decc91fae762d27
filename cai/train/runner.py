"""`cai train sft|dpo` as a function: check everything, train with TRL, save a plain model with its
config and metrics, print the final table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.text import Text

from cai.errors import CaiError
from cai.manifest import now, versions
from cai.models import resolve_model
from cai.progress import key_value_table
from cai.store import CONFIG, is_run
from cai.train import output
from cai.train.data import load_train_data
from cai.train.lora import plain_model
from cai.train.methods import METHODS, build_config, build_trainer, learning_rate
from cai.train.options import TrainOptions, default_out
from cai.train.table import eval_metrics, facts, metric_summary, metrics_table


def load_base(model: str):
    """(model, tokenizer, display name) for --model: a hub id, a local folder or `default`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, name = resolve_model(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        loaded = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise CaiError(f"cannot load the model ({str(error).splitlines()[0][:160]})", "--model",
                       "pass a local model folder, a hub id available offline, or 'default'") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise CaiError("the model's tokenizer has no chat template, so conversations cannot be formatted",
                       "--model", "use an instruction-tuned (chat) model")
    return loaded, tokenizer, name


def _results(options: TrainOptions, trainer, data, train_output, base: str, out: Path, runtime: float) -> dict:
    headline = METHODS[options.method].headline
    history = trainer.state.log_history
    return {
        "method": options.method, "base_model": base, "output": str(out), "finished_at": now(),
        "data": {"source": data.source, "split": data.split, "train_rows": len(data.train),
                 "test_rows": len(data.test), "dropped": data.dropped},
        "steps": trainer.state.global_step, "epochs": float(trainer.state.epoch or 0.0),
        "warmup_steps": trainer.args.get_warmup_steps(trainer.state.max_steps),
        "learning_rate": learning_rate(options), "runtime_s": round(runtime, 2),
        "train_loss": train_output.training_loss,
        "lora": {"r": options.lora_r, "alpha": options.lora_alpha, "targets": options.lora_targets}
        if options.lora else None,
        "metrics": metric_summary(history, headline), "eval": eval_metrics(history, headline),
        "log_history": history, "versions": versions(),
    }


def run_training(options: TrainOptions, run: str, *, force: bool = False, console: Console | None = None,
                 show_progress: bool = True, verbose: bool = False) -> dict:
    console = console or Console(stderr=True)
    data = load_train_data(run, options.method, options.split, options.min_margin, options.limit,
                           with_test=options.eval)
    out = Path(options.out or default_out(run, options.method))
    options.out = str(out)  # the saved config names where the model went
    output.check_out(out, force)
    if not verbose:
        from cai.train.quiet import quiet_libraries

        quiet_libraries()
    from transformers import set_seed

    from cai.train.progress import progress_callback

    set_seed(options.seed)
    with console.status(Text(f"loading {options.model}")):  # Text: a model path is data, not markup
        model, tokenizer, base = load_base(options.model)
    staging = output.staging_dir(out)
    try:
        config = build_config(options, str(staging / "trainer"))
        train, test = data.datasets()
        callback = progress_callback(console, f"{options.method} {Path(run).name}", enabled=show_progress)
        with console.status("preparing the data"):
            trainer = build_trainer(options, config, model, tokenizer, train, test, [callback])
        started = time.perf_counter()
        train_output = trainer.train()
        if test is not None:
            with console.status(f"evaluating on {len(data.test)} held-out rows"):
                trainer.evaluate()
        runtime = time.perf_counter() - started
        output.discard(staging / "trainer")  # the trainer's scratch folder, empty without checkpoints
        with console.status(Text(f"saving to {out}")):
            output.save_model(plain_model(trainer.model), tokenizer, staging)
            results = _results(options, trainer, data, train_output, base, out, runtime)
            settings = {**options.to_dict(), "run": str(run), "learning_rate": results["learning_rate"],
                        "trainer": json.loads(config.to_json_string())}
            settings["trainer"].pop("output_dir", None)
            output.write_side_files(staging, settings, results)
            output.publish(staging, out)
    except BaseException:
        output.discard(staging)
        raise
    console.print(metrics_table(results))
    console.print(key_value_table("model", {**facts(results), "next": eval_hint(out, options.model, Path(run))}))
    return results


def eval_hint(out, base: str, run: Path) -> str:
    """The eval to try next. It leaves out the run's prompts, unless the run used the bundled ones: they
    are also cai eval's default prompts, so leaving them out would leave nothing."""
    hint = f"cai eval --model {out} --baseline {base}"
    if not is_run(run):
        return hint
    try:
        prompts = (yaml.safe_load((run / CONFIG).read_text(encoding="utf-8")) or {}).get("prompts")
    except (OSError, yaml.YAMLError, AttributeError):
        prompts = None
    return hint + (f" --exclude {run}" if prompts else " (on the bundled prompts, which it trained on: pass "
                                                          "--prompts with held-out ones)")
