"""Command-line interface (placeholder until the foundation lands)."""


def main() -> None:
    raise SystemExit("followup: the CLI is not built yet")
