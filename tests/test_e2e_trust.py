"""Page content is untrusted input to a privileged robot, end to end on both flavors.

Whoever can edit a page must gain, through followup, no power in Jira they do not
have: a page can reach only tickets of followup's own projects on its own Jira, it
does not lead the tickets people linked by hand, and a value it states unreadably
never clears a value in Jira. Each test drives the real sync (settings, adapters over
HTTP, engine, renderer; or the `followup sync` process) against the sandbox, Cloud and
Data Center, and asserts what Jira and Confluence hold afterwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from reliability_support import Site, transition
from sandbox_support import reset_server

from followup.core.model import ActionItem, FindingCode
from followup.core.storage_format import extract
from followup.sandbox.dataset import Dataset, SeedIssue, SeedPage, SeedProject, SeedSpace
from followup.sandbox.seed import AMARA, DEMO_ADMIN, PRIYA, TOMASZ
from followup.sandbox.server import RunningSandbox
from followup.sandbox.state import User

TODAY = date(2026, 11, 26)
CREATED = datetime(2026, 11, 2, tzinfo=UTC)
SCOPE_PAGE, VALUES_PAGE = "98200001", "98200002"
PARTNER = "https://jira.partner.example"


def _mention(user: User, flavor: str) -> str:
    attr = f'ri:account-id="{user.account_id}"' if flavor == "cloud" else f'ri:userkey="{user.key}"'
    return f"<ac:link><ri:user {attr} /></ac:link>"


def _time(day: str) -> str:
    return f'<time datetime="{day}" />'


def _task(n: int, body: str, done: bool = False) -> str:
    status = "complete" if done else "incomplete"
    return (
        f"<ac:task><ac:task-id>{n}</ac:task-id><ac:task-status>{status}</ac:task-status>"
        f"<ac:task-body>{body}</ac:task-body></ac:task>"
    )


def _jira(key: str, server: tuple[str, str] | None = None) -> str:
    params = ""
    if server is not None:
        params = (
            f'<ac:parameter ac:name="server">{server[0]}</ac:parameter>'
            f'<ac:parameter ac:name="serverId">{server[1]}</ac:parameter>'
        )
    return (
        f'<ac:structured-macro ac:name="jira" ac:schema-version="1">{params}'
        f'<ac:parameter ac:name="key">{key}</ac:parameter></ac:structured-macro>'
    )


def scope_body(flavor: str) -> str:
    """Tasks linking tickets outside followup's scope (ticked, owned, dated, so that
    following them would close, reassign and re-date them), one linking a ticket of
    another project that `jira.adopt_projects` may admit, and one ordinary task."""
    priya, tomasz = _mention(PRIYA, flavor), _mention(TOMASZ, flavor)
    partner_link = f'<a href="{PARTNER}/browse/OPS-1">OPS-1</a>'
    partner_macro = _jira("OPS-1", ("Partner JIRA", "partner-link-id"))
    return (
        "<h2>Action items</h2><ac:task-list>"
        + _task(1, f"Rotate the leaked keys {_jira('SEC-1')} {priya} {_time('2026-12-01')}", True)
        + _task(2, f"Patch the partner gateway {partner_link} {priya} {_time('2026-12-02')}", True)
        + _task(3, f"Review the partner runbook {partner_macro} {priya}", True)
        + _task(4, f"Raise the platform quota {_jira('PLAT-1')} {tomasz} {_time('2026-12-05')}")
        + _task(5, f"Write the failover runbook {priya} {_time('2026-12-10')}")
        + "</ac:task-list>"
    )


def _row(action: str, owner: str, due: str, status: str = "To do") -> str:
    return "<tr>" + "".join(f"<td><p>{v}</p></td>" for v in (action, owner, due, status)) + "</tr>"


def values_body(flavor: str) -> str:
    """An action-item table whose cells a person will later fill with values followup
    cannot read."""
    priya, tomasz = _mention(PRIYA, flavor), _mention(TOMASZ, flavor)
    return (
        "<h2>Action items</h2><table><tbody>"
        "<tr><th><p>Action</p></th><th><p>Owner</p></th><th><p>Due</p></th><th><p>Status</p></th></tr>"
        + _row("Add a canary for checkout", priya, "2026-12-20")
        + _row("Shard the orders queue", tomasz, "2027-03-04")
        + _row("Move alerts to the new pager", priya, "2026-12-21")
        + _row("Replace the vendor SDK", tomasz, "2026-12-22")
        + _row("Document the rollback", priya, "2026-12-23")
        + "</tbody></table>"
    )  # fmt: skip


def dataset(flavor: str) -> Dataset:
    users = (DEMO_ADMIN, PRIYA, TOMASZ, AMARA)
    author = PRIYA.account_id
    page = [
        SeedPage("OPS", "Signing key leak", scope_body(flavor), author, CREATED, id=SCOPE_PAGE),
        SeedPage("OPS", "Orders backlog", values_body(flavor), author, CREATED, id=VALUES_PAGE),
    ]
    return Dataset(
        users=users,
        spaces=(SeedSpace("OPS", "Operations"),),
        pages=tuple(page),
        projects=(
            SeedProject("OPS", "Operations", DEMO_ADMIN.account_id),
            SeedProject("SEC", "Security", AMARA.account_id),
            SeedProject("PLAT", "Platform", AMARA.account_id),
        ),
        issues=(
            SeedIssue(
                "OPS", "Keep the partner gateway patched", AMARA.account_id, CREATED,
                assignee=TOMASZ.account_id, duedate=date(2026, 12, 20),
            ),
            SeedIssue(
                "SEC", "Rotate the signing keys", AMARA.account_id, CREATED,
                assignee=AMARA.account_id, duedate=date(2027, 3, 1), status="In Progress",
                description="Confidential: the leaked key is the one on the payments HSM.",
            ),
            SeedIssue(
                "PLAT", "Raise the platform quota", AMARA.account_id, CREATED,
                assignee=AMARA.account_id, duedate=date(2027, 1, 15),
            ),
        ),
    )  # fmt: skip


@pytest.fixture(params=["cloud", "datacenter"])
def site(
    request: pytest.FixtureRequest,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
) -> Site:
    server = sandbox_server if request.param == "cloud" else dc_sandbox_server
    reset_server(server, dataset(request.param))
    return Site.of(server)


def _user_id(site: Site, user: User) -> str:
    return user.account_id if site.flavor == "cloud" else user.name


@dataclass(frozen=True)
class Issue:
    """What a person sees of a ticket: fields, labels, properties, remote links."""

    summary: str
    assignee: str | None
    due: str | None
    status: str
    labels: tuple[str, ...]
    properties: tuple[str, ...]
    links: tuple[str, ...]


def issue(site: Site, key: str) -> Issue:
    data = site.get(f"/rest/api/2/issue/{key}", fields="*all", properties="*all")
    f = data["fields"]
    assignee = f.get("assignee") or {}
    links = site.get(f"/rest/api/2/issue/{key}/remotelink")
    return Issue(
        summary=f["summary"],
        assignee=assignee.get("accountId") or assignee.get("name"),
        due=f.get("duedate"),
        status=f["status"]["name"],
        labels=tuple(sorted(f.get("labels") or ())),
        properties=tuple(sorted(data.get("properties") or {})),
        links=tuple(sorted(str(link.get("globalId")) for link in links)),
    )


def prop(site: Site, key: str) -> dict[str, Any]:
    data: dict[str, Any] = site.get(f"/rest/api/2/issue/{key}/properties/followup")["value"]
    return data


def items(site: Site, page_id: str) -> dict[str, ActionItem]:
    return {i.text: i for i in extract(site.body(page_id), page_id).items}


def ticket_of(site: Site, page_id: str, text: str) -> str:
    key = items(site, page_id)[text].ticket
    assert key is not None, f"{text!r} shows no ticket"
    return key


def edit_page(site: Site, page_id: str, *edits: tuple[str, str]) -> None:
    def apply(body: str) -> str:
        for old, new in edits:
            assert old in body, f"{old!r} not on page {page_id}"
            body = body.replace(old, new, 1)
        return body

    site.human_edit(page_id, apply)


# -- 1. ticket scope ------------------------------------------------------------------

FOREIGN = ("Rotate the leaked keys", "Patch the partner gateway", "Review the partner runbook")


def test_the_command_never_touches_reads_or_shows_a_ticket_outside_its_scope(
    site: Site, tmp_path: Path
) -> None:
    """`followup sync` on a page linking SEC-1 (another project), OPS-1 on another Jira
    host and OPS-1 through another server's jira macro, all ticked, owned and dated:
    each is a foreign-ticket finding; not one of those tickets changes in any way, and
    the page shows nothing of them; the ordinary task gets its ticket, and a second
    run writes nothing."""
    before = {key: issue(site, key) for key in ("SEC-1", "OPS-1", "PLAT-1")}
    page_before = items(site, SCOPE_PAGE)
    report = tmp_path / "report.json"
    run = site.cli(
        "sync", "--today", TODAY.isoformat(), "--format", "json", "--output", str(report)
    )
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-3000:]

    assert {key: issue(site, key) for key in before} == before
    data = json.loads(report.read_text())
    foreign = [f for f in data["findings"] if f["code"] == "foreign-ticket"]
    assert len(foreign) == 4, foreign  # PLAT is not one of followup's projects either
    assert all(f["item"] for f in foreign)
    now = items(site, SCOPE_PAGE)
    for text in (*FOREIGN, "Raise the platform quota"):
        was, shown = page_before[text], now[text]
        assert (shown.ticket, shown.badge, shown.done, shown.owner, shown.due) == (
            was.ticket, None, was.done, was.owner, was.due,
        ), text  # fmt: skip
    new_key = ticket_of(site, SCOPE_PAGE, "Write the failover runbook")
    assert new_key.startswith("OPS-")
    assert new_key != "OPS-1"
    assert not [a for a in data["actions"] if a.get("ticket") in ("SEC-1", "OPS-1", "PLAT-1")]
    assert "Confidential" not in site.body(SCOPE_PAGE)

    writes = site.writes()
    again = site.cli("sync", "--today", TODAY.isoformat())
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err[-3000:]
    assert site.writes() == writes


def test_a_foreign_ticket_is_not_even_read(site: Site) -> None:
    """No request of the run names a ticket outside the scope: reading it and copying
    its fields onto the page would leak a project the page's editor may not see."""
    paths: list[str] = []

    def record(adapters: Any) -> None:
        for session in (adapters.jira._session, adapters.confluence.client.session):
            session.hooks["response"].append(lambda r, *a, **k: paths.append(r.request.url))

    result = site.sync(today=TODAY, on_adapters=record)
    assert not result.failed, result.failures
    assert paths
    assert not [p for p in paths if re.search(r"SEC-1|PLAT-1|OPS-1(?!\d)", p)]
    assert PARTNER not in " ".join(paths)


