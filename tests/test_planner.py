"""The planner: every action, finding, merge case and policy, as plain data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from followup.core.badges import DONE, IN_PROGRESS, OVERDUE, TO_DO, badge_for, summary_badge
from followup.core.identity import owners_to_resolve
from followup.core.model import (
    KEEP,
    ActionItem,
    Badge,
    BadgeColour,
    Extraction,
    Finding,
    FindingCode,
    Owner,
    Page,
    StoredConflict,
    SyncBase,
    Ticket,
    TicketProperty,
    TicketSite,
)
from followup.core.plan import (
    DescriptionEdit,
    Op,
    OwnerResolution,
    PagePlan,
    PageWrite,
    Transition,
    edit_description,
)
from followup.core.planner import link_title, plan_page
from followup.core.policy import Directions, Policy, Scope

TODAY = date(2026, 11, 26)
PAGE = Page(
    id="98000001",
    title="Checkout outage",
    space_key="SRE",
    version=7,
    body="<p/>",
    url="https://example.atlassian.net/wiki/spaces/SRE/pages/98000001",
    created=datetime(2026, 11, 1, tzinfo=UTC),
)
ALICE = Owner("account_id", "acc-alice")
BOB = Owner("account_id", "acc-bob")
OWNERS = {
    ALICE: OwnerResolution("acc-alice"),
    BOB: OwnerResolution("acc-bob"),
}


def item(n: int = 1, **kw: Any) -> ActionItem:
    fields: dict[str, Any] = {
        "key": f"{PAGE.id}:task:{n}",
        "page_id": PAGE.id,
        "text": f"Add alert number {n}",
        "owner": ALICE,
        "due": date(2026, 12, 15),
        "done": False,
        "ticket": None,
        "source": "task",
    }
    fields.update(kw)
    return ActionItem(**fields)


def synced(it: ActionItem, key: str = "OPS-1", **kw: Any) -> tuple[ActionItem, Ticket]:
    """An item and its ticket as a previous successful sync left them."""
    base = SyncBase(
        summary=it.text,
        assignee="acc-alice" if it.owner == ALICE else ("acc-bob" if it.owner == BOB else None),
        due=it.due,
        done=it.done,
        page_owner=it.owner.ref if it.owner else None,
    )
    done = it.done
    ticket = Ticket(
        key=key,
        id="10001",
        summary=it.text,
        assignee=base.assignee,
        due=it.due,
        status="Done" if done else "To Do",
        status_category="done" if done else "new",
        resolution="Done" if done else None,
        labels=("followup", f"followup-{PAGE.id}"),
        prop=TicketProperty(item=it.key, page=PAGE.id, base=base),
    )
    ticket = replace(ticket, **kw)
    badge = badge_for(
        done=ticket.done,
        resolution=ticket.resolution,
        category=ticket.status_category,
        due=ticket.due,
        today=TODAY,
    )
    return replace(it, ticket=key, badge=badge), ticket


def plan(
    items: list[ActionItem],
    tickets: list[Ticket] | None = None,
    *,
    policy: Policy | None = None,
    linked: dict[str, Ticket] | None = None,
    owners: dict[Owner, OwnerResolution] | None = None,
    findings: tuple[Finding, ...] = (),
    summary: Badge | None = None,
) -> PagePlan:
    ext = Extraction(PAGE.id, tuple(items), findings, summary_badge=summary)
    if summary is None and items:
        # the page already shows the summary the planner would compute, unless a test
        # says otherwise
        ext = replace(ext, summary_badge=_expected_summary(items, tickets or []))
    return plan_page(
        PAGE,
        ext,
        tickets or [],
        linked=linked or {},
        owners=OWNERS if owners is None else owners,
        today=TODAY,
        policy=policy or Policy(),
    )


def _expected_summary(items: list[ActionItem], tickets: list[Ticket]) -> Badge | None:
    states = []
    for it in items:
        overdue = it.badge == OVERDUE
        states.append(
            (it.badge is not None and it.badge not in (TO_DO, IN_PROGRESS, OVERDUE), overdue)
        )
    return summary_badge(states)


def ops(p: PagePlan) -> list[str]:
    return [str(a.op) for a in p.actions]


def write_of(p: PagePlan) -> PageWrite:
    [w] = [a.data for a in p.actions if a.op is Op.WRITE_PAGE]
    assert isinstance(w, PageWrite)
    return w


def codes(p: PagePlan) -> list[str]:
    return [str(f.code) for f in p.findings]


# -- creating --------------------------------------------------------------------


def test_new_item_gets_one_ticket_with_owner_due_labels_property_and_link() -> None:
    """An item without a ticket is created with everything the ticket must carry."""
    p = plan([item()], summary=Badge("x", BadgeColour.GREY))
    assert ops(p) == ["create", "link", "write-page"]
    new = p.actions[0].data
    assert new.summary == "Add alert number 1"
    assert new.assignee == "acc-alice"
    assert new.due == date(2026, 12, 15)
    assert new.labels == ("followup", "followup-98000001")
    assert new.prop.item == "98000001:task:1"
    assert new.prop.page == PAGE.id
    assert new.prop.base == SyncBase(
        "Add alert number 1", "acc-alice", date(2026, 12, 15), False, ALICE.ref
    )
    assert PAGE.url in new.description
    assert PAGE.title in new.description
    assert p.actions[1].data.global_id == "followup:98000001:task:1"
    w = write_of(p)
    assert w.new_ticket_items == ("98000001:task:1",)
    # written as our jira macro, whose live lozenge says TO DO: no badge repeats it
    assert w.changes["98000001:task:1"].badge is None
    assert w.summary == Badge("FOLLOW-UP 0/1 DONE", BadgeColour.YELLOW)
    assert p.actions[1].data.title == f"Postmortem: {PAGE.title}"


def test_new_item_past_due_shows_overdue() -> None:
    """A new item whose due date has passed gets a red OVERDUE badge."""
    p = plan([item(due=date(2026, 11, 1))])
    assert write_of(p).changes["98000001:task:1"].badge == OVERDUE
    assert write_of(p).summary is not None
    assert write_of(p).summary.colour is BadgeColour.RED


def test_summary_is_cut_to_255_characters() -> None:
    """Jira's summary limit is respected for long item text."""
    p = plan([item(text="x" * 400)])
    assert len(p.actions[0].data.summary) == 255


def test_ticked_new_item_is_created_and_closed() -> None:
    """An item ticked before it had a ticket gets a ticket that is then closed; the
    sync base says done only once the transition went through (a property set after
    it), so a failed transition is pushed again instead of unticking the page."""
    p = plan([item(done=True)])
    assert ops(p) == ["create", "link", "transition", "set-property", "write-page"]
    assert p.actions[0].data.prop.base.done is False
    assert p.actions[3].data.prop.base.done is True
    # the jira macro shows DONE live; the property says it was done before tracking
    assert write_of(p).changes["98000001:task:1"].badge is None
    assert p.actions[0].data.prop.done_before_tracking is True
    assert p.actions[3].data.prop.done_before_tracking is True
    assert p.stories["98000001:task:1"].state == "Done"


