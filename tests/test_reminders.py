"""Reminders: the cadence over simulated days, escalation, who gets mentioned, and how
the reminder bookkeeping shares the ticket's one property write with the sync base."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sandbox_support import reset_server

import followup.core.reminders
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.model import (
    ActionItem,
    Extraction,
    Owner,
    Page,
    SyncBase,
    Ticket,
    TicketProperty,
)
from followup.core.plan import Action, Op, OwnerResolution, PagePlan
from followup.core.planner import plan_page
from followup.core.policy import Policy
from followup.core.reminders import (
    ReminderPolicy,
    ReminderState,
    add_reminders,
    decide,
    mention,
)
from followup.errors import ForbiddenError
from followup.ports import Deployment, JiraUser
from followup.sandbox import control
from followup.sandbox.seed import DEMO_ADMIN, DEMO_TODAY, KENJI, PRIYA
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.sync.engine import Engine, EngineConfig, RunResult
from followup.testing import FakeConfluence, FakeJira

DAY0 = date(2026, 11, 1)
PAGE_ID = "98000001"
ALICE = "acc-alice"
AUTHOR = "acc-author"
LEAD = "acc-lead"


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def simulate(
    policy: ReminderPolicy,
    due_on: dict[int, int | None],
    *,
    done_from: int | None = None,
    days: int = 30,
) -> dict[int, str]:
    """Run `decide` for days 0..days, carrying the state as the property would;
    `due_on` maps the day a due date is set (or changed) to its day number."""
    sent: dict[int, str] = {}
    state = ReminderState()
    due: date | None = None
    for n in range(days + 1):
        if n in due_on:
            target = due_on[n]
            due = day(target) if target is not None else None
        decision = decide(
            state,
            due=due,
            done=done_from is not None and n >= done_from,
            today=day(n),
            policy=policy,
        )
        if decision is not None:
            sent[n] = str(decision.kind)
            state = decision.state
    return sent


WEEKLY = ReminderPolicy(enabled=True, overdue_every_days=7, before_due_days=3, escalate_after=2)


def test_cadence_over_thirty_days() -> None:
    """Due on day 10: one due-soon on day 7, overdue on days 11 and 18, then (after two
    reminders) an escalation on day 25; nothing on any other day."""
    assert simulate(WEEKLY, {0: 10}) == {
        7: "due-soon",
        11: "overdue",
        18: "overdue",
        25: "escalation",
    }


def test_escalation_continues_on_the_cadence() -> None:
    """Once escalated, each further reminder (every 5 days here) is an escalation."""
    policy = replace(WEEKLY, overdue_every_days=5, escalate_after=1)
    assert simulate(policy, {0: 2}) == {
        0: "due-soon",
        3: "overdue",
        8: "escalation",
        13: "escalation",
        18: "escalation",
        23: "escalation",
        28: "escalation",
    }


def test_a_new_due_date_starts_the_count_again() -> None:
    """Due on day 5, moved on day 14 to day 24: due-soon 2, overdue 6 and 13, then for the
    new date due-soon 21, overdue 25; the count restarts, so no escalation."""
    assert simulate(WEEKLY, {0: 5, 14: 24}) == {
        2: "due-soon",
        6: "overdue",
        13: "overdue",
        21: "due-soon",
        25: "overdue",
    }


def test_done_tickets_and_tickets_without_due_date_get_nothing() -> None:
    """Done from day 12: the overdue reminder of day 11 is the last one. No due date: none."""
    assert simulate(WEEKLY, {0: 10}, done_from=12) == {7: "due-soon", 11: "overdue"}
    assert simulate(WEEKLY, {0: None}) == {}


def test_due_today_with_no_warning_window() -> None:
    """before_due_days = 0 warns on the due day itself; overdue starts the day after."""
    policy = replace(WEEKLY, before_due_days=0)
    assert simulate(policy, {0: 10}, days=12) == {10: "due-soon", 11: "overdue"}


def test_disabled_sends_nothing() -> None:
    """reminders.enabled = false: no reminder whatever the dates."""
    assert simulate(replace(WEEKLY, enabled=False), {0: 3}) == {}


def test_state_round_trips_and_tolerates_junk() -> None:
    """The bookkeeping survives JSON; unreadable values count as absent."""
    state = ReminderState(due=day(10), last=day(11), count=2, soon=True, escalated=False)
    assert ReminderState.from_json(state.to_json()) == state
    assert ReminderState.from_json({"due": "soon", "count": "x", "last": None}) == ReminderState()


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [("cloud", "[~accountid:acc-alice]"), ("datacenter", "[~acc-alice]")],
)
def test_mentions_per_deployment(deployment: Deployment, expected: str) -> None:
    """Cloud mentions by account id, Data Center by username (wiki markup, v2 bodies)."""
    assert mention(ALICE, deployment) == expected


# -- add_reminders on a page plan ---------------------------------------------------------

PAGE = Page(
    id=PAGE_ID,
    title="Checkout outage",
    space_key="SRE",
    version=3,
    body="",
    url=f"https://x.example/wiki/spaces/SRE/pages/{PAGE_ID}",
    created=datetime(2026, 10, 1, tzinfo=UTC),
    author=AUTHOR,
)


def _item(n: int, text: str, owner: str | None, due: date | None, ticket: str) -> ActionItem:
    return ActionItem(
        key=f"{PAGE_ID}:task:{n}",
        page_id=PAGE_ID,
        text=text,
        owner=Owner("account_id", owner) if owner else None,
        due=due,
        done=False,
        ticket=ticket,
        source="task",
    )


def _ticket(
    item: ActionItem, *, reminders: dict[str, object] | None = None, **kw: object
) -> Ticket:
    base = SyncBase(
        summary=item.text,
        assignee=item.owner.value if item.owner else None,
        due=item.due,
        done=False,
        page_owner=item.owner.ref if item.owner else None,
    )
    fields: dict[str, object] = {
        "key": item.ticket,
        "id": "1",
        "summary": item.text,
        "assignee": base.assignee,
        "due": item.due,
        "status": "To Do",
        "status_category": "new",
        "labels": ("followup", f"followup-{PAGE_ID}"),
        "prop": TicketProperty(item.key, PAGE_ID, base, dict(reminders or {})),
    }
    fields.update(kw)
    return Ticket(**fields)  # type: ignore[arg-type]


def _plan(
    items: list[ActionItem], tickets: list[Ticket], today: date, policy: ReminderPolicy
) -> PagePlan:
    extraction = Extraction(PAGE_ID, tuple(items), ())
    owners = {i.owner: OwnerResolution(i.owner.value) for i in items if i.owner}
    plan = plan_page(
        PAGE, extraction, tickets, linked={}, owners=owners, today=today, policy=Policy()
    )
    return add_reminders(
        plan, PAGE, tickets, linked={}, today=today, policy=policy, deployment="cloud"
    )


def _of(plan: PagePlan, ticket: str, op: Op) -> list[Action]:
    return [a for a in plan.actions if a.ticket == ticket and a.op is op]


TODAY = date(2026, 11, 26)
LEADS = replace(WEEKLY, escalate_to=LEAD)


def test_overdue_ticket_gets_a_comment_mentioning_its_assignee() -> None:
    """An overdue owned ticket: one comment to the assignee, and one property write whose
    bookkeeping says when and how many."""
    item = _item(1, "Alert on replica lag", ALICE, date(2026, 11, 20), "OPS-1")
    plan = _plan([item], [_ticket(item)], TODAY, LEADS)
    [comment] = _of(plan, "OPS-1", Op.COMMENT)
    assert comment.data.body.startswith("[~accountid:acc-alice] Reminder:")
    assert "was due on 2026-11-20 and is 6 days overdue" in comment.data.body
    assert PAGE.url in comment.data.body
    assert LEAD not in comment.data.body  # not escalated yet
    [prop] = _of(plan, "OPS-1", Op.SET_PROPERTY)
    assert prop.data.prop.reminders == {
        "due": "2026-11-20",
        "last": "2026-11-26",
        "count": 1,
        "soon": False,
        "escalated": False,
    }
    assert _of(plan, "OPS-1", Op.UPDATE) == []
    # the comment is sent before the bookkeeping is written
    assert plan.actions.index(comment) < plan.actions.index(prop)


def test_in_step_ticket_not_yet_due_gets_no_action() -> None:
    """Due in 10 days: no reminder and, the sync base being in step, no Jira write."""
    item = _item(1, "Alert on replica lag", ALICE, date(2026, 12, 6), "OPS-1")
    plan = _plan([item], [_ticket(item)], TODAY, LEADS)
    assert [a for a in plan.actions if a.ticket == "OPS-1"] == []


def test_reminder_and_sync_base_share_one_property_write() -> None:
    """The summary was edited on the page (the planner rewrites the base) and a reminder
    is due: one SET_PROPERTY carrying the new base and the reminder bookkeeping, with the
    ticket's other property entries kept."""
    item = _item(1, "Alert on replica lag > 30 s", ALICE, date(2026, 11, 20), "OPS-1")
    old = replace(item, text="Alert on replica lag")
    ticket = _ticket(old, reminders={"stray_noted": True})
    plan = _plan([item], [ticket], TODAY, LEADS)
    # the summary, and the description following it
    assert [u.field for u in _of(plan, "OPS-1", Op.UPDATE)] == ["summary", "description"]
    [prop] = _of(plan, "OPS-1", Op.SET_PROPERTY)
    assert prop.data.prop.base.summary == "Alert on replica lag > 30 s"
    assert prop.data.prop.reminders["count"] == 1
    assert prop.data.prop.reminders["stray_noted"] is True
    assert len(_of(plan, "OPS-1", Op.COMMENT)) == 1


