"""LoRA through peft: the adapter config, and merging the trained adapter into the base weights so the
output folder is a plain transformers model (loadable by `cai run --model DIR` without peft)."""

from __future__ import annotations

from cai.train.options import TrainOptions


def lora_config(options: TrainOptions):
    from peft import LoraConfig

    targets = options.lora_targets.strip()
    modules = targets if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(r=options.lora_r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                      target_modules=modules, bias="none", task_type="CAUSAL_LM")


def plain_model(model):
    """The model to save: a peft model has its adapter merged in and unloaded; others pass through."""
    try:
        from peft import PeftModel
    except ImportError:
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model
