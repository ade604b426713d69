"""One item's story (`followup explain`) as terminal text and as JSON.

    page -> what the page says -> the ticket -> the sync base -> how the ticket was
    found -> field by field, what was decided -> the plan -> the findings

Values in, text out: `Explanation` is what the command read and planned; every string
from a page or a site is shown as text, without control characters.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from followup.core.model import ActionItem, Finding, Page, Ticket, TicketProperty
from followup.core.plan import Action, ItemStory
from followup.reports.escaping import terminal_text
from followup.reports.sync import Names, browse_url, change_text

__all__ = ["MATCH_WORDS", "Explanation", "to_json", "to_text"]

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


def _owner(item: ActionItem, names: Names) -> str:
    if "owner" in item.unstated:
        return "no owner column: the ticket's assignee leads"
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
    if "due" in item.unstated:
        return "no due column: the ticket's due date leads"
    if "due" in item.unreadable:
        return "unreadable (see the findings): the ticket's due date is left as it is"
    return item.due.isoformat() if item.due else "none"


def _done(item: ActionItem) -> str:
    if "done" in item.unreadable:
        return "unreadable status (see the findings): the ticket's status is left as it is"
    if "done" in item.unstated:
        return "no status column: the ticket's status leads"
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
