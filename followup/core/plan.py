"""The plan as data: what a sync will write, action by action, each with a payload of
its own kind, and why each item's plan is what it is. The planner builds it; apply
(`followup.sync.engine`) carries it out; the reports show it. Pure data.

Dependencies are part of the plan: an action on an item's new ticket needs that
item's create; a property write records what the item's other writes sent
(`Action.syncs`, comments) and says what it becomes when they fail
(`PropertyWrite.given`); the page write says what it shows when a create or a link
failed (`PageWrite.changes_given`). Apply looks these up; it adds nothing.

An action's kind (`Op`) and its payload go together:

    create        NewTicket       the ticket, its property and its link to the page
    adopt         FieldUpdate     followup's labels on a ticket linked by hand
    update        FieldUpdate     page values going to Jira fields (one request per ticket)
    transition    Transition      the workflow transitions to try, in order
    set-property  PropertyWrite   the ticket's `followup` property (sync base, reminders),
                                  and what it becomes when the writes it records fail
    link          RemoteLink      the ticket's remote link to its postmortem
    comment       Comment         a comment on the ticket (a reminder, a stray's note)
    issue-link    IssueLink       the ticket's issue link to the incident its page names
    show          (none)          a Jira value the page write shows on the page
    write-page    PageWrite       the page rendering
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal, TypeVar

from followup.core.model import (
    KEEP,
    ActionItem,
    Badge,
    Finding,
    ItemChange,
    Owner,
    TicketProperty,
)
from followup.ports import FieldUpdate, NewTicket

__all__ = [
    "Action",
    "Comment",
    "DescriptionEdit",
    "IssueLink",
    "ItemStory",
    "Match",
    "Op",
    "OwnerResolution",
    "PagePlan",
    "PageWrite",
    "Payload",
    "PropertyWrite",
    "RemoteLink",
    "Transition",
    "edit_description",
    "jsonable",
    "normalise_text",
    "payload",
]

Match = Literal["page", "property", "text", "new", "missing", "unmanaged", "foreign"]


class Op(enum.StrEnum):
    """What an action does. The order is the order apply runs them in, per page.

    `show` is a change the page write will make to one item (a value coming from
    Jira); it is listed for people and carried out by the page's `write-page`.
    UPDATE actions on one ticket are sent as one request.
    """

    CREATE = "create"
    ADOPT = "adopt"
    UPDATE = "update"
    TRANSITION = "transition"
    SET_PROPERTY = "set-property"
    LINK = "link"
    COMMENT = "comment"
    ISSUE_LINK = "issue-link"
    SHOW = "show"
    WRITE_PAGE = "write-page"


@dataclass(frozen=True, slots=True)
class RemoteLink:
    """A ticket's remote link to its postmortem, upserted by its global id."""

    global_id: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class IssueLink:
    """An issue link from the action's ticket (the outward issue) to `to`, of the link
    type named `link_type` (`[incident]`: a follow-up to its incident)."""

    link_type: str
    to: str


@dataclass(frozen=True, slots=True)
class Transition:
    """The workflow transitions that reach the wanted state, tried in order (the
    first the ticket's workflow offers is taken)."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment's body, in Jira wiki markup."""

    body: str


@dataclass(frozen=True, slots=True)
class PageWrite:
    """A page rendering: item changes, the summary badge, and items whose ticket key
    comes from a create in the same plan (filled in by apply once Jira answers)."""

    changes: Mapping[str, ItemChange]
    summary: Badge | None
    new_ticket_items: tuple[str, ...] = ()

    def changes_given(
        self, created: Mapping[str, str], unlinked: Set[str] = frozenset()
    ) -> dict[str, ItemChange]:
        """The item changes to render once the Jira writes are done: `created` maps
        item keys to the tickets created for them, `unlinked` names the items whose
        remote link failed. An item whose create failed shows no ticket and no badge;
        a ticket whose link failed is not put on the page yet (an item the page shows
        no ticket for is linked again by the next run)."""
        changes = dict(self.changes)
        for item in self.new_ticket_items:
            key = created.get(item)
            if key is None:
                changes.pop(item, None)
            else:
                changes[item] = replace(changes.get(item, ItemChange()), ticket=key)
        for item in unlinked:
            change = changes.get(item)
            if change is not None and change.ticket is not KEEP:
                del changes[item]
        return changes


@dataclass(frozen=True, slots=True)
class PropertyWrite:
    """A ticket's `followup` property to write: `prop` once the writes it records went
    through, and `read`, the property as the plan read it (None: the ticket had none).

    What it becomes when they did not (`given`): recording a change Jira did not take
    would make the next run undo the person's edit, and a reminder that did not go out
    must not be recorded as sent; a property that would then say nothing new is not
    written."""

    prop: TicketProperty
    read: TicketProperty | None = None

    def given(self, *, synced: bool, sent: bool) -> TicketProperty | None:
        """The property to write when the subject's syncing writes went through
        (`synced`) and its comments did (`sent`); None: nothing to write."""
        prop, read = self.prop, self.read
        if not sent:
            prop = replace(prop, reminders=dict(read.reminders) if read is not None else {})
            if prop == read:
                return None
        if not synced:
            if read is None or read.reminders == prop.reminders:
                return None
            prop = replace(prop, base=read.base)
        return prop

    def after(self, subject: str | None, failed: Iterable[Action]) -> TicketProperty | None:
        """`given`, from the actions of the plan that failed or were skipped."""
        failed = [a for a in failed if a.subject == subject]
        return self.given(
            synced=not any(a.syncs for a in failed),
            sent=not any(a.op is Op.COMMENT for a in failed),
        )


