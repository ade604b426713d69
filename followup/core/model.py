"""The values the core passes around: action items, findings, tickets, pages.

Pure data. Nothing here performs I/O, reads the clock or the environment; every
class is a frozen dataclass so a plan built from them can be shared and compared.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

OwnerKind = Literal["account_id", "userkey", "username", "name"]
ItemSource = Literal["task", "table"]
StatusCategory = Literal["new", "indeterminate", "done"]
ItemField = Literal["owner", "due", "done"]
TicketOrigin = Literal["created", "adopted"]


@dataclass(frozen=True, slots=True)
class Owner:
    """Who an item names as its owner, as the page wrote it.

    `account_id` is a Cloud mention, `userkey`/`username` a Data Center mention,
    `name` free text from a table cell ("Priya Natarajan", "@priya").
    """

    kind: OwnerKind
    value: str

    def to_json(self) -> dict[str, str]:
        return {self.kind: self.value}

    @property
    def ref(self) -> str:
        """A stable one-string form, e.g. `account_id:712020:...` or `name:Priya`."""
        return f"{self.kind}:{self.value}"


class FindingCode(enum.StrEnum):
    """Every kind of finding, the linter part of the tool (see docs/findings)."""

    MISSING_OWNER = "missing-owner"
    MISSING_DUE_DATE = "missing-due-date"
    AMBIGUOUS_DUE_DATE = "ambiguous-due-date"
    UNPARSEABLE_DUE_DATE = "unparseable-due-date"
    UNKNOWN_OWNER = "unknown-owner"
    ORPHANED_TICKET = "orphaned-ticket"
    DUPLICATE_TICKET = "duplicate-ticket"
    CONFLICT = "conflict"
    PAGE_LEASED = "page-leased"
    NO_ACTION_ITEMS = "no-action-items"
    UNPARSEABLE_PAGE = "unparseable-page"
    PAGE_TOO_LARGE = "page-too-large"
    TOO_MANY_ITEMS = "too-many-items"
    DUPLICATE_ITEM = "duplicate-item"
    UNKNOWN_TICKET = "unknown-ticket"
    SHARED_TICKET = "shared-ticket"
    FOREIGN_TICKET = "foreign-ticket"
    ADOPTED_TICKET = "adopted-ticket"
    ROUTED_ELSEWHERE = "routed-elsewhere"
    UNMAPPED_PRIORITY = "unmapped-priority"
    UNKNOWN_STATUS = "unknown-status"
    CELL_NOT_UPDATED = "cell-not-updated"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a person should look at. `item` is the item key where it applies,
    `ticket` the Jira issue it is about, if any (reports link to both)."""

    code: FindingCode
    page_id: str
    item: str | None
    message: str
    ticket: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "page": self.page_id,
            "item": self.item,
            "ticket": self.ticket,
            "message": self.message,
        }


class BadgeColour(enum.StrEnum):
    """The colours of Confluence's status macro."""

    GREY = "Grey"
    RED = "Red"
    YELLOW = "Yellow"
    GREEN = "Green"
    BLUE = "Blue"


@dataclass(frozen=True, slots=True)
class Badge:
    """A status lozenge: a title and a colour. Nothing else survives a round trip on Cloud."""

    title: str
    colour: BadgeColour


@dataclass(frozen=True, slots=True)
class TicketSite:
    """Which Jira a ticket reference on a page names, as the page wrote it.

    `url` is the base of a `/browse/KEY` link (everything before `/browse/`, relative
    if the link is); `server_id` and `server` are a jira macro's `serverId` and
    `server` parameters. The planner compares them with the configured site: a
    reference to any other Jira is never followed (`foreign-ticket`).
    """

    url: str | None = None
    server_id: str | None = None
    server: str | None = None