def test_priority_column_and_default_priority() -> None:
    """A priority on the row wins; otherwise the configured default is used."""
    with_row = plan([item(priority="High")], policy=Policy(default_priority="Medium"))
    without = plan([item()], policy=Policy(default_priority="Medium"))
    assert with_row.actions[0].data.priority == "High"
    assert without.actions[0].data.priority == "Medium"


def test_default_due_days_fills_missing_date_on_ticket_and_page() -> None:
    """With sync.default_due_days, an undated item is due N days after the postmortem."""
    p = plan([item(due=None)], policy=Policy(default_due_days=30))
    assert p.actions[0].data.due == date(2026, 12, 1)
    assert write_of(p).changes["98000001:task:1"].due == date(2026, 12, 1)


def test_extra_labels_are_added() -> None:
    """Configured extra labels go on created tickets."""
    p = plan([item()], policy=Policy(extra_labels=("postmortem-action",)))
    assert "postmortem-action" in p.actions[0].data.labels


# -- steady state -----------------------------------------------------------------


@pytest.mark.parametrize(
    "it",
    [
        item(),
        item(done=True),
        item(due=None),
        item(owner=None),
        item(due=date(2026, 1, 1)),
    ],
)
def test_synced_item_needs_nothing(it: ActionItem) -> None:
    """An item whose page and ticket match the sync base plans zero actions."""
    shown, ticket = synced(it)
    assert plan([shown], [ticket]).actions == ()


def test_owner_unchanged_since_last_sync_needs_no_lookup() -> None:
    """Only new or changed owners are looked up; unchanged ones come from the base."""
    shown, ticket = synced(item(owner=Owner("name", "Priya Natarajan")), assignee="acc-priya")
    ticket = replace(
        ticket,
        prop=replace(
            ticket.prop,
            base=SyncBase(
                "Add alert number 1", "acc-priya", date(2026, 12, 15), False, "name:Priya Natarajan"
            ),
        ),
    )
    ext = Extraction(PAGE.id, (shown,), ())
    assert owners_to_resolve(ext, [ticket], {}) == set()
    assert plan([shown], [ticket], owners={}).actions == ()
    changed = replace(shown, owner=Owner("name", "Sam Lee"))
    assert owners_to_resolve(Extraction(PAGE.id, (changed,), ()), [ticket], {}) == {
        Owner("name", "Sam Lee")
    }


# -- two-way merge ----------------------------------------------------------------


def test_due_changed_on_page_goes_to_jira() -> None:
    """A due date edited on the page is pushed to the ticket and the base updated."""
    shown, ticket = synced(item())
    p = plan([replace(shown, due=date(2027, 1, 10))], [ticket])
    assert ops(p) == ["update", "set-property"]
    assert p.actions[0].data.fields == {"duedate": date(2027, 1, 10)}
    assert p.actions[1].data.prop.base.due == date(2027, 1, 10)


def test_due_changed_in_jira_comes_to_the_page() -> None:
    """A due date changed in Jira is written onto the page."""
    shown, ticket = synced(item())
    p = plan([shown], [replace(ticket, due=date(2027, 2, 1))])
    assert ops(p) == ["show", "set-property", "write-page"]
    assert write_of(p).changes[shown.key].due == date(2027, 2, 1)


def test_assignee_changed_on_page_goes_to_jira() -> None:
    """A new owner mentioned on the page becomes the ticket's assignee."""
    shown, ticket = synced(item())
    p = plan([replace(shown, owner=BOB)], [ticket])
    assert p.actions[0].op is Op.UPDATE
    assert p.actions[0].data.fields == {"assignee": "acc-bob"}


def test_assignee_changed_in_jira_comes_to_the_page() -> None:
    """A reassignment in Jira replaces the mention on the page."""
    shown, ticket = synced(item())
    p = plan([shown], [replace(ticket, assignee="acc-bob")])
    assert write_of(p).changes[shown.key].owner == BOB


def test_datacenter_assignee_is_written_as_username_mention() -> None:
    """On Data Center the page mention names the Jira username."""
    shown, ticket = synced(item())
    p = plan([shown], [replace(ticket, assignee="bob")], policy=Policy(deployment="datacenter"))
    assert write_of(p).changes[shown.key].owner == Owner("username", "bob")


@pytest.mark.parametrize(
    ("winner", "expect_ops", "page_due"),
    [
        ("jira", ["show", "set-property", "write-page"], date(2027, 3, 1)),
        ("page", ["update", "set-property"], None),
    ],
)
def test_both_sides_changed_is_a_conflict_resolved_by_policy(
    winner: str, expect_ops: list[str], page_due: date | None
) -> None:
    """Both sides edited the same field: reported, and the configured side wins."""
    shown, ticket = synced(item())
    p = plan(
        [replace(shown, due=date(2027, 2, 1))],
        [replace(ticket, due=date(2027, 3, 1))],
        policy=Policy(conflict_winner=winner),
    )
    assert "conflict" in codes(p)
    assert ops(p) == expect_ops
    if page_due:
        assert write_of(p).changes[shown.key].due == page_due
    else:
        assert p.actions[0].data.fields == {"duedate": date(2027, 2, 1)}


def test_summary_flows_page_to_jira_only() -> None:
    """Page text edits update the summary; a Jira summary edit is kept, not copied back."""
    shown, ticket = synced(item())
    p = plan([replace(shown, text="Add alert on lag")], [ticket])
    assert p.actions[0].data.fields == {"summary": "Add alert on lag"}
    kept = plan([shown], [replace(ticket, summary="Better words")])
    assert kept.actions == ()


def test_direction_off_ignores_the_field() -> None:
    """A field whose direction is off is never synced."""
    shown, ticket = synced(item())
    p = plan(
        [replace(shown, due=date(2027, 1, 10))],
        [ticket],
        policy=Policy(directions=Directions(due="off")),
    )
    assert p.actions == ()


def test_jira_only_direction_does_not_undo_a_jira_edit_next_run() -> None:
    """With due page->jira only, a Jira edit is left alone and stays stable."""
    shown, ticket = synced(item())
    pol = Policy(directions=Directions(due="page_to_jira"))
    moved = replace(ticket, due=date(2027, 3, 1))
    assert plan([shown], [moved], policy=pol).actions == ()


# -- status -----------------------------------------------------------------------


def test_done_in_jira_ticks_the_task_and_turns_the_badge_green() -> None:
    """A ticket moved to Done ticks its task and shows DONE."""
    shown, ticket = synced(item())
    done = replace(ticket, status="Done", status_category="done", resolution="Done")
    p = plan([shown], [done])
    change = write_of(p).changes[shown.key]
    assert change.done is True
    assert change.badge == DONE


def test_wont_do_resolution_shows_grey_badge() -> None:
    """A ticket closed as Won't Do shows that resolution in grey."""
    shown, ticket = synced(item())
    closed = replace(ticket, status="Done", status_category="done", resolution="Won't Do")
    assert write_of(plan([shown], [closed])).changes[shown.key].badge == Badge(
        "WON'T DO", BadgeColour.GREY
    )


def test_in_progress_badge_is_blue() -> None:
    """A ticket in progress shows a blue IN PROGRESS badge."""
    shown, ticket = synced(item())
    started = replace(ticket, status="In Progress", status_category="indeterminate")
    assert write_of(plan([shown], [started])).changes[shown.key].badge == IN_PROGRESS


