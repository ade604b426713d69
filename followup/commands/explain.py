"""`followup explain` and `followup resolve`: one item's story, and acknowledging a
conflict.

    explain ITEM-KEY | TICKET-KEY
        page -> what the page says -> the ticket -> the sync base -> how the ticket
        was found -> field by field, what was decided -> the plan -> the findings

`explain` reads and plans the item's page exactly as a sync does (the page, a search
for its tickets, the owner look-ups a sync would make) and writes nothing. The
planner returns its reasons as data (`PagePlan.stories`); this module prints them.

`resolve` clears the conflicts a ticket's `followup` property remembers, once a
person has checked that the value followup kept is the right one (a conflict also
clears by itself when someone changes the field again, on either side).
"""

from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from followup.core.model import ActionItem, Extraction, Finding, Page, Ticket, TicketProperty
from followup.core.planner import Action, ItemStory, PagePlan, group_tickets_by_page
from followup.errors import ApiError, FollowupError, NotFoundError
from followup.reports.escaping import terminal_text
from followup.reports.sync import Names, browse_url, change_text

if TYPE_CHECKING:
    from followup.settings import Settings
    from followup.sync.engine import Engine

__all__ = ["Explanation", "UsageError", "explain_command", "resolve_command"]

MATCH_WORDS = {
    "page": "by the key on the page",
    "property": "by the ticket's followup property",
    "text": "by the item's text",
    "new": "none: a ticket is created",
    "missing": "the key on the page names no ticket",
    "unmanaged": "linked, but not managed",
    "foreign": "none: the page links a ticket outside followup's scope",
}
# How a story ends when nothing is done for its item (the findings say why).
_LEFT_ALONE = frozenset({"missing", "unmanaged", "foreign"})
ITEM_KEY = re.compile(r"(?P<page>\d+):(?:task|row):\S+")
TICKET_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-\d+")


class UsageError(FollowupError):
    """The key names nothing followup tracks: nothing was done (exit 2)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything `explain` shows about one item (or one ticket without an item)."""

    page: Page
    item: ActionItem | None
    ticket: Ticket | None
    story: ItemStory | None
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...]
    people: dict[str, str]
    dry_run_note: str = "nothing is written: this is what the next sync would do"


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


# -- rendering --------------------------------------------------------------------------


def _owner(item: ActionItem, names: Names) -> str:
    if item.owner is None:
        return "nobody"
    if item.owner.kind == "name":
        return item.owner.value
    shown = names.person(item.owner.value)
    return f"{shown} (@mention)" if shown != item.owner.value else f"@mention {item.owner.value}"


def _reference(item: ActionItem, story: ItemStory | None) -> str:
    if item.ticket is None:
        return "none"
    if story is not None and story.match == "foreign":
        return f"{item.ticket} (outside followup's scope: not read, not shown)"
    how = (
        "a jira macro or smart link: shows its status live" if item.ticket_live else "a link or key"
    )
    return f"{item.ticket} ({how})"


def _due(item: ActionItem) -> str:
    if "due" in item.unreadable:
        return "unreadable (see the findings): the ticket's due date is left as it is"
    return item.due.isoformat() if item.due else "none"


def _done(item: ActionItem) -> str:
    if "done" in item.unreadable:
        return "unreadable status (see the findings): the ticket's status is left as it is"
    return "ticked" if item.done else "not ticked"


def _fields(table: Table, rows: list[tuple[str, str]]) -> None:
    for name, value in rows:
        table.add_row(Text(name), Text(value))


def _kv(title: str) -> Table:
    table = Table(
        title=Text(f"\n{title}", style="bold"),
        title_justify="left",
        show_header=False,
        box=None,
    )
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _property_rows(prop: TicketProperty | None, names: Names) -> list[tuple[str, str]]:
    if prop is None:
        return [("property", "none: the ticket was linked by hand and is not synced yet")]
    base = prop.base
    rows = [("item", prop.item), ("page", prop.page)]
    if prop.origin == "adopted":
        rows.append(
            (
                "origin",
                "adopted (linked on the page by hand): Jira leads it unless "
                'sync.adopted_tickets = "two-way"',
            )
        )
    if base is None:
        rows.append(("base", "none (adopted, or unreadable): the next sync records one"))
    else:
        rows += [
            ("summary", base.summary),
            ("assignee", str(names.person(base.assignee)) if base.assignee else "nobody"),
            ("due", base.due.isoformat() if base.due else "none"),
            ("done", "yes" if base.done else "no"),
            ("page owner", str(names.person(base.page_owner)) if base.page_owner else "none"),
        ]
    for c in prop.conflicts:
        rows.append(
            (
                "conflict",
                f"{c.field}, found {c.since}: page {c.page}, Jira {c.jira}; kept "
                f"{'Jira' if c.kept == 'jira' else 'the page'}'s value (unresolved)",
            )
        )
    if prop.done_before_tracking:
        rows.append(("note", "ticked on the page before it had a ticket"))
    return rows


