"""`cai train sft|dpo`: fine-tune a model on a run's exported data with TRL's trainers.

- options:   the training options: defaults < YAML recipe (--config) < flags; validation
- data:      the run's `train_sft` / `train_prefs` splits, in the layouts TRL's trainers read
- methods:   what differs between SFT and DPO (config class, trainer class, rows, headline metrics)
- lora:      the peft LoRA adapter, and merging it back so the output is a plain model
- quiet:     silencing the training libraries' own logs, bars and warnings
- progress:  a rich progress bar fed by a TrainerCallback
- output:    the output folder: staged, then moved into place with its config and metrics
- table:     the final table of the headline metrics
- runner:    the whole job, as a function the CLI calls
"""