def test_adopt_projects_admits_a_project_and_jira_leads_its_tickets(site: Site) -> None:
    """With `jira.adopt_projects = ["PLAT"]` the hand-linked PLAT-1 is adopted (label,
    property, link) and its owner and due date come onto the page; the foreign links
    stay foreign. The page's tick, owner and due date then do not change PLAT-1 (an
    adopted-ticket finding says so, and the page keeps them), the run after writes
    nothing, and `sync.adopted_tickets = "two-way"` lets the page lead."""
    site.settings.jira.adopt_projects = ["PLAT"]
    site.settings.sync.adopted_tickets = "jira-leads"  # the default, said out loud
    first = site.sync(today=TODAY)
    assert not first.failed, first.failures
    plat = issue(site, "PLAT-1")
    assert {"followup", f"followup-{SCOPE_PAGE}"} <= set(plat.labels)
    assert plat.links == (f"followup:{SCOPE_PAGE}:task:4",)
    assert prop(site, "PLAT-1")["origin"] == "adopted"
    shown = items(site, SCOPE_PAGE)["Raise the platform quota"]
    assert shown.owner is not None
    assert shown.owner.value == _user_id(site, AMARA)
    assert shown.due == date(2027, 1, 15)
    assert [f.code for f in first.findings].count(FindingCode.FOREIGN_TICKET) == 3

    attr = "account-id" if site.flavor == "cloud" else "username"
    edit_page(
        site,
        SCOPE_PAGE,
        TICK_4,
        ('datetime="2027-01-15"', 'datetime="2027-02-02"'),
        (f'ri:{attr}="{_user_id(site, AMARA)}"', f'ri:{attr}="{_user_id(site, PRIYA)}"'),
    )  # fmt: skip
    held = site.sync(today=TODAY)
    assert not held.failed, held.failures
    after = issue(site, "PLAT-1")
    assert (after.status, after.due, after.assignee) == (
        "To Do",
        "2027-01-15",
        _user_id(site, AMARA),
    )
    [finding] = [f for f in held.findings if f.code is FindingCode.ADOPTED_TICKET]
    for word in ("tick", "due date", "owner", "PLAT-1"):
        assert word in finding.message
    mine = items(site, SCOPE_PAGE)["Raise the platform quota"]
    assert (mine.done, mine.due) == (True, date(2027, 2, 2))
    assert mine.owner is not None
    assert mine.owner.value == _user_id(site, PRIYA)
    writes = site.writes()
    assert [a for a in site.sync(today=TODAY).actions] == []
    assert site.writes() == writes

    site.settings.sync.adopted_tickets = "two-way"
    assert not site.sync(today=TODAY).failed
    led = issue(site, "PLAT-1")
    assert (led.status, led.due, led.assignee) == ("Done", "2027-02-02", _user_id(site, PRIYA))


