"""End to end: the real sync (settings, adapters over HTTP, engine, renderer) against
the sandbox, Cloud and Data Center. Every assertion reads the state back from Jira
and Confluence, the way a person would see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_support import reset_server
from typer.testing import CliRunner

from followup.adapters import Adapters
from followup.cli import app, exit_code_for_run
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine, sync_command
from followup.core.model import Extraction, FindingCode, Owner
from followup.core.storage_format import extract
from followup.sandbox import control
from followup.sandbox.dataset import Dataset, SeedIssue, SeedPage, SeedProject, SeedSpace
from followup.sandbox.seed import DEMO_ADMIN, DEMO_PEOPLE, DEMO_TODAY, demo_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.sync.engine import Engine, RunResult

TODAY = DEMO_TODAY
PRIYA, TOMASZ = DEMO_PEOPLE[0], DEMO_PEOPLE[1]


@dataclass
class Site:
    """A sandbox plus what a test needs to drive and inspect it."""

    server: RunningSandbox
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def auth(self) -> tuple[str, str]:
        return (DEMO_ADMIN.email, DEMO_ADMIN.token or "")

    def adapters(self) -> Adapters:
        return from_settings(self.settings, sleep=lambda s: None)

    def sync(
        self,
        *,
        dry_run: bool = False,
        today: date = TODAY,
        run_id: str | None = None,
        **settings: Any,
    ) -> RunResult:
        st = self.settings.model_copy(deep=True)
        for name, value in settings.items():
            setattr(st.sync, name, value)
        ad = from_settings(st, sleep=lambda s: None)
        try:
            engine: Engine = build_engine(st, ad.jira, ad.confluence, run_id=run_id)
            return engine.run(today=today, dry_run=dry_run)
        finally:
            ad.close()

    def writes(self) -> int:
        return int(self.server.stats.snapshot()["writes"])

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.url}{path}", params=params, auth=self.auth, timeout=10)
        r.raise_for_status()
        return r.json()

    def page(self, page_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get(
            f"/wiki/rest/api/content/{page_id}", expand="body.storage,version"
        )
        return data

    def items(self, page_id: str) -> Extraction:
        return extract(self.page(page_id)["body"]["storage"]["value"], page_id)

    def put_page(self, page_id: str, body: str) -> None:
        cur = self.page(page_id)
        r = requests.put(
            f"{self.url}/wiki/rest/api/content/{page_id}",
            json={
                "id": page_id,
                "type": "page",
                "title": cur["title"],
                "version": {"number": cur["version"]["number"] + 1},
                "body": {"storage": {"value": body, "representation": "storage"}},
            },
            auth=self.auth,
            timeout=10,
        )
        r.raise_for_status()

    def tickets(self) -> list[dict[str, Any]]:
        dc = self.server.state.flavor == "datacenter"
        data = self.get(
            "/rest/api/2/search" if dc else "/rest/api/3/search/jql",
            jql='labels = "followup" ORDER BY key ASC',
            fields="summary,assignee,duedate,status,labels",
            properties="followup",
            maxResults=100,
        )
        issues: list[dict[str, Any]] = data["issues"]
        return issues

    def issue(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get(
            f"/rest/api/2/issue/{key}", properties="followup", fields="*all"
        )
        return data

    def edit_issue(self, key: str, fields: dict[str, Any]) -> None:
        r = requests.put(
            f"{self.url}/rest/api/2/issue/{key}",
            json={"fields": fields},
            auth=self.auth,
            timeout=10,
        )
        r.raise_for_status()

    def transition(self, key: str, to: str) -> None:
        ts = self.get(f"/rest/api/2/issue/{key}/transitions")["transitions"]
        tid = next(t["id"] for t in ts if t["to"]["name"] == to)
        r = requests.post(
            f"{self.url}/rest/api/2/issue/{key}/transitions",
            json={"transition": {"id": tid}},
            auth=self.auth,
            timeout=10,
        )
        r.raise_for_status()


def _site(server: RunningSandbox, dataset: Dataset | None = None) -> Site:
    reset_server(server, dataset)
    env = control.env_for(server.state, server.url)
    return Site(server, load_settings(None, env=env))


@pytest.fixture
def site(sandbox_server: RunningSandbox) -> Site:
    return _site(sandbox_server)


def _ticket_of(site: Site, page_id: str, text_start: str) -> str:
    for item in site.items(page_id).items:
        if item.text.startswith(text_start):
            assert item.ticket is not None
            return item.ticket
    raise AssertionError(f"no item starting {text_start!r}")


def _replace_body(site: Site, page_id: str, old: str, new: str) -> None:
    body = site.page(page_id)["body"]["storage"]["value"]
    assert old in body, f"{old!r} not in page {page_id}"
    site.put_page(page_id, body.replace(old, new, 1))


# -- Cloud ---------------------------------------------------------------------------


def test_first_run_one_ticket_per_item_then_zero_writes(site: Site) -> None:
    """The first run gives every item exactly one ticket; the next run writes nothing."""
    first = site.sync()
    assert not first.failed, first.failures
    tickets = site.tickets()
    items = [i for p in first.pages for i in p.plan.items if i.key not in _unknown(first)]
    assert len(tickets) == len(items)
    props = [t["properties"]["followup"]["item"] for t in tickets]
    assert len(props) == len(set(props))
    for page in first.pages:
        shown = site.items(page.page.id)
        assert all(i.ticket for i in shown.items), page.page.title
        # each item's state once: the jira macro's live status, plus only OVERDUE or a
        # resolution that is not done where the status cannot say it
        assert all(i.ticket_live for i in shown.items), page.page.title
        assert {i.badge.title for i in shown.items if i.badge} <= {"OVERDUE", "WON'T DO"}
    before = site.writes()
    second = site.sync()
    assert second.actions == [], [a.to_json() for a in second.actions]
    assert site.writes() == before
    assert len(site.tickets()) == len(tickets)


def _unknown(result: RunResult) -> set[str]:
    return {f.item for f in result.findings if f.code is FindingCode.UNKNOWN_TICKET and f.item}


def test_dry_run_writes_nothing(site: Site) -> None:
    """--dry-run plans every create and does not move the writes counter."""
    before = site.writes()
    result = site.sync(dry_run=True)
    assert result.counts()["create"] > 0
    assert site.writes() == before
    assert site.tickets() == []


def test_hand_linked_ticket_is_adopted_not_duplicated(site: Site) -> None:
    """The demo item linked by hand to OPS-1 keeps OPS-1, which gains our label."""
    site.sync()
    ops1 = site.issue("OPS-1")
    assert "followup" in ops1["fields"]["labels"]
    assert ops1["properties"]["followup"]["page"] == "98000001"
    summaries = [t["fields"]["summary"] for t in site.tickets()]
    assert len(summaries) == len(set(summaries))


def test_jira_done_ticks_page_and_page_tick_closes_ticket(site: Site) -> None:
    """Status flows both ways through the real APIs."""
    site.sync()
    page = "98000001"
    key = _ticket_of(site, page, "Alert when replica lag")
    site.transition(key, "Done")
    site.sync()
    item = next(i for i in site.items(page).items if i.ticket == key)
    assert item.done
    assert item.ticket_live
    assert item.badge is None

    other = next(i for i in site.items(page).items if i.ticket != key and not i.done)
    assert other.ticket is not None
    body = site.page(page)["body"]["storage"]["value"]
    task_id = other.key.rsplit(":", 1)[1]
    marker = f"<ac:task-id>{task_id}</ac:task-id>"
    start = body.index(marker)
    status_at = body.index("<ac:task-status>incomplete</ac:task-status>", start)
    body = (
        body[:status_at]
        + "<ac:task-status>complete</ac:task-status>"
        + body[status_at + len("<ac:task-status>incomplete</ac:task-status>") :]
    )
    site.put_page(page, body)
    site.sync()
    assert site.issue(other.ticket)["fields"]["status"]["statusCategory"]["key"] == "done"
    assert site.sync().actions == []


def test_due_and_owner_follow_either_side(site: Site) -> None:
    """A due date changed in Jira reaches the page; one changed on the page reaches Jira
    (for a ticket followup created: those are kept in step both ways)."""
    site.sync()
    page = "98000001"
    key = _ticket_of(site, page, "Route order-history reads")
    site.edit_issue(key, {"duedate": "2027-01-20"})
    site.sync()
    item = next(i for i in site.items(page).items if i.ticket == key)
    assert item.due == date(2027, 1, 20)
    _replace_body(site, page, 'datetime="2027-01-20"', 'datetime="2027-02-02"')
    site.sync()
    assert site.issue(key)["fields"]["duedate"] == "2027-02-02"
    site.edit_issue(key, {"assignee": {"accountId": PRIYA.account_id}})
    site.sync()
    item = next(i for i in site.items(page).items if i.ticket == key)
    assert item.owner is not None
    assert item.owner.value == PRIYA.account_id
    assert site.sync().actions == []


def test_conflict_is_reported_and_jira_wins(site: Site) -> None:
    """Both sides changed the due date: a conflict finding, and Jira's value on both."""
    site.sync()
    page = "98000001"
    key = _ticket_of(site, page, "Alert when replica lag")
    due = site.issue(key)["fields"]["duedate"]
    site.edit_issue(key, {"duedate": "2027-03-03"})
    _replace_body(site, page, f'datetime="{due}"', 'datetime="2027-04-04"')
    result = site.sync()
    assert FindingCode.CONFLICT in [f.code for f in result.findings]
    item = next(i for i in site.items(page).items if i.ticket == key)
    assert item.due == date(2027, 3, 3)
    assert site.issue(key)["fields"]["duedate"] == "2027-03-03"