def test_ticked_on_page_transitions_ticket_to_done() -> None:
    """Ticking the task closes the ticket through the configured transition."""
    shown, ticket = synced(item())
    p = plan([replace(shown, done=True)], [ticket])
    tr = [a for a in p.actions if a.op is Op.TRANSITION]
    assert tr
    assert tr[0].data == Transition(("Done",))
    assert write_of(p).changes[shown.key].badge == DONE


def test_unticked_on_page_reopens_ticket() -> None:
    """Unticking a done task reopens its ticket."""
    shown, ticket = synced(item(done=True))
    p = plan([replace(shown, done=False)], [ticket])
    tr = [a for a in p.actions if a.op is Op.TRANSITION]
    assert tr
    assert "To Do" in tr[0].data.names


def _row_without_status(**kw: Any) -> ActionItem:
    """A table row whose table has no status column: it reads as not done, which no
    one wrote."""
    return item(source="table", unstated=frozenset({"done"}), **kw)


@pytest.mark.parametrize("base_done", [False, True])
def test_a_row_without_a_status_column_never_moves_the_tickets_status(base_done: bool) -> None:
    """Closed (or reopened) in Jira, the ticket of a status-less row stays as Jira has
    it, whatever the sync base recorded: no transition, and the base follows Jira, so
    the next run is quiet. The badge shows the status."""
    shown, ticket = synced(_row_without_status(done=base_done))
    shown = replace(shown, done=False)  # all the row can read as
    for closed in (True, False):
        now = replace(
            ticket,
            status="Done" if closed else "To Do",
            status_category="done" if closed else "new",
            resolution="Done" if closed else None,
        )
        p = plan([shown], [now], summary=Badge("x", BadgeColour.GREY))
        assert not [a for a in p.actions if a.op is Op.TRANSITION]
        change = write_of(p).changes.get(shown.key)
        assert change is None or change.done is KEEP
        if change is not None and change.badge is not KEEP:
            assert change.badge == (DONE if closed else TO_DO)
        props = [a.data for a in p.actions if a.op is Op.SET_PROPERTY]
        if closed != base_done:
            [written] = props
            assert written.prop.base.done is closed
        else:
            assert props == []


@pytest.mark.parametrize("field", ["owner", "due"])
def test_a_row_without_an_owner_or_due_column_never_clears_jiras_value(field: str) -> None:
    """A table without an owner (due) column states no owner (date): a ticket
    reassigned (re-dated) in Jira keeps it, the run after as well, and the base
    follows Jira; the page's default due date is never pushed over Jira's either."""
    shown, ticket = synced(item(source="table"))
    if field == "owner":
        page_now = replace(shown, owner=None, unstated=frozenset({"owner"}))
        moved = replace(ticket, assignee="acc-bob")
    else:
        page_now = replace(shown, due=None, unstated=frozenset({"due"}))
        moved = replace(ticket, due=date(2027, 2, 1))
    policy = Policy(default_due_days=30)
    p = plan([page_now], [moved], policy=policy, summary=Badge("x", BadgeColour.GREY))
    assert not [a for a in p.actions if a.op in (Op.UPDATE, Op.TRANSITION)]
    [written] = [a.data for a in p.actions if a.op is Op.SET_PROPERTY]
    base = written.prop.base
    assert (base.assignee if field == "owner" else base.due) == (
        "acc-bob" if field == "owner" else date(2027, 2, 1)
    )
    after = replace(moved, prop=written.prop)
    p = plan([page_now], [after], policy=policy, summary=Badge("x", BadgeColour.GREY))
    assert not [a for a in p.actions if a.op in (Op.UPDATE, Op.TRANSITION, Op.SET_PROPERTY)]


def test_a_row_with_a_status_cell_set_to_open_reopens_its_ticket() -> None:
    """A status column is a person's statement: "To do" written over "Done" reopens."""
    shown, ticket = synced(item(source="table", done=True))
    p = plan([replace(shown, done=False)], [ticket])
    assert [a.reason for a in p.actions if a.op is Op.TRANSITION] == ["unticked on the page"]


def test_close_on_tick_off_leaves_ticket_open_and_stays_stable() -> None:
    """With sync.close_on_tick off, a tick never closes the ticket, run after run."""
    shown, ticket = synced(item())
    pol = Policy(close_on_tick=False)
    p = plan([replace(shown, done=True)], [ticket], policy=pol)
    assert not [a for a in p.actions if a.op is Op.TRANSITION]


def test_overdue_open_ticket_shows_red() -> None:
    """An open ticket past its due date shows OVERDUE."""
    shown, ticket = synced(item(due=date(2026, 11, 20)))
    assert shown.badge == OVERDUE
    assert plan([shown], [ticket]).actions == ()
    was_fine = replace(shown, badge=TO_DO)
    assert write_of(plan([was_fine], [ticket])).changes[shown.key].badge == OVERDUE


# -- identity ---------------------------------------------------------------------


def test_hand_linked_ticket_is_adopted_not_duplicated() -> None:
    """A key a person wrote on the page is adopted: labels, property, link; no create."""
    it = item(ticket="OPS-9")
    theirs = Ticket(
        key="OPS-9",
        id="1",
        summary="Their words",
        assignee="acc-alice",
        due=None,
        status="To Do",
        status_category="new",
    )
    p = plan([it], linked={"OPS-9": theirs})
    assert "create" not in ops(p)
    assert {"adopt", "link", "set-property"} <= set(ops(p))
    adopt = next(a for a in p.actions if a.op is Op.ADOPT)
    assert adopt.data.add_labels == ("followup", "followup-98000001")


def test_adopt_off_leaves_hand_linked_ticket_alone() -> None:
    """With sync.adopt off a hand-linked ticket is reported, not touched."""
    theirs = Ticket("OPS-9", "1", "x", None, None, "To Do", "new")
    p = plan([item(ticket="OPS-9")], linked={"OPS-9": theirs}, policy=Policy(adopt=False))
    assert "adopt" not in ops(p)
    assert "create" not in ops(p)
    assert "unknown-ticket" in codes(p)


def test_unknown_key_on_page_is_reported_and_not_created() -> None:
    """A key that does not exist in Jira is a finding; no ticket is invented for it."""
    p = plan([item(ticket="OPS-404")])
    assert "create" not in ops(p)
    assert "unknown-ticket" in codes(p)


def test_renumbered_task_keeps_its_ticket() -> None:
    """A task whose id changed is matched by its synced summary, not given a new ticket."""
    shown, ticket = synced(item(1))
    renumbered = replace(shown, key=f"{PAGE.id}:task:7", ticket=None)
    p = plan([renumbered], [ticket])
    assert "create" not in ops(p)
    prop = next(a for a in p.actions if a.op is Op.SET_PROPERTY)
    assert prop.data.prop.item == f"{PAGE.id}:task:7"
    assert write_of(p).changes[renumbered.key].ticket == "OPS-1"


def test_key_on_page_wins_over_property() -> None:
    """Once the page shows a key, that key is the item's identity even if text changes."""
    shown, ticket = synced(item())
    edited = replace(shown, key=f"{PAGE.id}:row:abcdefabcdef", text="Reworded")
    p = plan([edited], [ticket])
    assert "create" not in ops(p)


