"""Follow-up health: how the action items of every postmortem are doing, as figures.

    compute_health(pages, extractions, tickets, today) -> Health

Purely computational: the pages and their extractions (what the sync's discovery
read), the managed tickets (the sync's one JQL search) and the day to judge against
go in; a frozen `Health` comes out. No I/O, no clock. Rendering lives in
`followup.commands.report` (text, Markdown, JSON) and `followup.reports.health_html` (HTML with
inline SVG charts, Confluence storage format).

Where the page and Jira disagree, Jira is taken as the record (work is tracked
there, and after a sync they agree): an item with a ticket is done when the ticket
is, due when the ticket is due, and owned by the ticket's assignee, falling back to
the page's owner and due date where Jira has none. An item without a ticket
(not synced yet) is read off the page alone, and so is one whose page links a
ticket outside followup's scope (`Scope`): that ticket is neither read nor named,
its status is "Foreign ticket".

Definitions (docs/reporting.md):

- *overdue*: not done and due before `today`;
- *age* of an open item: days from the postmortem (page creation) to `today`;
- *on time*: done with the ticket resolved on or before its due date; the rate is
  over the done items that have both a due date and a resolution date;
- *done before tracking*: ticked on the page before it had a ticket (followup then
  created the ticket and closed it at once, and said so in its property): its
  resolution date is the first sync, not when the work was done, so it is neither
  on time nor late and is left out of the time to done;
- *days to ticket*: postmortem date to ticket creation, 0 for a ticket that existed
  before the postmortem (someone linked it by hand);
- *days to done*: ticket creation to resolution;
- *owner not found*: the page names an owner, but the last sync found no Jira user
  for them (the ticket is unassigned); such an item counts under "owner not found",
  not as that name's;
- *open vs done over time*: weekly points ending on `today`; an item exists from its
  postmortem date and is done from its resolution date (a done item without one,
  ticked on a page that has no ticket, or done before tracking, counts as done from
  its postmortem date).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from followup.core.identity import group_tickets_by_page, match_tickets
from followup.core.model import ActionItem, Extraction, FindingCode, Page, StoredConflict, Ticket
from followup.core.policy import Scope
from followup.core.routing import project_of

__all__ = [
    "AGE_BUCKETS",
    "ConflictRow",
    "Counts",
    "GroupRow",
    "Health",
    "ItemHealth",
    "PageRef",
    "TimelinePoint",
    "compute_health",
]

AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("0-30 days", 30),
    ("31-60 days", 60),
    ("61-90 days", 90),
    ("over 90 days", None),
)
"""Open items by age since their postmortem: (label, inclusive upper bound in days)."""
AGE_UNKNOWN = "unknown"
NO_OWNER = "(no owner)"
OWNER_NOT_FOUND = "(owner not found)"
NOT_SYNCED = "(owner not synced yet)"
FOREIGN_TICKET = "Foreign ticket"
NO_TICKET_PROJECT = "(no ticket)"
TIMELINE_WEEKS = 26  # at most this many weekly points (half a year)


@dataclass(frozen=True, slots=True)
class PageRef:
    """A postmortem page as the report names it."""

    id: str
    title: str
    space: str
    url: str = ""
    created: date | None = None
    note: str = ""  # e.g. why it has no items

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "space": self.space,
            "url": self.url,
            "created": self.created.isoformat() if self.created else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ItemHealth:
    """One action item, with the values the report judges it by."""

    key: str
    page: PageRef
    text: str
    owner: str | None  # display name (or the page's text) of the effective owner
    owner_key: str | None  # the Jira user id, else the page's `Owner.ref`
    ticket: str | None
    status: str
    due: date | None
    done: bool
    overdue: bool
    days_overdue: int | None
    age_days: int | None
    postmortem_date: date | None
    ticket_created: date | None
    resolved: date | None
    before_tracking: bool = False  # ticked on the page before it had a ticket
    owner_not_found: bool = False  # the page's owner matches no Jira user
    page_owner: str | None = None  # the owner as the page writes it, when not found

    @property
    def late(self) -> bool:
        """Done after its due date (never for an item done before tracking)."""
        return (
            self.done
            and not self.before_tracking
            and self.due is not None
            and self.resolved is not None
            and self.resolved > self.due
        )

    def to_json(self) -> dict[str, Any]:
        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "key": self.key,
            "page": self.page.id,
            "text": self.text,
            "owner": self.owner,
            "ticket": self.ticket,
            "status": self.status,
            "due": iso(self.due),
            "done": self.done,
            "overdue": self.overdue,
            "days_overdue": self.days_overdue,
            "age_days": self.age_days,
            "postmortem_date": iso(self.postmortem_date),
            "ticket_created": iso(self.ticket_created),
            "resolved": iso(self.resolved),
            "done_before_tracking": self.before_tracking,
            "owner_not_found": self.page_owner if self.owner_not_found else None,
        }


@dataclass(frozen=True, slots=True)
class Counts:
    """How many items are in each state (open + done = total)."""

    total: int = 0
    open: int = 0
    done: int = 0
    overdue: int = 0
    no_owner: int = 0
    no_due: int = 0
    owner_not_found: int = 0

    @classmethod
    def of(cls, items: Iterable[ItemHealth]) -> Counts:
        items = list(items)
        return cls(
            total=len(items),
            open=sum(1 for i in items if not i.done),
            done=sum(1 for i in items if i.done),
            overdue=sum(1 for i in items if i.overdue),
            no_owner=sum(1 for i in items if i.owner is None and not i.owner_not_found),
            no_due=sum(1 for i in items if i.due is None),
            owner_not_found=sum(1 for i in items if i.owner_not_found),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "open": self.open,
            "done": self.done,
            "overdue": self.overdue,
            "no_owner": self.no_owner,
            "no_due": self.no_due,
            "owner_not_found": self.owner_not_found,
        }


@dataclass(frozen=True, slots=True)
class GroupRow:
    """The counts of one space, owner or postmortem."""

    key: str
    label: str
    counts: Counts
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.counts.to_json()}


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    day: date
    open: int
    done: int

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "open": self.open, "done": self.done}


@dataclass(frozen=True, slots=True)
class ConflictRow:
    """A conflict a sync found and nobody has resolved yet (from the ticket's property)."""

    item: ItemHealth
    field: str
    page: str
    jira: str
    kept: str
    since: str

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item.key,
            "page": self.item.page.id,
            "ticket": self.item.ticket,
            "field": self.field,
            "page_value": self.page,
            "jira_value": self.jira,
            "kept": self.kept,
            "since": self.since,
        }