def test_a_ticket_followup_created_keeps_two_way_sync(site: Site) -> None:
    """Against the same page, the ticket followup created for the ordinary task is
    closed by a tick and re-dated by the page, as ever."""
    assert not site.sync(today=TODAY).failed
    key = ticket_of(site, SCOPE_PAGE, "Write the failover runbook")
    edit_page(
        site,
        SCOPE_PAGE,
        TICK_5,
        ('datetime="2026-12-10"', 'datetime="2026-12-31"'),
    )  # fmt: skip
    assert not site.sync(today=TODAY).failed
    now = issue(site, key)
    assert (now.status, now.due) == ("Done", "2026-12-31")


# -- 3. a value the page no longer states readably never clears Jira's -----------------


def set_cells(site: Site, page_id: str, cells: dict[tuple[str, int], str]) -> None:
    """As a person: put `text` into cell `column` (0 is the action) of the row whose
    action starts with `row`, replacing what the cell held."""

    def apply(body: str) -> str:
        for (row, column), text in cells.items():
            at = body.index(row)
            start, end = body.rindex("<tr", 0, at), body.index("</tr>", at)
            parts = re.split(r"(?=<td[ >])", body[start:end])
            cell = parts[1 + column]
            parts[1 + column] = f"{cell[: cell.index('>') + 1]}<p>{text}</p></td>"
            body = body[:start] + "".join(parts) + body[end:]
        return body

    site.human_edit(page_id, apply)