def test_orphaned_ticket_is_reported_and_policy_applied() -> None:
    """A ticket whose item left the page is reported; comment/close on request."""
    _, ticket = synced(item(5), key="OPS-5")
    p = plan([], [ticket])
    assert "orphaned-ticket" in codes(p)
    assert ops(p) == []
    commented = plan([], [ticket], policy=Policy(orphans="comment"))
    assert ops(commented) == ["comment", "set-property"]
    closed = plan([], [ticket], policy=Policy(orphans="close"))
    assert "transition" in ops(closed)


def test_orphan_comment_is_made_once() -> None:
    """The orphan note is not repeated on every run."""
    _, ticket = synced(item(5), key="OPS-5")
    noted = replace(ticket, prop=replace(ticket.prop, reminders={"stray_noted": True}))
    assert ops(plan([], [noted], policy=Policy(orphans="comment"))) == []


def test_duplicate_tickets_for_one_item_are_reported() -> None:
    """Two tickets claiming one item: the older is kept, the other reported."""
    shown, first = synced(item(), key="OPS-1")
    _, second = synced(item(), key="OPS-2")
    p = plan([shown], [second, first])
    dup = [f for f in p.findings if f.code is FindingCode.DUPLICATE_TICKET]
    assert len(dup) == 1
    assert "OPS-2" in dup[0].message
    assert "create" not in ops(p)


def test_unparseable_page_touches_nothing() -> None:
    """When a page cannot be read, none of its tickets is treated as an orphan."""
    _, ticket = synced(item())
    bad = Finding(FindingCode.UNPARSEABLE_PAGE, PAGE.id, None, "cannot parse")
    p = plan([], [ticket], findings=(bad,))
    assert p.actions == ()
    assert codes(p) == ["unparseable-page"]


def test_page_without_items_is_reported_once() -> None:
    """A postmortem with no action items gets exactly one no-action-items finding."""
    assert codes(plan([])) == ["no-action-items"]


# -- owners -----------------------------------------------------------------------


def test_unknown_owner_is_reported_and_fallback_assigned() -> None:
    """An owner with no Jira account: a finding, and the fallback assignee."""
    ghost = Owner("name", "Nobody Here")
    p = plan(
        [item(owner=ghost)],
        owners={ghost: OwnerResolution(None)},
        policy=Policy(fallback_assignee="acc-lead"),
    )
    assert "unknown-owner" in codes(p)
    assert p.actions[0].data.assignee == "acc-lead"
    assert p.actions[0].data.prop.base.page_owner is None  # looked up again next run


def test_missing_owner_gets_fallback_and_stays_stable() -> None:
    """An item without owner is assigned the fallback, and the next run changes nothing."""
    pol = Policy(fallback_assignee="acc-lead")
    first = plan([item(owner=None)], policy=pol)
    assert first.actions[0].data.assignee == "acc-lead"
    shown, ticket = synced(item(owner=None), assignee="acc-lead")
    ticket = replace(
        ticket, prop=replace(ticket.prop, base=replace(ticket.prop.base, assignee="acc-lead"))
    )  # type: ignore[arg-type,union-attr]
    assert plan([shown], [ticket], policy=pol).actions == ()


# -- the page write ---------------------------------------------------------------


def test_summary_badge_counts_done_items() -> None:
    """The summary badge counts done items; green when all are done."""
    assert summary_badge([(True, False), (False, False)]) == Badge(
        "FOLLOW-UP 1/2 DONE", BadgeColour.YELLOW
    )
    assert summary_badge([(True, False)]).colour is BadgeColour.GREEN
    assert summary_badge([(False, True), (True, False)]).colour is BadgeColour.RED
    assert summary_badge([]) is None


def test_stale_summary_badge_alone_rewrites_the_page() -> None:
    """A summary badge that no longer matches is the only reason needed for a write."""
    shown, ticket = synced(item())
    p = plan([shown], [ticket], summary=Badge("FOLLOW-UP 5/9 DONE", BadgeColour.RED))
    assert ops(p) == ["write-page"]
    assert write_of(p).summary == Badge("FOLLOW-UP 0/1 DONE", BadgeColour.YELLOW)


def test_plan_is_deterministic() -> None:
    """The same inputs give the same plan."""
    a = plan([item(1), item(2, owner=None)])
    b = plan([item(1), item(2, owner=None)])
    assert a == b


def test_actions_serialise_for_reports() -> None:
    """Every action renders to JSON with op, item, before, after and reason."""
    shown, ticket = synced(item())
    p = plan([replace(shown, due=date(2027, 1, 10))], [ticket])
    data = p.actions[0].to_json()
    assert data["op"] == "update"
    assert data["after"] == "2027-01-10"
    assert data["before"] == "2026-12-15"
    assert data["reason"]


def test_ticket_of_another_postmortem_is_shown_not_taken_over() -> None:
    """A key that tracks another page's item is shown with its badge and never adopted,
    so two pages cannot pull one ticket back and forth run after run."""
    _, theirs = synced(item(), key="OPS-7")
    theirs = replace(theirs, prop=replace(theirs.prop, page="98000999"))
    p = plan([item(ticket="OPS-7")], linked={"OPS-7": theirs}, summary=Badge("x", BadgeColour.GREY))
    assert [str(a.op) for a in p.actions] == ["write-page"]
    assert "shared-ticket" in codes(p)
    assert write_of(p).changes[f"{PAGE.id}:task:1"].badge == TO_DO
    shown = item(ticket="OPS-7", badge=TO_DO)
    assert plan([shown], linked={"OPS-7": theirs}).actions == ()


# -- one status per item ------------------------------------------------------------

WONT_DO = Badge("WON'T DO", BadgeColour.GREY)


@pytest.mark.parametrize(
    ("done", "resolution", "category", "due", "live", "badge"),
    [
        # a jira macro (or smart link) shows the status live: the badge adds only
        # what it cannot say
        (False, None, "new", date(2026, 12, 31), True, None),
        (False, None, "indeterminate", date(2026, 12, 31), True, None),
        (True, "Done", "done", date(2026, 12, 31), True, None),
        (True, "Fixed", "done", date(2026, 11, 1), True, None),
        (False, None, "new", date(2026, 11, 1), True, OVERDUE),
        (False, None, "indeterminate", date(2026, 11, 1), True, OVERDUE),
        (True, "Won't Do", "done", date(2026, 12, 31), True, WONT_DO),
        # a plain link or a typed key shows only the key: the badge is the state
        (False, None, "new", None, False, TO_DO),
        (False, None, "indeterminate", None, False, IN_PROGRESS),
        (True, "Done", "done", None, False, DONE),
        (False, None, "new", date(2026, 11, 1), False, OVERDUE),
        (True, "Won't Do", "done", None, False, WONT_DO),
    ],
)
def test_badge_says_the_state_once(
    done: bool,
    resolution: str | None,
    category: str,
    due: date | None,
    live: bool,
    badge: Badge | None,
) -> None:
    """Next to a reference that shows the live status, the badge is only OVERDUE or a
    resolution that is not done; next to a plain reference it is the whole state."""
    got = badge_for(
        done=done, resolution=resolution, category=category, due=due, today=TODAY, live=live
    )
    assert got == badge


