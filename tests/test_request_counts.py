"""What a sync costs in requests, exactly, at a small scale: 50 synthetic postmortems
with 5 action items each, against the sandbox over HTTP, counted by the sandbox.

The counts are exact (a run's requests do not depend on timing), and each is written
as the formula of docs/performance.md, so a change that adds a request per page or
per item fails here instead of surfacing as a slow run on a real site. The three runs
(first, steady, incremental) share one site, in order, and each test checks one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
from sandbox_support import reset_server

from followup.adapters import Adapters
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.model import ActionItem, TicketProperty
from followup.core.plan import Op
from followup.ports import NewTicket
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY, synthetic_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.sync.engine import RunResult

PAGES, ITEMS = 50, 5
TICKETS = PAGES * ITEMS
TODAY = DEMO_TODAY
BODY_PAGE = 25  # pages with bodies the sandbox returns per search, as Confluence Cloud
SEARCH_PAGE = 100  # issues per JQL search page
CREATE_CHUNK = 50
LEASE_BATCH = 50  # pages per JQL when the creating pages are searched again
PAGE_EDITS, DUE_EDITS, DONE_EDITS = 5, 3, 2  # the changes before the incremental run

# Routes as the sandbox counts them.
SERVER_INFO = "GET /rest/api/2/serverInfo"
JQL = "GET /rest/api/3/search/jql"
CQL = "GET /wiki/rest/api/content/search"
BULK = "POST /rest/api/2/issue/bulk"
LINK = "POST /rest/api/2/issue/{issueIdOrKey}/remotelink"
EDIT = "PUT /rest/api/2/issue/{issueIdOrKey}"
ISSUE_PROPERTY = "PUT /rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}"
ISSUE_GET = "GET /rest/api/2/issue/{issueIdOrKey}"
TRANSITIONS = "GET /rest/api/2/issue/{issueIdOrKey}/transitions"
TRANSITION = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
USER_SEARCH = "GET /rest/api/2/user/search"
ASSIGNABLE = "GET /rest/api/2/user/assignable/search"
PAGE_WRITE = "PUT /wiki/rest/api/content/{id}"
LEASE_CREATE = "POST /wiki/rest/api/content/{id}/property"
LEASE_READ = "GET /wiki/rest/api/content/{id}/property/{key}"
LEASE_WRITE = "PUT /wiki/rest/api/content/{id}/property/{key}"

FLOOR = {SERVER_INFO: 1, CQL: math.ceil(PAGES / BODY_PAGE), JQL: math.ceil(TICKETS / SEARCH_PAGE)}


@dataclass
class Run:
    result: RunResult
    routes: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.routes.values())


@dataclass
class Scenario:
    first: Run
    steady: Run
    incremental: Run
    page_edits: list[str]
    ticket_edits: list[str]


def _settings(server: RunningSandbox) -> Settings:
    settings = load_settings(None, env=control.env_for(server.state, server.url))
    settings.sync.rate_limit = 100_000.0  # counts, not pacing, are under test
    return settings


def _sync(server: RunningSandbox, settings: Settings, *, full: bool = False) -> Run:
    server.stats.reset()
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=TODAY, dry_run=False, full=full
        )
    finally:
        adapters.close()
    assert not result.failed, [o.error for o in result.failures] + result.errors
    return Run(result, Counter(server.stats.snapshot()["by_route"]))


def _api(server: RunningSandbox, method: str, path: str, **kwargs: Any) -> Any:
    env = control.env_for(server.state, server.url)
    auth = (env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"])
    response = requests.request(method, f"{server.url}{path}", auth=auth, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def _move_due_on_page(server: RunningSandbox, item: ActionItem) -> bool:
    """A person moves the item's due date a week later, on the page; False when the
    page does not show it as a `<time>` to move."""
    assert item.due is not None
    page = _api(
        server,
        "GET",
        f"/wiki/rest/api/content/{item.page_id}",
        params={"expand": "body.storage,version"},
    )
    old = f'<time datetime="{item.due.isoformat()}"'
    body = page["body"]["storage"]["value"]
    if body.count(old) != 1:
        return False
    new = f'<time datetime="{(item.due + timedelta(days=7)).isoformat()}"'
    _api(
        server,
        "PUT",
        f"/wiki/rest/api/content/{item.page_id}",
        json={
            "id": item.page_id,
            "type": "page",
            "title": page["title"],
            "version": {"number": page["version"]["number"] + 1},
            "body": {"storage": {"value": body.replace(old, new), "representation": "storage"}},
        },
    )
    return True


def _edit_tickets(server: RunningSandbox, run: Run, avoid: set[str]) -> list[str]:
    """A person moves the due date of some tickets and closes others, in Jira."""
    keys: list[str] = []
    for page in run.result.pages:
        if page.page.id in avoid or len(keys) == DUE_EDITS + DONE_EDITS:
            continue
        item = next((i for i in page.plan.items if i.ticket and not i.done and i.due), None)
        if item is None or item.due is None or item.due <= TODAY:
            continue
        key = str(item.ticket)
        if len(keys) < DUE_EDITS:
            due = (item.due + timedelta(days=21)).isoformat()
            _api(server, "PUT", f"/rest/api/2/issue/{key}", json={"fields": {"duedate": due}})
        else:
            _api(
                server,
                "POST",
                f"/rest/api/2/issue/{key}/transitions",
                json={"transition": {"id": "31"}},  # to Done, in the sandbox's workflow
            )
        keys.append(key)
    assert len(keys) == DUE_EDITS + DONE_EDITS
    return keys


@pytest.fixture(scope="module")
def scenario(sandbox_server: RunningSandbox) -> Iterator[Scenario]:
    reset_server(sandbox_server, synthetic_dataset(pages=PAGES, items_per_page=ITEMS, seed=1))
    settings = _settings(sandbox_server)
    first = _sync(sandbox_server, settings)
    steady = _sync(sandbox_server, settings)
    # Items still due in the future, so that moving them does not change their badge.
    edited: list[ActionItem] = []
    for items in _shown(steady).values():
        item = next((i for i in items if i.due and i.due > TODAY and not i.done), None)
        if (
            item is not None
            and len(edited) < PAGE_EDITS
            and _move_due_on_page(sandbox_server, item)
        ):
            edited.append(item)
    edited_pages = {i.page_id for i in edited}
    tickets = _edit_tickets(sandbox_server, steady, edited_pages)
    incremental = _sync(sandbox_server, settings)
    yield Scenario(first, steady, incremental, sorted(edited_pages), tickets)
    reset_server(sandbox_server)


def _shown(run: Run) -> dict[str, list[ActionItem]]:
    return {p.page.id: list(p.plan.items) for p in run.result.pages}


def _owner_lookups(run: Run) -> Counter[str]:
    """One user search per distinct name written on the pages and one assignability
    check per distinct person: per person, never per item or per page."""
    items = [i for p in run.result.pages for i in p.plan.items]
    names = {i.owner.value for i in items if i.owner and i.owner.kind == "name"}
    mentioned = {i.owner.value for i in items if i.owner and i.owner.kind == "account_id"}
    assigned = {
        a.data.assignee for a in run.result.actions if a.op is Op.CREATE and a.data.assignee
    }
    return Counter({USER_SEARCH: len(names), ASSIGNABLE: len(mentioned | assigned)})


def test_steady_state_costs_the_floor_and_nothing_per_page_or_item(scenario: Scenario) -> None:
    """Nothing changed: one search of the pages with bodies, one of the tickets with
    their property, serverInfo; no lease, no owner look-up, no ticket read, no write."""
    steady = scenario.steady
    assert steady.result.actions == []
    assert steady.routes == Counter(FLOOR)
    assert steady.total == 6


def test_first_run_costs_bulk_creates_links_writes_and_leases(scenario: Scenario) -> None:
    """Every item gets a ticket: creates in bulk, one remote link per ticket, one page
    write and one lease (taken, given back) per page, the creating pages searched
    again in batches under their leases; a ticked item's ticket is closed with one
    request (the transitions read once, for the first fresh ticket) and verified by
    reading its status back, and its synced state recorded with one more; owners
    looked up once per person."""
    first = scenario.first
    counts = first.result.counts()
    assert (counts["create"], counts["page_writes"]) == (TICKETS, PAGES)
    closed = counts["transition"]
    assert closed > 0  # the dataset ticks some tasks before they have a ticket
    expected = Counter(
        {
            SERVER_INFO: 1,
            CQL: math.ceil(PAGES / BODY_PAGE),
            # The search before planning finds nothing; then the creating pages again.
            JQL: 1 + math.ceil(PAGES / LEASE_BATCH),
            BULK: math.ceil(TICKETS / CREATE_CHUNK),
            LINK: TICKETS,
            PAGE_WRITE: PAGES,
            LEASE_CREATE: PAGES,
            LEASE_WRITE: PAGES,  # given back
            TRANSITIONS: 1,
            TRANSITION: closed,
            ISSUE_GET: closed,  # each transition verified by reading the status
            ISSUE_PROPERTY: closed,
        }
    )
    expected.update(_owner_lookups(first))
    assert first.routes == expected


def test_incremental_run_costs_the_floor_plus_a_constant_per_change(scenario: Scenario) -> None:
    """Due dates moved on 5 pages and 5 tickets changed in Jira: the floor, then per
    changed page its lease (read, taken, given back) and the writes of its change:
    a date moved on the page is one ticket edit and its synced state; a ticket moved
    in Jira is one page write and its synced state. Nothing for the other pages."""
    incremental = scenario.incremental
    assert len(scenario.page_edits) == PAGE_EDITS
    changed_pages = PAGE_EDITS + DUE_EDITS + DONE_EDITS
    jira_edits = DUE_EDITS + DONE_EDITS
    expected = Counter(FLOOR)
    expected.update(
        {
            LEASE_READ: changed_pages,
            LEASE_WRITE: 2 * changed_pages,
            EDIT: PAGE_EDITS,
            ISSUE_PROPERTY: PAGE_EDITS + jira_edits,
            PAGE_WRITE: jira_edits,
        }
    )
    assert incremental.routes == expected
    per_change = (incremental.total - sum(FLOOR.values())) / changed_pages
    assert per_change == 5


def test_demo_site_steady_state_makes_no_lookups(sandbox_server: RunningSandbox) -> None:
    """The demo's awkward cases (a hand-linked ticket adopted, owners no Jira account
    matches, typed and ambiguous dates, a draft without items) cost nothing per item
    once synced: the second run is three requests, whatever the owners and links."""
    reset_server(sandbox_server)
    try:
        settings = _settings(sandbox_server)
        first = _sync(sandbox_server, settings)
        assert first.routes[USER_SEARCH] > 0  # names were looked up once
        steady = _sync(sandbox_server, settings)
        assert steady.result.actions == []
        assert steady.routes == Counter({SERVER_INFO: 1, CQL: 1, JQL: 1})
    finally:
        reset_server(sandbox_server)


def _fresh_tickets(server: RunningSandbox, n: int) -> tuple[Adapters, list[str]]:
    """n tickets just created through the adapter, which knows them as fresh."""
    reset_server(server, synthetic_dataset(pages=1, items_per_page=1, seed=1))
    adapters = from_settings(_settings(server), sleep=lambda s: None)
    specs = [
        NewTicket(
            ref=f"1:task:{k}",
            summary=f"Action {k}",
            description="",
            labels=("followup", "followup-1"),
            due=None,
            assignee=None,
            priority=None,
            prop=TicketProperty(item=f"1:task:{k}", page="1", base=None),
            link_url="",
            link_title="",
        )
        for k in range(n)
    ]
    keys = [str(r.key) for r in adapters.jira.create_tickets(specs)]
    server.stats.reset()
    return adapters, keys


def test_closing_fresh_tickets_reads_their_transitions_once(
    sandbox_server: RunningSandbox,
) -> None:
    """Tickets this run created start alike: the first is asked for its transitions,
    the rest are sent the same one, and each close is verified by reading it back."""
    adapters, keys = _fresh_tickets(sandbox_server, 3)
    try:
        assert [adapters.jira.transition(k, ["done"]) for k in keys] == ["Done"] * 3
        routes = Counter(sandbox_server.stats.snapshot()["by_route"])
        assert routes == Counter({TRANSITIONS: 1, TRANSITION: 3, ISSUE_GET: 3})
    finally:
        adapters.close()
        reset_server(sandbox_server)


def test_a_remembered_transition_jira_refuses_is_chosen_afresh(
    sandbox_server: RunningSandbox,
) -> None:
    """A fresh ticket someone closed meanwhile refuses the remembered transition (400):
    its own transitions are read, and a ticket already where it should be is left."""
    adapters, keys = _fresh_tickets(sandbox_server, 2)
    try:
        assert adapters.jira.transition(keys[0], ["done"]) == "Done"
        _api(
            sandbox_server,
            "POST",
            f"/rest/api/2/issue/{keys[1]}/transitions",
            json={"transition": {"id": "31"}},
        )
        sandbox_server.stats.reset()
        assert adapters.jira.transition(keys[1], ["done"]) == "Done"
        routes = Counter(sandbox_server.stats.snapshot()["by_route"])
        assert routes == Counter({TRANSITION: 1, TRANSITIONS: 1, ISSUE_GET: 1})
        assert adapters.jira.get_ticket(keys[1]) is not None
    finally:
        adapters.close()
        reset_server(sandbox_server)


# -- incremental runs: only what changed since the watermark -----------------------------

MYSELF = "GET /rest/api/2/myself"
CURRENT_USER = "GET /wiki/rest/api/user/current"
WATERMARK_READ, WATERMARK_WRITE, WATERMARK_CREATE = LEASE_READ, LEASE_WRITE, LEASE_CREATE
AGE = 2 * 86400  # the site's data made this much older: past any run's window


@dataclass
class Watermarked:
    first: Run
    steady: Run
    daily: Run
    one_page: Run
    one_ticket: Run


def _state_page(server: RunningSandbox) -> str:
    """A page of its own to hold the watermark."""
    some = _api(server, "GET", "/wiki/rest/api/content/search", params={"cql": "type = page"})
    page = _api(
        server,
        "GET",
        f"/wiki/rest/api/content/{some['results'][0]['id']}",
        params={"expand": "space"},
    )
    created = _api(
        server,
        "POST",
        "/wiki/rest/api/content",
        json={
            "type": "page",
            "title": "followup state",
            "space": {"key": page["space"]["key"]},
            "body": {"storage": {"value": "<p>state</p>", "representation": "storage"}},
        },
    )
    return str(created["id"])


@pytest.fixture(scope="module")
def watermarked(sandbox_server: RunningSandbox) -> Iterator[Watermarked]:
    """The same site with `sync.state_page` set: a first run (a full pass), then, each
    after the site has aged past the window, a run with nothing changed, one with a
    due date moved on one page, and one with one ticket closed in Jira."""
    reset_server(sandbox_server, synthetic_dataset(pages=PAGES, items_per_page=ITEMS, seed=1))
    settings = _settings(sandbox_server)
    settings.sync.state_page = _state_page(sandbox_server)
    first = _sync(sandbox_server, settings)
    _sync(sandbox_server, settings)  # reads back what the first run wrote; plans nothing
    control.age(sandbox_server.state, AGE)
    steady = _sync(sandbox_server, settings)
    daily = _sync(sandbox_server, settings, full=True)
    moved = next(
        i
        for items in _shown(first).values()
        for i in items
        if i.due and i.due > TODAY and not i.done and _move_due_on_page(sandbox_server, i)
    )
    one_page = _sync(sandbox_server, settings)
    control.age(sandbox_server.state, AGE)
    found = _api(
        sandbox_server,
        "GET",
        "/rest/api/3/search/jql",
        params={
            "jql": "labels = followup AND statusCategory != Done ORDER BY key ASC",
            "fields": "labels",
        },
    )
    key = next(
        issue["key"]
        for issue in found["issues"]
        if f"followup-{moved.page_id}" not in issue["fields"]["labels"]
    )
    _api(
        sandbox_server,
        "POST",
        f"/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": "31"}},
    )
    one_ticket = _sync(sandbox_server, settings)
    yield Watermarked(first, steady, daily, one_page, one_ticket)
    reset_server(sandbox_server)


def test_first_run_with_a_watermark_page_costs_four_requests_more(
    watermarked: Watermarked,
) -> None:
    """A full pass that keeps a watermark also reads it, asks each site for the
    account's time zone, and writes it: four requests on top of the first run."""
    first = watermarked.first
    assert first.result.kind == "full"
    closed = first.result.counts()["transition"]
    expected = Counter(
        {
            SERVER_INFO: 1,
            CQL: math.ceil(PAGES / BODY_PAGE),
            JQL: 1 + math.ceil(PAGES / LEASE_BATCH),
            BULK: math.ceil(TICKETS / CREATE_CHUNK),
            LINK: TICKETS,
            PAGE_WRITE: PAGES,
            LEASE_CREATE: PAGES,
            LEASE_WRITE: PAGES,
            TRANSITIONS: 1,
            TRANSITION: closed,
            ISSUE_GET: closed,
            ISSUE_PROPERTY: closed,
        }
    )
    expected.update(_owner_lookups(first))
    expected.update({WATERMARK_READ: 1, MYSELF: 1, CURRENT_USER: 1, WATERMARK_CREATE: 1})
    assert first.routes == expected


