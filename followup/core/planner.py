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

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from followup.core.badges import badge_for, state_for, summary_badge
from followup.core.graphemes import clip
from followup.core.identity import how_matched, match_tickets, summary_for
from followup.core.merge import Merge, decision, jira_led, merge_field
from followup.core.model import (
    KEEP,
    ActionItem,
    Badge,
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
    _Keep,
)
from followup.core.plan import (
    Action,
    Comment,
    DescriptionEdit,
    IssueLink,
    ItemStory,
    Match,
    Op,
    OwnerResolution,
    PagePlan,
    PageWrite,
    Payload,
    PropertyWrite,
    RemoteLink,
    Transition,
    jsonable,
)
from followup.core.policy import Direction, OrphanPolicy, Policy, page_label
from followup.core.routing import PriorityChoice, Route
from followup.ports import Deployment, FieldUpdate, NewTicket

__all__ = ["link_title", "owner_for_user", "plan_page"]

_NAMES_THE_POSTMORTEM = re.compile(r"post[-\s]?mortem", re.IGNORECASE)


def owner_for_user(user_id: str, deployment: Deployment) -> Owner:
    """How a Jira user is written on a page: a mention by account id (Cloud) or username."""
    return Owner("account_id" if deployment == "cloud" else "username", user_id)


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

    def act(
        self,
        op: Op,
        item: str | None,
        ticket: str | None,
        reason: str,
        *,
        field: str | None = None,
        before: Any = None,
        after: Any = None,
        data: Payload | None = None,
    ) -> None:
        self.actions.append(
            Action(
                op=op,
                page_id=self.page.id,
                item=item,
                ticket=ticket,
                field=field,
                before=before,
                after=after,
                reason=reason,
                data=data,
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
        self,
        item: ActionItem,
        ticket: str | None,
        match: Match,
        why: str,
        *,
        state: str,
        owner: str | None,
        due: date | None,
        done: bool,
        overdue: bool = False,
    ) -> None:
        self.stories[item.key] = ItemStory(
            item.key,
            ticket,
            match,
            why,
            tuple(self.notes.get(item.key, ())),
            state=state,
            owner=owner,
            due=due,
            done=done,
            overdue=overdue,
        )

    def change(
        self,
        key: str,
        *,
        ticket: str | _Keep = KEEP,
        badge: Badge | _Keep | None = KEEP,
        done: bool | _Keep = KEEP,
        owner: Owner | _Keep | None = KEEP,
        due: date | _Keep | None = KEEP,
    ) -> None:
        """Ask the page write to change these fields of one item (others as asked before)."""
        now = self.changes.get(key, ItemChange())
        self.changes[key] = ItemChange(
            ticket=now.ticket if ticket is KEEP else ticket,
            badge=now.badge if badge is KEEP else badge,
            done=now.done if done is KEEP else done,
            owner=now.owner if owner is KEEP else owner,
            due=now.due if due is KEEP else due,
        )

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
    days = policy.due_days_for(page, item)  # routing hook: by priority, else the default
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
            data=Transition(policy.done_transitions),
        )
        b.act(
            Op.SET_PROPERTY,
            item.key,
            None,
            "record the synced values",
            before={"done": False},
            after={"done": True},
            data=PropertyWrite(replace(new.prop, base=replace(base, done=True))),
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

    def merge(p: Any, j: Any, b_: Any, direction: Direction, what: str) -> Merge:
        full = merge_field(p, j, b_, direction, winner, has_base)
        if not jira_leads:
            return full
        led = merge_field(p, j, b_, jira_led(direction), winner, has_base)
        if full.to_jira and not led.to_jira:
            held.append(what)
        return led

    def record(what: str, p: Any, j: Any, m: Merge, show: Any = None) -> None:
        _conflict(b, item, t, what, p, j, m, show)
        conflicts.append(
            StoredConflict(
                field=what,
                page=jsonable(p),
                jira=jsonable(j),
                kept="jira" if m.value == j else "page",
                left_page=jsonable(m.value if m.to_page else p),
                left_jira=jsonable(m.value if m.to_jira else j),
                since=b.today.isoformat(),
            )
        )

    def plain(value: Any) -> str:
        return _display(jsonable(value))

    def person(value: Any) -> str:
        return b.name(value) if isinstance(value, str) else "nobody"

    if adopting:
        b.note(item.key, "ticket", "linked on the page by hand: adopted (labels, property, link)")
    new_done = t.done

    # summary: page -> Jira only by default; an adopted ticket keeps its own summary.
    p_summary = summary_for(item)
    base_summary = p_summary
    if has_base and base is not None:
        m = merge_field(p_summary, t.summary, base.summary, dirs.summary, winner, True)
        kept_own = jira_leads and m.to_jira
        if kept_own:
            m = replace(m, to_jira=False)  # the item's text is the page's own wording
        base_summary = m.value
        b.note(
            item.key,
            "summary",
            f"edited on the page; {t.key}, adopted and led by Jira, keeps its own summary"
            if kept_own
            else decision("summary", p_summary, t.summary, base.summary, dirs.summary, m, plain),
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
    if "owner" in item.unstated:
        # The table has no owner column: nothing on the page says who owns it.
        base_assignee = t.assignee
        b.note(
            item.key,
            "assignee",
            f"the table has no owner column: {t.key} leads, {person(t.assignee)}",
        )
    elif owner_known or not has_base:
        m = merge(p_assignee, t.assignee, base.assignee if base else None, dirs.assignee, "owner")
        if not owner_known and m.to_jira:
            m = Merge(False, m.to_page, t.assignee, m.conflict)
        if not owner_known and held and held[-1] == "owner":
            held.pop()  # reported as unknown-owner
        base_assignee = m.value
        b.note(
            item.key,
            "assignee",
            decision(
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
    if "due" in item.unstated:
        # The table has no due column: nothing on the page states a date.
        base_due = t.due
        b.note(
            item.key,
            "due",
            f"the table has no due column: {t.key} leads, {plain(t.due)}",
        )
    elif "due" in item.unreadable:
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
            decision(
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
    elif "done" in item.unstated:
        # The row has no place for a status: what it reads as is no one's statement,
        # so it never reopens (or closes) the ticket. Jira leads; the badge shows it.
        base_done = t.done
        b.note(
            item.key,
            "status",
            f"the table has no status column: {t.key} leads, {t.status} (shown by the badge)",
        )
    else:
        status_dir = dirs.status
        if item.done and not t.done and not policy.close_on_tick:
            # A tick does not close the ticket: the page may not lead on done-ness.
            status_dir = "jira_to_page" if status_dir == "both" else "off"
        m = merge(item.done, t.done, base.done if base else None, status_dir, "tick")
        b.note(
            item.key,
            "status",
            decision(
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
                data=Transition(names),
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
        "assignee": (t.assignee if "owner" in item.unstated else p_assignee, t.assignee),
        "due date": (t.due if "due" in item.unstated else p_due, t.due),
        # A page with no place for a status leaves a status conflict nothing to act on.
        "status": (t.done if "done" in item.unstated else item.done, t.done),
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
        p_now, j_now = (jsonable(v) for v in current[old.field])
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
            data=PropertyWrite(
                TicketProperty(
                    item=item.key,
                    page=page.id,
                    base=new_base,
                    reminders=prop.reminders if prop else {},
                    conflicts=kept_conflicts,
                    done_before_tracking=prop.done_before_tracking if prop else False,
                    origin=origin,
                ),
                read=prop,
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
    m: Merge,
    show: Any = None,
) -> None:
    shown = show or (lambda v: _display(jsonable(v)))
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
        b.act(Op.COMMENT, item_key, t.key, str(code), after=note, data=Comment(note))
        if t.prop is not None:
            b.act(
                Op.SET_PROPERTY,
                item_key,
                t.key,
                "remember the note",
                data=PropertyWrite(
                    replace(t.prop, reminders={**t.prop.reminders, "stray_noted": True}),
                    read=t.prop,
                ),
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
            data=Transition(b.policy.done_transitions),
        )