def test_deleted_item_is_reported_as_orphan(site: Site) -> None:
    """An item removed from the page leaves its ticket in Jira and is reported."""
    site.sync()
    page = "98000001"
    body = site.page(page)["body"]["storage"]["value"]
    start = body.index("<ac:task>")
    end = body.index("</ac:task>", start) + len("</ac:task>")
    site.put_page(page, body[:start] + body[end:])
    result = site.sync()
    assert FindingCode.ORPHANED_TICKET in [f.code for f in result.findings]


def test_unknown_owner_gets_finding_and_fallback(site: Site) -> None:
    """A name no Jira account matches: unknown-owner, and the fallback assignee."""
    page = "98000003"  # its action table names owners in plain text
    result = site.sync(dry_run=True)
    before = [f for f in result.findings if f.code is FindingCode.UNKNOWN_OWNER]
    # Give one table row an owner nobody has, then sync with a fallback assignee.
    items = site.items(page).items
    named = next(i for i in items if i.owner is not None and i.owner.kind == "name")
    _replace_body(site, page, named.owner.value, "Zed Nobody")  # type: ignore[union-attr]
    result = site.sync(fallback_assignee=TOMASZ.account_id)
    unknown = [f for f in result.findings if f.code is FindingCode.UNKNOWN_OWNER]
    assert len(unknown) == len(before) + 1
    key = next(i.ticket for i in site.items(page).items if i.text == named.text)
    assert key is not None
    assert site.issue(key)["fields"]["assignee"]["accountId"] == TOMASZ.account_id


