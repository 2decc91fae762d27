"""Tools for people who write constitutions: validate, show, start a new one, import public formats,
and preview the exact prompts a stage would send."""
