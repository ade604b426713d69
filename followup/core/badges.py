"""The badges a page shows: one per item next to its ticket, and the page's summary
lozenge; and an item's state in words for reports. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from followup.core.model import Badge, BadgeColour

__all__ = [
    "DONE",
    "DONE_RESOLUTIONS",
    "IN_PROGRESS",
    "OVERDUE",
    "TO_DO",
    "badge_for",
    "state_for",
    "summary_badge",
]

DONE_RESOLUTIONS = frozenset({"done", "fixed", "resolved", "complete", "completed"})
TO_DO = Badge("TO DO", BadgeColour.GREY)
IN_PROGRESS = Badge("IN PROGRESS", BadgeColour.BLUE)
DONE = Badge("DONE", BadgeColour.GREEN)
OVERDUE = Badge("OVERDUE", BadgeColour.RED)


def badge_for(
    *,
    done: bool,
    resolution: str | None,
    category: str,
    due: date | None,
    today: date,
    live: bool = False,
) -> Badge | None:
    """The badge an item shows next to its ticket reference, so that a reader sees
    its state once.

    Where the reference shows the ticket's live status itself (`live`: a jira macro
    or a Cloud smart link render a status lozenge), the badge says only what that
    status cannot: OVERDUE, and a resolution that is not a plain "done" (WON'T DO);
    otherwise none. Where the reference is a plain link or a typed key, the badge is
    the state: DONE (or the resolution), OVERDUE, IN PROGRESS, TO DO."""
    if done:
        if resolution and resolution.casefold() not in DONE_RESOLUTIONS:
            return Badge(resolution.upper(), BadgeColour.GREY)
        return None if live else DONE
    if due is not None and due < today:
        return OVERDUE
    if live:
        return None
    if category == "indeterminate":
        return IN_PROGRESS
    return TO_DO


def state_for(
    *, done: bool, resolution: str | None, status: str, due: date | None, today: date
) -> str:
    """An item's state in words, for reports: its resolution or status, or Overdue."""
    if done:
        if resolution and resolution.casefold() not in DONE_RESOLUTIONS:
            return resolution
        return "Done"
    if due is not None and due < today:
        return "Overdue"
    return status or "To Do"


def summary_badge(states: Sequence[tuple[bool, bool]]) -> Badge | None:
    """The page's summary lozenge from (done, overdue) per item; None with no items."""
    if not states:
        return None
    done = sum(1 for d, _ in states if d)
    title = f"FOLLOW-UP {done}/{len(states)} DONE"
    if any(o for _, o in states):
        return Badge(title, BadgeColour.RED)
    if done == len(states):
        return Badge(title, BadgeColour.GREEN)
    return Badge(title, BadgeColour.YELLOW)