TICK_4 = (
    "<ac:task-id>4</ac:task-id><ac:task-status>incomplete",
    "<ac:task-id>4</ac:task-id><ac:task-status>complete",
)
TICK_5 = (
    "<ac:task-id>5</ac:task-id><ac:task-status>incomplete",
    "<ac:task-id>5</ac:task-id><ac:task-status>complete",
)


def test_values_the_page_states_unreadably_never_clear_jira(site: Site) -> None:
    """After a clean sync a person types "mid January" and an ambiguous 03/04/2027 as
    due dates, an owner who matches nobody, and a note as status, and empties one due
    cell; Jira also closes the noted ticket. Then: Jira keeps every due date, assignee
    and status the page no longer states readably, each with a finding naming what the
    ticket keeps; the person's text stays on the page; the emptied date alone clears
    Jira's; and the run after writes nothing."""
    assert not site.sync(today=TODAY).failed
    keys = {
        text: ticket_of(site, VALUES_PAGE, text)
        for text in (
            "Add a canary for checkout",
            "Shard the orders queue",
            "Move alerts to the new pager",
            "Replace the vendor SDK",
            "Document the rollback",
        )
    }
    canary, shard, alerts, sdk, rollback = keys.values()
    assert issue(site, canary).due == "2026-12-20"
    set_cells(
        site,
        VALUES_PAGE,
        {
            ("Add a canary", 2): "mid January",
            ("Shard the orders", 2): "03/04/2027",
            ("Move alerts", 1): "Somebody Unknown",
            ("Replace the vendor", 3): "Blocked on vendor ticket V-881",
            ("Document the rollback", 2): "",
        },
    )
    transition(site, sdk, "Done")
    result = site.sync(today=TODAY)
    assert not result.failed, result.failures

    assert issue(site, canary).due == "2026-12-20"
    assert issue(site, shard).due == "2027-03-04"
    assert issue(site, alerts).assignee == _user_id(site, PRIYA)
    assert issue(site, sdk).status == "Done"  # Jira's own change stands; nothing reopened
    assert issue(site, rollback).due is None  # no value at all: a page-side change
    assert prop(site, canary)["base"]["due"] == "2026-12-20"

    by_code = {(f.code, f.item): f.message for f in result.findings}
    on_page = items(site, VALUES_PAGE)
    for code, text, key, kept in (
        (FindingCode.UNPARSEABLE_DUE_DATE, "Add a canary for checkout", canary, "2026-12-20"),
        (FindingCode.AMBIGUOUS_DUE_DATE, "Shard the orders queue", shard, "2027-03-04"),
        (FindingCode.UNKNOWN_OWNER, "Move alerts to the new pager", alerts, "keeps its assignee"),
        (FindingCode.UNKNOWN_STATUS, "Replace the vendor SDK", sdk, "stays Done"),
    ):
        message = by_code[(code, on_page[text].key)]
        assert key in message, message
        assert kept in message, message

    body = site.body(VALUES_PAGE)
    for text in ("mid January", "03/04/2027", "Somebody Unknown", "Blocked on vendor ticket V-881"):
        assert text in body, f"{text!r} was erased from the page"
    writes = site.writes()
    assert site.sync(today=TODAY).actions == []
    assert site.writes() == writes