def to_text(x: Explanation, *, jira_url: str | None, width: int = 120) -> str:
    names = Names(x.people)
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False)
    what = x.item.key if x.item else (x.ticket.key if x.ticket else "")
    console.print(Text(f"{what} on “{x.page.title}”"))
    console.print(Text(f"  {x.page.url or x.page.id} (page {x.page.id}, version {x.page.version})"))
    if x.item is not None:
        page = _kv("What the page says")
        _fields(
            page,
            [
                ("text", x.item.text),
                ("owner", _owner(x.item, names)),
                ("due", _due(x.item)),
                ("done", _done(x.item)),
                ("ticket", _reference(x.item, x.story)),
                ("badge", x.item.badge.title if x.item.badge else "none"),
            ],
        )
        console.print(page)
    else:
        console.print(Text("\nThe page no longer shows an item for this ticket."))
    if x.ticket is not None:
        t = x.ticket
        ticket = _kv(f"The ticket {t.key} {browse_url(jira_url, t.key)}".rstrip())
        _fields(
            ticket,
            [
                ("summary", t.summary),
                ("assignee", str(names.person(t.assignee)) if t.assignee else "nobody"),
                ("due", t.due.isoformat() if t.due else "none"),
                ("status", t.status + (f" ({t.resolution})" if t.resolution else "")),
                ("labels", ", ".join(t.labels) or "none"),
            ],
        )
        console.print(ticket)
        base = _kv("The sync base (the ticket's followup property, as last synced)")
        _fields(base, _property_rows(t.prop, names))
        console.print(base)
    if x.story is not None:
        found = _kv("How the ticket was found")
        _fields(found, [(MATCH_WORDS.get(x.story.match, x.story.match), x.story.why)])
        console.print(found)
        if x.story.notes:
            decided = _kv("Field by field")
            _fields(decided, list(x.story.notes))
            console.print(decided)
    if x.actions:
        plan = Table(title=Text(f"\nThe plan ({x.dry_run_note})"), title_justify="left")
        for column in ("op", "field", "change", "reason"):
            plan.add_column(column, overflow="fold")
        for a in x.actions:
            plan.add_row(
                Text(str(a.op)),
                Text(a.field or ""),
                Text(change_text(a, names)),
                Text(names.text(a.reason)),
            )
        console.print(plan)
    elif x.item is None:
        console.print(Text("\nThe plan: nothing is done to this ticket (see the findings)."))
    elif x.story is not None and x.story.match in _LEFT_ALONE:
        console.print(Text("\nThe plan: nothing is done for this item (see the findings)."))
    elif x.findings:  # e.g. a page value Jira, leading an adopted ticket, did not take
        console.print(Text("\nThe plan: nothing to do for this item (see the findings)."))
    else:
        console.print(Text("\nThe plan: nothing to do for this item; page and ticket agree."))
    if x.findings:
        findings = Table(title=Text("\nFindings"), title_justify="left")
        findings.add_column("code", no_wrap=True)
        findings.add_column("message", overflow="fold")
        for f in x.findings:
            findings.add_row(Text(str(f.code)), Text(f.message))
        console.print(findings)
    # Page and site text are shown as text: no control character reaches a terminal.
    return terminal_text(buf.getvalue(), keep_lines=True)


def to_json(x: Explanation, *, jira_url: str | None) -> dict[str, Any]:
    t = x.ticket
    return {
        "page": {
            "id": x.page.id,
            "title": x.page.title,
            "url": x.page.url,
            "version": x.page.version,
        },
        "item": {**x.item.to_json(), "unreadable": sorted(x.item.unreadable)} if x.item else None,
        "ticket": {
            "key": t.key,
            "url": browse_url(jira_url, t.key),
            "summary": t.summary,
            "assignee": t.assignee,
            "due": t.due.isoformat() if t.due else None,
            "status": t.status,
            "resolution": t.resolution,
            "labels": list(t.labels),
            "property": t.prop.to_json() if t.prop else None,
        }
        if t is not None
        else None,
        "story": x.story.to_json() if x.story else None,
        "actions": [a.to_json() for a in x.actions],
        "findings": [f.to_json() for f in x.findings],
        "people": x.people,
    }


# -- the commands -----------------------------------------------------------------------


def _engine(settings: Settings) -> tuple[Any, Engine]:
    from followup.adapters import from_settings
    from followup.commands.sync import SetupError, build_engine

    settings.require_sites()
    try:
        adapters = from_settings(settings)
    except ApiError as exc:
        raise SetupError(exc.message, hint=exc.hint) from None
    return adapters, build_engine(settings, adapters.jira, adapters.confluence)


def explain_command(
    settings: Settings, key: str, *, today: date | None = None, fmt: str = "text"
) -> int:
    """Print the story of one item (or ticket); write nothing. Exit 0."""
    from followup.commands.sync import today_in

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
    return 0


def resolve_command(settings: Settings, key: str) -> int:
    """Clear the conflicts a ticket's property remembers; print what was cleared."""
    adapters, engine = _engine(settings)
    try:
        ticket = _ticket_for(engine, key)
        prop = ticket.prop
        if prop is None or not prop.conflicts:
            sys.stdout.write(f"{ticket.key} has no conflict waiting: nothing to do.\n")
            return 0
        engine.jira.set_property(ticket.key, replace(prop, conflicts=()))
    finally:
        adapters.close()
    for c in prop.conflicts:
        sys.stdout.write(
            f"{ticket.key}: {c.field} conflict of {c.since} marked resolved (page: {c.page}, "
            f"Jira: {c.jira}; {'Jira' if c.kept == 'jira' else 'the page'}'s value stays).\n"
        )
    return 0


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