def test_a_badge_repeating_the_live_status_is_removed() -> None:
    """A page written by an older version (TO DO badge after a jira macro) loses the
    repeated badge; an overdue one keeps OVERDUE."""
    shown, ticket = synced(item())
    live = replace(shown, ticket_live=True)  # badge TO DO, as the old version wrote it
    assert write_of(plan([live], [ticket])).changes[shown.key].badge is None
    steady = replace(live, badge=None)
    assert plan([steady], [ticket]).actions == ()
    late_item, late_ticket = synced(item(due=date(2026, 11, 20)))
    late = replace(late_item, ticket_live=True)
    assert late.badge == OVERDUE
    assert plan([late], [late_ticket]).actions == ()


def test_stale_summary_copies_make_the_page_write_once() -> None:
    """A summary lozenge under a second heading (older versions wrote one per
    section) is reason enough for one write, which keeps only the first."""
    shown, ticket = synced(item())
    ext = Extraction(PAGE.id, (shown,), (), summary_badge=_expected_summary([shown], [ticket]))
    assert (
        plan_page(
            PAGE, ext, [ticket], linked={}, owners=OWNERS, today=TODAY, policy=Policy()
        ).actions
        == ()
    )
    with_copy = replace(ext, extra_summaries=1)
    p = plan_page(PAGE, with_copy, [ticket], linked={}, owners=OWNERS, today=TODAY, policy=Policy())
    assert ops(p) == ["write-page"]


# -- names ----------------------------------------------------------------------------


def test_plan_names_the_people_it_mentions() -> None:
    """The plan carries display names from the owner look-ups and the search's
    assignees; a conflict on the assignee names people, not account ids."""
    shown, ticket = synced(item())
    ticket = replace(ticket, assignee="acc-carol", assignee_display="Carol Jones")
    moved = replace(shown, owner=BOB)
    owners = {
        ALICE: OwnerResolution("acc-alice", "Alice Owner"),
        BOB: OwnerResolution("acc-bob", "Bob Builder"),
    }
    p = plan([moved], [ticket], owners=owners)
    assert p.people == {
        "acc-alice": "Alice Owner",
        "acc-bob": "Bob Builder",
        "acc-carol": "Carol Jones",
    }
    [conflict] = [f for f in p.findings if f.code is FindingCode.CONFLICT]
    assert "Bob Builder" in conflict.message
    assert "Carol Jones" in conflict.message
    assert "acc-" not in conflict.message
    assert conflict.ticket == "OPS-1"


# -- why: the stories -------------------------------------------------------------------


def test_stories_say_how_each_ticket_was_found() -> None:
    """Each item's story names the rule that matched its ticket: the key on the page,
    the property, the synced text, or none (created)."""
    by_key, t1 = synced(item(1), "OPS-1")
    by_prop, t2 = synced(item(2), "OPS-2")
    by_prop = replace(by_prop, ticket=None, badge=None)
    renumbered, t3 = synced(item(3), "OPS-3")
    renumbered = replace(renumbered, key=f"{PAGE.id}:task:30", ticket=None, badge=None)
    new = item(4)
    p = plan([by_key, by_prop, renumbered, new], [t1, t2, t3])
    how = {k.rsplit(":", 1)[1]: (s.match, s.ticket) for k, s in p.stories.items()}
    assert how == {
        "1": ("page", "OPS-1"),
        "2": ("property", "OPS-2"),
        "30": ("text", "OPS-3"),
        "4": ("new", None),
    }
    assert "OPS-2's followup property names this item" in p.stories[by_prop.key].why


def test_stories_say_why_each_field_was_synced_or_left() -> None:
    """Field by field, the story says what was decided and why."""
    shown, ticket = synced(item())
    p = plan(
        [replace(shown, due=date(2027, 1, 10))],
        [replace(ticket, summary="Better words")],
        policy=Policy(directions=Directions(assignee="off")),
    )
    notes = dict(p.stories[shown.key].notes)
    assert notes["due"] == "changed on the page (2026-12-15 → 2027-01-10): sent to Jira"
    assert notes["assignee"] == "not synced (sync.directions.assignee = off)"
    assert notes["summary"].startswith("changed in Jira to Better words, but it flows page_to_jira")
    assert notes["status"] == "in step: not done on both sides"
    assert p.stories[shown.key].due == date(2027, 1, 10)


# -- conflicts are remembered ---------------------------------------------------------------


def _conflicted() -> tuple[ActionItem, Ticket, PagePlan]:
    """A due date changed on both sides; Jira wins (the default)."""
    shown, ticket = synced(item())
    page_item = replace(shown, due=date(2027, 2, 1))
    jira = replace(ticket, due=date(2027, 3, 1))
    return page_item, jira, plan([page_item], [jira])


def test_a_conflict_is_stored_in_the_property() -> None:
    """The conflict goes into the ticket's property with both values and the date."""
    _, _, p = _conflicted()
    [prop_action] = [a for a in p.actions if a.op is Op.SET_PROPERTY]
    assert prop_action.data.prop.conflicts == (
        StoredConflict(
            field="due date",
            page="2027-02-01",
            jira="2027-03-01",
            kept="jira",
            left_page="2027-03-01",
            left_jira="2027-03-01",
            since="2026-11-26",
        ),
    )
    assert "remember the conflict" in prop_action.reason


def test_a_stored_conflict_is_reported_until_a_side_moves() -> None:
    """The next run (page and Jira as the conflict left them) reports the conflict
    again without writing anything; once someone edits the field, it is resolved and
    forgotten in the property."""
    page_item, jira, first = _conflicted()
    [prop_action] = [a for a in first.actions if a.op is Op.SET_PROPERTY]
    after = replace(jira, prop=prop_action.data.prop)
    settled = replace(page_item, due=date(2027, 3, 1))
    again = plan([settled], [after])
    assert again.actions == ()
    [finding] = [f for f in again.findings if f.code is FindingCode.CONFLICT]
    assert "found 2026-11-26" in finding.message
    assert "followup resolve OPS-1" in finding.message
    assert finding.ticket == "OPS-1"
    redone = plan([replace(settled, due=date(2027, 2, 1))], [after])
    assert "conflict" not in codes(redone)
    [forget] = [a for a in redone.actions if a.op is Op.SET_PROPERTY]
    assert forget.data.prop.conflicts == ()
    assert forget.data.prop.base.due == date(2027, 2, 1)


# -- tickets people open ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "link"),
    [
        ("Checkout outage", "Postmortem: Checkout outage"),
        ("Postmortem: checkout Redis eviction storm", "Postmortem: checkout Redis eviction storm"),
        ("Postmortem — duplicate refunds", "Postmortem — duplicate refunds"),
        ("2026-10 payments post-mortem", "2026-10 payments post-mortem"),
        ("Incident review: INC-2291", "Postmortem: Incident review: INC-2291"),
    ],
)
def test_link_title_names_the_postmortem_once(title: str, link: str) -> None:
    """The remote link says "Postmortem" once, whether or not the title does."""
    assert link_title(title) == link


