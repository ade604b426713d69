"""One module per command: build the adapters and the engine from the settings, run,
render. The CLI (`followup.cli`) parses arguments, calls one of these, and is the one
place that turns errors into exit codes.
"""