def test_a_due_date_moved_in_this_run_is_the_one_reminded_about() -> None:
    """The page moved the due date into the past: the reminder uses the date the plan
    pushes to Jira, not the stale one on the ticket."""
    item = _item(1, "Alert on replica lag", ALICE, date(2026, 11, 25), "OPS-1")
    ticket = _ticket(replace(item, due=date(2026, 12, 20)))
    plan = _plan([item], [ticket], TODAY, LEADS)
    [comment] = _of(plan, "OPS-1", Op.COMMENT)
    assert "was due on 2026-11-25 and is 1 day overdue" in comment.data.body


def test_escalation_mentions_the_lead_and_adds_the_label_once() -> None:
    """After escalate_after reminders the next is an escalation: the lead is mentioned
    with the assignee and the label is added; a ticket already labelled is not updated."""
    item = _item(1, "Alert on replica lag", ALICE, date(2026, 11, 1), "OPS-1")
    sent = {"due": "2026-11-01", "last": "2026-11-19", "count": 2, "soon": True}
    plan = _plan([item], [_ticket(item, reminders=sent)], TODAY, LEADS)
    [comment] = _of(plan, "OPS-1", Op.COMMENT)
    assert comment.after == "escalation: [~accountid:acc-lead] [~accountid:acc-alice]"
    assert comment.data.body.startswith("[~accountid:acc-lead] [~accountid:acc-alice] Reminder:")
    assert "It has had 2 reminders already." in comment.data.body
    [label] = _of(plan, "OPS-1", Op.UPDATE)
    assert label.data.add_labels == ("followup-escalated",)
    [prop] = _of(plan, "OPS-1", Op.SET_PROPERTY)
    assert prop.data.prop.reminders["count"] == 3
    assert prop.data.prop.reminders["escalated"] is True

    labelled = _ticket(
        item,
        reminders=sent,
        labels=("followup", f"followup-{PAGE_ID}", "followup-escalated"),
    )
    again = _plan([item], [labelled], TODAY, LEADS)
    assert _of(again, "OPS-1", Op.UPDATE) == []
    assert len(_of(again, "OPS-1", Op.COMMENT)) == 1


