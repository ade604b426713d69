"""The follow-up health report: every figure from fixed data and a fixed day against
numbers worked out by hand (the arithmetic is in the comments), each rendering, the
publishing with optimistic locking, and the command end to end against the sandbox."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from sandbox_support import reset_server
from typer.testing import CliRunner

import followup.core.health
import followup.reports.charts
import followup.reports.health_html
from followup.adapters import ConfluenceAdapter
from followup.cli import app
from followup.commands.report import (
    PUBLISH_MESSAGE,
    publish_report,
    published_digest,
    report_command,
    splice_report,
)
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.health import Health, compute_health
from followup.core.model import (
    ActionItem,
    Extraction,
    Owner,
    Page,
    SyncBase,
    Ticket,
    TicketProperty,
)
from followup.core.policy import Scope
from followup.errors import ConflictError, ConnectivityError, PlanError
from followup.reports.health import render_health
from followup.reports.health_html import to_html, to_storage
from followup.sandbox import control
from followup.sandbox.confluence.storage import reserialize_storage
from followup.sandbox.seed import DEMO_ADMIN, DEMO_TODAY
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.testing import FakeConfluence

TODAY = date(2026, 11, 26)

# -- the fixed portfolio ----------------------------------------------------------------
#
# P1 "DB outage"      SRE, postmortem 2026-09-01 (86 days before TODAY)
#   a1 Alice  due 09-30  OPS-1 done, ticket 09-03, resolved 09-28  (on time)
#   a2 Bob    due 10-15  OPS-2 done, ticket 09-01, resolved 10-20  (5 days late)
#   a3 Alice  due 11-10  OPS-3 In Progress, ticket 09-05          (16 days overdue)
#   a4 nobody no due     OPS-4 To Do, ticket 09-05, no assignee
# P2 "Card timeouts"  PAY, postmortem 2026-10-20 (37 days)
#   b1 Carol  due 11-01  OPS-5 To Do, ticket 10-25                 (25 days overdue)
#   b2 Bob    due 12-11  OPS-6 To Do, ticket 10-21
#   b3 "Dana Park" (a name) due 11-20, no ticket                   (6 days overdue)
#   b4 Carol  no due     OPS-7 done, ticket 10-30, resolved 11-05
# P3 "Kafka backlog"  SRE, postmortem 2026-11-20 (6 days)
#   c1 Alice  due 12-02  OPS-8 To Do, ticket 11-19 (before the postmortem: 0 days)
#   c2 nobody on the page, due 11-25 on the page; OPS-9 assigned to Bob in Jira and
#      due 11-30 in Jira: Jira is the record, so owned by Bob and not overdue
# P4 "Payouts draft"  PAY, postmortem 2026-11-24, no action items
# P5 "Old incident"   SRE, postmortem 2026-06-01 (178 days)
#   d1 Alice  due 07-01  OPS-10 done, ticket 06-02, resolved 07-01 (on time: same day)
#   d2 Erin   due 08-01  OPS-11 To Do, ticket 06-03                (117 days overdue)
#   d3 nobody due 06-15  ticked on the page, no ticket

ALICE, BOB, CAROL, ERIN = "acc-alice", "acc-bob", "acc-carol", "acc-erin"
NAMES = {ALICE: "Alice Ng", BOB: "Bob Ray", CAROL: "Carol Diaz", ERIN: "Erin Quinn"}


def _dt(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


def _page(pid: str, title: str, space: str, created: str) -> Page:
    return Page(
        id=pid,
        title=title,
        space_key=space,
        version=1,
        body="",
        url=f"https://acme.example/wiki/spaces/{space}/pages/{pid}",
        created=_dt(created),
    )


PAGES = [
    _page("1", "DB outage", "SRE", "2026-09-01"),
    _page("2", "Card timeouts", "PAY", "2026-10-20"),
    _page("3", "Kafka backlog", "SRE", "2026-11-20"),
    _page("4", "Payouts draft", "PAY", "2026-11-24"),
    _page("5", "Old incident", "SRE", "2026-06-01"),
]


@dataclass
class Row:
    pid: str
    n: int
    text: str
    owner: str | None  # an account id, or "name:..." for a name typed on the page
    due: str | None
    ticket: str | None = None
    done_on_page: bool = False


ROWS = [
    Row("1", 1, "Alert on replica lag", ALICE, "2026-09-30", "OPS-1"),
    Row("1", 2, "Route reads to the primary", BOB, "2026-10-15", "OPS-2"),
    Row("1", 3, "Load-test the reporting batch", ALICE, "2026-11-10", "OPS-3"),
    Row("1", 4, "Runbook for replica promotion", None, None, "OPS-4"),
    Row("2", 1, "Client timeout on the gateway", CAROL, "2026-11-01", "OPS-5"),
    Row("2", 2, "Per-issuer latency alert", BOB, "2026-12-11", "OPS-6"),
    Row("2", 3, "Acquirer maintenance notice", "name:Dana Park", "2026-11-20"),
    Row("2", 4, "Game day scenario", CAROL, None, "OPS-7"),
    Row("3", 1, "Set max.poll.interval.ms", ALICE, "2026-12-02", "OPS-8"),
    Row("3", 2, "Find why the DLQ consumer paused", None, "2026-11-25", "OPS-9"),
    Row("5", 1, "Rotate credentials", ALICE, "2026-07-01", "OPS-10"),
    Row("5", 2, "Document failover", ERIN, "2026-08-01", "OPS-11"),
    Row("5", 3, "Share the postmortem", None, "2026-06-15", done_on_page=True),
]

# ticket key: (assignee, due, status, created, resolved)
JIRA: dict[str, tuple[str | None, str | None, str, str, str | None]] = {
    "OPS-1": (ALICE, "2026-09-30", "Done", "2026-09-03", "2026-09-28"),
    "OPS-2": (BOB, "2026-10-15", "Done", "2026-09-01", "2026-10-20"),
    "OPS-3": (ALICE, "2026-11-10", "In Progress", "2026-09-05", None),
    "OPS-4": (None, None, "To Do", "2026-09-05", None),
    "OPS-5": (CAROL, "2026-11-01", "To Do", "2026-10-25", None),
    "OPS-6": (BOB, "2026-12-11", "To Do", "2026-10-21", None),
    "OPS-7": (CAROL, None, "Done", "2026-10-30", "2026-11-05"),
    "OPS-8": (ALICE, "2026-12-02", "To Do", "2026-11-19", None),
    "OPS-9": (BOB, "2026-11-30", "To Do", "2026-11-21", None),
    "OPS-10": (ALICE, "2026-07-01", "Done", "2026-06-02", "2026-07-01"),
    "OPS-11": (ERIN, "2026-08-01", "To Do", "2026-06-03", None),
}
CATEGORY = {"Done": "done", "In Progress": "indeterminate", "To Do": "new"}


def _owner(value: str | None) -> Owner | None:
    if value is None:
        return None
    if value.startswith("name:"):
        return Owner("name", value[5:])
    return Owner("account_id", value)


def portfolio() -> tuple[list[Page], dict[str, Extraction], list[Ticket]]:
    items: dict[str, list[ActionItem]] = {p.id: [] for p in PAGES}
    tickets: list[Ticket] = []
    for r in ROWS:
        key = f"{r.pid}:task:{r.n}"
        items[r.pid].append(
            ActionItem(
                key=key,
                page_id=r.pid,
                text=r.text,
                owner=_owner(r.owner),
                due=date.fromisoformat(r.due) if r.due else None,
                done=r.done_on_page,
                ticket=r.ticket,
                source="task",
            )
        )
        if r.ticket is None:
            continue
        assignee, due, status, created, resolved = JIRA[r.ticket]
        tickets.append(
            Ticket(
                key=r.ticket,
                id=r.ticket[4:],
                summary=r.text,
                assignee=assignee,
                due=date.fromisoformat(due) if due else None,
                status=status,
                status_category=CATEGORY[status],  # type: ignore[arg-type]
                labels=("followup", f"followup-{r.pid}"),
                resolution="Done" if status == "Done" else None,
                prop=TicketProperty(key, r.pid, None),
                assignee_display=NAMES.get(assignee or ""),
                created=_dt(created),
                resolved=_dt(resolved) if resolved else None,
            )
        )
    extractions = {pid: Extraction(pid, tuple(its), ()) for pid, its in items.items()}
    return PAGES, extractions, tickets


@pytest.fixture(scope="module")
def health() -> Health:
    pages, extractions, tickets = portfolio()
    return compute_health(pages, extractions, tickets, TODAY)


def test_totals(health: Health) -> None:
    """13 items on 5 pages: done a1 a2 b4 d1 d3 (5), open 8; overdue a3 b1 b3 d2 (c2 is
    due 11-30 in Jira, so not overdue); no owner a4 d3 (c2 is Bob's in Jira); no due a4 b4."""
    t = health.totals
    assert (health.pages, t.total, t.open, t.done) == (5, 13, 8, 5)
    assert (t.overdue, t.no_owner, t.no_due) == (4, 2, 2)


def test_by_space(health: Health) -> None:
    """SRE: 9 items, open a3 a4 c1 c2 d2, done a1 a2 d1 d3, overdue a3 d2, no owner a4 d3,
    no due a4. PAY: 4 items, open b1 b2 b3, done b4, overdue b1 b3, no due b4. Both have 2
    overdue; SRE has more open, so it comes first."""
    rows = [
        (g.label, {k: v for k, v in g.counts.to_json().items() if k != "owner_not_found"})
        for g in health.by_space
    ]
    assert rows == [
        ("SRE", {"total": 9, "open": 5, "done": 4, "overdue": 2, "no_owner": 2, "no_due": 1}),
        ("PAY", {"total": 4, "open": 3, "done": 1, "overdue": 2, "no_owner": 0, "no_due": 1}),
    ]
    assert [g.counts.owner_not_found for g in health.by_space] == [0, 0]


def test_by_owner(health: Health) -> None:
    """Alice a1 a3 c1 d1; Bob a2 b2 c2; Carol b1 b4; Dana Park b3 (a name, no ticket);
    Erin d2; nobody a4 d3. Most overdue first (Alice, Carol, Dana, Erin have 1; Alice has
    the most open), then Bob (2 open) and nobody (1 open)."""
    rows = [
        (g.label, g.counts.total, g.counts.open, g.counts.done, g.counts.overdue)
        for g in health.by_owner
    ]
    assert rows == [
        ("Alice Ng", 4, 2, 2, 1),
        ("Carol Diaz", 2, 1, 1, 1),
        ("Dana Park", 1, 1, 0, 1),
        ("Erin Quinn", 1, 1, 0, 1),
        ("Bob Ray", 3, 2, 1, 0),
        ("(no owner)", 2, 1, 1, 0),
    ]
    assert health.by_owner[-1].counts.no_owner == 2


def test_by_postmortem(health: Health) -> None:
    """Card timeouts 2 overdue; DB outage and Old incident 1 each (DB outage has 2 open,
    Old incident 1); Kafka backlog none. The empty draft has no row."""
    rows = [
        (g.label, g.counts.total, g.counts.open, g.counts.done, g.counts.overdue)
        for g in health.by_postmortem
    ]
    assert rows == [
        ("Card timeouts", 4, 3, 1, 2),
        ("DB outage", 4, 2, 2, 1),
        ("Old incident", 3, 1, 2, 1),
        ("Kafka backlog", 2, 2, 0, 0),
    ]
    assert health.by_postmortem[0].url == "https://acme.example/wiki/spaces/PAY/pages/2"


def test_age_buckets(health: Health) -> None:
    """Open items by days since their postmortem: c1 c2 6 days; b1 b2 b3 37 days;
    a3 a4 86 days; d2 178 days."""
    assert health.age_buckets == (
        ("0-30 days", 2),
        ("31-60 days", 3),
        ("61-90 days", 2),
        ("over 90 days", 1),
    )


def test_on_time_rate_and_late_items(health: Health) -> None:
    """Done with a due date and a resolution: a1 (09-28 <= 09-30), a2 (10-20 > 10-15),
    d1 (07-01 = 07-01): 2 of 3 on time. b4 has no due date, d3 no resolution date."""
    assert (health.done_with_due, health.done_on_time) == (3, 2)
    assert health.on_time_rate == pytest.approx(2 / 3)
    assert [(i.ticket, i.due, i.resolved) for i in health.done_late] == [
        ("OPS-2", date(2026, 10, 15), date(2026, 10, 20))
    ]


def test_median_days(health: Health) -> None:
    """Postmortem to ticket: a1 2, a2 0, a3 4, a4 4, b1 5, b2 1, b4 10, c1 0 (ticket made
    the day before), c2 1, d1 1, d2 2 -> sorted 0 0 1 1 1 2 2 4 4 5 10, median 2 of 11.
    Ticket to done: a1 25, a2 49, b4 6, d1 29 -> median (25 + 29) / 2 = 27 of 4."""
    assert (health.median_days_to_ticket, health.tickets_measured) == (2.0, 11)
    assert (health.median_days_to_done, health.done_measured) == (27.0, 4)


def test_oldest_overdue(health: Health) -> None:
    """Oldest due date first, with owner, ticket and days overdue: d2 08-01 (117 days),
    b1 11-01 (25), a3 11-10 (16), b3 11-20 (6, no ticket, a name for owner)."""
    got = [(i.text, i.owner, i.ticket, i.days_overdue) for i in health.oldest_overdue]
    assert got == [
        ("Document failover", "Erin Quinn", "OPS-11", 117),
        ("Client timeout on the gateway", "Carol Diaz", "OPS-5", 25),
        ("Load-test the reporting batch", "Alice Ng", "OPS-3", 16),
        ("Acquirer maintenance notice", "Dana Park", None, 6),
    ]


def test_oldest_is_capped() -> None:
    """`oldest` caps the list to the N oldest."""
    pages, extractions, tickets = portfolio()
    capped = compute_health(pages, extractions, tickets, TODAY, oldest=2)
    assert [i.ticket for i in capped.oldest_overdue] == ["OPS-11", "OPS-5"]


def test_postmortems_without_action_items(health: Health) -> None:
    """Only the draft has no items."""
    assert [(p.id, p.title) for p in health.no_action_items] == [("4", "Payouts draft")]


def test_open_vs_done_over_time(health: Health) -> None:
    """Weekly points ending on TODAY; the first postmortem (06-01) is 178 days back,
    ceil(178 / 7) = 26 weeks, capped at 25: 26 points from 06-04.
    06-04: d1 d2 open, d3 done (ticked, no date: done from 06-01) -> 2 open, 1 done.
    07-02: d1 resolved 07-01 -> 1 open, 2 done.
    09-03: P1's four items exist, none done yet -> d2 a1 a2 a3 a4 = 5 open, 2 done.
    10-22: a1 (09-28) a2 (10-20) done; P2's four open (b4 resolved 11-05) -> 7 open, 4 done.
    11-26: everything -> 8 open, 5 done."""
    points = {p.day.isoformat(): (p.open, p.done) for p in health.timeline}
    assert len(health.timeline) == 26
    assert health.timeline[0].day == date(2026, 6, 4)
    assert health.timeline[-1].day == TODAY
    assert points["2026-06-04"] == (2, 1)
    assert points["2026-07-02"] == (1, 2)
    assert points["2026-09-03"] == (5, 2)
    assert points["2026-10-22"] == (7, 4)
    assert points["2026-11-26"] == (8, 5)


def test_empty_portfolio() -> None:
    """No pages: zeros, no rates, no timeline; nothing divides by zero."""
    h = compute_health([], {}, [], TODAY)
    assert h.totals.total == 0
    assert (h.on_time_rate, h.median_days_to_ticket, h.median_days_to_done) == (None, None, None)
    assert h.timeline == ()
    assert "No data yet" in to_html(h)
    assert "Nothing is overdue" in to_storage(h)


def test_health_modules_are_pure() -> None:
    """The figures, the charts and the HTML/storage rendering do no I/O."""
    forbidden = {"requests", "jira", "atlassian", "os", "time", "socket", "followup.adapters"}
    for module in (followup.core.health, followup.reports.charts, followup.reports.health_html):
        tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert not imported & forbidden, module.__name__


# -- renderings -------------------------------------------------------------------------


def test_json_carries_every_figure(health: Health) -> None:
    """--format json: the same numbers, machine-readable."""
    data = json.loads(render_health(health, "json"))
    assert data["totals"] == {
        "total": 13,
        "open": 8,
        "done": 5,
        "overdue": 4,
        "no_owner": 2,
        "no_due": 2,
        "owner_not_found": 0,
    }
    assert data["on_time"] == {"rate": pytest.approx(2 / 3), "on_time": 2, "measured": 3, "late": 1}
    assert data["median_days_to_done"] == 27.0
    assert data["age_buckets"]["over 90 days"] == 1
    assert [i["ticket"] for i in data["oldest_overdue"]][:2] == ["OPS-11", "OPS-5"]
    assert data["no_action_items"][0]["title"] == "Payouts draft"
    assert len(data["items"]) == 13


def test_text_and_markdown(health: Health) -> None:
    """Text and Markdown open with the headline and show every table."""
    text = render_health(health, "text", width=200)
    assert text.startswith(
        "Follow-up health 2026-11-26: 13 action items from 5 postmortems; 8 open, 5 done, 4 overdue"
    )
    for needle in ("Oldest overdue items", "Document failover", "67%", "27 days", "Erin Quinn"):
        assert needle in text
    md = render_health(health, "markdown")
    assert "| Done on time | 67% |" in md
    assert "| SRE | 5 | 4 | 2 | 2 | 1 | 9 |" in md
    assert "## Postmortems without action items" in md


def test_html_is_self_contained_with_three_charts(health: Health) -> None:
    """One file: inline CSS and SVG, no script, no external resource, a print style."""
    page = to_html(health, jira_url="https://acme.example")
    assert "<script" not in page
    assert 'src="http' not in page
    assert "<link" not in page
    assert "@media print" in page
    for chart in ("open-vs-done", "overdue-by-owner", "age-distribution"):
        assert f'data-chart="{chart}"' in page
    # the overdue-by-owner bars carry the hand-checked values, in order
    root = etree.HTML(page)
    bars = root.xpath('//svg[@data-chart="overdue-by-owner"]//rect/@data-value')
    assert bars == ["1", "1", "1", "1"]
    ages = root.xpath('//svg[@data-chart="age-distribution"]//rect/@data-value')
    assert ages == ["2", "3", "2", "1"]
    assert len(root.xpath('//svg[@data-chart="open-vs-done"]//polyline')) == 2
    assert 'href="https://acme.example/browse/OPS-11"' in page


def test_storage_format_is_well_formed_tables_and_lozenges(health: Health) -> None:
    """The published form: storage format Confluence accepts (the sandbox's
    re-serialiser parses it), status lozenges, no SVG, no html macro."""
    body = to_storage(health, jira_url="https://acme.example")
    reserialize_storage(body)  # raises on malformed XML
    assert "<svg" not in body
    assert 'ac:name="html"' not in body
    assert body.count('<ac:structured-macro ac:name="status">') >= 9 + 4
    assert '<ac:parameter ac:name="title">OVERDUE</ac:parameter>' in body
    assert '<ac:parameter ac:name="colour">Red</ac:parameter>' in body
    assert "▇" in body


# -- publishing (in memory) ---------------------------------------------------------------


def _conf_with(body: str) -> FakeConfluence:
    conf = FakeConfluence()
    conf.add_page(Page(id="900", title="Follow-up health", space_key="SRE", version=4, body=body))
    return conf


def test_publish_keeps_what_people_wrote_and_skips_an_unchanged_report() -> None:
    """A page without a report region gets one appended after the person's text; the
    next publish replaces only the region; the same report again writes nothing."""
    conf = _conf_with("<p>Maintained by SRE. Ask in #sre.</p>")
    first = publish_report(conf, "900", "<p>report one</p>")
    assert (first.written, first.attempts, first.page.version) == (True, 1, 5)
    body = conf.pages["900"].body
    assert body.startswith("<p>Maintained by SRE. Ask in #sre.</p>")
    conf.edit_page("900", body + "<p>Footer a person added.</p>")
    second = publish_report(conf, "900", "<p>report two</p>")
    assert second.written
    body = conf.pages["900"].body
    assert "report two" in body
    assert "report one" not in body
    assert body.startswith("<p>Maintained by SRE.")
    assert body.endswith("Footer a person added.</p>")
    writes = conf.calls["update_page"]
    third = publish_report(conf, "900", "<p>report two</p>")
    assert (third.written, conf.calls["update_page"]) == (False, writes)


def test_publish_rereads_on_conflict_and_keeps_the_concurrent_edit() -> None:
    """A person saves the page between our read and our write: 409, read again, splice
    again, write; their edit is on the page with the report."""
    conf = _conf_with("<p>Intro.</p>")

    def person_edits(page_id: str) -> None:
        conf.edit_page(page_id, "<p>Intro, edited meanwhile.</p>")

    conf.before_update = person_edits
    result = publish_report(conf, "900", "<p>the report</p>")
    assert (result.written, result.attempts) == (True, 2)
    assert conf.calls["update_page"] == 2
    body = conf.pages["900"].body
    assert body.startswith("<p>Intro, edited meanwhile.</p>")
    assert "the report" in body


def test_publish_gives_up_after_the_retries() -> None:
    """Conflicts on every attempt: max_retries + 1 writes, then the 409 is raised."""

    class AlwaysStale(FakeConfluence):
        def update_page(self, page: Page, body: str, *, message: str) -> Page:
            self.calls["update_page"] += 1
            raise ConflictError("stale", service="confluence", status=409)

    conf = AlwaysStale()
    conf.add_page(Page(id="900", title="T", space_key="SRE", version=1, body=""))
    with pytest.raises(ConflictError):
        publish_report(conf, "900", "<p>r</p>", max_retries=2)
    assert conf.calls["update_page"] == 3


def test_publish_after_a_lost_answer_does_not_write_twice() -> None:
    """The write landed but its answer was lost: the re-read finds our report (by its
    digest) and stops there."""

    class LosesAnswer(FakeConfluence):
        def update_page(self, page: Page, body: str, *, message: str) -> Page:
            super().update_page(page, body, message=message)
            raise ConnectivityError("connection dropped", service="confluence")

    conf = LosesAnswer()
    conf.add_page(Page(id="900", title="T", space_key="SRE", version=1, body=""))
    result = publish_report(conf, "900", "<p>r</p>")
    assert (result.written, result.attempts, conf.calls["update_page"]) == (False, 2, 1)


def test_region_survives_confluence_reserialisation() -> None:
    """Confluence rewrites what it stores (sorted attributes, macro ids): the report
    region and its digest are still found, and splicing again leaves one region."""
    stored = reserialize_storage(splice_report("<p>Intro.</p>", "<p>r</p>"))
    assert stored != splice_report("<p>Intro.</p>", "<p>r</p>")
    assert published_digest(stored) is not None
    again = splice_report(stored, "<p>r2</p>")
    assert again.count("followup-report-start") == 1
    assert "r2" in again
    assert "<p>r</p>" not in again


# -- the command -------------------------------------------------------------------------


def test_cli_passes_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """`report --publish ID --space SRE --today ...` reaches report_command."""
    seen: dict[str, Any] = {}

    def fake(settings: Settings, **options: Any) -> int:
        seen.update(options)
        return 0

    monkeypatch.setattr("followup.commands.report.report_command", fake)
    env = {
        "FOLLOWUP_JIRA__URL": "https://acme.atlassian.net",
        "FOLLOWUP_JIRA__EMAIL": "a@example.com",
        "FOLLOWUP_JIRA__TOKEN": "t0ken-for-the-report-test",
        "FOLLOWUP_JIRA__PROJECT": "OPS",
        "FOLLOWUP_CONFLUENCE__URL": "https://acme.atlassian.net/wiki",
    }
    result = CliRunner().invoke(
        app,
        ["report", "--publish", "98000042", "--space", "SRE", "--today", "2026-11-26"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert seen["publish"] == "98000042"
    assert seen["spaces"] == ("SRE",)
    assert seen["today"] == TODAY


def _settings(server: RunningSandbox) -> Settings:
    return load_settings(None, env=control.env_for(server.state, server.url))


def _get(server: RunningSandbox, path: str, **params: Any) -> Any:
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    r = requests.get(f"{server.url}{path}", params=params, auth=auth, timeout=10)
    r.raise_for_status()
    return r.json()


# The demo's runbook: not labelled postmortem, so publishing onto it leaves the report's
# own input alone.
REPORT_PAGE = "98000007"


def test_report_against_the_sandbox_after_a_sync(
    sandbox_server: RunningSandbox, tmp_path: Path
) -> None:
    """After a sync of the demo site, `followup report` reads it with one search per
    side and shows the demo's hand-counted figures: 23 items on 6 postmortems, one done
    (the ticked replica-lag dashboard), five overdue on 2026-11-26 (due 11-13, 11-06,
    11-20, 10-31, 11-25), the draft without items."""
    reset_server(sandbox_server)
    settings = _settings(sandbox_server)
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        build_engine(settings, adapters.jira, adapters.confluence).run(
            today=DEMO_TODAY, dry_run=False
        )
    finally:
        adapters.close()
    sandbox_server.stats.reset()
    out = tmp_path / "health.json"
    report_command(settings, fmt="json", output=out, today=DEMO_TODAY)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["pages"] == 6
    t = data["totals"]
    assert (t["total"], t["done"], t["open"], t["overdue"]) == (23, 1, 22, 5)
    assert [p["title"] for p in data["no_action_items"]] == [
        "DRAFT Postmortem: Canadian payouts delayed by a bank-holiday gap"
    ]
    assert all(i["ticket"] for i in data["items"])
    by_route = sandbox_server.stats.snapshot()["by_route"]
    reads = {k: v for k, v in by_route.items() if not k.startswith("GET /rest/api/2/serverInfo")}
    assert sum(v for k, v in reads.items() if "search" in k) == 2  # one CQL page, one JQL page
    assert not any(k.startswith(("POST", "PUT", "DELETE")) for k in reads)


def test_publish_against_the_sandbox_with_a_conflict(
    sandbox_server: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--publish writes the report onto the page with version = read + 1; a person's
    save between our read and our write makes the sandbox answer 409, and the retry
    keeps their edit. Publishing the same report again writes nothing."""
    reset_server(sandbox_server)
    settings = _settings(sandbox_server)
    page_id = REPORT_PAGE
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    original_get = ConfluenceAdapter.get_page
    edits = {"left": 1}

    def get_then_person_saves(self: ConfluenceAdapter, pid: str) -> Page:
        page = original_get(self, pid)
        if edits["left"]:
            edits["left"] -= 1
            body = page.body + "<p>Edited by a person meanwhile.</p>"
            r = requests.put(
                f"{sandbox_server.url}/wiki/rest/api/content/{pid}",
                json={
                    "id": pid,
                    "type": "page",
                    "title": page.title,
                    "version": {"number": page.version + 1},
                    "body": {"storage": {"value": body, "representation": "storage"}},
                },
                auth=auth,
                timeout=10,
            )
            r.raise_for_status()
        return page

    monkeypatch.setattr(ConfluenceAdapter, "get_page", get_then_person_saves)
    before = _get(sandbox_server, f"/wiki/rest/api/content/{page_id}", expand="version")
    sandbox_server.stats.reset()
    report_command(
        settings, fmt="text", output=tmp_path / "r.txt", today=DEMO_TODAY, publish=page_id
    )
    by_route = sandbox_server.stats.snapshot()["by_route"]
    # the person's PUT, our 409, our successful retry
    assert by_route["PUT /wiki/rest/api/content/{id}"] == 3
    after = _get(sandbox_server, f"/wiki/rest/api/content/{page_id}", expand="body.storage,version")
    assert after["version"]["number"] == before["version"]["number"] + 2
    assert after["version"]["message"] == PUBLISH_MESSAGE
    body = after["body"]["storage"]["value"]
    assert "Edited by a person meanwhile." in body
    assert "Checklist" in body  # the runbook's own content is still there
    assert "Oldest overdue items" in body
    assert "OVERDUE" in body
    # unchanged report: no write
    sandbox_server.stats.reset()
    report_command(
        settings, fmt="text", output=tmp_path / "r.txt", today=DEMO_TODAY, publish=page_id
    )
    assert "PUT /wiki/rest/api/content/{id}" not in sandbox_server.stats.snapshot()["by_route"]


def test_publish_to_a_missing_page_says_so_after_the_report(
    sandbox_server: RunningSandbox, tmp_path: Path
) -> None:
    """--publish with an id no page has: the report is still written, then a PlanError
    names the id and how to find the right one; nothing is written to Confluence."""
    reset_server(sandbox_server)
    settings = _settings(sandbox_server)
    out = tmp_path / "r.md"
    with pytest.raises(PlanError, match="--publish 98999999: there is no Confluence page"):
        report_command(settings, fmt="markdown", output=out, today=DEMO_TODAY, publish="98999999")
    assert out.read_text(encoding="utf-8").startswith("# Follow-up health — 2026-11-26")
    assert sandbox_server.stats.snapshot()["writes"] == 0


# -- a first run does not mislead ---------------------------------------------------------


def test_done_before_tracking_and_owner_not_found() -> None:
    """On a first run an item ticked before it had a ticket (followup created it and
    closed it at once) is "done before tracking": not late, not on time, not timed; and
    an owner no Jira user matches counts under "owner not found", not as an owner."""
    page = _page("7", "Checkout outage", "SRE", "2026-06-01")
    ticked = ActionItem(
        "7:task:1",
        "7",
        "Share the timeline",
        _owner(ALICE),
        date(2026, 7, 1),
        True,
        "OPS-20",
        "task",
    )
    nobody = ActionItem(
        "7:task:2", "7", "Add a canary", Owner("name", "Bob Nobody"), date(2026, 12, 20), False,
        "OPS-21", "task",
    )  # fmt: skip
    first_run = _dt("2026-11-26")
    tracked_done = Ticket(
        "OPS-20", "20", "Share the timeline", ALICE, date(2026, 7, 1), "Done", "done",
        ("followup", "followup-7"), "Done",
        TicketProperty(
            "7:task:1", "7", SyncBase("Share the timeline", ALICE, date(2026, 7, 1), True,
                                      f"account_id:{ALICE}"),
            done_before_tracking=True,
        ),
        NAMES[ALICE], first_run, first_run,
    )  # fmt: skip
    unassigned = Ticket(
        "OPS-21", "21", "Add a canary", None, date(2026, 12, 20), "To Do", "new",
        ("followup", "followup-7"), None,
        TicketProperty("7:task:2", "7", SyncBase("Add a canary", None, date(2026, 12, 20), False)),
        None, first_run,
    )  # fmt: skip
    h = compute_health(
        [page], {"7": Extraction("7", (ticked, nobody), ())}, [tracked_done, unassigned], TODAY
    )
    assert h.done_late == ()
    assert [i.key for i in h.done_before_tracking] == ["7:task:1"]
    assert (h.done_with_due, h.on_time_rate, h.median_days_to_done) == (0, None, None)
    assert (h.totals.owner_not_found, h.totals.no_owner) == (1, 0)
    assert [g.label for g in h.by_owner] == ["(owner not found)", "Alice Ng"]
    assert "Bob Nobody" not in [g.label for g in h.by_owner]
    assert h.timeline[-1].done == 1
    text = render_health(h, "text", width=200)
    assert "Owner not found" in text
    assert "Done before tracking" in text
    data = json.loads(render_health(h, "json"))
    assert data["done_before_tracking"][0]["ticket"] == "OPS-20"
    assert data["items"][1]["owner_not_found"] == "Bob Nobody"


def test_health_leaves_tickets_outside_the_scope_out() -> None:
    """A page item linking a ticket of another project is read off the page ("Foreign
    ticket", not linked), and a stray ticket of that project carrying followup's labels
    is neither matched nor counted: its status, assignee and due date appear nowhere."""
    page = _page("8", "Key leak", "SRE", "2026-11-01")
    foreign = ActionItem(
        "8:task:1", "8", "Rotate the keys", _owner(ALICE), date(2026, 12, 1), False,
        "SEC-1", "task",
    )  # fmt: skip
    stray = Ticket(
        "SEC-1", "901", "Rotate the signing keys", "acc-mallory", date(2027, 3, 1),
        "In Progress", "indeterminate", ("followup", "followup-8"), None,
        TicketProperty("8:task:1", "8", None), "Mallory Secret", _dt("2026-11-02"),
    )  # fmt: skip
    scope = Scope(projects=frozenset({"OPS"}))
    h = compute_health([page], {"8": Extraction("8", (foreign,), ())}, [stray], TODAY, scope=scope)
    [item] = h.items
    assert (item.status, item.ticket, item.due, item.done) == (
        "Foreign ticket", None, date(2026, 12, 1), False,
    )  # fmt: skip
    for fmt in ("text", "json", "markdown", "html"):
        shown = render_health(h, fmt)
        for fact in ("Mallory Secret", "Rotate the signing keys", "2027-03-01", "In Progress"):
            assert fact not in shown, (fmt, fact)
    unscoped = compute_health([page], {"8": Extraction("8", (foreign,), ())}, [stray], TODAY)
    assert unscoped.items[0].status == "In Progress"  # what the scope keeps out
