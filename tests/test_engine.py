"""The engine against in-memory ports: apply does what the plan says, and the
invariants of a run hold (one ticket per item, zero writes when nothing changed,
no lost edit, no duplicate after an ambiguous create, leases respected)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from followup.core.model import FindingCode, Page
from followup.core.plan import Op
from followup.core.policy import Policy
from followup.core.storage_format import extract
from followup.errors import ConnectivityError
from followup.ports import CreateResult, JiraUser, NewTicket
from followup.sync import leases
from followup.sync.engine import Engine, EngineConfig, RunResult
from followup.testing import FakeConfluence, FakeJira

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PAGE_ID = "98000001"

BODY = """<h1>Checkout outage</h1><p>What happened&hellip;</p>
<h2>Action items</h2>
<ac:task-list>
<ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>
<ac:task-body>Add alert on replica lag <ac:link><ri:user ri:account-id="acc-alice" /></ac:link> \
<time datetime="2026-12-15" /></ac:task-body></ac:task>
<ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status>
<ac:task-body>Write the failover runbook</ac:task-body></ac:task>
</ac:task-list>
<h2>Timeline</h2><p>10:02 paged</p>"""


def make(body: str = BODY) -> tuple[FakeJira, FakeConfluence]:
    jira = FakeJira(users=[JiraUser("acc-alice", "Alice Ng"), JiraUser("acc-bob", "Bob Ray")])
    conf = FakeConfluence()
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
    dry_run: bool = False,
    policy: Policy | None = None,
    run_id: str = "run-a",
    today: date = TODAY,
) -> RunResult:
    engine = Engine(
        jira,
        conf,
        policy or Policy(),
        EngineConfig(concurrency=2),
        clock=lambda: NOW,
        run_id=run_id,
    )
    return engine.run(today=today, dry_run=dry_run)


def items_on_page(conf: FakeConfluence) -> dict[str, tuple[str | None, bool, str | None]]:
    ex = extract(conf.pages[PAGE_ID].body, PAGE_ID)
    return {i.text: (i.ticket, i.done, i.badge.title if i.badge else None) for i in ex.items}


def test_first_run_creates_one_ticket_per_item_and_second_run_writes_nothing() -> None:
    """The first run creates and links; a run right after it makes zero writes."""
    jira, conf = make()
    first = run(jira, conf)
    assert not first.failed
    assert len(jira.tickets) == 2
    shown = items_on_page(conf)
    assert {t for t, _, _ in shown.values()} == set(jira.tickets)
    # the jira macro shows the status live: only OVERDUE is added next to it
    assert all(b in (None, "OVERDUE") for _, _, b in shown.values())
    writes = jira.writes + conf.writes
    second = run(jira, conf, run_id="run-b")
    assert second.actions == []
    assert jira.writes + conf.writes == writes
    assert len(jira.tickets) == 2


def test_dry_run_writes_nothing_and_shows_the_plan() -> None:
    """--dry-run lists every action and makes zero writes."""
    jira, conf = make()
    result = run(jira, conf, dry_run=True)
    assert [str(a.op) for a in result.actions].count("create") == 2
    assert jira.writes == 0
    assert conf.writes == 0
    assert result.pending


def test_jira_done_ticks_the_page_and_page_tick_closes_jira() -> None:
    """Status flows both ways: Jira Done ticks the task; a tick closes the ticket."""
    jira, conf = make()
    run(jira, conf)
    by_text = {t.summary: t for t in jira.tickets.values()}
    jira.set_status(by_text["Add alert on replica lag"].key, "Done")
    run(jira, conf, run_id="run-b")
    shown = items_on_page(conf)
    assert shown["Add alert on replica lag"][1:] == (True, None)  # ticked; DONE shown live
    body = conf.pages[PAGE_ID].body
    ticked = body.replace(
        "<ac:task-id>2</ac:task-id><ac:task-status>incomplete",
        "<ac:task-id>2</ac:task-id><ac:task-status>complete",
    )
    assert ticked != body
    conf.edit_page(PAGE_ID, ticked)
    run(jira, conf, run_id="run-c")
    assert by_text["Write the failover runbook"].key in jira.tickets
    assert jira.tickets[by_text["Write the failover runbook"].key].done
    assert items_on_page(conf)["Write the failover runbook"][1] is True


def test_concurrent_page_edit_survives_and_badges_land() -> None:
    """A person's edit between our read and our write is kept; our changes go on top."""
    jira, conf = make()

    def person_edits(page_id: str) -> None:
        conf.edit_page(
            page_id, conf.pages[page_id].body.replace("10:02 paged", "10:02 paged; 10:05 ack")
        )

    conf.before_update = person_edits
    result = run(jira, conf)
    assert not result.failed
    body = conf.pages[PAGE_ID].body
    assert "10:05 ack" in body
    assert {t for t, _, _ in items_on_page(conf).values()} == set(jira.tickets)
    assert len(jira.tickets) == 2