def test_item_without_owner_goes_to_the_postmortem_author() -> None:
    """Nobody owns it: the comment mentions the page's author (not the lead, yet) and
    the ticket is labelled at once, rather than the item being skipped."""
    item = _item(2, "Write the failover runbook", None, date(2026, 11, 24), "OPS-2")
    plan = _plan([item], [_ticket(item)], TODAY, LEADS)
    [comment] = _of(plan, "OPS-2", Op.COMMENT)
    assert comment.data.body.startswith("[~accountid:acc-author] This action item")
    assert "has no owner" in comment.data.body
    assert LEAD not in comment.data.body
    assert "author" in comment.reason
    [label] = _of(plan, "OPS-2", Op.UPDATE)
    assert label.data.add_labels == ("followup-escalated",)


def test_item_without_owner_or_author_goes_to_the_lead() -> None:
    """No owner and no known author: the lead is mentioned instead."""
    item = _item(2, "Write the failover runbook", None, date(2026, 11, 24), "OPS-2")
    extraction = Extraction(PAGE_ID, (item,), ())
    page = replace(PAGE, author=None)
    plan = plan_page(
        page, extraction, [_ticket(item)], linked={}, owners={}, today=TODAY, policy=Policy()
    )
    plan = add_reminders(
        plan, page, [_ticket(item)], linked={}, today=TODAY, policy=LEADS, deployment="cloud"
    )
    [comment] = _of(plan, "OPS-2", Op.COMMENT)
    assert comment.data.body.startswith("[~accountid:acc-lead] This action item")