@dataclass(frozen=True, slots=True)
class Health:
    """Every figure of the follow-up health report."""

    today: date
    pages: int
    totals: Counts
    by_space: tuple[GroupRow, ...]
    by_owner: tuple[GroupRow, ...]
    by_postmortem: tuple[GroupRow, ...]
    age_buckets: tuple[tuple[str, int], ...]
    done_with_due: int  # done items with a due date and a resolution date
    done_on_time: int
    done_late: tuple[ItemHealth, ...]
    done_before_tracking: tuple[ItemHealth, ...]
    median_days_to_ticket: float | None
    tickets_measured: int
    median_days_to_done: float | None
    done_measured: int
    oldest_overdue: tuple[ItemHealth, ...]
    no_action_items: tuple[PageRef, ...]
    timeline: tuple[TimelinePoint, ...]
    items: tuple[ItemHealth, ...] = field(repr=False, default=())
    conflicts: tuple[ConflictRow, ...] = ()
    # By the Jira project of each item's ticket (items without one: NO_TICKET_PROJECT).
    by_project: tuple[GroupRow, ...] = ()

    @property
    def projects(self) -> int:
        """How many Jira projects the items' tickets are in (the report groups by
        project when there is more than one: routing sends follow-ups to several)."""
        return sum(1 for g in self.by_project if g.label != NO_TICKET_PROJECT)

    @property
    def on_time_rate(self) -> float | None:
        """Done on or before the due date, as a fraction of done items with both dates."""
        return self.done_on_time / self.done_with_due if self.done_with_due else None

    def to_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "pages": self.pages,
            "totals": self.totals.to_json(),
            "by_space": [g.to_json() for g in self.by_space],
            "by_owner": [g.to_json() for g in self.by_owner],
            "by_postmortem": [g.to_json() for g in self.by_postmortem],
            "by_project": [g.to_json() for g in self.by_project],
            "age_buckets": {label: n for label, n in self.age_buckets},
            "on_time": {
                "rate": self.on_time_rate,
                "on_time": self.done_on_time,
                "measured": self.done_with_due,
                "late": len(self.done_late),
            },
            "done_late": [i.to_json() for i in self.done_late],
            "done_before_tracking": [i.to_json() for i in self.done_before_tracking],
            "median_days_to_ticket": self.median_days_to_ticket,
            "tickets_measured": self.tickets_measured,
            "median_days_to_done": self.median_days_to_done,
            "done_measured": self.done_measured,
            "oldest_overdue": [i.to_json() for i in self.oldest_overdue],
            "no_action_items": [p.to_json() for p in self.no_action_items],
            "timeline": [p.to_json() for p in self.timeline],
            "conflicts": [c.to_json() for c in self.conflicts],
            "items": [i.to_json() for i in self.items],
        }


