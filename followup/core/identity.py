"""Identity: which ticket is an item's (DESIGN.md section 2). An item finds its
ticket by, in order, the key written on the page; the ticket's `followup` property
naming the item; among the page's tickets no item claims, one whose synced summary
equals the item's text (a renumbered task); otherwise a ticket is created. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from followup.core.graphemes import clip
from followup.core.model import ActionItem, Extraction, Owner, Ticket
from followup.core.plan import Match, normalise_text
from followup.core.policy import Scope

__all__ = [
    "SUMMARY_MAX",
    "group_tickets_by_page",
    "how_matched",
    "key_sort",
    "match_tickets",
    "owners_to_resolve",
    "summary_for",
]

SUMMARY_MAX = 255
KEY_NUMBER = re.compile(r"-(\d+)$")


def summary_for(item: ActionItem) -> str:
    """The Jira summary of an item: its text (cleaned by extraction: no bidirectional
    controls, grapheme clusters whole), cut to Jira's 255 UTF-16 code units without
    splitting a cluster."""
    return clip(" ".join(item.text.split()), SUMMARY_MAX, utf16=True)


def key_sort(key: str) -> tuple[str, int]:
    m = KEY_NUMBER.search(key)
    return (key[: m.start()] if m else key, int(m.group(1)) if m else 0)


def owners_to_resolve(
    extraction: Extraction,
    tickets: Sequence[Ticket],
    linked: Mapping[str, Ticket],
    scope: Scope | None = None,
) -> set[Owner]:
    """The owners on a page that need a user look-up this run: those of new items,
    and those changed on the page since the last sync (none of an item whose ticket
    is outside `scope`: nothing is done for it)."""
    matched, _, _, _ = match_tickets(extraction.items, tickets, linked)
    out: set[Owner] = set()
    for item in extraction.items:
        if item.owner is None:
            continue
        if scope is not None and item.ticket and scope.outside(item.ticket, item.ticket_site):
            continue
        t = matched.get(item.key)
        base = t.prop.base if t is not None and t.prop is not None else None
        if base is None or base.page_owner != item.owner.ref:
            out.add(item.owner)
    return out


def match_tickets(
    items: Sequence[ActionItem],
    tickets: Sequence[Ticket],
    linked: Mapping[str, Ticket],
) -> tuple[dict[str, Ticket], list[tuple[str, Ticket]], list[Ticket], dict[str, str]]:
    """Pair items with tickets. Returns (item -> ticket, duplicates (item, ticket),
    unclaimed tickets, item -> hand-linked key that does not exist)."""
    by_key = {t.key: t for t in tickets}
    by_item: dict[str, list[Ticket]] = {}
    for t in sorted(tickets, key=lambda t: key_sort(t.key)):
        if t.prop is not None:
            by_item.setdefault(t.prop.item, []).append(t)
    matched: dict[str, Ticket] = {}
    claimed: set[str] = set()
    missing: dict[str, str] = {}
    duplicates: list[tuple[str, Ticket]] = []
    # 1. the key written on the page
    for item in items:
        if item.ticket is None:
            continue
        found = by_key.get(item.ticket) or linked.get(item.ticket)
        if found is None:
            missing[item.key] = item.ticket
        elif found.key not in claimed:
            matched[item.key] = found
            claimed.add(found.key)
    # 2. the property naming the item
    for item in items:
        if item.key in matched or item.key in missing:
            continue
        for t in by_item.get(item.key, []):
            if t.key not in claimed:
                matched[item.key] = t
                claimed.add(t.key)
                break
    # 3. a renumbered task: an unclaimed ticket whose synced summary is the item's text
    for item in items:
        if item.key in matched or item.key in missing:
            continue
        norm = normalise_text(summary_for(item))
        for t in sorted(tickets, key=lambda t: key_sort(t.key)):
            if t.key in claimed or t.prop is None or t.prop.base is None:
                continue
            if normalise_text(t.prop.base.summary) == norm:
                matched[item.key] = t
                claimed.add(t.key)
                break
    # Other tickets whose property names a matched item are duplicates.
    for item_key, ts in by_item.items():
        if item_key in matched:
            for t in ts:
                if t.key not in claimed:
                    duplicates.append((item_key, t))
                    claimed.add(t.key)
    unclaimed = [t for t in tickets if t.key not in claimed]
    return matched, duplicates, unclaimed, missing


def how_matched(item: ActionItem, ticket: Ticket) -> tuple[Match, str]:
    """How `match_tickets` paired an item with its ticket, in its own order of rules."""
    if item.ticket == ticket.key:
        return "page", f"the page names {ticket.key}"
    if ticket.prop is not None and ticket.prop.item == item.key:
        return "property", f"{ticket.key}'s followup property names this item"
    return (
        "text",
        f"{ticket.key}'s synced summary is this item's text (the item's key changed, "
        "e.g. a renumbered task)",
    )


def group_tickets_by_page(tickets: Iterable[Ticket], label: str) -> dict[str, list[Ticket]]:
    """Managed tickets per page id, from the property or else the page label."""
    prefix = f"{label}-"
    out: dict[str, list[Ticket]] = {}
    for t in tickets:
        page = t.prop.page if t.prop is not None else None
        if page is None:
            page = next((lb[len(prefix) :] for lb in t.labels if lb.startswith(prefix)), None)
        if page is not None:
            out.setdefault(page, []).append(t)
    return out
