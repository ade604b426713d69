"""The pure core: every decision followup makes, as functions of values.

The model, the storage-format parser and renderer, the query builders, the planner,
reminders and the health figures take values and return values. No I/O, no clock,
no environment, no logging, no terminal: everything a decision needs (the run's date
included) is an argument, so the same inputs always give the same plan and a dry run
shows exactly what a run will do. The import contracts in `pyproject.toml`
(`[tool.importlinter]`) hold this line.
"""