# -- computation ---------------------------------------------------------------------


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment is not None else None


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _names(tickets: Iterable[Ticket]) -> dict[str, str]:
    """Jira user id -> display name, from the assignees the search returned."""
    return {t.assignee: t.assignee_display for t in tickets if t.assignee and t.assignee_display}


def _not_found(item: ActionItem, ticket: Ticket | None) -> bool:
    """The page names an owner the last sync could not find in Jira: its ticket is
    unassigned and the sync base does not record that owner as resolved."""
    if item.owner is None or ticket is None or ticket.assignee:
        return False
    base = ticket.prop.base if ticket.prop is not None else None
    return base is not None and base.page_owner != item.owner.ref


def _item_health(
    item: ActionItem,
    ref: PageRef,
    ticket: Ticket | None,
    today: date,
    names: Mapping[str, str],
    foreign: bool = False,
) -> ItemHealth:
    done = ticket.done if ticket is not None else item.done
    due = (ticket.due if ticket is not None else None) or item.due
    owner_key: str | None = None
    owner: str | None = None
    not_found = _not_found(item, ticket)
    if ticket is not None and ticket.assignee:
        owner_key = ticket.assignee
        owner = ticket.assignee_display or names.get(ticket.assignee) or ticket.assignee
    elif not_found:
        owner_key, owner = OWNER_NOT_FOUND, None
    elif item.owner is not None:
        owner_key = item.owner.ref
        if item.owner.kind == "name":
            owner = item.owner.value
        else:  # a mention: its name is known once a sync has assigned someone to it
            owner = names.get(item.owner.value) or NOT_SYNCED
    created = _day(ticket.created) if ticket is not None else None
    resolved = _day(ticket.resolved) if ticket is not None and ticket.done else None
    before = bool(done and ticket is not None and ticket.prop and ticket.prop.done_before_tracking)
    overdue = not done and due is not None and due < today
    start = ref.created or created
    if ticket is not None:
        status = ticket.status or ("Done" if done else "Open")
    elif foreign:
        status = FOREIGN_TICKET
    else:
        status = "Done (no ticket)" if done else "No ticket"
    return ItemHealth(
        key=item.key,
        page=ref,
        text=" ".join(item.text.split()),
        owner=owner,
        owner_key=owner_key,
        ticket=ticket.key if ticket is not None else (None if foreign else item.ticket),
        status=status,
        due=due,
        done=done,
        overdue=overdue,
        days_overdue=(today - due).days if overdue and due is not None else None,
        age_days=(today - start).days if start is not None and not done else None,
        postmortem_date=ref.created,
        ticket_created=created,
        resolved=resolved,
        before_tracking=before,
        owner_not_found=not_found,
        page_owner=item.owner.value if not_found and item.owner else None,
    )