def test_json_report_counts_match_what_apply_did(site: Site, tmp_path: Path) -> None:
    """The JSON report's counts equal the tickets and page writes that happened."""
    out = tmp_path / "report.json"
    pages_before = {p: site.page(p)["version"]["number"] for p in ("98000001", "98000002")}
    assert not sync_command(site.settings, fmt="json", output=out, today=TODAY).failed
    report = json.loads(out.read_text())
    created = [t for t in site.tickets() if t["key"] != "OPS-1"]
    assert report["summary"]["create"] == len(created)
    assert report["summary"]["adopt"] == 1
    assert all(a["outcome"] == "ok" for a in report["actions"])
    written = {a["page"] for a in report["actions"] if a["op"] == "write-page"}
    for p, v in pages_before.items():
        assert (site.page(p)["version"]["number"] > v) == (p in written)
    again = sync_command(site.settings, dry_run=True, fmt="json", output=out, today=TODAY)
    assert exit_code_for_run(again, detailed=True) == 0


def test_detailed_exitcode_signals_pending_changes(site: Site, tmp_path: Path) -> None:
    """A dry run with changes pending exits 3 under --detailed-exitcode."""
    out = tmp_path / "r.txt"
    result = sync_command(site.settings, dry_run=True, output=out, today=TODAY)
    assert exit_code_for_run(result, detailed=True) == 3
    assert "dry run" in out.read_text()


def test_report_never_contains_the_token(site: Site, tmp_path: Path) -> None:
    """Reports in every format are free of the API token."""
    token = DEMO_ADMIN.token or ""
    for fmt in ("text", "json", "markdown", "html"):
        out = tmp_path / f"r.{fmt}"
        sync_command(site.settings, dry_run=True, fmt=fmt, output=out, today=TODAY)
        assert token not in out.read_text()


