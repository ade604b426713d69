"""`followup explain` and `followup resolve`: one item's story, and acknowledging a
conflict.

    explain ITEM-KEY | TICKET-KEY
        page -> what the page says -> the ticket -> the sync base -> how the ticket
        was found -> field by field, what was decided -> the plan -> the findings

`explain` reads and plans the item's page exactly as a sync does (the page, a search
for its tickets, the owner look-ups a sync would make) and writes nothing. The
planner returns its reasons as data (`PagePlan.stories`); this module gathers them into
an `Explanation`, which `followup.reports.explain` renders.

`resolve` clears the conflicts a ticket's `followup` property remembers, once a
person has checked that the value followup kept is the right one (a conflict also
clears by itself when someone changes the field again, on either side).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from followup.adapters import Adapters
from followup.commands.sites import open_sites
from followup.commands.sync import build_engine, today_in
from followup.core.identity import group_tickets_by_page
from followup.core.model import Extraction, Finding, Page, Ticket
from followup.core.plan import Action, PagePlan
from followup.errors import NotFoundError, UsageError
from followup.reports.explain import Explanation, to_json, to_text

if TYPE_CHECKING:
    from followup.settings import Settings
    from followup.sync.engine import Engine

__all__ = ["explain", "explain_command", "resolve_command"]

ITEM_KEY = re.compile(r"(?P<page>\d+):(?:task|row):\S+")
TICKET_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-\d+")


def _page_of_ticket(ticket: Ticket, label: str) -> str | None:
    grouped = group_tickets_by_page([ticket], label)
    return next(iter(grouped), None)


def _locate(engine: Engine, key: str) -> tuple[str, str | None, str | None]:
    """(page id, item key, ticket key) for an item key or a ticket key."""
    key = key.strip()
    if match := ITEM_KEY.fullmatch(key):
        return match["page"], key, None
    if TICKET_KEY.fullmatch(key):
        # A ticket outside followup's projects is not even read: explaining it would
        # show what page content must never reach through followup.
        outside = engine.policy.scope.outside(key.upper())
        if outside is not None:
            raise UsageError(
                f"{key.upper()} {outside}: followup neither reads nor explains it",
                hint="give the item key of the page that links it (`followup extract "
                "--page ID` lists them) to see what followup does for that item",
            )
        ticket = engine.jira.get_ticket(key.upper())
        if ticket is None:
            raise UsageError(
                f"{key.upper()}: no such ticket, or followup's Jira account cannot see it",
                hint="check the key, or give the item key from a sync report (<page id>:task:<n>)",
            )
        page_id = _page_of_ticket(ticket, engine.policy.label)
        if page_id is None:
            raise UsageError(
                f"{ticket.key} is not managed by followup: it has no `followup` property "
                f"and no {engine.policy.label}-<page id> label",
                hint="a ticket followup adopted or created carries both; give the item key "
                "of the page that links it instead",
            )
        return page_id, (ticket.prop.item if ticket.prop else None), ticket.key
    raise UsageError(
        f"{key!r} is neither an item key (<page id>:task:<n>, <page id>:row:<hash>) nor a "
        "ticket key (OPS-12)",
        hint="item keys are in `followup sync --format json` and `followup extract`",
    )


def explain(engine: Engine, key: str, *, today: date) -> Explanation:
    """The story of one item, read and planned as a sync would, writing nothing."""
    page_id, item_key, ticket_key = _locate(engine, key)
    try:
        page = engine.confluence.get_page(page_id)
    except NotFoundError:
        raise UsageError(
            f"page {page_id} does not exist, or followup's Confluence account cannot see it",
            hint="the first part of an item key is its page id",
        ) from None
    extraction, tickets, plan = engine.plan_one_page(page, today)
    return _explanation(page, extraction, tickets, plan, item_key, ticket_key)


def _explanation(
    page: Page,
    extraction: Extraction,
    tickets: list[Ticket],
    plan: PagePlan,
    item_key: str | None,
    ticket_key: str | None,
) -> Explanation:
    stories = plan.stories
    if ticket_key is not None:
        # the item that shows the ticket now wins over the property's item key
        shown = next((s.item for s in stories.values() if s.ticket == ticket_key), None)
        item_key = shown or item_key
    item = next((i for i in extraction.items if i.key == item_key), None)
    story = stories.get(item_key or "")
    key = ticket_key or (story.ticket if story else None)
    ticket = next((t for t in tickets if t.key == key), None)
    if item is None and ticket is None:
        raise UsageError(
            f"no item {item_key} on “{page.title}” ({page.id}), and no ticket for it",
            hint="the item may have been removed or its key changed: `followup extract "
            f"--page {page.id}` lists the page's items and their keys",
        )

    def about(subject: Action | Finding) -> bool:
        return bool(
            (item_key is not None and subject.item == item_key)
            or (key is not None and getattr(subject, "ticket", None) == key)
        )

    return Explanation(
        page=page,
        item=item,
        ticket=ticket,
        story=story,
        actions=tuple(a for a in plan.actions if about(a)),
        findings=tuple(f for f in plan.findings if about(f)),
        people=dict(plan.people),
    )


# -- the commands -----------------------------------------------------------------------


def _engine(settings: Settings) -> tuple[Adapters, Engine]:
    adapters = open_sites(settings)
    return adapters, build_engine(settings, adapters.jira, adapters.confluence)


def explain_command(
    settings: Settings, key: str, *, today: date | None = None, fmt: str = "text"
) -> None:
    """Print the story of one item (or ticket); write nothing."""
    adapters, engine = _engine(settings)
    try:
        x = explain(engine, key, today=today or today_in(settings))
    finally:
        adapters.close()
    if fmt == "json":
        sys.stdout.write(
            json.dumps(to_json(x, jira_url=settings.jira.url), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        sys.stdout.write(to_text(x, jira_url=settings.jira.url))


def resolve_command(settings: Settings, key: str) -> None:
    """Clear the conflicts a ticket's property remembers; print what was cleared."""
    adapters, engine = _engine(settings)
    try:
        ticket = _ticket_for(engine, key)
        prop = ticket.prop
        if prop is None or not prop.conflicts:
            sys.stdout.write(f"{ticket.key} has no conflict waiting: nothing to do.\n")
            return
        engine.jira.set_property(ticket.key, replace(prop, conflicts=()))
    finally:
        adapters.close()
    for c in prop.conflicts:
        sys.stdout.write(
            f"{ticket.key}: {c.field} conflict of {c.since} marked resolved (page: {c.page}, "
            f"Jira: {c.jira}; {'Jira' if c.kept == 'jira' else 'the page'}'s value stays).\n"
        )


def _ticket_for(engine: Engine, key: str) -> Ticket:
    page_id, item_key, ticket_key = _locate(engine, key)
    if ticket_key is not None:
        ticket = engine.jira.get_ticket(ticket_key)
    else:
        found = engine.page_tickets(page_id)
        ticket = next((t for t in found if t.prop and t.prop.item == item_key), None)
    if ticket is None:
        raise UsageError(f"{key}: no ticket tracks this item", hint="give the ticket key")
    return ticket