def test_incremental_run_with_nothing_changed_costs_five_requests(
    watermarked: Watermarked,
) -> None:
    """Nothing changed since the watermark: serverInfo, the watermark read, one search
    of the pages modified since (empty), one of the tickets updated since (empty), and
    the watermark written: five requests, whatever the number of pages."""
    steady = watermarked.steady
    assert steady.result.kind == "incremental"
    assert steady.result.pages == []
    assert steady.routes == Counter(
        {SERVER_INFO: 1, WATERMARK_READ: 1, CQL: 1, JQL: 1, WATERMARK_WRITE: 1}
    )
    assert steady.total == 5


def test_a_full_pass_that_keeps_the_watermark_costs_the_floor_and_four(
    watermarked: Watermarked,
) -> None:
    """The daily full pass (here `--full`) on a site in step: the floor, the tickets
    searched batch by batch with the pages, plus the watermark read and written and
    each site asked for the account's time zone."""
    daily = watermarked.daily
    assert daily.result.kind == "full"
    assert daily.result.actions == []
    expected = Counter(FLOOR)
    expected.update({WATERMARK_READ: 1, MYSELF: 1, CURRENT_USER: 1, WATERMARK_WRITE: 1})
    assert daily.routes == expected
    assert daily.total == 6 + 4