# -- both flavors ----------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_a_run_after_a_clean_run_writes_nothing_on_both_flavors(
    flavor: str,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
    tmp_path: Path,
) -> None:
    """The demo as `followup sandbox --flavor ...` serves it: after a clean first
    `followup sync`, a second one plans nothing and the sandbox counts no write."""
    from reliability_support import Site as CliSite

    server = sandbox_server if flavor == "cloud" else dc_sandbox_server
    reset_server(server)
    site = CliSite.of(server)
    report = tmp_path / "second.json"
    for args in ((), ("--format", "json", "--output", str(report))):
        writes = site.writes()
        run = site.cli("sync", "--today", TODAY.isoformat(), *args)
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-3000:]
    assert site.writes() == writes
    assert json.loads(report.read_text())["actions"] == []


# -- Data Center -----------------------------------------------------------------------


def dc_dataset() -> Dataset:
    """A small Data Center site: mentions by userkey, users by name."""
    base = demo_dataset()
    body = (
        "<h2>Action items</h2><ac:task-list>"
        "<ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Rotate the database credentials "
        f'<ac:link><ri:user ri:userkey="{PRIYA.key}" /></ac:link> '
        '<time datetime="2026-12-20" /></ac:task-body></ac:task>'
        "<ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Add a canary for the login flow "
        f'<ac:link><ri:user ri:username="{TOMASZ.name}" /></ac:link></ac:task-body></ac:task>'
        "</ac:task-list>"
    )
    return Dataset(
        users=base.users,
        spaces=(SeedSpace("OPSDC", "Operations"),),
        pages=(
            SeedPage(
                space_key="OPSDC",
                title="Login outage",
                body=body,
                author=PRIYA.account_id,
                created=datetime(2026, 11, 2, tzinfo=UTC),
                id="98100001",
            ),
        ),
        projects=(SeedProject("OPS", "Operations", lead=PRIYA.account_id),),
        issues=(
            SeedIssue(
                project="OPS",
                summary="noise",
                reporter=PRIYA.account_id,
                created=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        ),
    )


@pytest.fixture
def dc_site(dc_sandbox_server: RunningSandbox) -> Iterator[Site]:
    return _site(dc_sandbox_server, dc_dataset())


def test_datacenter_sync_assigns_by_username_and_settles(dc_site: Site) -> None:
    """On Data Center, mentions resolve to usernames; a second run writes nothing."""
    first = dc_site.sync()
    assert not first.failed, first.failures
    assert [f for f in first.findings if f.code is FindingCode.UNKNOWN_OWNER] == []
    tickets = dc_site.tickets()
    assert len(tickets) == 2
    assignees = {t["fields"]["summary"]: t["fields"]["assignee"]["name"] for t in tickets}
    assert assignees == {
        "Rotate the database credentials": PRIYA.name,
        "Add a canary for the login flow": TOMASZ.name,
    }
    before = dc_site.writes()
    assert dc_site.sync().actions == []
    assert dc_site.writes() == before
    key = tickets[0]["key"]
    dc_site.transition(key, "Done")
    dc_site.sync()
    item = next(i for i in dc_site.items("98100001").items if i.ticket == key)
    assert item.done


def test_the_data_center_demo_resolves_owners_named_by_userkey_and_username(
    sandbox_server: RunningSandbox, dc_sandbox_server: RunningSandbox
) -> None:
    """The Data Center demo names people by `ri:userkey` (one page by `ri:username`):
    a sync resolves each through Confluence's user API to a Jira username, assigns
    every ticket to the same person as the Cloud demo does, and a second run writes
    nothing."""

    def assignees(site: Site) -> dict[str, str | None]:
        site.sync()
        return {
            t["fields"]["summary"]: (t["fields"]["assignee"] or {}).get("displayName")
            for t in site.tickets()
        }

    dc = _site(dc_sandbox_server)
    dc_assignees = assignees(dc)
    assert dc_sandbox_server.stats.snapshot()["by_route"]["GET /wiki/rest/api/user"] >= 1
    assert dc_assignees == assignees(_site(sandbox_server))
    assert sum(name is not None for name in dc_assignees.values()) >= 15
    before = dc.writes()
    again = dc.sync()
    assert again.actions == []
    assert [f for f in again.findings if f.code is FindingCode.UNKNOWN_OWNER] == []
    assert dc.writes() == before


def test_datacenter_sync_with_a_personal_access_token(
    dc_sandbox_server: RunningSandbox,
) -> None:
    """`auth = "pat"` signs in to both Data Center products with a personal access
    token as `Authorization: Bearer` (no email or username set): the sync creates the
    tickets, and every request the sandbox saw carried the Bearer header."""
    reset_server(dc_sandbox_server, dc_dataset())
    env = control.env_for(dc_sandbox_server.state, dc_sandbox_server.url)
    for name in ("FOLLOWUP_JIRA__EMAIL", "FOLLOWUP_CONFLUENCE__EMAIL"):
        del env[name]
    env["FOLLOWUP_JIRA__AUTH"] = "pat"
    site = Site(dc_sandbox_server, load_settings(None, env=env))
    assert (site.settings.jira.auth, site.settings.confluence.auth) == ("pat", "pat")
    seen: list[str] = []
    adapters = site.adapters()
    for session in (adapters.jira._session, adapters.confluence.client.session):
        session.hooks["response"].append(
            lambda r, *a, **k: seen.append(r.request.headers.get("Authorization", ""))
        )
    try:
        engine = build_engine(site.settings, adapters.jira, adapters.confluence)
        result = engine.run(today=TODAY, dry_run=False)
    finally:
        adapters.close()
    assert not result.failed, result.failures
    assert len(site.tickets()) == 2
    assert seen
    assert all(header.startswith("Bearer ") for header in seen)


def test_a_refused_personal_access_token_stops_the_run_with_exit_2(
    dc_sandbox_server: RunningSandbox,
) -> None:
    """`followup sync` with a wrong personal access token exits 2 with the refusal,
    before anything is written, and the token never appears in the output."""
    reset_server(dc_sandbox_server, dc_dataset())
    env = control.env_for(dc_sandbox_server.state, dc_sandbox_server.url)
    wrong = "not-the-pat-0123456789"
    env.update(
        FOLLOWUP_JIRA__AUTH="pat", FOLLOWUP_JIRA__TOKEN=wrong, FOLLOWUP_CONFLUENCE__TOKEN=wrong
    )
    before = dc_sandbox_server.stats.snapshot()["writes"]
    result = CliRunner().invoke(app, ["sync", "--today", TODAY.isoformat()], env=env)
    assert result.exit_code == 2, result.output
    assert "401" in result.output
    assert wrong not in result.output
    assert "Traceback" not in result.output
    assert dc_sandbox_server.stats.snapshot()["writes"] == before


# -- people's text around the values (both flavors) ------------------------------------


def notes_dataset(flavor: str) -> Dataset:
    """One page whose action table keeps notes beside each value, and a task typed
    by hand ("@priya.natarajan ... by 2026-12-20, ..."), on a site of the flavor."""
    mention = (
        f'<ac:link><ri:user ri:account-id="{TOMASZ.account_id}" /></ac:link>'
        if flavor == "cloud"
        else f'<ac:link><ri:user ri:userkey="{TOMASZ.key}" /></ac:link>'
    )
    body = (
        "<h2>What we will change</h2><table><tbody>"
        "<tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>"
        "<tr><td><p>Move the certificates to the vault</p></td>"
        "<td><p>Priya Natarajan (backup: Tomasz, pager 555-0100)</p></td>"
        "<td><p>2026-12-31 <strong>regulator deadline, do not move</strong></p></td>"
        "<td><p>Blocked on vendor ticket V-881</p></td></tr>"
        "<tr><td><p>Page the database team on replica lag</p></td>"
        f"<td><p>{mention} <em>(until the rota changes)</em></p></td>"
        "<td><p>by 15 Jan 2027 (agreed with legal)</p></td>"
        "<td><p>Open - waiting for review</p></td></tr>"
        "<tr><td><p>Rotate the signing certificates</p></td>"
        f"<td><p>{mention}</p></td>"
        "<td><p><strong>2027</strong>-01-10 (hard stop)</p></td>"
        "<td><p>Open</p></td></tr>"
        "</tbody></table>"
        "<ac:task-list><ac:task><ac:task-id>7</ac:task-id>"
        "<ac:task-status>incomplete</ac:task-status><ac:task-body>"
        "@priya.natarajan rotate the signing keys by 2026-12-20, see the runbook"
        "</ac:task-body></ac:task></ac:task-list>"
    )
    base = dc_dataset() if flavor == "datacenter" else demo_dataset()
    return Dataset(
        users=base.users,
        spaces=(SeedSpace("NOTES", "Notes"),),
        pages=(
            SeedPage(
                space_key="NOTES",
                title="Certificate expiry",
                body=body,
                author=PRIYA.account_id,
                created=datetime(2026, 11, 2, tzinfo=UTC),
                id="98200001",
            ),
        ),
        projects=(SeedProject("OPS", "Operations", lead=PRIYA.account_id),),
        issues=(),
    )


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_changes_keep_the_notes_people_wrote_on_the_page(
    flavor: str, sandbox_server: RunningSandbox, dc_sandbox_server: RunningSandbox
) -> None:
    """When Jira changes the assignee, due date and status, the page gets the new
    values in place of the old ones and every note beside them stays; a status cell
    holding only a sentence is left alone (unknown-status, naming Jira's status), a
    date split by formatting is left alone with a cell-not-updated finding naming
    Jira's date, and a further run changes nothing in Jira or on the page."""
    server = sandbox_server if flavor == "cloud" else dc_sandbox_server
    site = _site(server, notes_dataset(flavor))
    page = "98200001"
    first = site.sync()
    assert not first.failed, first.failures
    assert [f for f in first.findings if f.code is FindingCode.UNKNOWN_OWNER] == []
    items = {i.text: i for i in site.items(page).items}
    vault = items["Move the certificates to the vault"]
    lag = items["Page the database team on replica lag"]
    keys = items["rotate the signing keys, see the runbook"]
    certs = items["Rotate the signing certificates"]
    assert vault.ticket
    assert lag.ticket
    assert keys.ticket
    assert certs.ticket
    assert certs.due == date(2027, 1, 10)
    assert (vault.due, lag.due, keys.due) == (
        date(2026, 12, 31),
        date(2027, 1, 15),
        date(2026, 12, 20),
    )

    assignee = {"accountId": TOMASZ.account_id} if flavor == "cloud" else {"name": TOMASZ.name}
    for key in (vault.ticket, lag.ticket, keys.ticket, certs.ticket):
        site.edit_issue(key, {"assignee": assignee, "duedate": "2027-03-31"})
        site.transition(key, "Done")
    second = site.sync()
    assert not second.failed, second.failures

    body = site.page(page)["body"]["storage"]["value"]
    for note in (
        "(backup: Tomasz, pager 555-0100)",
        "<strong>regulator deadline, do not move</strong>",
        "Blocked on vendor ticket V-881",
        "<em>(until the rota changes)</em>",
        "(agreed with legal)",
        "- waiting for review",
        "rotate the signing keys by 2027-03-31, see the runbook",
        "<strong>2027</strong>-01-10 (hard stop)",
    ):
        assert note in body, note
    assert "2027-03-31 <strong>regulator" in body
    assert "by 31 Mar 2027 (agreed with legal)" in body
    assert "Done - waiting for review" in body
    after = {i.text: i for i in site.items(page).items}
    owner_kind = "account_id" if flavor == "cloud" else "username"
    tomasz = TOMASZ.account_id if flavor == "cloud" else TOMASZ.name
    # Tomasz is written where Priya's name stood; the row that named him keeps its mention.
    tomasz_now = Owner(owner_kind, tomasz)
    assert [after[t].owner for t in (vault.text, keys.text, lag.text)] == [
        tomasz_now,
        tomasz_now,
        lag.owner,
    ]
    assert {after[t].due for t in (vault.text, lag.text, keys.text)} == {date(2027, 3, 31)}
    assert after[lag.text].done
    assert after[keys.text].done
    assert after[certs.text].done
    assert not after[vault.text].done  # its status cell is the person's sentence
    [unknown] = [f for f in second.findings if f.code is FindingCode.UNKNOWN_STATUS]
    assert unknown.item == vault.key
    assert f"{vault.ticket} stays Done" in unknown.message
    # The date split by bold is read but cannot be replaced alone: left as it is.
    assert after[certs.text].due == date(2027, 1, 10)
    [finding] = [f for f in second.findings if f.code is FindingCode.CELL_NOT_UPDATED]
    assert finding.item == certs.key
    assert "2027-03-31" in finding.message
    assert certs.ticket in finding.message

    before = site.writes()
    third = site.sync()
    assert third.actions == [], [a.to_json() for a in third.actions]
    assert site.writes() == before
    assert [f.item for f in third.findings if f.code is FindingCode.CELL_NOT_UPDATED] == [certs.key]
    assert site.issue(certs.ticket)["fields"]["duedate"] == "2027-03-31"
    assert site.issue(vault.ticket)["fields"]["status"]["statusCategory"]["key"] == "done"
