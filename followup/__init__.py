"""followup: one Jira ticket per postmortem action item, kept in step both ways.

The model's names (`followup.Page`, `followup.ActionItem`...) are imported from
`followup.core.model` on first use, so that starting the command line
(`followup --version`) does not load the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from followup.core.model import (
        ActionItem,
        Badge,
        BadgeColour,
        Extraction,
        Finding,
        FindingCode,
        ItemChange,
        Owner,
        Page,
        Ticket,
    )

__version__ = "0.1.0"

__all__ = [
    "ActionItem",
    "Badge",
    "BadgeColour",
    "Extraction",
    "Finding",
    "FindingCode",
    "ItemChange",
    "Owner",
    "Page",
    "Ticket",
    "__version__",
]

_MODEL = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _MODEL:
        from followup.core import model

        value = getattr(model, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'followup' has no attribute {name!r}")