def test_switching_date_order_never_clears_a_date(site: Site) -> None:
    """03/04/2027 read day-first is a page change (4 March becomes 3 April, sent to
    Jira); switching `sync.date_order` back to "none" makes it ambiguous again, and
    Jira keeps 3 April instead of losing its due date."""
    assert not site.sync(today=TODAY).failed
    shard = ticket_of(site, VALUES_PAGE, "Shard the orders queue")
    edit_page(site, VALUES_PAGE, ("2027-03-04", "03/04/2027"))
    assert not site.sync(today=TODAY, date_order="dmy").failed
    assert issue(site, shard).due == "2027-04-03"
    result = site.sync(today=TODAY, date_order="none")
    assert not result.failed
    assert issue(site, shard).due == "2027-04-03"
    assert FindingCode.AMBIGUOUS_DUE_DATE in [f.code for f in result.findings]
    assert "03/04/2027" in site.body(VALUES_PAGE)


# -- 4. what people read shows nothing of a foreign ticket ------------------------------

# What Jira holds about the tickets outside the scope, which no report may show: their
# summaries, assignee, statuses, due dates and description (OPS-1's due date is also
# one the other page states, so it is not in the list).
FOREIGN_FACTS = (
    "Rotate the signing keys",
    "Keep the partner gateway patched",
    AMARA.display_name,
    "In Progress",
    "2027-03-01",
    "2027-01-15",
    "Confidential",
)


def _run(site: Site, *args: str) -> tuple[int, str, str]:
    proc = site.cli(*args)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _leaks(text: str) -> list[str]:
    return [fact for fact in FOREIGN_FACTS if fact in text]


def test_reports_explain_and_health_show_nothing_of_a_foreign_ticket(
    site: Site, tmp_path: Path
) -> None:
    """The sync report in every format, `followup explain` of an item linking a
    foreign ticket, and the health report name no foreign ticket's summary, assignee,
    status or dates, and link none of them; `followup explain SEC-1` is refused
    without a request for that ticket; the HTML summary lists the item as "Foreign
    ticket" with the key as the page wrote it and its owner by name."""
    for fmt in ("text", "json", "markdown", "html"):
        out = tmp_path / f"report.{fmt}"
        code, _, err = _run(
            site, "sync", "--dry-run", "--today", TODAY.isoformat(), "--format", fmt,
            "--output", str(out),
        )  # fmt: skip
        assert code == 0, err[-3000:]
        text = out.read_text()
        assert _leaks(text) == [], fmt
        assert "/browse/SEC-1" not in text, fmt
        assert "/browse/PLAT-1" not in text, fmt
    html = (tmp_path / "report.html").read_text()
    row = html[html.index("Rotate the leaked keys") :]
    row = row[: row.index("</tr>")]
    assert "Foreign ticket" in row
    assert "SEC-1" in row
    assert "href" not in row
    # the owner as the run knows them anyway (the same person owns an item it synced)
    assert PRIYA.display_name in row
    assert PRIYA.account_id not in row
    assert str(PRIYA.key) not in row

    item_key = items(site, SCOPE_PAGE)["Rotate the leaked keys"].key
    told: dict[str, str] = {}
    for fmt in ("text", "json"):
        code, told[fmt], err = _run(site, "explain", item_key, "--today", TODAY.isoformat(),
                                    "--format", fmt)  # fmt: skip
        assert code == 0, err[-3000:]
        assert _leaks(told[fmt]) == [], fmt
        assert "foreign-ticket" in told[fmt], fmt
    assert "nothing is done for this item" in told["text"]
    explained = json.loads(told["json"])
    assert (explained["ticket"], explained["story"]["match"]) == (None, "foreign")

    before = site.stats()["by_route"]
    code, out, err = _run(site, "explain", "SEC-1")
    assert code == 2, (out, err)
    assert "neither reads nor explains" in err
    after = site.stats()["by_route"]
    issue_reads = [r for r in after if "/issue/" in r and after[r] != before.get(r, 0)]
    assert issue_reads == []
    code, out, err = _run(site, "resolve", "SEC-1")
    assert code == 2, (out, err)

    out = tmp_path / "health.json"
    code, _, err = _run(site, "report", "--today", TODAY.isoformat(), "--format", "json",
                        "--output", str(out))  # fmt: skip
    assert code == 0, err[-3000:]
    health = out.read_text()
    assert _leaks(health) == []
    data = json.loads(health)
    found = [i for i in data["items"] if i["text"] == "Rotate the leaked keys"]
    assert [(i["status"], i["ticket"]) for i in found] == [("Foreign ticket", None)]