class LosingJira(FakeJira):
    """Commits a bulk create, then loses the answer."""

    lose: int = 1

    def create_tickets(self, tickets: list[NewTicket]) -> list[CreateResult]:  # type: ignore[override]
        results = super().create_tickets(tickets)
        if self.lose:
            self.lose -= 1
            raise ConnectivityError("connection dropped", service="jira")
        return results


def test_ambiguous_create_is_recovered_without_duplicates() -> None:
    """A create whose answer is lost is found again by search, never repeated."""
    jira = LosingJira(users=[JiraUser("acc-alice", "Alice Ng")])
    _, conf = make()
    result = run(jira, conf)
    assert not result.failed, result.failures
    assert len(jira.tickets) == 2
    assert jira.calls["create_tickets"] == 1
    assert {t for t, _, _ in items_on_page(conf).values()} == set(jira.tickets)


def test_page_leased_by_a_live_run_is_skipped_and_counted() -> None:
    """Another run's unexpired lease makes this run skip the page: counted in the run's
    summary, not a finding while the lease is young (another run is at work)."""
    jira, conf = make()
    leases.acquire(conf, PAGE_ID, "other-run", now=NOW, ttl=timedelta(minutes=5))
    result = run(jira, conf)
    assert jira.tickets == {}
    assert result.counts()["leased"] == 1
    assert [p.leased_by for p in result.pages] == ["other-run"]
    assert FindingCode.PAGE_LEASED not in [f.code for f in result.findings]


@pytest.mark.parametrize(
    ("held_for", "finding"),
    [(timedelta(seconds=30), False), (timedelta(minutes=2), False), (timedelta(minutes=3), True)],
)
def test_a_lease_held_past_half_its_length_is_a_finding(held_for: timedelta, finding: bool) -> None:
    """A page kept off by a lease older (by the server's clock) than half its length,
    far longer than a run holds one, becomes a `page-leased` finding: runs before this
    one met it too. A young lease is only counted."""
    jira, conf = make()
    server = [NOW]
    conf.clock = lambda: server[0]
    leases.acquire(conf, PAGE_ID, "stuck-run", now=NOW, ttl=timedelta(minutes=5))
    server[0] = NOW + held_for
    result = run(jira, conf)
    assert jira.tickets == {}
    assert result.counts()["leased"] == 1
    assert (FindingCode.PAGE_LEASED in [f.code for f in result.findings]) is finding


@pytest.mark.parametrize("skew", [timedelta(hours=24), timedelta(hours=-24)])
def test_leases_follow_the_servers_clock_not_the_runs(skew: timedelta) -> None:
    """A run whose clock is a day off neither steals a live lease nor leaves one that
    outlasts its length: expiry is the server's write time plus the lease's length,
    compared with the server's time."""
    jira, conf = make()
    server = [NOW]
    conf.clock = lambda: server[0]
    dead = leases.acquire(conf, PAGE_ID, "skewed-run", now=NOW + skew, ttl=timedelta(minutes=5))
    assert isinstance(dead, leases.Lease)
    skewed = Engine(jira, conf, Policy(), EngineConfig(), clock=lambda: NOW + skew, run_id="b")
    blocked = skewed.run(today=TODAY, dry_run=False)
    assert jira.tickets == {}
    assert blocked.counts()["leased"] == 1
    server[0] = NOW + timedelta(minutes=5, seconds=1)
    taken = skewed.run(today=TODAY, dry_run=False)
    assert taken.counts()["leased"] == 0
    assert len(jira.tickets) == 2


def test_expired_lease_is_taken_over() -> None:
    """A lease left by a run that died is taken over once it has expired."""
    jira, conf = make()
    leases.acquire(
        conf, PAGE_ID, "dead-run", now=NOW - timedelta(hours=1), ttl=timedelta(minutes=5)
    )
    run(jira, conf)
    assert len(jira.tickets) == 2
    prop = conf.properties[(PAGE_ID, leases.LEASE_KEY)]
    assert prop.value["released"] is True


