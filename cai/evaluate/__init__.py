"""`cai eval`: what the data did to the model.

Each model answers the same held-out prompts (or `--answers` supplies them); the refusal detector and
the feedback model (the judge) then classify every answer, the judge as comply / refuse / safe-complete
(probabilities of the option letters, every option shown in every position), and, against a baseline,
the judge compares the two answers the way the labelling stage does (soft labels, both orders, an
ensemble of the constitution's comparison principles).

- options:  the eval options and their checks
- groups:   which prompt categories count as harmful, benign look-alike or capability-limit
- prompts:  the held-out prompts: a source, minus a run's training prompts, per-category caps
- roles:    where each model runs (model, baseline, judge: engine and servers each), one loaded at a time
- answers:  generating each model's answers through the engine interface
- answers_file: `--answers FILE`: answers a user already has, with model and human-label columns
- refusal:  the deterministic refusal detector (phrase lists in prompts/refusal/), beside the judge
- classify: the judged three-way classification (pure planning and combining, plus the engine call)
- winrate:  harmlessness and helpfulness win-rates through the labelling stage
- intervals: seeded bootstrap intervals over prompts for every rate and difference
- agreement: each classifier against human labels: per class, and a confusion table
- report:   rates per classifier, model, category, group and attack family (report.json)
- table:    the report as printed tables
- folder:   the eval folder: traces.jsonl of Records, manifest.json, report.json (`cai inspect` opens it)
- runner:   the whole job, as a function the CLI calls
"""
