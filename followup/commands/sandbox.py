"""`followup sandbox`: the local Jira + Confluence stand-in, in the foreground.

The one command (with `make demo`, `followup.commands.demo`) that loads the sandbox:
nothing on the sync path imports `followup.sandbox`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from followup.sandbox.faults import FaultConfig
from followup.sandbox.server import serve
from followup.sandbox.state import Flavor

__all__ = ["check_faults", "sandbox_command"]


def check_faults(config: Mapping[str, Any]) -> None:
    """Raise ValueError, saying what is wrong, unless `config` is a fault
    configuration PUT /_sandbox/faults would take."""
    FaultConfig.from_json(dict(config))


def sandbox_command(
    *,
    host: str,
    port: int,
    flavor: Flavor,
    seed: str,
    state_path: str,
    faults: Mapping[str, Any],
    ready_file: str | None,
) -> None:
    """Serve the sandbox until interrupted (`followup.sandbox.server.serve`)."""
    serve(
        host=host,
        port=port,
        flavor=flavor,
        seed=seed,
        state_path=state_path,
        faults=dict(faults),
        ready_file=ready_file,
    )
