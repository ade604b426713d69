"""One module per command: build the adapters (`followup.commands.sites`) and the engine
from the settings, run, render, and return what happened. The CLI (`followup.cli`)
parses arguments, calls one of these, and is the one place that turns errors and
results into exit codes.
"""
