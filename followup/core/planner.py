"""The planner: every decision of a sync, as a pure function.

    plan_page(page, extraction, tickets, linked, owners, today, policy) -> PagePlan

All the functions here are purely computational: no I/O, no clock, no randomness,
no environment. Everything a decision needs is an argument (the run's date included),
so the same inputs always give the same plan, and a dry run shows exactly what apply
will do. Apply (`followup.sync.engine`) executes a plan and decides nothing of its own.

Identity (DESIGN.md section 2): an item finds its ticket by, in order, the key written
on the page; the ticket's `followup` property naming the item; among the page's
tickets no item claims, one whose synced summary equals the item's text (a renumbered
task); otherwise a ticket is created.

Two-way sync (section 3): per field, the page value P, the Jira value J and the base B
(the `followup` property's last-synced values) decide the direction: P changed only
-> Jira; J changed only -> page; both -> conflict, resolved by policy and reported.
A conflict is remembered in the property and reported by every run until it is
resolved (a side changes again, or `followup resolve` acknowledges it).

The planner does not log: why an item got its ticket and why each field was synced
or left alone come back as data (`PagePlan.stories`), which the engine logs at debug
level and `followup explain` prints.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from followup.core.graphemes import clip
from followup.core.model import (
    KEEP,
    ActionItem,
    Badge,
    BadgeColour,
    Extraction,
    Finding,
    FindingCode,
    ItemChange,
    Owner,
    Page,
    StoredConflict,
    SyncBase,
    Ticket,
    TicketProperty,
    TicketSite,
)
from followup.core.routing import IssueLink, PriorityChoice, Route, Routing
from followup.ports import Deployment, FieldUpdate, NewTicket

Direction = Literal["both", "page_to_jira", "jira_to_page", "off"]
OrphanPolicy = Literal["report", "comment", "close"]
AdoptedTickets = Literal["jira-leads", "two-way"]
SUMMARY_MAX = 255
DONE_RESOLUTIONS = frozenset({"done", "fixed", "resolved", "complete", "completed"})
KEY_NUMBER = re.compile(r"-(\d+)$")
_NAMES_THE_POSTMORTEM = re.compile(r"post[-\s]?mortem", re.IGNORECASE)
Match = Literal["page", "property", "text", "new", "missing", "unmanaged", "foreign"]


@dataclass(frozen=True, slots=True)
class Directions:
    summary: Direction = "page_to_jira"
    assignee: Direction = "both"
    due: Direction = "both"
    status: Direction = "both"


def site_url(url: str) -> str:
    """A base URL in the form two URLs of one site compare equal in: scheme and host
    in lower case, no user info, no default port, no trailing slash.

    >>> site_url("HTTPS://Acme.Atlassian.net:443/")
    'https://acme.atlassian.net'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The tickets followup may touch: those of `projects` on the configured Jira.

    `projects` are the project keys tickets are created in or may be adopted from (a
    set: which project a new ticket goes to is the policy's choice among them).
    `site_urls` are the configured Jira's base URLs (`site_url` form): a `/browse/`
    link to any other host names another Jira. Relative links on a page resolve
    against `page_base` (the Confluence base URL). `server_ids` are the `serverId`s
    Confluence's jira macro uses for this Jira: a macro naming another server names
    another Jira; one naming no server is shown from Confluence's primary Jira, which
    is taken to be this one.
    """

    projects: frozenset[str] = frozenset({"OPS"})
    site_urls: frozenset[str] = frozenset()
    page_base: str = ""
    server_ids: frozenset[str] = frozenset()

    def outside(self, key: str, site: TicketSite | None = None) -> str | None:
        """Why the ticket `key`, referenced as `site` says, is outside this scope (a
        phrase for a finding), or None when it is a ticket followup may touch."""
        if site is not None:
            if site.url is not None:
                href = urljoin(self.page_base + "/", site.url) if self.page_base else site.url
                cut = href.find("/browse/")
                base = site_url(href[:cut] if cut >= 0 else href)
                if base not in self.site_urls:
                    host = urlsplit(base).netloc or site.url or "a relative address"
                    return f"is a link to another Jira ({host}) than jira.url"
            elif site.server_id is None or site.server_id not in self.server_ids:
                named = f"“{site.server}”" if site.server else "another server"
                ident = f" (serverId {site.server_id})" if site.server_id else ""
                return (
                    f"is a jira macro of {named}{ident}, not of this Jira's application "
                    "link ([confluence] jira_server_id, jira.macro_server_ids)"
                )
        project = key.rsplit("-", 1)[0].upper()
        if project not in self.projects:
            allowed = ", ".join(sorted(self.projects))
            return (
                f"is in project {project}, not one of followup's projects "
                f"(jira.project and jira.adopt_projects: {allowed})"
            )
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """What the planner may do, from the `[jira]` and `[sync]` settings.

    `project` is where new tickets are created; `scope` says which tickets may be
    touched at all (it must include `project`). `adopted_tickets` says who leads a
    ticket a person linked by hand: Jira (the page's tick, owner and due date are
    not sent to it) or both sides, as for the tickets followup created.
    """

    project: str = "OPS"
    issue_type: str = "Task"
    label: str = "followup"
    extra_labels: tuple[str, ...] = ()
    default_priority: str | None = None
    default_due_days: int | None = None
    fallback_assignee: str | None = None
    close_on_tick: bool = True
    orphans: OrphanPolicy = "report"
    duplicates: OrphanPolicy = "report"
    adopt: bool = True
    conflict_winner: Literal["jira", "page"] = "jira"
    directions: Directions = field(default_factory=Directions)
    deployment: Deployment = "cloud"
    done_transitions: tuple[str, ...] = ("Done",)
    reopen_transitions: tuple[str, ...] = ("To Do", "Reopen", "Reopened", "Backlog")
    scope: Scope = field(default_factory=Scope)
    adopted_tickets: AdoptedTickets = "jira-leads"
    # `[[routing]]`, `[priorities]`, `[incident]` (followup.core.routing); None: every
    # ticket goes to `project` as `issue_type`, a priority cell is sent as written.
    routing: Routing | None = None

    def __post_init__(self) -> None:
        projects = {self.project, *(self.routing.projects if self.routing else ())}
        for project in sorted(projects):
            if project.upper() not in self.scope.projects:
                raise ValueError(f"project {project} is not in the scope's projects")

    # -- routing hooks (followup.core.routing) ------------------------------------------

    def route(self, page: Page, item: ActionItem | None = None) -> Route:
        """Where the item's ticket goes: the first `[[routing]]` rule matching, else
        `project` as `issue_type`."""
        if self.routing is None:
            return Route(self.project, self.issue_type)
        return self.routing.route(page, item)

    def priority_for(self, page: Page, item: ActionItem) -> PriorityChoice:
        """The Jira priority a new ticket for the item is created with."""
        if self.routing is None:
            return PriorityChoice(item.priority or self.default_priority)
        return self.routing.priority(item.priority, self.route(page, item).project)

    def due_days_for(self, page: Page, item: ActionItem) -> int | None:
        """Days after the postmortem an item with no due date is due: by its
        priority (`[priorities] due_days`), else `default_due_days`."""
        if self.routing is not None:
            days = self.routing.due_days_for(self.priority_for(page, item).name)
            if days is not None:
                return days
        return self.default_due_days


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
class Action:
    """One write apply will make, with what it changes and why.

    `before`/`after` are for people (the report); `data` is what apply sends:
    a NewTicket (create), FieldUpdate (update, adopt), a tuple of transition names
    (transition), a TicketProperty (set-property, adopt), a comment body (comment),
    a PageWrite (write-page), a RemoteLink (link), an IssueLink (issue-link).
    """

    op: Op
    page_id: str
    item: str | None
    ticket: str | None
    field: str | None
    before: Any
    after: Any
    reason: str
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "op": str(self.op),
            "page": self.page_id,
            "item": self.item,
            "ticket": self.ticket,
            "field": self.field,
            "before": _jsonable(self.before),
            "after": _jsonable(self.after),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RemoteLink:
    global_id: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class PageWrite:
    """A page rendering: item changes, the summary badge, and items whose ticket key
    comes from a create in the same plan (filled in by apply once Jira answers)."""

    changes: Mapping[str, ItemChange]
    summary: Badge | None
    new_ticket_items: tuple[str, ...] = ()
    base_version: int = 0


@dataclass(frozen=True, slots=True)
class DescriptionEdit:
    """A ticket description following its item's new text: the first paragraph (what
    followup wrote from the item) becomes `text`, if it still reads as one of `old`
    (the item's previous texts); everything else in the description is kept. Apply
    reads the description and makes the edit (`edit_description`)."""

    old: tuple[str, ...]
    text: str


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


def _jsonable(value: Any) -> Any:
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
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def normalise_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def summary_for(item: ActionItem) -> str:
    """The Jira summary of an item: its text (cleaned by extraction: no bidirectional
    controls, grapheme clusters whole), cut to Jira's 255 UTF-16 code units without
    splitting a cluster."""
    return clip(" ".join(item.text.split()), SUMMARY_MAX, utf16=True)


def page_label(policy: Policy, page_id: str) -> str:
    return f"{policy.label}-{page_id}"


def _key_sort(key: str) -> tuple[str, int]:
    m = KEY_NUMBER.search(key)
    return (key[: m.start()] if m else key, int(m.group(1)) if m else 0)


def owner_for_user(user_id: str, deployment: Deployment) -> Owner:
    """How a Jira user is written on a page: a mention by account id (Cloud) or username."""
    return Owner("account_id" if deployment == "cloud" else "username", user_id)


# -- badges -----------------------------------------------------------------------

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


# -- merge ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Merge:
    """The outcome for one field: what Jira and the page should hold afterwards."""

    to_jira: bool
    to_page: bool
    value: Any
    conflict: bool


def _merge(p: Any, j: Any, b: Any, direction: Direction, winner: str, has_base: bool) -> _Merge:
    if direction == "off" or p == j:
        return _Merge(False, False, j if direction == "off" else p, False)
    push = direction in ("both", "page_to_jira")
    pull = direction in ("both", "jira_to_page")
    if not has_base:
        # A ticket with no sync history (adopted): Jira is the record where it has a
        # value; the page fills Jira's blanks where it may lead, and where it may not,
        # keeps its own value (a blank in Jira never erases what the page states).
        if j is None and push:
            return _Merge(True, False, p, False)
        if pull and j is not None:
            return _Merge(False, True, j, False)
        return _Merge(False, False, j, False)
    p_changed, j_changed = p != b, j != b
    if p_changed and not j_changed:
        return _Merge(push, False, p if push else j, False)
    if j_changed and not p_changed:
        return _Merge(False, pull, j if pull else p, False)
    # Both moved, to different values. Where the winner's value cannot flow (the
    # direction forbids it), each side keeps its own and the base follows the side
    # that is allowed to lead, so the next run does not undo the other side's edit.
    if winner == "jira":
        return _Merge(False, pull, j if pull else p, True)
    return _Merge(push, False, p if push else j, True)


# -- the plan ---------------------------------------------------------------------


@dataclass(slots=True)
class _Builder:
    page: Page
    policy: Policy
    today: date
    actions: list[Action] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    changes: dict[str, ItemChange] = field(default_factory=dict)
    states: list[tuple[bool, bool]] = field(default_factory=list)
    new_ticket_items: list[str] = field(default_factory=list)
    people: dict[str, str] = field(default_factory=dict)
    stories: dict[str, ItemStory] = field(default_factory=dict)
    notes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    incident: str | None = None  # what the page's header names as its incident

    def act(self, op: Op, item: str | None, ticket: str | None, reason: str, **kw: Any) -> None:
        self.actions.append(
            Action(
                op=op,
                page_id=self.page.id,
                item=item,
                ticket=ticket,
                field=kw.get("field"),
                before=kw.get("before"),
                after=kw.get("after"),
                reason=reason,
                data=kw.get("data"),
            )
        )

    def find(
        self, code: FindingCode, item: str | None, message: str, ticket: str | None = None
    ) -> None:
        self.findings.append(Finding(code, self.page.id, item, message, ticket))

    def note(self, key: str, what: str, decision: str) -> None:
        self.notes.setdefault(key, []).append((what, decision))

    def name(self, user_id: str | None) -> str:
        """A Jira user as people know them: the display name, else the id."""
        if user_id is None:
            return "nobody"
        return self.people.get(user_id, user_id)

    def story(
        self, item: ActionItem, ticket: str | None, match: Match, why: str, **kw: Any
    ) -> None:
        self.stories[item.key] = ItemStory(
            item.key, ticket, match, why, tuple(self.notes.get(item.key, ())), **kw
        )

    def change(self, key: str, **kw: Any) -> None:
        self.changes[key] = replace(self.changes.get(key, ItemChange()), **kw)

    def amend(self, code: FindingCode, item: str, sentence: str) -> None:
        """Add a sentence to the item's finding of this code (from the extraction)."""
        for i, f in enumerate(self.findings):
            if f.code is code and f.item == item:
                self.findings[i] = replace(f, message=f"{f.message} {sentence}")


def _effective_due(item: ActionItem, page: Page, policy: Policy) -> date | None:
    if item.due is not None:
        return item.due
    if "due" in item.unreadable:
        return None  # the page states a date followup cannot read: no default either
    days = policy.due_days_for(page, item)
    if days is not None and page.created is not None:
        return page.created.date() + timedelta(days=days)
    return None


def _resolution(
    item: ActionItem, owners: Mapping[Owner, OwnerResolution], base: SyncBase | None
) -> OwnerResolution | None:
    """The item's owner resolved: from this run's look-ups, or, when the page still
    names the owner it named at the last sync, from the sync base (no look-up)."""
    if item.owner is None:
        return None
    res = owners.get(item.owner)
    if res is None and base is not None and base.page_owner == item.owner.ref:
        res = OwnerResolution(base.assignee)
    return res


def _effective_assignee(
    item: ActionItem,
    owners: Mapping[Owner, OwnerResolution],
    policy: Policy,
    base: SyncBase | None = None,
) -> str | None:
    res = _resolution(item, owners, base)
    if res is not None and res.user_id is not None:
        return res.user_id
    return policy.fallback_assignee


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


def link_title(page_title: str) -> str:
    """The title of a ticket's link to its postmortem: the page title, prefixed with
    "Postmortem: " unless the title says so already ("Postmortem — duplicate
    refunds" stays as it is)."""
    title = " ".join(page_title.split())
    return title if _NAMES_THE_POSTMORTEM.search(title) else f"Postmortem: {title}"


def _link_for(page: Page, item_key: str) -> RemoteLink:
    return RemoteLink(
        global_id=f"followup:{item_key}",
        url=page.url,
        title=link_title(page.title),
    )


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


def _description(item: ActionItem, page: Page) -> str:
    lines = [
        item.text,
        "",
        f"Action item from the postmortem “{page.title}”" + (f": {page.url}" if page.url else "."),
        "Created and kept in step by followup; edit the owner, due date or status here "
        "or on the page.",
    ]
    return "\n".join(lines)


def _owner_findings(
    b: _Builder,
    item: ActionItem,
    owners: Mapping[Owner, OwnerResolution],
    ticket: Ticket | None,
) -> None:
    if item.owner is None:
        return
    base = ticket.prop.base if ticket is not None and ticket.prop is not None else None
    res = _resolution(item, owners, base)
    if res is None or res.user_id is None:
        fallback = b.policy.fallback_assignee
        then = (
            f"assigning to the fallback {b.name(fallback)}" if fallback else "leaving it unassigned"
        )
        if ticket is not None:
            # An owner that resolves to nobody never clears (or replaces) Jira's.
            who = b.name(ticket.assignee) if ticket.assignee else "unassigned"
            then = f"{ticket.key} keeps its assignee ({ticket.assignee_display or who})"
        b.find(
            FindingCode.UNKNOWN_OWNER,
            item.key,
            f"Owner {_owner_words(item.owner)} of “{_short(item.text)}” matches no Jira "
            f"account that can be assigned in {b.policy.route(b.page, item).project}; {then}. "
            "Mention the person, or map the name under [owners] in the config.",
        )


def _owner_words(owner: Owner) -> str:
    """An owner as the page wrote it, in words (a mention has no name in the page)."""
    if owner.kind == "name":
        return repr(owner.value)
    what = {"account_id": "account", "userkey": "user key", "username": "username"}[owner.kind]
    return f"@mention ({what} {owner.value})"


def _short(text: str, limit: int = 60) -> str:
    return clip(text, limit)


def match_tickets(
    items: Sequence[ActionItem],
    tickets: Sequence[Ticket],
    linked: Mapping[str, Ticket],
) -> tuple[dict[str, Ticket], list[tuple[str, Ticket]], list[Ticket], dict[str, str]]:
    """Pair items with tickets. Returns (item -> ticket, duplicates (item, ticket),
    unclaimed tickets, item -> hand-linked key that does not exist)."""
    by_key = {t.key: t for t in tickets}
    by_item: dict[str, list[Ticket]] = {}
    for t in sorted(tickets, key=lambda t: _key_sort(t.key)):
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
        for t in sorted(tickets, key=lambda t: _key_sort(t.key)):
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


def _people(
    owners: Mapping[Owner, OwnerResolution],
    tickets: Iterable[Ticket],
) -> dict[str, str]:
    """Jira user id -> display name, from what the run looked up anyway."""
    out: dict[str, str] = {}
    for t in tickets:
        if t.assignee and t.assignee_display:
            out[t.assignee] = t.assignee_display
    for res in owners.values():
        if res.user_id and res.display:
            out[res.user_id] = res.display
    return out


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


def plan_page(
    page: Page,
    extraction: Extraction,
    tickets: Sequence[Ticket],
    *,
    linked: Mapping[str, Ticket],
    owners: Mapping[Owner, OwnerResolution],
    today: date,
    policy: Policy,
) -> PagePlan:
    """Plan one page: tickets to create, adopt and update, transitions, the page write.

    `tickets` are the managed tickets of this page (label `<label>-<pageId>` or
    property page = this page); `linked` maps keys written on the page that are not
    managed yet to the tickets they name (for adoption); `owners` maps every owner
    written on the page to its resolution.

    Only tickets inside `policy.scope` are touched or shown. An item referencing any
    other ticket (another project, another Jira) gets a `foreign-ticket` finding and
    nothing else: no ticket, no adoption, no badge, none of that ticket's fields.
    """
    b = _Builder(page=page, policy=policy, today=today, incident=extraction.incident)
    scope = policy.scope
    # A ticket outside the projects that carries followup's labels for this page (or
    # that a caller passed in) is left alone as well: not even its assignee's name
    # reaches the plan's people.
    strays = [t for t in tickets if scope.outside(t.key) is not None]
    tickets = [t for t in tickets if scope.outside(t.key) is None]
    linked = {k: t for k, t in linked.items() if scope.outside(t.key) is None}
    b.people.update(_people(owners, [*tickets, *linked.values()]))
    b.findings.extend(extraction.findings)
    if any(f.code is FindingCode.UNPARSEABLE_PAGE for f in extraction.findings):
        # Without the items we cannot tell orphans from live tickets: touch nothing.
        return PagePlan(page.id, (), tuple(b.findings), (), dict(b.people))
    items = extraction.items
    foreign = {
        item.key: why
        for item in items
        if item.ticket is not None and (why := scope.outside(item.ticket, item.ticket_site))
    }
    followed = [item for item in items if item.key not in foreign]
    matched, duplicates, unclaimed, missing = match_tickets(followed, tickets, linked)

    for item in items:
        if item.key in foreign:
            b.find(
                FindingCode.FOREIGN_TICKET,
                item.key,
                f"“{_short(item.text)}” links {item.ticket}, which {foreign[item.key]}: "
                "followup neither changes that ticket nor shows anything of it here. Link "
                "a ticket of followup's own projects instead, or remove the link (the next "
                "run then creates one).",
            )
            # The story says what the page says, and nothing of the ticket: no status,
            # no assignee, not even a link to it. Its owner is named only where the run
            # looked the same person up for another item anyway.
            known = owners.get(item.owner) if item.owner is not None else None
            b.story(
                item,
                None,
                "foreign",
                f"the page links {item.ticket}, which {foreign[item.key]}: followup neither "
                "reads nor changes it, and nothing is synced",
                state="Foreign ticket",
                owner=known.user_id if known is not None else None,
                due=item.due,
                done=item.done,
            )
            continue
        if item.key in missing:
            b.find(
                FindingCode.UNKNOWN_TICKET,
                item.key,
                f"“{_short(item.text)}” links {missing[item.key]}, which does not exist or "
                "is not visible to followup's Jira account; fix the key on the page.",
                missing[item.key],
            )
            b.story(
                item,
                missing[item.key],
                "missing",
                f"the page names {missing[item.key]}, which does not exist or is not visible "
                "to followup's account: nothing is synced",
                state="Unknown ticket",
                owner=item.owner.value if item.owner else None,
                due=item.due,
                done=item.done,
            )
            continue
        ticket = matched.get(item.key)
        _owner_findings(b, item, owners, ticket)
        if ticket is None:
            _plan_create(b, item, owners)
        else:
            _plan_existing(b, item, ticket, owners)
        _plan_routing(b, item, ticket)  # routing hook

    for t in strays:
        if not any(item.ticket == t.key for item in items):
            b.find(
                FindingCode.FOREIGN_TICKET,
                None,
                f"{t.key} carries followup's labels for this page but {scope.outside(t.key)}; "
                "followup leaves it alone.",
            )
    for item_key, t in duplicates:
        _plan_stray(b, t, item_key, FindingCode.DUPLICATE_TICKET, policy.duplicates)
    # Past sync.max_items_per_page the page was not read to the end: an unclaimed
    # ticket may belong to an item further down, so none is called orphaned (or closed).
    truncated = any(f.code is FindingCode.TOO_MANY_ITEMS for f in extraction.findings)
    # A ticket whose item is still on the page, linking another (or a foreign) ticket
    # now, is not an orphan: the item's own finding says what to fix.
    present = {item.key for item in items}
    for t in unclaimed:
        if t.prop is not None and t.prop.item in present:
            continue
        if not t.done and not truncated:
            _plan_stray(b, t, None, FindingCode.ORPHANED_TICKET, policy.orphans)

    if not items and not any(f.code is FindingCode.NO_ACTION_ITEMS for f in b.findings):
        b.find(FindingCode.NO_ACTION_ITEMS, None, "This postmortem has no action items.")

    desired_summary = summary_badge(b.states)
    summary_changed = desired_summary != extraction.summary_badge or extraction.extra_summaries > 0
    changes = {k: c for k, c in b.changes.items() if not c.is_empty()}
    if changes or summary_changed or b.new_ticket_items:
        write = PageWrite(
            changes=changes,
            summary=desired_summary,
            new_ticket_items=tuple(b.new_ticket_items),
            base_version=page.version,
        )
        what = sorted({*changes, *b.new_ticket_items})
        reason = f"{len(what)} item(s) to show" + ("; summary badge" if summary_changed else "")
        b.act(
            Op.WRITE_PAGE,
            None,
            None,
            reason,
            before=f"v{page.version}",
            after=f"v{page.version + 1}",
            data=write,
        )
    return PagePlan(
        page.id, tuple(b.actions), tuple(b.findings), items, dict(b.people), dict(b.stories)
    )


def _plan_create(b: _Builder, item: ActionItem, owners: Mapping[Owner, OwnerResolution]) -> None:
    policy, page = b.policy, b.page
    assignee = _effective_assignee(item, owners, policy)
    due = _effective_due(item, page, policy)
    summary = summary_for(item)
    route, priority = policy.route(page, item), policy.priority_for(page, item)  # routing hook
    res = _resolution(item, owners, None)
    closes = (
        item.done and policy.close_on_tick and policy.directions.status in ("both", "page_to_jira")
    )
    # The base records what the new ticket is, not what it will be once its transition
    # has run: if that transition fails (or the run dies first), the next run must see
    # a tick to push, not a Jira "not done" to bring back onto the page.
    base = SyncBase(
        summary=summary,
        assignee=assignee,
        due=due,
        done=False,
        page_owner=item.owner.ref if item.owner and res and res.user_id else None,
    )
    new = NewTicket(
        ref=item.key,
        summary=summary,
        description=_description(item, page),
        labels=(
            policy.label,
            page_label(policy, page.id),
            *policy.extra_labels,
            *(lb for lb in route.labels if lb not in (policy.label, *policy.extra_labels)),
        ),
        due=due,
        assignee=assignee,
        priority=priority.name,
        project=route.project,
        issue_type=route.issue_type,
        components=route.components,
        fields=route.fields,
        parent=_incident_parent(policy, b.incident),
        # Ticked before it ever had a ticket: the health report must not time it.
        prop=TicketProperty(item=item.key, page=page.id, base=base, done_before_tracking=closes),
        link_url=page.url,
        link_title=link_title(page.title),
    )
    b.act(
        Op.CREATE,
        item.key,
        None,
        "no ticket yet",
        after={"summary": summary, "assignee": assignee, "due": due},
        data=new,
    )
    b.act(
        Op.LINK,
        item.key,
        None,
        "link the new ticket to its postmortem",
        data=_link_for(page, item.key),
    )
    if item.owner is not None and assignee is not None and assignee != policy.fallback_assignee:
        b.note(item.key, "assignee", f"the owner on the page is {b.name(assignee)}")
    elif assignee is not None:
        b.note(item.key, "assignee", f"the fallback assignee {b.name(assignee)}")
    else:
        b.note(item.key, "assignee", "nobody: the page names no owner Jira knows")
    _note_route(b, item, route, priority)  # routing hook
    if due is not None and item.due is None:
        b.note(item.key, "due", f"{due} ({_due_source(policy, page, item)} after the postmortem)")
    elif due is None:
        b.note(item.key, "due", "none: the page gives no due date")
    overdue = due is not None and due < b.today
    b.states.append((False, overdue))
    b.new_ticket_items.append(item.key)
    # The ticket is written as our jira macro, which shows its status live.
    badge = badge_for(
        done=False, resolution=None, category="new", due=due, today=b.today, live=True
    )
    b.change(item.key, badge=badge)
    state = "Overdue" if overdue else "To Do"
    if closes:
        b.act(
            Op.TRANSITION,
            item.key,
            None,
            "ticked on the page",
            field="status",
            before="new",
            after="done",
            data=policy.done_transitions,
        )
        b.act(
            Op.SET_PROPERTY,
            item.key,
            None,
            "record the synced values",
            before={"done": False},
            after={"done": True},
            data=replace(new.prop, base=replace(base, done=True)),
        )
        b.note(item.key, "status", "ticked on the page before it had a ticket: closed at once")
        b.states[-1] = (True, False)
        b.change(item.key, badge=None)
        state = "Done"
    elif item.done:
        b.note(item.key, "status", "ticked on the page, but ticks do not close tickets here")
    if due is not None and item.due is None:
        b.change(item.key, due=due)
    b.story(
        item,
        None,
        "new",
        "no ticket has this item's key on the page, a followup property naming it, or "
        "its text as synced summary: one is created",
        state=state,
        owner=assignee,
        due=due,
        done=closes,
        overdue=overdue and not closes,
    )


# -- routing hooks (the decisions are followup.core.routing's) ----------------------------


def _incident_parent(policy: Policy, incident: str | None) -> str | None:
    """The incident a new ticket is created under (`[incident] parent`), if any."""
    routing = policy.routing
    if routing is None or routing.incident is None or not routing.incident.parent:
        return None
    return routing.incident_key(incident)


def _due_source(policy: Policy, page: Page, item: ActionItem) -> str:
    days = policy.due_days_for(page, item)
    if days is not None and days != policy.default_due_days:
        return f"{days} days for priority {policy.priority_for(page, item).name}"
    return "sync.default_due_days"


def _note_route(b: _Builder, item: ActionItem, route: Route, priority: PriorityChoice) -> None:
    """The story's notes (and an unmapped priority's finding) for a new ticket."""
    if b.policy.routing is not None:
        b.note(item.key, "project", f"{route.project} / {route.issue_type}, by {route.name}")
    if priority.unmapped:
        then = f"it gets {priority.name}" if priority.name else "it gets Jira's default priority"
        b.find(
            FindingCode.UNMAPPED_PRIORITY,
            item.key,
            f"Priority {item.priority!r} of “{_short(item.text)}” is no priority of "
            f"{route.project} and [priorities] map does not name it; {then}. Add it to "
            f'[priorities] map (e.g. "{item.priority}" = "High"), or write a priority '
            "Jira knows.",
        )


def _plan_routing(b: _Builder, item: ActionItem, ticket: Ticket | None) -> None:
    """After an item's own plan: a ticket followup created that sits in another
    project than its route now says is reported, never moved or duplicated
    (`routed-elsewhere`); and the item's ticket is linked to the page's incident."""
    routing, page = b.policy.routing, b.page
    if routing is None:
        return
    if ticket is not None and ticket.prop is None and not b.policy.adopt:
        return  # not managed: left alone
    route = routing.route(page, item)
    created = ticket is not None and ticket.prop is not None and ticket.prop.origin == "created"
    if ticket is not None and created and ticket.project != route.project:
        b.find(
            FindingCode.ROUTED_ELSEWHERE,
            item.key,
            f"{ticket.key} (“{_short(item.text)}”) is in {ticket.project}, but {route.name} "
            f"now sends this item to {route.project}. followup keeps syncing {ticket.key} "
            f"where it is and creates no other ticket; to follow the rule, move it in "
            f"Jira (Move → {route.project}), or change the rule back.",
            ticket.key,
        )
    key = routing.incident_key(b.incident)
    if key is None or routing.incident is None or routing.incident.link_type is None:
        return  # (as a parent, the incident is set when the ticket is created)
    link_type = routing.incident.link_type
    if ticket is not None and any(
        name.casefold() == link_type.casefold() and other == key for name, other in ticket.links
    ):
        return
    b.act(
        Op.ISSUE_LINK,
        item.key,
        ticket.key if ticket is not None else None,
        f"link to the incident {key}",
        field="issuelinks",
        after=f"{link_type} {key}",
        data=IssueLink(link_type=link_type, to=key),
    )
    story = b.stories.get(item.key)
    if story is not None:
        note = ("incident", f"linked to {key} ({link_type})")
        b.stories[item.key] = replace(story, notes=(*story.notes, note))


def _push(
    b: _Builder, item: ActionItem, t: Ticket, name: str, before: Any, after: Any, reason: str
) -> None:
    """A page value going to one Jira field."""
    b.act(
        Op.UPDATE,
        item.key,
        t.key,
        reason,
        field=name,
        before=before,
        after=after,
        data=FieldUpdate(fields={name: after}),
    )


def _decision(
    what: str,
    p: Any,
    j: Any,
    b: Any,
    direction: Direction,
    m: _Merge,
    show: Callable[[Any], str],
    has_base: bool = True,
    *,
    held: bool = False,
) -> str:
    """Why a field was synced (or not), in words, from the merge's inputs and outcome.
    `held`: the page's value would have gone to Jira, but Jira leads the ticket."""
    if direction == "off":
        return f"not synced (sync.directions.{what} = off)"
    if p == j:
        return f"in step: {show(p)} on both sides"
    if held:
        return (
            f"the page says {show(p)}, but followup did not create this ticket: Jira leads "
            f'it (sync.adopted_tickets = "jira-leads") and keeps {show(j)}'
        )
    if not has_base:
        if m.to_jira:
            return f"adopted ticket without one: the page's {show(p)} goes to Jira"
        if m.to_page:
            return f"adopted ticket: Jira's {show(j)} is shown on the page"
        return f"adopted ticket: Jira keeps {show(j)}"
    if m.conflict:
        return (
            f"changed on both sides since the last sync (page: {show(p)}, Jira: {show(j)}, "
            f"last synced: {show(b)}): conflict, kept {show(m.value)}"
        )
    if m.to_jira:
        return f"changed on the page ({show(b)} → {show(p)}): sent to Jira"
    if m.to_page:
        return f"changed in Jira ({show(b)} → {show(j)}): shown on the page"
    if p != b and j == b:
        return f"changed on the page to {show(p)}, but it flows {direction}: Jira keeps {show(j)}"
    if j != b and p == b:
        return f"changed in Jira to {show(j)}, but it flows {direction}: the page keeps {show(p)}"
    return f"page {show(p)}, Jira {show(j)}: left as they are ({direction})"


def _plan_existing(
    b: _Builder, item: ActionItem, t: Ticket, owners: Mapping[Owner, OwnerResolution]
) -> None:
    policy, page = b.policy, b.page
    prop = t.prop
    adopting = prop is None or prop.page != page.id
    rekeyed = prop is not None and prop.item != item.key  # e.g. a renumbered task
    match, why = how_matched(item, t)
    labels_missing = tuple(
        lb for lb in (policy.label, page_label(policy, page.id)) if lb not in t.labels
    )
    if adopting and prop is None and not policy.adopt:
        b.find(
            FindingCode.UNKNOWN_TICKET,
            item.key,
            f"“{_short(item.text)}” links {t.key}, which followup does not manage "
            "(sync.adopt is off); it is left alone.",
            t.key,
        )
        b.story(
            item,
            t.key,
            "unmanaged",
            f"{why}, which followup does not manage (sync.adopt is off): nothing is synced",
            state=t.status,
            owner=t.assignee,
            due=t.due,
            done=t.done,
        )
        return
    if prop is not None and prop.page != page.id:
        # The ticket belongs to an item of another postmortem. Taking it over would
        # move it back and forth between the two pages on every run: show its status
        # here, and sync it from its own page only.
        b.find(
            FindingCode.SHARED_TICKET,
            item.key,
            f"“{_short(item.text)}” links {t.key}, which tracks an action item of page "
            f"{prop.page}; its status is shown here, but it is synced from that page only. "
            "Give this item a ticket of its own if it is separate work.",
            t.key,
        )
        badge = badge_for(
            done=t.done,
            resolution=t.resolution,
            category=t.status_category,
            due=t.due,
            today=b.today,
            live=item.ticket_live,
        )
        if item.badge != badge:
            b.change(item.key, badge=badge)
        overdue = not t.done and t.due is not None and t.due < b.today
        b.states.append((t.done, overdue))
        b.note(item.key, "all fields", f"synced from page {prop.page}, whose item {t.key} tracks")
        b.story(
            item,
            t.key,
            match,
            f"{why}; it tracks an item of page {prop.page}: shown here, synced there",
            state=state_for(
                done=t.done, resolution=t.resolution, status=t.status, due=t.due, today=b.today
            ),
            owner=t.assignee,
            due=t.due,
            done=t.done,
            overdue=overdue,
        )
        return
    base = prop.base if prop is not None and not adopting else None
    has_base = base is not None
    dirs = policy.directions
    winner = policy.conflict_winner
    conflicts: list[StoredConflict] = []
    # A ticket a person linked by hand is led by Jira unless configured otherwise: the
    # page shows its values, but the page's own changes are not sent (and reported).
    origin = "adopted" if adopting or prop is None else prop.origin
    jira_leads = origin == "adopted" and policy.adopted_tickets == "jira-leads"
    held: list[str] = []  # fields the page changed that Jira, leading, did not take

    def merge(p: Any, j: Any, b_: Any, direction: Direction, what: str) -> _Merge:
        full = _merge(p, j, b_, direction, winner, has_base)
        if not jira_leads:
            return full
        led = _merge(p, j, b_, _jira_led(direction), winner, has_base)
        if full.to_jira and not led.to_jira:
            held.append(what)
        return led

    def record(what: str, p: Any, j: Any, m: _Merge, show: Any = None) -> None:
        _conflict(b, item, t, what, p, j, m, show)
        conflicts.append(
            StoredConflict(
                field=what,
                page=_jsonable(p),
                jira=_jsonable(j),
                kept="jira" if m.value == j else "page",
                left_page=_jsonable(m.value if m.to_page else p),
                left_jira=_jsonable(m.value if m.to_jira else j),
                since=b.today.isoformat(),
            )
        )

    def plain(value: Any) -> str:
        return _display(_jsonable(value))

    def person(value: Any) -> str:
        return b.name(value) if isinstance(value, str) else "nobody"

    if adopting:
        b.note(item.key, "ticket", "linked on the page by hand: adopted (labels, property, link)")
    new_done = t.done

    # summary: page -> Jira only by default; an adopted ticket keeps its own summary.
    p_summary = summary_for(item)
    base_summary = p_summary
    if has_base and base is not None:
        m = _merge(p_summary, t.summary, base.summary, dirs.summary, winner, True)
        kept_own = jira_leads and m.to_jira
        if kept_own:
            m = replace(m, to_jira=False)  # the item's text is the page's own wording
        base_summary = m.value
        b.note(
            item.key,
            "summary",
            f"edited on the page; {t.key}, adopted and led by Jira, keeps its own summary"
            if kept_own
            else _decision("summary", p_summary, t.summary, base.summary, dirs.summary, m, plain),
        )
        if m.to_jira:
            _push(b, item, t, "summary", t.summary, p_summary, "summary edited on the page")
            # The description opens with the item's text: it follows the summary.
            edit = DescriptionEdit(
                old=tuple(dict.fromkeys((t.summary, base.summary))), text=item.text
            )
            b.act(
                Op.UPDATE,
                item.key,
                t.key,
                "the description follows the summary",
                field="description",
                before=t.summary,
                after=item.text,
                data=FieldUpdate(fields={"description": edit}),
            )
        if m.conflict:
            record("summary", p_summary, t.summary, m)
    else:
        b.note(item.key, "summary", "an adopted ticket keeps its own summary")

    # assignee: an owner the page names but no look-up resolves changes nothing
    p_assignee = _effective_assignee(item, owners, policy, base)
    res = _resolution(item, owners, base)
    owner_known = item.owner is None or (res is not None and res.user_id is not None)
    base_assignee = base.assignee if base else t.assignee
    if owner_known or not has_base:
        m = merge(p_assignee, t.assignee, base.assignee if base else None, dirs.assignee, "owner")
        if not owner_known and m.to_jira:
            m = _Merge(False, m.to_page, t.assignee, m.conflict)
        if not owner_known and held and held[-1] == "owner":
            held.pop()  # reported as unknown-owner
        base_assignee = m.value
        b.note(
            item.key,
            "assignee",
            _decision(
                "assignee",
                p_assignee,
                t.assignee,
                base.assignee if base else None,
                dirs.assignee,
                m,
                person,
                has_base,
                held="owner" in held,
            ),
        )
        if m.to_jira:
            _push(b, item, t, "assignee", t.assignee, p_assignee, "owner changed on the page")
        jira_owner = t.assignee_display or t.assignee or "no assignee"
        if m.to_page and t.assignee != p_assignee and _locked(b, item, t, "owner", jira_owner):
            base_assignee = p_assignee  # the page still shows its owner: not synced yet
        elif m.to_page and t.assignee != p_assignee:
            owner = owner_for_user(t.assignee, policy.deployment) if t.assignee else None
            if t.assignee is not None or item.owner is not None:
                b.change(item.key, owner=owner)
                b.act(
                    Op.SHOW,
                    item.key,
                    t.key,
                    "assignee changed in Jira",
                    field="owner",
                    before=item.owner.value if item.owner else None,
                    after=t.assignee,
                )
        if m.conflict:
            record("assignee", p_assignee, t.assignee, m, person)
    else:
        b.note(
            item.key,
            "assignee",
            f"the page's owner {_owner_words(item.owner) if item.owner else ''} matches no "
            f"assignable Jira user: {t.key} keeps {person(t.assignee)}",
        )
    final_assignee = (
        p_assignee
        if any(a.item == item.key and a.field == "assignee" for a in b.actions)
        else t.assignee
    )

    # due date: one the page states unreadably changes nothing on either side
    p_due = _effective_due(item, page, policy)
    jira_due = t.due
    if "due" in item.unreadable:
        base_due = base.due if base else t.due
        kept = t.due.isoformat() if t.due else "no due date"
        sentence = f"{t.key} keeps {kept} until the page states a date that reads one way."
        b.amend(FindingCode.AMBIGUOUS_DUE_DATE, item.key, sentence)
        b.amend(FindingCode.UNPARSEABLE_DUE_DATE, item.key, sentence)
        b.note(item.key, "due", f"the page's date cannot be read: {sentence}")
    else:
        m = merge(p_due, t.due, base.due if base else None, dirs.due, "due date")
        b.note(
            item.key,
            "due",
            _decision(
                "due",
                p_due,
                t.due,
                base.due if base else None,
                dirs.due,
                m,
                plain,
                has_base,
                held="due date" in held,
            ),
        )
        base_due = m.value
        jira_due = p_due if m.to_jira else t.due
        if m.to_jira:
            _push(b, item, t, "duedate", t.due, p_due, "due date changed on the page")
        jira_date = t.due.isoformat() if t.due else "no due date"
        if m.to_page and t.due != item.due and _locked(b, item, t, "due", jira_date):
            base_due = p_due  # the page still shows its date: not synced yet
        elif m.to_page and t.due != item.due:
            b.change(item.key, due=t.due)
            b.act(
                Op.SHOW,
                item.key,
                t.key,
                "due date changed in Jira",
                field="due",
                before=item.due,
                after=t.due,
            )
        if m.conflict:
            record("due date", p_due, t.due, m)

    # done-ness: a status column followup cannot read changes nothing either
    if "done" in item.unreadable:
        base_done = base.done if base else t.done
        b.amend(FindingCode.UNKNOWN_STATUS, item.key, f"{t.key} stays {t.status}.")
        b.note(item.key, "status", f"the page's status cannot be read: {t.key} stays {t.status}")
    else:
        status_dir = dirs.status
        if item.done and not t.done and not policy.close_on_tick:
            # A tick does not close the ticket: the page may not lead on done-ness.
            status_dir = "jira_to_page" if status_dir == "both" else "off"
        m = merge(item.done, t.done, base.done if base else None, status_dir, "tick")
        b.note(
            item.key,
            "status",
            _decision(
                "status",
                item.done,
                t.done,
                base.done if base else None,
                status_dir,
                m,
                _done_words,
                has_base,
                held="tick" in held,
            ),
        )
        base_done = m.value
        if m.to_jira:
            names = policy.done_transitions if item.done else policy.reopen_transitions
            new_done = item.done
            b.act(
                Op.TRANSITION,
                item.key,
                t.key,
                "ticked on the page" if item.done else "unticked on the page",
                field="status",
                before=t.status,
                after="done" if item.done else "reopened",
                data=names,
            )
        if m.to_page and item.done != t.done and _locked(b, item, t, "done", t.status):
            base_done = item.done  # the page still shows its status: not synced yet
        elif m.to_page and item.done != t.done:
            b.change(item.key, done=t.done)
            b.act(
                Op.SHOW,
                item.key,
                t.key,
                f"ticket is {t.status} in Jira",
                field="done",
                before=item.done,
                after=t.done,
            )
        if m.conflict:
            record("status", item.done, t.done, m, _done_words)

    if held:
        b.find(
            FindingCode.ADOPTED_TICKET,
            item.key,
            f"The page's {_and(held)} of “{_short(item.text)}” did not change {t.key}: "
            "followup did not create that ticket, so Jira leads for it "
            '(sync.adopted_tickets = "jira-leads"). Change it in Jira, or let the page '
            'lead with sync.adopted_tickets = "two-way".',
            t.key,
        )

    # conflicts found by earlier runs: reported until a side moves on, or acknowledged
    current = {
        "summary": (p_summary, t.summary),
        "assignee": (p_assignee, t.assignee),
        "due date": (p_due, t.due),
        "status": (item.done, t.done),
    }
    # A field the page states unreadably says nothing about whether anyone acted on
    # its conflict: the conflict is kept as it was, and reported once it reads again.
    unread = {"due date"} if "due" in item.unreadable else set()
    if "done" in item.unreadable:
        unread.add("status")
    found_now = {c.field for c in conflicts}
    for old in prop.conflicts if prop is not None and not adopting else ():
        if old.field in found_now or old.field not in current:
            continue
        if old.field in unread:
            conflicts.append(old)
            continue
        p_now, j_now = (_jsonable(v) for v in current[old.field])
        if p_now == old.left_page and j_now == old.left_jira:
            conflicts.append(old)
            _still_conflict(b, item, t, old)
        else:
            b.note(
                item.key, old.field, f"the conflict of {old.since} is resolved: it changed since"
            )

    # adoption: labels and the property
    shown_owner, shown_known = item.owner, owner_known
    if "owner" in _changed_fields(b, item.key):
        shown = b.changes[item.key].owner
        shown_owner = shown if isinstance(shown, Owner) else None
        shown_known = True  # Jira's own assignee, written as Jira names it
    new_base = SyncBase(
        summary=base_summary if has_base else p_summary,
        assignee=base_assignee,
        due=base_due,
        done=base_done,
        # An owner no look-up could resolve is looked up again next run (and reported),
        # and so is one Jira, leading, did not take: the base keeps the owner whose
        # user it records (so that neither costs a write).
        page_owner=(
            (base.page_owner if base else None)
            if "owner" in held or not shown_known
            else (shown_owner.ref if shown_owner else None)
        ),
    )
    if adopting or labels_missing:
        b.act(
            Op.ADOPT,
            item.key,
            t.key,
            "linked on the page by hand" if adopting else "labels missing",
            before=sorted(t.labels),
            after=sorted({*t.labels, *labels_missing}),
            data=FieldUpdate(add_labels=labels_missing),
        )
        if adopting:
            b.act(
                Op.LINK,
                item.key,
                t.key,
                "link the ticket to its postmortem",
                data=_link_for(page, item.key),
            )
    kept_conflicts = tuple(conflicts)
    old_conflicts = prop.conflicts if prop is not None and not adopting else ()
    if (
        adopting
        or rekeyed
        or prop is None
        or prop.base != new_base
        or old_conflicts != kept_conflicts
    ):
        reason = "record the synced values"
        if kept_conflicts != old_conflicts:
            reason += (
                "; remember the conflict"
                if len(kept_conflicts) > len(old_conflicts)
                else "; forget resolved conflicts"
            )
        b.act(
            Op.SET_PROPERTY,
            item.key,
            t.key,
            reason,
            before=_changed_keys(prop.base.to_json() if prop and prop.base else {}, new_base),
            after=_changed_keys(new_base.to_json(), prop.base if prop else None),
            data=TicketProperty(
                item=item.key,
                page=page.id,
                base=new_base,
                reminders=prop.reminders if prop else {},
                conflicts=kept_conflicts,
                done_before_tracking=prop.done_before_tracking if prop else False,
                origin=origin,
            ),
        )

    # what the page should show
    live = item.ticket_live
    if item.ticket != t.key:
        b.change(item.key, ticket=t.key)
        live = True  # written as our jira macro
        if not adopting:
            # Not on the page yet: the run that created it may have died (or failed)
            # before linking it. The upsert by global id is harmless if it did link.
            b.act(
                Op.LINK,
                item.key,
                t.key,
                "link the ticket to its postmortem",
                data=_link_for(page, item.key),
            )
    resolution = t.resolution if new_done == t.done else None
    category = t.status_category if new_done == t.done else ("done" if new_done else "new")
    badge = badge_for(
        done=new_done,
        resolution=resolution,
        category=category,
        due=jira_due,
        today=b.today,
        live=live,
    )
    if item.badge != badge:
        b.change(item.key, badge=badge)
    overdue = not new_done and jira_due is not None and jira_due < b.today
    b.states.append((new_done, overdue))
    status = t.status if new_done == t.done else ("Done" if new_done else "To Do")
    b.story(
        item,
        t.key,
        match,
        why,
        state=state_for(
            done=new_done, resolution=resolution, status=status, due=jira_due, today=b.today
        ),
        owner=final_assignee,
        due=jira_due,
        done=new_done,
        overdue=overdue,
    )


def _done_words(value: Any) -> str:
    return "nothing" if value is None else ("done" if value else "not done")


def _display(value: Any) -> str:
    return "nothing" if value is None or value == "" else str(value)


_FIELD_NAMES = {"owner": "owner", "due": "due date", "done": "status"}


def _locked(b: _Builder, item: ActionItem, t: Ticket, name: str, jira_value: str) -> bool:
    """Whether the page's value of a field cannot be changed without erasing a person's
    text around it (`ActionItem.locked`); if so, a `cell-not-updated` finding says what
    Jira holds now, and the page is left as it is."""
    if name not in item.locked:
        return False
    what = _FIELD_NAMES[name]
    where = "task" if item.source == "task" else f"{what} cell"
    b.find(
        FindingCode.CELL_NOT_UPDATED,
        item.key,
        f"{t.key} has {what} {jira_value} in Jira, but followup cannot tell the {what} "
        f"from the other text in the {where} of “{_short(item.text)}”, so it left it as "
        f"it is: change the {what} there by hand, keeping your notes.",
    )
    return True


def _jira_led(direction: Direction) -> Direction:
    """`direction` without its page -> Jira half."""
    if direction == "both":
        return "jira_to_page"
    if direction == "page_to_jira":
        return "off"
    return direction


def _and(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _changed_keys(values: Mapping[str, Any], other: SyncBase | None) -> dict[str, Any]:
    """The entries of `values` that differ from `other` (all of them with no other)."""
    theirs = other.to_json() if other is not None else {}
    return {k: v for k, v in values.items() if theirs.get(k) != v} or dict(values)


def _changed_fields(b: _Builder, key: str) -> set[str]:
    change = b.changes.get(key)
    if change is None:
        return set()
    return {
        name
        for name in ("ticket", "badge", "done", "owner", "due")
        if getattr(change, name) is not KEEP
    }


def _conflict(
    b: _Builder,
    item: ActionItem,
    t: Ticket,
    what: str,
    p: Any,
    j: Any,
    m: _Merge,
    show: Any = None,
) -> None:
    shown = show or (lambda v: _display(_jsonable(v)))
    kept = "Jira's" if m.value == j else "the page's"
    b.find(
        FindingCode.CONFLICT,
        item.key,
        f"{what} of “{_short(item.text)}” changed on both sides since the last sync "
        f"(page: {shown(p)}, {t.key}: {shown(j)}); kept {kept} value "
        f"(sync.conflict_winner = {b.policy.conflict_winner}). If the other edit is "
        f"needed, make it again; once checked, `followup resolve {t.key}` clears this.",
        t.key,
    )


def _still_conflict(b: _Builder, item: ActionItem, t: Ticket, c: StoredConflict) -> None:
    """A conflict an earlier run found, nobody has acted on since: reported again."""

    def shown(value: Any) -> str:
        if c.field == "assignee":
            return b.name(value) if isinstance(value, str) else "nobody"
        if c.field == "status":
            return _done_words(value)
        return _display(value)

    kept = "Jira's" if c.kept == "jira" else "the page's"
    b.find(
        FindingCode.CONFLICT,
        item.key,
        f"{c.field} of “{_short(item.text)}” changed on both sides (found {c.since}: page "
        f"{shown(c.page)}, {t.key} {shown(c.jira)}); {kept} value was kept and nobody has "
        f"changed it since. If the other edit is needed, make it again; if the kept value "
        f"is right, run `followup resolve {t.key}`.",
        t.key,
    )
    b.note(item.key, c.field, f"conflict of {c.since} still unresolved")


def _plan_stray(
    b: _Builder, t: Ticket, item_key: str | None, code: FindingCode, policy: OrphanPolicy
) -> None:
    if code is FindingCode.ORPHANED_TICKET:
        msg = (
            f"{t.key} “{_short(t.summary)}” belongs to an action item that is no longer on "
            "the page; close it in Jira, or put the item back."
        )
        note = "The action item this ticket tracked was removed from the postmortem page."
    else:
        msg = f"{t.key} duplicates the ticket of “{_short(t.summary)}”; close the extra one."
        note = "This ticket duplicates another ticket for the same postmortem action item."
    b.find(code, item_key, msg, t.key)
    already = bool(t.prop and t.prop.reminders.get("stray_noted"))
    if policy in ("comment", "close") and not already:
        b.act(Op.COMMENT, item_key, t.key, str(code), after=note, data=note)
        if t.prop is not None:
            b.act(
                Op.SET_PROPERTY,
                item_key,
                t.key,
                "remember the note",
                data=replace(t.prop, reminders={**t.prop.reminders, "stray_noted": True}),
            )
    if policy == "close" and not t.done:
        b.act(
            Op.TRANSITION,
            item_key,
            t.key,
            str(code),
            field="status",
            before=t.status,
            after="done",
            data=b.policy.done_transitions,
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