def test_incremental_run_with_one_page_changed(watermarked: Watermarked) -> None:
    """A due date moved on one page: the five, plus the page's tickets searched, its
    lease (read, taken, given back), the ticket's edit and its synced state."""
    run = watermarked.one_page
    assert run.result.kind == "incremental"
    assert len(run.result.pages) == 1
    assert run.routes == Counter(
        {
            SERVER_INFO: 1,
            WATERMARK_READ: 1 + 1,
            CQL: 1,
            JQL: 1 + 1,
            WATERMARK_WRITE: 1 + 2,
            EDIT: 1,
            ISSUE_PROPERTY: 1,
        }
    )
    assert run.total == 11


def test_incremental_run_with_one_ticket_changed(watermarked: Watermarked) -> None:
    """One ticket closed in Jira: the five, plus its page read by id, the page's
    tickets searched, its lease, the page written and the ticket's synced state."""
    run = watermarked.one_ticket
    assert run.result.kind == "incremental"
    assert len(run.result.pages) == 1
    assert run.routes == Counter(
        {
            SERVER_INFO: 1,
            WATERMARK_READ: 1 + 1,
            CQL: 1 + 1,
            JQL: 1 + 1,
            WATERMARK_WRITE: 1 + 2,
            PAGE_WRITE: 1,
            ISSUE_PROPERTY: 1,
        }
    )
    assert run.total == 12
