"""What a write that fails, or a run that dies half-way through apply, leaves behind:
never a sync base that records a change Jira did not take (the next run would then
"bring Jira's value back" onto the page and undo the person's edit), never a ticket
the next run cannot finish (its remote link, its transition).

Engine against the in-memory ports, with one write made to fail or to kill the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from followup.core.model import Page
from followup.core.policy import Policy
from followup.core.reminders import ReminderPolicy
from followup.core.storage_format import extract
from followup.errors import BadRequestError, FollowupError, PlanError, ServerError
from followup.ports import FieldUpdate, JiraUser
from followup.sync.engine import Engine, EngineConfig, RunResult
from followup.testing import FakeConfluence, FakeJira

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PAGE_ID = "98000001"

BODY = """<h1>Checkout outage</h1>
<h2>Action items</h2>
<ac:task-list>
<ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>
<ac:task-body>Add alert on replica lag <ac:link><ri:user ri:account-id="acc-alice" /></ac:link> \
<time datetime="2026-12-15" /></ac:task-body></ac:task>
<ac:task><ac:task-id>2</ac:task-id><ac:task-status>STATUS2</ac:task-status>
<ac:task-body>Write the failover runbook</ac:task-body></ac:task>
</ac:task-list>"""


class Killed(BaseException):
    """What `kill -9` is to the rest of a run: nothing after it happens."""


@dataclass
class FlakyJira(FakeJira):
    """A fake Jira whose named methods raise `fail[name]` (on every call, or on the
    first `times[name]` calls)."""

    fail: dict[str, BaseException] = field(default_factory=dict)
    times: dict[str, int] = field(default_factory=dict)

    def _maybe_fail(self, name: str) -> None:
        error = self.fail.get(name)
        if error is None:
            return
        left = self.times.get(name)
        if left is not None:
            if left <= 0:
                return
            self.times[name] = left - 1
        raise error

    def transition(self, key: str, names: Sequence[str]) -> str:
        self._maybe_fail("transition")
        return super().transition(key, names)

    def update_ticket(self, key: str, update: FieldUpdate) -> None:
        self._maybe_fail("update_ticket")
        super().update_ticket(key, update)

    def upsert_remote_link(self, key: str, *, global_id: str, url: str, title: str) -> None:
        self._maybe_fail("upsert_remote_link")
        super().upsert_remote_link(key, global_id=global_id, url=url, title=title)


def make(*, done: bool = False) -> tuple[FlakyJira, FakeConfluence]:
    jira = FlakyJira(users=[JiraUser("acc-alice", "Alice Ng"), JiraUser("acc-bob", "Bob Ray")])
    conf = FakeConfluence()
    body = BODY.replace("STATUS2", "complete" if done else "incomplete")
    conf.add_page(
        Page(
            id=PAGE_ID,
            title="Checkout outage",
            space_key="SRE",
            version=1,
            body=body,
            url=f"https://x.example/wiki/spaces/SRE/pages/{PAGE_ID}",
            created=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )
    return jira, conf


def run(
    jira: FakeJira,
    conf: FakeConfluence,
    *,
    later: int = 0,
    today: date = TODAY,
    reminders: bool = False,
) -> RunResult:
    """One run, `later` hours after NOW (so that a dead run's lease has expired)."""
    now = NOW + timedelta(hours=later)
    config = EngineConfig(concurrency=1, reminders=ReminderPolicy(enabled=reminders))
    engine = Engine(jira, conf, Policy(), config, clock=lambda: now, run_id=f"r{later}")
    return engine.run(today=today, dry_run=False)


def page_items(conf: FakeConfluence) -> dict[str, Any]:
    ex = extract(conf.pages[PAGE_ID].body, PAGE_ID)
    return {i.text: i for i in ex.items}


def ticket(jira: FakeJira, summary: str) -> Any:
    return next(t for t in jira.tickets.values() if t.summary == summary)


def tick_task_2(conf: FakeConfluence) -> None:
    body = conf.pages[PAGE_ID].body
    ticked = body.replace(
        "<ac:task-id>2</ac:task-id><ac:task-status>incomplete",
        "<ac:task-id>2</ac:task-id><ac:task-status>complete",
    )
    assert ticked != body
    conf.edit_page(PAGE_ID, ticked)


RUNBOOK = "Write the failover runbook"
ALERT = "Add alert on replica lag"


def settle(jira: FlakyJira, conf: FakeConfluence) -> None:
    """The faults are gone: one run finishes the job, the one after has nothing to do."""
    jira.fail.clear()
    result = run(jira, conf, later=2)
    assert not result.failed, result.failures
    assert run(jira, conf, later=3).actions == []


@pytest.mark.parametrize(
    "error", [PlanError("no transition to Done"), ServerError("down", status=503)]
)
def test_a_failed_transition_never_unticks_the_page(error: FollowupError) -> None:
    """A tick whose transition failed stays a tick: the next run closes the ticket
    instead of bringing "not done" back onto the page."""
    jira, conf = make()
    run(jira, conf)
    tick_task_2(conf)
    jira.fail["transition"] = error
    assert run(jira, conf, later=1).failed
    settle(jira, conf)
    assert page_items(conf)[RUNBOOK].done
    assert ticket(jira, RUNBOOK).done


def test_a_ticked_item_whose_new_ticket_could_not_be_closed_stays_ticked() -> None:
    """An item ticked before it had a ticket: if the new ticket's transition fails,
    the next run closes it, and the page keeps its tick."""
    jira, conf = make(done=True)
    jira.fail["transition"] = PlanError("no transition to Done")
    assert run(jira, conf).failed
    settle(jira, conf)
    assert page_items(conf)[RUNBOOK].done
    assert ticket(jira, RUNBOOK).done


def test_a_failed_owner_update_never_reverts_the_page() -> None:
    """An owner changed on the page whose Jira update failed is pushed again by the
    next run, not overwritten on the page by Jira's old assignee."""
    jira, conf = make()
    run(jira, conf)
    conf.edit_page(PAGE_ID, conf.pages[PAGE_ID].body.replace("acc-alice", "acc-bob"))
    jira.fail["update_ticket"] = BadRequestError("assignee: try later", status=400)
    assert run(jira, conf, later=1).failed
    settle(jira, conf)
    owner = page_items(conf)[ALERT].owner
    assert owner is not None
    assert owner.value == "acc-bob"
    assert ticket(jira, ALERT).assignee == "acc-bob"


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("upsert_remote_link", Killed()),
        ("transition", Killed()),
        ("upsert_remote_link", ServerError("down", status=503)),
    ],
)
def test_a_run_dying_after_its_creates_leaves_tickets_the_next_run_finishes(
    method: str, error: BaseException
) -> None:
    """Killed (or failing) right after the bulk create: the next run links every
    ticket to its postmortem, closes the ticked one, and shows them all on the page."""
    jira, conf = make(done=True)
    jira.fail[method] = error
    jira.times[method] = 1
    with contextlib.suppress(Killed):
        run(jira, conf)
    settle(jira, conf)
    assert len(jira.tickets) == 2
    linked = {key for key, _ in jira.links}
    assert linked == set(jira.tickets)
    shown = page_items(conf)
    assert {shown[ALERT].ticket, shown[RUNBOOK].ticket} == set(jira.tickets)
    assert shown[RUNBOOK].done
    assert ticket(jira, RUNBOOK).done


def test_a_failed_update_neither_loses_nor_repeats_a_reminder() -> None:
    """A reminder comment sent in a run whose owner update failed is still recorded
    (so it is not sent again the next day), while the owner change is still pushed."""
    jira, conf = make()
    run(jira, conf)
    conf.edit_page(PAGE_ID, conf.pages[PAGE_ID].body.replace("acc-alice", "acc-bob"))
    jira.fail["update_ticket"] = BadRequestError("assignee: try later", status=400)
    overdue = date(2026, 12, 16)  # the day after the alert's due date
    assert run(jira, conf, later=1, today=overdue, reminders=True).failed
    key = ticket(jira, ALERT).key
    assert len(jira.comments.get(key, [])) == 1
    jira.fail.clear()
    assert not run(jira, conf, later=2, today=overdue, reminders=True).failed
    assert len(jira.comments[key]) == 1
    assert ticket(jira, ALERT).assignee == "acc-bob"
    owner = page_items(conf)[ALERT].owner
    assert owner is not None
    assert owner.value == "acc-bob"
