"""What differs between SFT and DPO: TRL's config and trainer classes, the default learning rate, the
method's own options, and the metrics worth a row in the final table. Everything else is shared."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cai.errors import CaiError
from cai.train.options import TrainOptions


@dataclass(frozen=True)
class Method:
    name: str
    config_class: str     # in trl
    trainer_class: str    # in trl
    learning_rate: float  # full fine-tuning: TRL's own default for the method
    lora_learning_rate: float  # LoRA trains few weights from zero: it needs a larger step
    headline: tuple[str, ...]  # logged metrics for the final table, in order

    def classes(self):
        try:
            import trl
        except ImportError:
            raise CaiError("training needs TRL and peft, which are not installed",
                           fix="run `pip install 'cai[train]'` (or `pip install trl peft`)") from None
        return getattr(trl, self.config_class), getattr(trl, self.trainer_class)

    def specific(self, options: TrainOptions) -> dict:
        if self.name == "dpo":
            return {"beta": options.beta}
        # Loss on the answer only: the prompt/completion rows make TRL mask the user's turns.
        return {"completion_only_loss": True, "packing": False}


METHODS = {
    "sft": Method("sft", "SFTConfig", "SFTTrainer", 2e-5, 2e-4, ("loss", "mean_token_accuracy", "entropy")),
    "dpo": Method("dpo", "DPOConfig", "DPOTrainer", 1e-6, 5e-6,
                  ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")),
}


def learning_rate(options: TrainOptions) -> float:
    method = METHODS[options.method]
    if options.learning_rate is not None:
        return options.learning_rate
    return method.lora_learning_rate if options.lora else method.learning_rate


def _precision() -> dict:
    """bf16 where the hardware does it well (CUDA); fp32 on CPU, where bf16 autocast is slow on most chips."""
    import torch

    cuda = torch.cuda.is_available()
    return {"use_cpu": not cuda, "bf16": bool(cuda and torch.cuda.is_bf16_supported()), "fp16": False}


def build_config(options: TrainOptions, output_dir: str):
    method = METHODS[options.method]
    config_class, _ = method.classes()
    values = {
        "output_dir": output_dir, "num_train_epochs": options.epochs, "max_steps": options.max_steps or -1,
        "learning_rate": learning_rate(options), "per_device_train_batch_size": options.batch_size,
        "per_device_eval_batch_size": options.batch_size, "gradient_accumulation_steps": options.grad_accum,
        "max_length": options.max_length, "seed": options.seed, "data_seed": options.seed,
        # Quiet and self-contained: no trackers, no tqdm, no checkpoints (the final model is saved by us).
        "report_to": [], "disable_tqdm": True, "log_level": "error", "logging_steps": 1,
        "save_strategy": "no", "eval_strategy": "no", "dataloader_num_workers": 0,
        # Small models on CPU: checkpointing would only slow each step down.
        "gradient_checkpointing": False,
        **_precision(), **method.specific(options),
    }
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options.trainer_args) - known)
    if unknown:
        raise CaiError(f"trainer_args: unknown {method.config_class} field(s): {', '.join(unknown)}", "--config",
                       f"use fields of trl.{method.config_class} (e.g. warmup_steps, lr_scheduler_type, loss_type)")
    values.update(options.trainer_args)
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise CaiError(f"TRL rejected the training options: {error}", "--config/trainer_args",
                       "fix the option named in the message") from None


def build_trainer(options: TrainOptions, config, model, tokenizer, train, test, callbacks: list):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from cai.train.lora import lora_config

    _, trainer_class = METHODS[options.method].classes()
    trainer = trainer_class(model=model, args=config, train_dataset=train, eval_dataset=test,
                            processing_class=tokenizer, callbacks=callbacks,
                            peft_config=lora_config(options) if options.lora else None)
    # With tqdm off, transformers prints every log dict instead; our progress bar replaces both.
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    return trainer
