"""`cai eval`: what the data did to the model.

Each model answers the same held-out prompts; the feedback model (the judge) then classifies every
answer as comply / refuse / safe-complete (probabilities of the option letters, every option shown in
every position), and, against a baseline, compares the two answers the way the labelling stage does
(soft labels, both orders, an ensemble of the constitution's comparison principles).

- options:  the eval options and their checks
- groups:   which prompt categories count as harmful, benign look-alike or capability-limit
- prompts:  the held-out prompts: a source, minus a run's training prompts, per-category caps
- answers:  generating each model's answers through the engine interface
- classify: the judged three-way classification (pure planning and combining, plus the engine call)
- winrate:  harmlessness and helpfulness win-rates through the labelling stage
- report:   rates per category and group, as the JSON report and a printed table
- folder:   the eval folder: traces.jsonl of Records, manifest.json, report.json (`cai inspect` opens it)
- runner:   the whole job, as a function the CLI calls
"""
