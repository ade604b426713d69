"""The plan as data: what a sync will write, action by action, each with a payload of
its own kind, and why each item's plan is what it is. The planner builds it; apply
(`followup.sync.engine`) carries it out; the reports show it. Pure data.

An action's kind (`Op`) and its payload go together:

    create        NewTicket       the ticket, its property and its link to the page
    adopt         FieldUpdate     followup's labels on a ticket linked by hand
    update        FieldUpdate     page values going to Jira fields (one request per ticket)
    transition    Transition      the workflow transitions to try, in order
    set-property  TicketProperty  the ticket's `followup` property (sync base, reminders)
    link          RemoteLink      the ticket's remote link to its postmortem
    comment       Comment         a comment on the ticket (a reminder, a stray's note)
    show          (none)          a Jira value the page write shows on the page
    write-page    PageWrite       the page rendering
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, TypeVar

from followup.core.model import ActionItem, Badge, Finding, ItemChange, Owner, TicketProperty
from followup.ports import FieldUpdate, NewTicket

__all__ = [
    "Action",
    "Comment",
    "DescriptionEdit",
    "ItemStory",
    "Match",
    "Op",
    "OwnerResolution",
    "PagePlan",
    "PageWrite",
    "Payload",
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
    SHOW = "show"
    WRITE_PAGE = "write-page"


@dataclass(frozen=True, slots=True)
class RemoteLink:
    """A ticket's remote link to its postmortem, upserted by its global id."""

    global_id: str
    url: str
    title: str


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


@dataclass(frozen=True, slots=True)
class DescriptionEdit:
    """A ticket description following its item's new text: the first paragraph (what
    followup wrote from the item) becomes `text`, if it still reads as one of `old`
    (the item's previous texts); everything else in the description is kept. Apply
    reads the description and makes the edit (`edit_description`)."""

    old: tuple[str, ...]
    text: str


Payload = NewTicket | FieldUpdate | Transition | TicketProperty | RemoteLink | Comment | PageWrite


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