def test_description_follows_the_summary() -> None:
    """An item's new text goes to the summary and to the description's first
    paragraph; the rest of the description is kept, and a first paragraph a person
    rewrote is left alone."""
    shown, ticket = synced(item())
    p = plan([replace(shown, text="Alert on replica lag over 30 s")], [ticket])
    assert [(a.op, a.field) for a in p.actions[:2]] == [
        (Op.UPDATE, "summary"),
        (Op.UPDATE, "description"),
    ]
    edit = p.actions[1].data.fields["description"]
    assert edit == DescriptionEdit(
        old=("Add alert number 1",), text="Alert on replica lag over 30 s"
    )
    written = "Add alert number 1\n\nAction item from the postmortem.\nNotes from Jira."
    assert edit_description(written, edit) == (
        "Alert on replica lag over 30 s\n\nAction item from the postmortem.\nNotes from Jira."
    )
    assert edit_description("Someone's own words\n\nmore", edit) is None
    cut = DescriptionEdit(old=("x" * 254 + "…",), text="new")
    assert edit_description("x" * 400 + "\n\nrest", cut) == "new\n\nrest"


# -- scope: only tickets of the configured projects on the configured Jira ---------

SITE = "https://acme.atlassian.net"
SCOPE = Scope(
    projects=frozenset({"OPS", "PLAT"}),
    site_urls=frozenset({SITE}),
    page_base=f"{SITE}/wiki",
    server_ids=frozenset({"link-ours"}),
)


@pytest.mark.parametrize(
    ("key", "site", "inside"),
    [
        ("OPS-1", None, True),  # a bare key or a jira macro naming no server
        ("PLAT-7", None, True),  # jira.adopt_projects
        ("SEC-1", None, False),  # another project
        ("OPS-9", TicketSite(url=f"{SITE}/browse/OPS-9"), True),
        ("OPS-9", TicketSite(url="HTTPS://ACME.atlassian.net:443/browse/OPS-9?x=1"), True),
        ("OPS-9", TicketSite(url="/browse/OPS-9"), True),  # relative: the page's site
        ("OPS-9", TicketSite(url="https://jira.partner.example/browse/OPS-9"), False),
        ("OPS-9", TicketSite(url="https://acme.atlassian.net.evil.example/browse/OPS-9"), False),
        ("OPS-9", TicketSite(url="https://user@jira.partner.example/browse/OPS-9"), False),
        ("OPS-9", TicketSite(url=f"{SITE}/jira/browse/OPS-9"), False),  # another context path
        ("OPS-9", TicketSite(server_id="link-ours", server="System JIRA"), True),
        ("OPS-9", TicketSite(server_id="link-theirs", server="Partner JIRA"), False),
        ("OPS-9", TicketSite(server="System JIRA"), False),  # a name alone proves nothing
        ("SEC-1", TicketSite(server_id="link-ours"), False),
    ],
)
def test_scope_admits_only_our_projects_on_our_jira(
    key: str, site: TicketSite | None, inside: bool
) -> None:
    """A ticket reference is inside the scope only when its project is configured and
    it names the configured Jira (or no Jira at all)."""
    assert (SCOPE.outside(key, site) is None) is inside


def test_a_relative_link_names_the_page_sites_jira_only_where_they_share_a_host() -> None:
    """On Data Center, Confluence and Jira live at different hosts: a relative
    `/browse/` link points into Confluence's host, not Jira."""
    dc = Scope(
        projects=frozenset({"OPS"}),
        site_urls=frozenset({"https://jira.corp.example"}),
        page_base="https://confluence.corp.example",
    )
    assert dc.outside("OPS-1", TicketSite(url="/browse/OPS-1")) is not None
    assert dc.outside("OPS-1", TicketSite(url="https://jira.corp.example/browse/OPS-1")) is None


def _theirs(key: str, **kw: Any) -> Ticket:
    fields: dict[str, Any] = {
        "key": key,
        "id": "900",
        "summary": "Rotate the signing keys",
        "assignee": "acc-mallory",
        "due": date(2027, 3, 1),
        "status": "In Progress",
        "status_category": "indeterminate",
    }
    fields.update(kw)
    return Ticket(**fields)


@pytest.mark.parametrize(
    ("key", "site"),
    [
        ("SEC-1", None),
        ("OPS-9", TicketSite(url="https://jira.partner.example/browse/OPS-9")),
        ("OPS-9", TicketSite(server_id="link-theirs")),
    ],
)
def test_a_foreign_ticket_is_a_finding_and_nothing_else(key: str, site: TicketSite) -> None:
    """An item linking a ticket outside the scope (even a ticked, owned, dated one)
    gets a foreign-ticket finding: no create, adoption, transition, update, link or
    property, and nothing of that ticket goes onto the page."""
    it = item(ticket=key, ticket_site=site, done=True, owner=BOB, due=date(2026, 12, 1))
    p = plan(
        [it],
        linked={key: _theirs(key)},
        policy=Policy(scope=SCOPE),
        summary=Badge("x", BadgeColour.GREY),
    )
    assert codes(p) == ["foreign-ticket"]
    assert key in p.findings[0].message
    assert [a for a in p.actions if a.op is not Op.WRITE_PAGE] == []
    writes = [a.data for a in p.actions if a.op is Op.WRITE_PAGE]
    assert all(it.key not in w.changes for w in writes)


def test_a_foreign_ticket_is_never_an_orphan_nor_closed() -> None:
    """A ticket of another project carrying followup's labels is left alone (reported),
    even with sync.orphans = "close"; so is ours whose item now links a foreign one."""
    stray = _theirs("SEC-4", labels=("followup", f"followup-{PAGE.id}"))
    shown, ours = synced(item(1))
    relinked = replace(shown, ticket="SEC-1", ticket_site=None)
    p = plan([relinked], [stray, ours], policy=Policy(scope=SCOPE, orphans="close"))
    assert ops(p) == [] or ops(p) == ["write-page"]
    assert sorted(codes(p)) == ["foreign-ticket", "foreign-ticket"]
    assert all(a.ticket not in ("SEC-4", "OPS-1") for a in p.actions)


def test_owners_of_items_with_foreign_tickets_are_not_looked_up() -> None:
    """Nothing is done for such an item, so its owner costs no user look-up either."""
    it = item(ticket="SEC-1", owner=BOB)
    ext = Extraction(PAGE.id, (it, item(2, owner=ALICE)), ())
    assert owners_to_resolve(ext, [], {}, SCOPE) == {ALICE}


# -- adopted tickets: Jira leads unless sync.adopted_tickets = "two-way" ------------


def _adopted(it: ActionItem, **kw: Any) -> tuple[ActionItem, Ticket]:
    """An item and the hand-linked ticket a previous sync adopted."""
    shown, ticket = synced(it, key="OPS-9", **kw)
    assert ticket.prop is not None
    return shown, replace(ticket, prop=replace(ticket.prop, origin="adopted"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"done": True}, "tick"),
        ({"due": date(2027, 2, 2)}, "due date"),
        ({"owner": BOB}, "owner"),
    ],
)
def test_the_page_does_not_change_an_adopted_ticket(change: dict[str, Any], field: str) -> None:
    """The page's tick, due date or owner does not reach a ticket followup adopted: an
    adopted-ticket finding says so, and the page keeps what the person wrote."""
    shown, ticket = _adopted(item())
    p = plan([replace(shown, **change)], [ticket])
    assert ops(p) == []
    assert codes(p) == ["adopted-ticket"]
    assert field in p.findings[0].message
    assert "OPS-9" in p.findings[0].message


