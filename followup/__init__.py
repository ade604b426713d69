"""followup: one Jira ticket per postmortem action item, kept in step both ways."""

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