def test_a_released_lease_names_the_tickets_its_run_created() -> None:
    """The lease a run gives back lists the tickets it created for the page; the next
    run taking the lease learns them (the search may not show them yet). A list that
    is not one is ignored, and the list is bounded."""
    jira, conf = make()
    run(jira, conf)
    prop = conf.properties[(PAGE_ID, leases.LEASE_KEY)]
    assert sorted(prop.value["created"]) == sorted(jira.tickets)
    lease = leases.acquire(conf, PAGE_ID, "next-run", now=NOW, ttl=timedelta(minutes=5))
    assert isinstance(lease, leases.Lease)
    assert sorted(lease.recent) == sorted(jira.tickets)
    many = [f"OPS-{n}" for n in range(1, 2000)]
    leases.release(conf, lease, created=many)
    stored = conf.properties[(PAGE_ID, leases.LEASE_KEY)].value["created"]
    assert stored == many[: leases.MAX_RECORDED_CREATES]
    conf.update_property(
        PAGE_ID,
        leases.LEASE_KEY,
        {"owner": "x", "expires": NOW.isoformat(), "released": True, "created": "OPS-1"},
        version=conf.properties[(PAGE_ID, leases.LEASE_KEY)].version + 1,
    )
    again = leases.acquire(conf, PAGE_ID, "third-run", now=NOW, ttl=timedelta(minutes=5))
    assert isinstance(again, leases.Lease)
    assert again.recent == ()


def test_a_failed_create_does_not_stop_the_others() -> None:
    """One item's failure is reported; the rest is applied; the run is marked failed."""
    jira, conf = make()
    jira.fail_create_refs = {f"{PAGE_ID}:task:2"}
    result = run(jira, conf)
    assert result.failed
    assert len(jira.tickets) == 1
    shown = items_on_page(conf)
    assert shown["Add alert on replica lag"][0] in jira.tickets
    assert shown["Write the failover runbook"][0] is None
    assert result.counts()["errors"] == 1


def test_owner_change_on_page_reassigns_and_jira_change_rewrites_the_page() -> None:
    """Owner edits flow page -> Jira and Jira -> page."""
    jira, conf = make()
    run(jira, conf)
    key = next(k for k, t in jira.tickets.items() if t.summary.startswith("Add alert"))
    conf.edit_page(PAGE_ID, conf.pages[PAGE_ID].body.replace("acc-alice", "acc-bob"))
    run(jira, conf, run_id="b")
    assert jira.tickets[key].assignee == "acc-bob"
    jira.tickets[key] = replace(jira.tickets[key], assignee="acc-alice")
    run(jira, conf, run_id="c")
    ex = extract(conf.pages[PAGE_ID].body, PAGE_ID)
    owner = next(i.owner for i in ex.items if i.ticket == key)
    assert owner is not None
    assert owner.value == "acc-alice"
    assert run(jira, conf, run_id="d").actions == []


def test_item_removed_from_page_is_reported_as_orphan() -> None:
    """Deleting an item leaves its ticket alone and reports it."""
    jira, conf = make()
    run(jira, conf)
    body = conf.pages[PAGE_ID].body
    start = body.index("<ac:task><ac:task-id>2")
    end = body.index("</ac:task>", start) + len("</ac:task>")
    conf.edit_page(PAGE_ID, body[:start] + body[end:])
    result = run(jira, conf, run_id="b")
    assert FindingCode.ORPHANED_TICKET in [f.code for f in result.findings]
    assert len(jira.tickets) == 2


def test_overdue_badge_follows_the_run_date() -> None:
    """The same state shows OVERDUE once the run's date passes the due date."""
    jira, conf = make()
    run(jira, conf)
    result = run(jira, conf, run_id="b", today=date(2026, 12, 16))
    assert [a for a in result.actions if a.op is Op.WRITE_PAGE]
    assert items_on_page(conf)["Add alert on replica lag"][2] == "OVERDUE"


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_report_renders_in_every_format(fmt: str) -> None:
    """The reconciliation report renders in each format with the counts of the run."""
    from followup.reports.sync import render_report

    jira, conf = make()
    result = run(jira, conf, dry_run=True)
    out = render_report(result, fmt)  # type: ignore[arg-type]
    assert "create" in out
    if fmt == "json":
        import json

        data = json.loads(out)
        assert data["summary"]["create"] == 2
        assert data["dry_run"] is True
        assert {f["code"] for f in data["findings"]} >= {"missing-owner"}


def test_one_engine_runs_twice_each_run_with_its_own_state() -> None:
    """An engine reused for a second run (as a long-lived caller may) starts that run
    with a state of its own: what the first run learned (the tickets it created) is
    not carried over, and the second run still finds everything and writes nothing."""
    jira, conf = make()
    engine = Engine(jira, conf, Policy(), EngineConfig(concurrency=2), clock=lambda: NOW)
    first = engine.run(today=TODAY, dry_run=False)
    assert not first.failed
    assert sorted(engine.state.created(PAGE_ID)) == sorted(jira.tickets)
    writes = jira.writes + conf.writes
    second = engine.run(today=TODAY, dry_run=False)
    assert not second.failed
    assert second.actions == []
    assert jira.writes + conf.writes == writes
    assert engine.state.created(PAGE_ID) == []