def test_two_way_lets_the_page_change_an_adopted_ticket() -> None:
    """With sync.adopted_tickets = "two-way" an adopted ticket syncs like our own."""
    shown, ticket = _adopted(item())
    p = plan([replace(shown, done=True)], [ticket], policy=Policy(adopted_tickets="two-way"))
    assert "transition" in ops(p)
    assert "adopted-ticket" not in codes(p)


def test_jira_still_reaches_the_page_of_an_adopted_ticket() -> None:
    """Jira leads: its due date and done-ness are shown on the page."""
    shown, ticket = _adopted(item())
    moved = replace(ticket, due=date(2027, 4, 1), status="Done", status_category="done")
    change = write_of(plan([shown], [moved])).changes[shown.key]
    assert (change.due, change.done) == (date(2027, 4, 1), True)


def test_tickets_followup_created_keep_two_way_sync() -> None:
    """A ticket whose property says followup created it is changed by the page."""
    shown, ticket = synced(item())
    assert ticket.prop is not None
    assert ticket.prop.origin == "created"
    p = plan([replace(shown, done=True)], [ticket])
    assert "transition" in ops(p)


def test_adopting_marks_the_property_and_fills_no_blank_from_the_page() -> None:
    """On adoption the property records the origin; where Jira has no due date the
    page's is neither sent nor erased from the page (a finding says it was not sent),
    and the next run, seeing the same, writes nothing."""
    it = item(ticket="OPS-9", due=date(2026, 12, 15))
    theirs = _theirs("OPS-9", assignee="acc-alice", due=None)
    p = plan([it], linked={"OPS-9": theirs}, summary=Badge("x", BadgeColour.GREY))
    assert "update" not in ops(p)
    prop = next(a.data.prop for a in p.actions if a.op is Op.SET_PROPERTY)
    assert prop.origin == "adopted"
    assert prop.to_json()["origin"] == "adopted"
    assert write_of(p).changes[it.key].due is KEEP
    assert "adopted-ticket" in codes(p)
    adopted = replace(theirs, labels=("followup", f"followup-{PAGE.id}"), prop=prop)
    again = plan([replace(it, badge=write_of(p).changes[it.key].badge)], [adopted])
    assert again.actions == ()


def test_an_edited_property_never_widens_what_followup_may_do() -> None:
    """Any `origin` in the stored property, even "created", reads as adopted; only a
    property without one (what followup writes on create) is a created ticket's."""
    base = {"item": "1:task:1", "page": "1", "base": None}
    assert TicketProperty.from_json(base).origin == "created"  # type: ignore[union-attr]
    for origin in ("created", "adopted", "x", None):
        prop = TicketProperty.from_json({**base, "origin": origin})
        assert prop is not None
        assert prop.origin == "adopted"


# -- a value the page states unreadably never clears Jira's --------------------------


@pytest.mark.parametrize(
    ("unreadable", "code"),
    [("due", "unparseable-due-date"), ("due", "ambiguous-due-date"), ("done", "unknown-status")],
)
def test_an_unreadable_value_changes_nothing_on_either_side(unreadable: str, code: str) -> None:
    """A due date or status the page states but followup cannot read sends nothing to
    Jira, keeps the sync base, and shows nothing of Jira's over it (not even when Jira
    moves); its finding says what the ticket keeps."""
    shown, ticket = synced(item(due=date(2026, 12, 20), done=False))
    if unreadable == "due":
        page_now = replace(shown, due=None, unreadable=frozenset({"due"}))
        jira_moved = replace(ticket, due=date(2027, 1, 5))
    else:
        page_now = replace(shown, unreadable=frozenset({"done"}))
        jira_moved = replace(ticket, status="Done", status_category="done", resolution="Done")
    finding = Finding(FindingCode(code), PAGE.id, shown.key, "It does not read.")
    for t in (ticket, jira_moved):
        p = plan([page_now], [t], findings=(finding,), summary=Badge("x", BadgeColour.GREY))
        assert not [a for a in p.actions if a.op in (Op.UPDATE, Op.TRANSITION, Op.SET_PROPERTY)]
        change = write_of(p).changes.get(shown.key)
        assert change is None or getattr(change, unreadable) is KEEP
        [f] = [f for f in p.findings if str(f.code) == code]
        assert "OPS-1" in f.message


def test_a_removed_due_date_clears_jiras() -> None:
    """Only a page that states no value at all clears the field, as a normal edit."""
    shown, ticket = synced(item(due=date(2026, 12, 20)))
    p = plan([replace(shown, due=None)], [ticket])
    update = next(a for a in p.actions if a.op is Op.UPDATE)
    assert update.data.fields == {"duedate": None}


def test_an_owner_resolving_to_nobody_keeps_jiras_assignee() -> None:
    """An owner the page names but no Jira account matches changes no assignee, and
    the finding says the ticket keeps its own."""
    shown, ticket = synced(item())
    ghost = Owner("name", "Somebody Unknown")
    p = plan(
        [replace(shown, owner=ghost)], [ticket], owners={**OWNERS, ghost: OwnerResolution(None)}
    )
    assert p.actions == ()  # not even the property: its base keeps the last synced owner
    [f] = [f for f in p.findings if f.code is FindingCode.UNKNOWN_OWNER]
    assert "OPS-1 keeps its assignee" in f.message


def test_a_new_item_with_an_unreadable_date_gets_no_default_date() -> None:
    """An unreadable date is not "no date": no default due date is invented for it,
    and nothing is written over what the person typed."""
    it = item(due=None, unreadable=frozenset({"due"}))
    p = plan([it], policy=Policy(default_due_days=30))
    create = next(a for a in p.actions if a.op is Op.CREATE)
    assert create.data.due is None
    assert write_of(p).changes[it.key].due is KEEP


def test_jiras_assignee_shown_on_the_page_is_recorded_as_the_page_owner() -> None:
    """When Jira's assignee replaces an owner no look-up could resolve, the base
    records the owner the page now shows, so the next run has nothing to write (on
    Data Center the demo's second run used to rewrite the property)."""
    ghost = Owner("account_id", "cloud-only-id")
    it = item(ticket="OPS-9", owner=ghost)
    theirs = _theirs("OPS-9", assignee="tomasz", due=date(2026, 12, 15))
    dc = Policy(deployment="datacenter")
    p = plan([it], linked={"OPS-9": theirs}, owners={ghost: OwnerResolution(None)}, policy=dc)
    change = write_of(p).changes[it.key]
    assert change.owner == Owner("username", "tomasz")
    prop = next(a.data.prop for a in p.actions if a.op is Op.SET_PROPERTY)
    assert prop.base.page_owner == "username:tomasz"
    adopted = replace(theirs, labels=("followup", f"followup-{PAGE.id}"), prop=prop)
    shown = replace(it, owner=change.owner, badge=change.badge)
    assert plan([shown], [adopted], owners={}, policy=dc).actions == ()


# -- values the page cannot show without erasing a person's text ----------------------