@dataclass(frozen=True, slots=True)
class ActionItem:
    """One action item on a postmortem page, as the page shows it now.

    `badge` is the status lozenge of ours standing directly after the item's ticket
    reference, if any: the planner compares it with the badge the item should show.
    `priority` is the text of a table's priority column, if it has one.
    `ticket_live` says the reference shows the ticket's live status itself (a jira
    macro, or a Cloud smart link): the badge then only adds what that status cannot
    say (docs/storage-format.md, "Badges").

    `ticket_site` says which Jira the ticket reference names; None when it names
    none (a jira macro without a server, which Confluence shows from its primary
    Jira, or a bare key in a table's ticket column): the configured site.

    A field the page states in a form followup cannot read is in `unreadable`: an
    ambiguous or unparseable due date, a status column saying something that is
    neither done nor open. Its value here is None / not done, but it is not "no
    value": the planner leaves such a field alone on both sides (it never clears
    Jira's value), whereas a page that states no value at all clears it.

    `locked` names the fields whose value on the page is mixed with a person's own
    text, so that it cannot be changed without erasing theirs: followup reads them
    (where it can) but never writes them; the planner reports instead.

    `unstated` names the fields the item's place on the page has no room for: those of
    a table row whose table has no owner, due or status column (a row has no checkbox).
    Their values here (no owner, no date, not done) are no one's statement, so they are
    never taken for a change: Jira leads such a field (the page shows done-ness only
    through the ticket reference or our badge, which followup writes and never reads
    back as a person's intent).
    """

    key: str
    page_id: str
    text: str
    owner: Owner | None
    due: date | None
    done: bool
    ticket: str | None
    source: ItemSource
    badge: Badge | None = None
    priority: str | None = None
    ticket_live: bool = False
    # How the reference is written (a macro, or the smart link Cloud turns it into)
    # is not part of the item's state: two readings differing only there are equal.
    ticket_site: TicketSite | None = field(default=None, compare=False)
    unreadable: frozenset[ItemField] = frozenset()
    locked: frozenset[str] = frozenset()
    # The text of the row's Team or Project cell, for routing (`followup.core.routing`);
    # not part of the item's synced state.
    team: str | None = field(default=None, compare=False)
    unstated: frozenset[ItemField] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "text": self.text,
            "owner": self.owner.to_json() if self.owner else None,
            "due": self.due.isoformat() if self.due else None,
            "done": self.done,
            "ticket": self.ticket,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Extraction:
    """What the parser read off one page body.

    `summary_badge` is the page summary lozenge ("FOLLOW-UP 3/5 DONE") currently on
    the page, if any, so that the planner can tell whether it needs rewriting;
    `extra_summaries` counts further copies of it (the page shows one), which a
    write removes.
    """

    page_id: str
    items: tuple[ActionItem, ...]
    findings: tuple[Finding, ...]
    summary_badge: Badge | None = None
    extra_summaries: int = 0
    # The text of the header table's Incident row (a key, a jira macro's key), if any.
    incident: str | None = None


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""Sentinel for an `ItemChange` field that is left as the page has it."""


@dataclass(frozen=True, slots=True)
class ItemChange:
    """What the renderer is asked to change on one item. `KEEP` leaves a field alone.

    `owner=None` / `due=None` remove the mention / date; `ticket` adds or replaces the
    item's jira macro (or ticket-column reference); `badge` sets our status lozenge
    directly after the ticket reference; `done` ticks or unticks a task (for a table
    row it sets the status column, if the table has one).
    """

    ticket: str | _Keep = KEEP
    badge: Badge | _Keep | None = KEEP
    done: bool | _Keep = KEEP
    owner: Owner | _Keep | None = KEEP
    due: date | _Keep | None = KEEP

    def is_empty(self) -> bool:
        return all(v is KEEP for v in (self.ticket, self.badge, self.done, self.owner, self.due))


@dataclass(frozen=True, slots=True)
class Page:
    """A Confluence page as read: the storage-format body and the version it had."""

    id: str
    title: str
    space_key: str
    version: int
    body: str
    url: str = ""
    created: datetime | None = None
    author: str | None = None  # account id (Cloud) or username (Data Center)
    # Read only when a routing rule matches on them (`[[routing]]` label / ancestor).
    labels: tuple[str, ...] = ()
    ancestors: tuple[str, ...] = ()  # titles, from the top of the space down
    ancestor_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncBase:
    """The values of the synced fields as they were at the last successful sync.

    `assignee` is the Jira user id (accountId on Cloud, name on Data Center);
    `page_owner` the owner as the page wrote it then (`Owner.ref`), so an owner that
    has not changed on the page needs no user lookup.
    """

    summary: str
    assignee: str | None
    due: date | None
    done: bool
    page_owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "assignee": self.assignee,
            "due": self.due.isoformat() if self.due else None,
            "done": self.done,
            "page_owner": self.page_owner,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncBase:
        """Raises ValueError or TypeError for values of the wrong kind."""
        due = data.get("due")
        assignee, page_owner = data.get("assignee"), data.get("page_owner")
        if not all(isinstance(v, str | None) for v in (due, assignee, page_owner)):
            raise TypeError("due, assignee and page_owner must be strings or null")
        return cls(
            summary=str(data.get("summary", "")),
            assignee=assignee,
            due=date.fromisoformat(due) if due else None,
            done=bool(data.get("done", False)),
            page_owner=page_owner,
        )


@dataclass(frozen=True, slots=True)
class StoredConflict:
    """A field changed on both sides, as a run settled it, kept until resolved.

    `page` and `jira` are the two values the run found (JSON: dates as ISO strings,
    done-ness as booleans, user ids), `kept` the side whose value won, `left_page` /
    `left_jira` what each side holds once the run applied (the same value unless a
    sync direction kept them apart), `since` the run's date. It is resolved when a
    side no longer holds what the run left there (someone acted on it), or when
    `followup resolve` is run for the ticket.
    """

    field: str
    page: Any
    jira: Any
    kept: str
    left_page: Any
    left_jira: Any
    since: str

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "page": self.page,
            "jira": self.jira,
            "kept": self.kept,
            "left_page": self.left_page,
            "left_jira": self.left_jira,
            "since": self.since,
        }

    @classmethod
    def from_json(cls, data: Any) -> StoredConflict | None:
        if not isinstance(data, dict) or not isinstance(data.get("field"), str):
            return None
        return cls(
            field=data["field"],
            page=data.get("page"),
            jira=data.get("jira"),
            kept=str(data.get("kept") or ""),
            left_page=data.get("left_page"),
            left_jira=data.get("left_jira"),
            since=str(data.get("since") or ""),
        )


@dataclass(frozen=True, slots=True)
class TicketProperty:
    """The `followup` issue property: which item a ticket belongs to and the sync base.

    `reminders` holds the reminder bookkeeping (last reminder date, count) so that
    runs stay stateless; `conflicts` the conflicts not resolved yet, so that every
    run reports them; `done_before_tracking` marks a ticket created for an item that
    was already ticked on the page (the health report leaves it out of its timings).
    `origin` says whether followup created the ticket (kept in step both ways) or
    adopted one a person linked by hand (led by Jira unless `sync.adopted_tickets`
    says otherwise); it is stored only for adopted tickets (`"origin": "adopted"`),
    so a created ticket's property is what it always was.
    """

    item: str
    page: str
    base: SyncBase | None
    reminders: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[StoredConflict, ...] = ()
    done_before_tracking: bool = False
    origin: TicketOrigin = "created"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "page": self.page,
            "base": self.base.to_json() if self.base else None,
        }
        if self.reminders:
            out["reminders"] = dict(self.reminders)
        if self.conflicts:
            out["conflicts"] = [c.to_json() for c in self.conflicts]
        if self.done_before_tracking:
            out["done_before_tracking"] = True
        if self.origin != "created":
            out["origin"] = self.origin
        return out

    @classmethod
    def from_json(cls, data: Any) -> TicketProperty | None:
        """The property as stored, or None when it names no item and page. Anyone can
        edit an issue property: a base that does not read as one is dropped (the
        ticket is then synced as if adopted), never raised on."""
        if not isinstance(data, dict) or not data.get("item") or not data.get("page"):
            return None
        item, page = data["item"], data["page"]
        if not isinstance(item, str | int) or not isinstance(page, str | int):
            return None
        base = data.get("base")
        try:
            parsed = SyncBase.from_json(base) if isinstance(base, dict) else None
        except (TypeError, ValueError):
            parsed = None
        reminders = data.get("reminders")
        conflicts = data.get("conflicts")
        stored = (
            tuple(c for c in map(StoredConflict.from_json, conflicts) if c is not None)
            if isinstance(conflicts, list)
            else ()
        )
        return cls(
            item=str(item),
            page=str(page),
            base=parsed,
            reminders=dict(reminders) if isinstance(reminders, dict) else {},
            conflicts=stored,
            done_before_tracking=data.get("done_before_tracking") is True,
            # Anything but the one value followup writes for an adopted ticket reads
            # as adopted too: an edited property never widens what followup may do.
            origin="created" if "origin" not in data else "adopted",
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    """A Jira issue managed (or claimed) by followup, as the search returned it."""

    key: str
    id: str
    summary: str
    assignee: str | None
    due: date | None
    status: str
    status_category: StatusCategory
    labels: tuple[str, ...] = ()
    resolution: str | None = None
    prop: TicketProperty | None = None
    assignee_display: str | None = None
    created: datetime | None = None
    resolved: datetime | None = None
    # (link type name, other issue's key) of the ticket's issue links, read only when
    # follow-ups are linked to their incident (`[incident]`).
    links: frozenset[tuple[str, str]] = frozenset()

    @property
    def project(self) -> str:
        """The ticket's project key, from its key."""
        return self.key.rsplit("-", 1)[0].upper()

    @property
    def done(self) -> bool:
        return self.status_category == "done"