@dataclass(frozen=True, slots=True)
class DescriptionEdit:
    """A ticket description following its item's new text: the first paragraph (what
    followup wrote from the item) becomes `text`, if it still reads as one of `old`
    (the item's previous texts); everything else in the description is kept. Apply
    reads the description and makes the edit (`edit_description`)."""

    old: tuple[str, ...]
    text: str


Payload = (
    NewTicket
    | FieldUpdate
    | Transition
    | PropertyWrite
    | RemoteLink
    | Comment
    | PageWrite
    | IssueLink
)


@dataclass(frozen=True, slots=True)
class Action:
    """One write apply will make, with what it changes and why.

    `before`/`after` are for people (the report); `data` is what apply sends, of the
    payload type of `op` (the table in this module's docstring; None for `show`).
    """

    op: Op
    page_id: str
    item: str | None
    ticket: str | None
    field: str | None
    before: Any
    after: Any
    reason: str
    data: Payload | None = None

    @property
    def subject(self) -> str | None:
        """What the action is about: its item, or its ticket for a ticket without an item."""
        return self.item or self.ticket

    @property
    def needs_create(self) -> bool:
        """Whether the action needs its item's create of this plan (it names no ticket
        yet): when that create fails, the action is not attempted."""
        return self.ticket is None and self.op not in (Op.CREATE, Op.SHOW, Op.WRITE_PAGE)

    @property
    def syncs(self) -> bool:
        """Whether the action sends values the item's sync base records (a create,
        adoption, transition, or a field update other than the description): when it
        fails, the property keeps the base it had (`PropertyWrite.given`)."""
        if self.op in (Op.CREATE, Op.ADOPT, Op.TRANSITION):
            return True
        return (
            self.op is Op.UPDATE
            and self.field != "description"
            and isinstance(self.data, FieldUpdate)
            and bool(self.data.fields)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "op": str(self.op),
            "page": self.page_id,
            "item": self.item,
            "ticket": self.ticket,
            "field": self.field,
            "before": jsonable(self.before),
            "after": jsonable(self.after),
            "reason": self.reason,
        }


_P = TypeVar("_P", bound=Payload)


def payload(action: Action, kind: type[_P]) -> _P:
    """The action's payload, of the type its kind carries (a plan that breaks this is a
    bug in the planner, not a condition to handle)."""
    data = action.data
    if not isinstance(data, kind):
        raise TypeError(f"a {action.op} action carries {type(data).__name__}, not {kind.__name__}")
    return data


def normalise_text(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class ItemStory:
    """Why an item's plan is what it is, for people (`--log-level debug`, `followup
    explain`, the HTML report): how its ticket was found (`match`, `why`), what was
    decided field by field (`notes`: (field, decision)), and the item as it stands
    once the plan is applied (`state`, `owner` as a Jira user id or the page's text,
    `due`, `done`, `overdue`)."""

    item: str
    ticket: str | None
    match: Match
    why: str
    notes: tuple[tuple[str, str], ...] = ()
    state: str = ""
    owner: str | None = None
    due: date | None = None
    done: bool = False
    overdue: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "ticket": self.ticket,
            "match": self.match,
            "why": self.why,
            "notes": [{"field": f, "decision": d} for f, d in self.notes],
            "state": self.state,
            "owner": self.owner,
            "due": self.due.isoformat() if self.due else None,
            "done": self.done,
            "overdue": self.overdue,
        }


@dataclass(frozen=True, slots=True)
class PagePlan:
    """One page's plan. `people` maps the Jira user ids the plan mentions to display
    names, from the look-ups the run made anyway (owner resolution, the search's
    assignees), so reports show names; `stories` explains each item (`ItemStory`)."""

    page_id: str
    actions: tuple[Action, ...]
    findings: tuple[Finding, ...]
    items: tuple[ActionItem, ...]
    people: Mapping[str, str] = field(default_factory=dict)
    stories: Mapping[str, ItemStory] = field(default_factory=dict)

    @property
    def has_writes(self) -> bool:
        return bool(self.actions)

    @property
    def creates(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.op is Op.CREATE)


@dataclass(frozen=True, slots=True)
class OwnerResolution:
    """An owner as written on a page, resolved to a Jira user id (None: not found)."""

    user_id: str | None
    display: str | None = None


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Owner):
        return value.to_json()
    if isinstance(value, Badge):
        return f"{value.title} ({value.colour})"
    if isinstance(value, DescriptionEdit):
        return value.text
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def edit_description(current: str | None, edit: DescriptionEdit) -> str | None:
    """The description with its first paragraph replaced by the item's new text, or
    None when that paragraph is no longer one of the item's previous texts (a person
    rewrote it: their text is kept, and nothing is written). Pure."""
    text = (current or "").replace("\r\n", "\n")
    first, sep, rest = text.partition("\n\n")
    said = normalise_text(first)
    for old in edit.old:
        wanted = normalise_text(old)
        cut = wanted.endswith("…") and said.startswith(wanted[:-1].rstrip())
        if said == wanted or cut:
            return edit.text + sep + rest if sep else edit.text
    return None