@pytest.mark.parametrize(
    ("field", "jira", "shown_in_message", "base_field", "page_value"),
    [
        (
            "owner",
            {"assignee": "acc-bob", "assignee_display": "Bob Ng"},
            "Bob Ng",
            "assignee",
            "acc-alice",
        ),
        ("due", {"due": date(2027, 2, 1)}, "2027-02-01", "due", date(2026, 12, 15)),
        (
            "done",
            {"status": "Done", "status_category": "done", "resolution": "Done"},
            "Done",
            "done",
            False,
        ),
    ],
)
def test_locked_field_changed_in_jira_is_reported_not_written(
    field: str, jira: dict[str, Any], shown_in_message: str, base_field: str, page_value: Any
) -> None:
    """A field whose page value is mixed with a person's text (locked) is not written
    when Jira changes it: a cell-not-updated finding says what Jira holds now, the
    sync base keeps the page's value (so Jira is not reverted next run), and the next
    run says the same again."""
    shown, ticket = synced(item(source="table"))
    shown = replace(shown, locked=frozenset({field}))
    changed = replace(ticket, **jira)
    p = plan([shown], [changed])
    change = {a.data.changes[shown.key] for a in p.actions if a.op is Op.WRITE_PAGE}
    assert all(getattr(c, "owner" if field == "owner" else field) is KEEP for c in change)
    assert not [a for a in p.actions if a.op in (Op.UPDATE, Op.TRANSITION)]
    assert not [a for a in p.actions if a.op is Op.SHOW and a.field == field]
    [finding] = [f for f in p.findings if f.code is FindingCode.CELL_NOT_UPDATED]
    assert finding.item == shown.key
    assert shown_in_message in finding.message
    assert "OPS-1" in finding.message
    props = [a.data.prop for a in p.actions if a.op is Op.SET_PROPERTY]
    base = props[0].base if props else ticket.prop.base
    assert getattr(base, base_field) == page_value
    again = plan([shown], [replace(changed, prop=replace(changed.prop, base=base))])
    assert codes(again).count("cell-not-updated") == 1
    assert not [a for a in again.actions if a.op in (Op.UPDATE, Op.TRANSITION)]


def test_unlocked_field_changed_in_jira_is_still_written() -> None:
    """A locked owner does not stop the due date, which the page can show, from being
    written."""
    shown, ticket = synced(item(source="table"))
    shown = replace(shown, locked=frozenset({"owner"}))
    p = plan([shown], [replace(ticket, due=date(2027, 2, 1))])
    assert write_of(p).changes[shown.key].due == date(2027, 2, 1)
    assert "cell-not-updated" not in codes(p)


@pytest.mark.parametrize(
    ("text", "expected_end"),
    [
        ("x" * 250 + "👨\u200d👩\u200d👧\u200d👦" * 3, "x…"),
        ("x" * 252 + "🇩🇪🇫🇷", "x…"),
        ("x" * 253 + "e\u0301\u0301 tail", "x…"),
        ("x" * 250 + "👍🏽" * 5, "x👍🏽…"),
    ],
)
def test_summary_cut_keeps_grapheme_clusters_whole(text: str, expected_end: str) -> None:
    """A summary cut to Jira's 255 UTF-16 code units never splits a family emoji, a
    flag, a letter and its accents, or an emoji and its skin tone."""
    p = plan([item(text=text)])
    summary = p.actions[0].data.summary
    assert len(summary.encode("utf-16-le")) // 2 <= 255
    assert summary.endswith(expected_end)
    assert text.startswith(summary[:-1])


# -- what people read, for tickets outside the scope, adopted, and unreadable -----------


def test_a_foreign_ticket_reaches_neither_the_story_nor_the_people() -> None:
    """An item linking a foreign ticket has a story saying so, with the page's own
    values (its owner as already resolved) and no ticket, status or assignee of that
    ticket; a stray ticket of another
    project carrying followup's labels does not put its assignee's name in the plan."""
    it = item(ticket="SEC-1", owner=BOB, due=date(2026, 12, 1))
    stray = _theirs("SEC-4", labels=("followup", f"followup-{PAGE.id}"))
    stray = replace(stray, assignee_display="Mallory Secret")
    theirs = replace(_theirs("SEC-1"), assignee_display="Mallory Secret")
    p = plan([it], [stray], linked={"SEC-1": theirs}, policy=Policy(scope=SCOPE))
    story = p.stories[it.key]
    # the page's owner, as the run resolved them for another item, not SEC-1's assignee
    assert (story.match, story.ticket, story.owner) == ("foreign", None, "acc-bob")
    assert (story.state, story.due, story.done) == ("Foreign ticket", date(2026, 12, 1), False)
    assert "SEC-1" in story.why
    assert "In Progress" not in story.why
    assert "acc-mallory" not in p.people
    assert all(f.ticket is None for f in p.findings if f.code is FindingCode.FOREIGN_TICKET)


def test_an_adopted_tickets_story_says_jira_leads() -> None:
    """The page's due date that Jira, leading an adopted ticket, did not take is said
    so field by field; a summary edited on the page stays the ticket's own too."""
    shown, ticket = _adopted(item())
    p = plan([replace(shown, due=date(2027, 2, 2), text="Better words")], [ticket])
    notes = dict(p.stories[shown.key].notes)
    assert "Jira leads it" in notes["due"]
    assert "keeps 2026-12-15" in notes["due"]
    assert "keeps its own summary" in notes["summary"]
    assert [a for a in p.actions if a.field == "description"] == []
    [finding] = [f for f in p.findings if f.code is FindingCode.ADOPTED_TICKET]
    assert finding.ticket == "OPS-9"


def test_an_adopted_tickets_conflict_is_remembered_with_its_origin() -> None:
    """A conflict on an adopted ticket is stored in a property that still says
    `adopted`, and a later run keeps both."""
    shown, ticket = _adopted(item())
    p = plan([replace(shown, due=date(2027, 2, 1))], [replace(ticket, due=date(2027, 3, 1))])
    [prop_action] = [a for a in p.actions if a.op is Op.SET_PROPERTY]
    assert prop_action.data.prop.origin == "adopted"
    assert [c.field for c in prop_action.data.prop.conflicts] == ["due date"]
    assert prop_action.data.prop.to_json()["origin"] == "adopted"
    assert "conflict" in codes(p)


def test_a_remembered_conflict_waits_while_the_page_is_unreadable() -> None:
    """While the page states the conflicted due date unreadably, the conflict is kept
    in the property as it was (nothing is written) and not reported as resolved; the
    story says the date cannot be read."""
    page_item, jira, first = _conflicted()
    [prop_action] = [a for a in first.actions if a.op is Op.SET_PROPERTY]
    after = replace(jira, prop=prop_action.data.prop)
    garbled = replace(page_item, due=None, unreadable=frozenset({"due"}), badge=None)
    finding = Finding(FindingCode.UNPARSEABLE_DUE_DATE, PAGE.id, garbled.key, "It does not read.")
    p = plan([garbled], [after], findings=(finding,), summary=Badge("x", BadgeColour.GREY))
    assert not [a for a in p.actions if a.op is Op.SET_PROPERTY]
    notes = dict(p.stories[garbled.key].notes)
    assert "cannot be read" in notes["due"]
    assert "resolved" not in " ".join(d for _, d in p.stories[garbled.key].notes)