def _groups(
    items: Sequence[ItemHealth],
    key: Callable[[ItemHealth], str],
    label: Callable[[ItemHealth], str],
    url: Callable[[ItemHealth], str] = lambda i: "",
) -> tuple[GroupRow, ...]:
    """One row per group, most overdue first, then most open, then by label."""
    grouped: dict[str, list[ItemHealth]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    rows = [
        GroupRow(k, label(members[0]), Counts.of(members), url(members[0]))
        for k, members in grouped.items()
    ]
    rows.sort(key=lambda r: (-r.counts.overdue, -r.counts.open, r.label.casefold(), r.key))
    return tuple(rows)


def _age_buckets(items: Sequence[ItemHealth]) -> tuple[tuple[str, int], ...]:
    counts = {label: 0 for label, _ in AGE_BUCKETS}
    unknown = 0
    for item in items:
        if item.done:
            continue
        if item.age_days is None:
            unknown += 1
            continue
        for label, upper in AGE_BUCKETS:
            if upper is None or item.age_days <= upper:
                counts[label] += 1
                break
    out = [(label, counts[label]) for label, _ in AGE_BUCKETS]
    if unknown:
        out.append((AGE_UNKNOWN, unknown))
    return tuple(out)


def _timeline(items: Sequence[ItemHealth], today: date) -> tuple[TimelinePoint, ...]:
    starts = [i.postmortem_date or i.ticket_created for i in items]
    known = [s for s in starts if s is not None and s <= today]
    if not known:
        return ()
    weeks = min(TIMELINE_WEEKS - 1, math.ceil((today - min(known)).days / 7))
    days = [today - timedelta(days=7 * k) for k in range(weeks, -1, -1)]
    points: list[TimelinePoint] = []
    for day in days:
        open_, done = 0, 0
        for item, start in zip(items, starts, strict=True):
            if start is not None and start > day:
                continue
            finished = item.resolved or (start if item.done else None)
            if item.before_tracking:
                finished = start
            if item.done and (finished is None or finished <= day):
                done += 1
            else:
                open_ += 1
        points.append(TimelinePoint(day, open_, done))
    return tuple(points)


def _page_ref(page: Page, note: str = "") -> PageRef:
    return PageRef(page.id, page.title, page.space_key, page.url, _day(page.created), note)


def compute_health(
    pages: Sequence[Page],
    extractions: Mapping[str, Extraction],
    tickets: Sequence[Ticket],
    today: date,
    *,
    label: str = "followup",
    oldest: int = 10,
    scope: Scope | None = None,
) -> Health:
    """The figures of the health report, from what one sync discovery reads.

    `extractions` maps page id to the page's extraction; `tickets` are the managed
    tickets (the sync's JQL search), grouped by page with the sync's own rules and
    matched to items by the planner's identity rules. `oldest` caps the list of the
    oldest overdue items. Tickets outside `scope` are left out, as the sync leaves
    them alone, and an item linking one is read off its page.
    """
    if scope is not None:
        tickets = [t for t in tickets if scope.outside(t.key) is None]
    by_page = group_tickets_by_page(tickets, label)
    names = _names(tickets)
    items: list[ItemHealth] = []
    empty: list[PageRef] = []
    conflicts: list[ConflictRow] = []
    for page in pages:
        extraction = extractions.get(page.id)
        if extraction is None or not extraction.items:
            unreadable = extraction is not None and any(
                f.code is FindingCode.UNPARSEABLE_PAGE for f in extraction.findings
            )
            note = "the page could not be read" if unreadable else ""
            empty.append(_page_ref(page, note))
            continue
        ref = _page_ref(page)
        foreign = {
            item.key
            for item in extraction.items
            if scope is not None
            and item.ticket is not None
            and scope.outside(item.ticket, item.ticket_site) is not None
        }
        followed = [item for item in extraction.items if item.key not in foreign]
        matched, _, _, _ = match_tickets(followed, by_page.get(page.id, []), {})
        for item in extraction.items:
            ticket = matched.get(item.key)
            health = _item_health(item, ref, ticket, today, names, item.key in foreign)
            items.append(health)
            stored = ticket.prop.conflicts if ticket is not None and ticket.prop else ()
            conflicts.extend(_conflict_row(health, c, names) for c in stored)

    measured = [
        i
        for i in items
        if i.done and not i.before_tracking and i.due is not None and i.resolved is not None
    ]
    late = tuple(sorted((i for i in measured if i.late), key=lambda i: (i.due, i.key)))
    to_ticket = [
        max(0, (i.ticket_created - i.postmortem_date).days)
        for i in items
        if i.ticket_created is not None and i.postmortem_date is not None
    ]
    to_done = [
        max(0, (i.resolved - i.ticket_created).days)
        for i in items
        if i.resolved is not None and i.ticket_created is not None and not i.before_tracking
    ]
    overdue = sorted(
        (i for i in items if i.overdue),
        key=lambda i: (i.due or today, i.page.title.casefold(), i.key),
    )
    return Health(
        today=today,
        pages=len(pages),
        totals=Counts.of(items),
        by_space=_groups(items, lambda i: i.page.space, lambda i: i.page.space),
        by_owner=_groups(items, lambda i: i.owner_key or "", _owner_label),
        by_postmortem=_groups(
            items, lambda i: i.page.id, lambda i: i.page.title, lambda i: i.page.url
        ),
        by_project=_groups(items, _project_of, _project_of),
        age_buckets=_age_buckets(items),
        done_with_due=len(measured),
        done_on_time=len(measured) - len(late),
        done_late=late,
        done_before_tracking=tuple(i for i in items if i.before_tracking),
        median_days_to_ticket=_median(to_ticket),
        tickets_measured=len(to_ticket),
        median_days_to_done=_median(to_done),
        done_measured=len(to_done),
        oldest_overdue=tuple(overdue[:oldest]),
        no_action_items=tuple(empty),
        timeline=_timeline(items, today),
        items=tuple(items),
        conflicts=tuple(conflicts),
    )


def _project_of(item: ItemHealth) -> str:
    return project_of(item.ticket) if item.ticket else NO_TICKET_PROJECT


def _owner_label(item: ItemHealth) -> str:
    if item.owner_not_found:
        return OWNER_NOT_FOUND
    return item.owner if item.owner else NO_OWNER


def _conflict_row(item: ItemHealth, c: StoredConflict, names: Mapping[str, str]) -> ConflictRow:
    def shown(value: Any) -> str:
        if value is None or value == "":
            return "nothing"
        if c.field == "status":
            return "done" if value else "not done"
        if c.field == "assignee" and isinstance(value, str):
            return names.get(value, value)
        return str(value)

    kept = "Jira" if c.kept == "jira" else "the page"
    return ConflictRow(item, c.field, shown(c.page), shown(c.jira), kept, c.since)