def test_disabled_leaves_the_plan_untouched() -> None:
    """reminders.enabled = false returns the very plan the planner made."""
    item = _item(1, "Alert on replica lag", ALICE, date(2026, 11, 1), "OPS-1")
    extraction = Extraction(PAGE_ID, (item,), ())
    plan = plan_page(
        PAGE, extraction, [_ticket(item)], linked={}, owners={}, today=TODAY, policy=Policy()
    )
    off = add_reminders(
        plan,
        PAGE,
        [_ticket(item)],
        linked={},
        today=TODAY,
        policy=ReminderPolicy(),
        deployment="cloud",
    )
    assert off is plan


# -- through the engine, day by day -------------------------------------------------------

BODY = (
    "<h2>Action items</h2><ac:task-list>"
    "<ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    '<ac:task-body>Alert on replica lag <ac:link><ri:user ri:account-id="acc-alice" />'
    '</ac:link> <time datetime="2026-11-11" /></ac:task-body></ac:task>'
    "<ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    '<ac:task-body>Write the failover runbook <time datetime="2026-11-21" />'
    "</ac:task-body></ac:task></ac:task-list>"
)


def _engine(jira: FakeJira, conf: FakeConfluence, policy: ReminderPolicy) -> Engine:
    return Engine(
        jira,
        conf,
        Policy(),
        EngineConfig(concurrency=1, reminders=policy),
        clock=lambda: datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_engine_sends_reminders_on_the_cadence_across_thirty_days() -> None:
    """A daily run from day 0 (2026-11-01) to day 30 with the real planner and apply:
    alert (Alice, due day 10) and runbook (no owner, due day 20) get exactly these
    comments, a dry run on a reminder day writes nothing but lists the comment, and
    every other day's run makes zero writes."""
    jira = FakeJira(users=[JiraUser(ALICE, "Alice Ng")])
    conf = FakeConfluence()
    conf.add_page(replace(PAGE, version=1, body=BODY))
    engine = _engine(jira, conf, LEADS)
    engine.run(today=day(0), dry_run=False)  # creates OPS-1 (alert) and OPS-2 (runbook)
    assert {t.summary: t.key for t in jira.tickets.values()} == {
        "Alert on replica lag": "OPS-1",
        "Write the failover runbook": "OPS-2",
    }
    sent: dict[int, list[str]] = {}
    quiet_writes: list[int] = []
    for n in range(1, 31):
        before = {k: len(v) for k, v in jira.comments.items()}
        writes = jira.writes + conf.writes
        if n == 7:
            dry: RunResult = engine.run(today=day(n), dry_run=True)
            assert [a.ticket for a in dry.actions if a.op is Op.COMMENT] == ["OPS-1"]
            assert jira.writes + conf.writes == writes
        engine.run(today=day(n), dry_run=False)
        new = [
            f"{key}:{body.split(' ', 1)[0]}"
            for key, bodies in sorted(jira.comments.items())
            for body in bodies[before.get(key, 0) :]
        ]
        if new:
            sent[n] = new
        elif jira.writes + conf.writes != writes:
            quiet_writes.append(n)
    assert sent == {
        7: ["OPS-1:[~accountid:acc-alice]"],  # alert due in 3 days
        11: ["OPS-1:[~accountid:acc-alice]"],  # alert overdue, reminder 1
        17: ["OPS-2:[~accountid:acc-author]"],  # runbook due in 3 days, nobody owns it
        18: ["OPS-1:[~accountid:acc-alice]"],  # alert reminder 2
        21: ["OPS-2:[~accountid:acc-author]"],  # runbook overdue, reminder 1
        25: ["OPS-1:[~accountid:acc-lead]"],  # alert: two reminders, escalated
        28: ["OPS-2:[~accountid:acc-author]"],  # runbook reminder 2
    }
    assert quiet_writes == []
    assert "followup-escalated" in jira.tickets["OPS-1"].labels
    assert "followup-escalated" in jira.tickets["OPS-2"].labels
    assert jira.tickets["OPS-1"].prop is not None
    assert jira.tickets["OPS-1"].prop.reminders["count"] == 3


class _RefusingComments(FakeJira):
    """Jira that refuses every comment, as a project without Add Comments would."""

    def add_comment(self, key: str, body: str) -> None:
        self.calls["add_comment"] += 1
        raise ForbiddenError("You do not have permission to comment", service="jira", status=403)


def test_a_reminder_that_failed_is_not_recorded_as_sent() -> None:
    """When the comment is refused, the property keeps its old reminder bookkeeping, so
    the next run tries the same reminder again instead of waiting a whole cadence."""
    jira = _RefusingComments(users=[JiraUser(ALICE, "Alice Ng")])
    conf = FakeConfluence()
    conf.add_page(replace(PAGE, version=1, body=BODY))
    engine = _engine(jira, conf, LEADS)
    engine.run(today=day(0), dry_run=False)
    before = jira.tickets["OPS-1"].prop
    result = engine.run(today=day(7), dry_run=False)
    assert result.failed
    assert jira.calls["add_comment"] >= 1
    assert jira.tickets["OPS-1"].prop == before
    again = engine.run(today=day(8), dry_run=True)
    assert "OPS-1" in [a.ticket for a in again.actions if a.op is Op.COMMENT]


# -- purity --------------------------------------------------------------------------------


def test_reminders_module_is_pure() -> None:
    """followup.core.reminders imports no adapter, HTTP client, clock or environment."""
    path = Path(followup.core.reminders.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    allowed = {"__future__", "enum", "collections.abc", "dataclasses", "datetime", "typing"}
    core = {"followup.core.model", "followup.core.identity", "followup.core.plan"}
    assert imported - allowed <= core | {"followup.core.policy", "followup.ports"}
    assert "now" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


# -- end to end against the sandbox ---------------------------------------------------------


def _sandbox_sync(settings: Settings, today: date, *, dry_run: bool = False) -> RunResult:
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        return build_engine(settings, adapters.jira, adapters.confluence).run(
            today=today, dry_run=dry_run
        )
    finally:
        adapters.close()


def _comments(server: RunningSandbox, key: str) -> list[str]:
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    r = requests.get(f"{server.url}/rest/api/2/issue/{key}/comment", auth=auth, timeout=10)
    r.raise_for_status()
    return [str(c["body"]) for c in r.json()["comments"]]


def _reminded(result: RunResult) -> dict[str, str]:
    """Item text (its start) -> the reminder comment planned for its ticket."""
    texts = {i.key: i.text for i in result.items}
    return {texts[a.item or ""][:30]: a.data.body for a in result.actions if a.op is Op.COMMENT}


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_reminders_end_to_end_against_the_sandbox(
    flavor: str, request: pytest.FixtureRequest
) -> None:
    """With reminders on, against the sandbox over HTTP: the run that creates the
    tickets sends none; a dry run the same day lists the five overdue reminders of the
    demo (due 11-13, 11-06, 11-20, 10-31, 11-25) and writes nothing; the real run posts
    them, each mentioning the assignee the way the flavor does; a third run the same day
    writes nothing. On 12-14 the unowned certificate inventory (due 12-15) goes to the
    TLS postmortem's author, Kenji, and is labelled."""
    server: RunningSandbox = request.getfixturevalue(
        "sandbox_server" if flavor == "cloud" else "dc_sandbox_server"
    )
    reset_server(server)
    settings = load_settings(None, env=control.env_for(server.state, server.url))
    settings.reminders.enabled = True
    first = _sandbox_sync(settings, DEMO_TODAY)
    assert not first.failed, first.failures
    assert [a for a in first.actions if a.op is Op.COMMENT] == []

    writes = server.stats.snapshot()["writes"]
    dry = _sandbox_sync(settings, DEMO_TODAY, dry_run=True)
    assert server.stats.snapshot()["writes"] == writes
    planned = _reminded(dry)
    assert sorted(planned) == sorted(
        [
            "Route order-history reads to t",  # Priya, due 11-13
            "Set a 2.5 s client timeout and",  # Lucía, due 11-06
            "Alert when the webhook retry q",  # Sven, due 11-20
            "Move the internal gateway cert",  # Kenji, due 10-31
            "Document the broker replacemen",  # Kenji, due 11-25
        ]
    ), planned

    second = _sandbox_sync(settings, DEMO_TODAY)
    assert not second.failed, second.failures
    priya = PRIYA.account_id if flavor == "cloud" else PRIYA.name
    expected = f"[~accountid:{priya}]" if flavor == "cloud" else f"[~{priya}]"
    texts = {i.key: i.text for i in second.items}
    [route] = [
        a
        for a in second.actions
        if a.op is Op.COMMENT and texts[a.item or ""].startswith("Route order-history")
    ]
    assert route.data.body.startswith(expected), route.data.body
    assert route.ticket is not None
    assert _comments(server, route.ticket) == [route.data.body]
    assert "13 days overdue" in route.data.body

    writes = server.stats.snapshot()["writes"]
    third = _sandbox_sync(settings, DEMO_TODAY)
    assert third.actions == [], [a.to_json() for a in third.actions]
    assert server.stats.snapshot()["writes"] == writes

    later = _sandbox_sync(settings, date(2026, 12, 14))
    inventory = _reminded(later)["Inventory every certificate th"]
    kenji = KENJI.account_id if flavor == "cloud" else KENJI.name
    assert inventory.startswith(f"[~accountid:{kenji}]" if flavor == "cloud" else f"[~{kenji}]"), (
        inventory
    )
    assert "has no owner" in inventory
    [ticket] = [a.ticket for a in later.actions if a.op is Op.COMMENT and a.data.body == inventory]
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    issue = requests.get(
        f"{server.url}/rest/api/2/issue/{ticket}", params={"fields": "labels"}, auth=auth,
        timeout=10,
    ).json()  # fmt: skip
    assert "followup-escalated" in issue["fields"]["labels"]
