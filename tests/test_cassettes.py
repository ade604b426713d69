"""The adapter scenarios replayed from recorded HTTP cassettes: no server needed.

Each scenario drives the real adapters (their paging, chunking, retry and error
translation) against answers recorded from the sandbox in `cassettes/`. Requests are
matched on method, path, query and body, so a change in what the adapters send
fails here until the cassettes are re-recorded on purpose:

    make cassettes        # FOLLOWUP_RECORD_CASSETTES=1 pytest tests/test_cassettes.py

Recording starts the sandbox, sets up each scenario's data and faults (outside the
cassette), and records with the Authorization header dropped, the sandbox's origin
replaced by `http://sandbox.invalid` and any token scrubbed from bodies and headers.
Replaying uses record mode `none`: a request that is not in the cassette fails.
What a cassette cannot hold (a connection closed without an answer) is covered by
the live tests in test_adapters_*.py.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import vcr
from sandbox_support import reset_server

from followup import errors
from followup.adapters import Adapters, build_adapters
from followup.core.model import SyncBase, TicketProperty
from followup.ports import FieldUpdate, NewTicket
from followup.sandbox.dataset import Dataset
from followup.sandbox.seed import DEMO_ADMIN, PRIYA, synthetic_dataset
from followup.sandbox.server import RunningSandbox

RECORD = os.environ.get("FOLLOWUP_RECORD_CASSETTES") == "1"
CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
PLACEHOLDER = "http://sandbox.invalid"
TOKEN = str(DEMO_ADMIN.token)
SECRETS = (TOKEN, base64.b64encode(f"{DEMO_ADMIN.email}:{TOKEN}".encode()).decode("ascii"))
POSTMORTEMS = 'type = page AND label = "postmortem"'


def _scrub(text: str, origin: str) -> str:
    for secret in SECRETS:
        text = text.replace(secret, "[REDACTED]")
    return text.replace(origin, PLACEHOLDER)


def _scrub_request(origin: str) -> Callable[[Any], Any]:
    def scrub(request: Any) -> Any:
        if "/_sandbox/" in request.uri:
            return None  # the control plane (faults) is set up live, never replayed
        request.uri = _scrub(request.uri, origin)
        if request.body:
            raw = request.body if isinstance(request.body, bytes) else request.body.encode()
            request.body = _scrub(raw.decode("utf-8"), origin).encode("utf-8")
        return request

    return scrub


def _scrub_response(origin: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        body = response["body"].get("string")
        if body:
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            response["body"]["string"] = _scrub(text, origin).encode("utf-8")
        headers: dict[str, list[str]] = response["headers"]
        for name in list(headers):
            if name.lower() in ("date", "server", "set-cookie"):
                del headers[name]
            elif name.lower() == "content-length":  # the scrubbed body may differ in length
                headers[name] = [str(len(response["body"].get("string") or b""))]
            else:
                headers[name] = [_scrub(v, origin) for v in headers[name]]
        return response

    return scrub


@dataclass
class Site:
    """Where a scenario's requests go: the live sandbox when recording, the placeholder
    origin when replaying (nothing listens there: every answer comes from the cassette)."""

    server: RunningSandbox | None
    waits: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url if self.server else PLACEHOLDER

    def prepare(self, dataset: Dataset | None = None, **faults: Any) -> None:
        """Reset the sandbox's data and set its faults (recording only)."""
        if self.server is None:
            return
        reset_server(self.server, dataset)
        if faults:
            response = requests.put(f"{self.server.url}/_sandbox/faults", json=faults, timeout=10)
            assert response.ok, response.text

    def faults(self, **faults: Any) -> None:
        """Set the sandbox's faults mid-scenario (recording only)."""
        if self.server is not None:
            response = requests.put(f"{self.server.url}/_sandbox/faults", json=faults, timeout=10)
            assert response.ok, response.text

    def adapters(self, *, token: str = TOKEN, budget: float = 600.0) -> Adapters:
        return build_adapters(
            jira_url=self.url,
            confluence_url=f"{self.url}/wiki",
            email=DEMO_ADMIN.email,
            token=token,
            project="OPS",
            timeout=10,
            rate_limit=1000.0,
            run_budget_seconds=budget,
            confluence_cloud=False,
            sleep=self.waits.append,
        )

    @contextmanager
    def cassette(self, name: str) -> Iterator[None]:
        path = CASSETTES / f"{name}.yaml"
        if RECORD:
            path.unlink(missing_ok=True)
        recorder = vcr.VCR(
            cassette_library_dir=str(CASSETTES),
            record_mode="all" if RECORD else "none",
            match_on=["method", "path", "query", "body"],
            filter_headers=["authorization", "cookie"],
            before_record_request=_scrub_request(self.url),
            before_record_response=_scrub_response(self.url),
            decode_compressed_response=True,
        )
        with recorder.use_cassette(path.name, allow_playback_repeats=False) as cassette:
            yield
        if not RECORD:
            assert cassette.all_played, f"{name}: recorded requests were not all sent again"


def _site(request: pytest.FixtureRequest, fixture: str) -> Site:
    if not RECORD:
        return Site(None)
    server: RunningSandbox = request.getfixturevalue(fixture)
    return Site(server)


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> Site:
    return _site(request, "sandbox_server")


@pytest.fixture
def datacenter(request: pytest.FixtureRequest) -> Site:
    return _site(request, "dc_sandbox_server")


def new_ticket(n: int, **overrides: Any) -> NewTicket:
    fields: dict[str, Any] = {
        "ref": f"3001:task:{n}",
        "summary": f"Cassette action item {n}",
        "description": f"Item {n} of the cassette postmortem",
        "labels": ("followup", "followup-3001", "cassette"),
        "due": date(2025, 3, 1 + n % 28),
        "assignee": None,
        "priority": None,
        "prop": TicketProperty(item=f"3001:task:{n}", page="3001", base=None),
        "link_url": f"{PLACEHOLDER}/wiki/spaces/SRE/pages/3001",
        "link_title": "Cassette postmortem",
    }
    fields.update(overrides)
    return NewTicket(**fields)


# -- Jira ----------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_search_pages_to_the_end(flavor: str, request: pytest.FixtureRequest) -> None:
    """25 created tickets come back from a search paged 10 at a time, each once
    (Cloud: nextPageToken/isLast; Data Center: startAt/total)."""
    site: Site = request.getfixturevalue(flavor)
    site.prepare()
    with site.cassette(f"jira_{flavor}_search_paging"):
        adapters = site.adapters()
        jira = adapters.jira
        jira.page_size = 10
        assert jira.deployment == flavor
        created = jira.create_tickets([new_ticket(n) for n in range(25)])
        assert all(r.key for r in created)
        found = list(jira.search_tickets("labels = cassette ORDER BY key"))
    assert len({t.key for t in found}) == len(found) == 25
    assert {t.prop.item for t in found if t.prop} == {f"3001:task:{n}" for n in range(25)}
    assert adapters.stats.requests("jira") == 1 + 1 + 3  # serverInfo, one bulk, 3 pages


def test_jira_bulk_create_in_chunks_with_a_failing_element(cloud: Site) -> None:
    """55 creates are two bulk requests; the element Jira refuses gets its error, in
    its place; the rest get keys."""
    cloud.prepare()
    tickets = [new_ticket(n) for n in range(55)]
    tickets[52] = new_ticket(52, priority="No Such Priority")
    with cloud.cassette("jira_bulk_create"):
        adapters = cloud.adapters()
        results = adapters.jira.create_tickets(tickets)
    assert [r.ref for r in results] == [t.ref for t in tickets]
    assert results[52].key is None
    assert results[52].error is not None
    assert "priority" in results[52].error.lower()
    assert all(r.key for i, r in enumerate(results) if i != 52)
    assert adapters.stats.requests("jira", 201) == 2


def test_jira_writes(cloud: Site) -> None:
    """Update, transition with read-back, property, remote link upserted twice,
    comment, and user lookups, as the engine uses them."""
    cloud.prepare()
    with cloud.cassette("jira_writes"):
        jira = cloud.adapters().jira
        [result] = jira.create_tickets([new_ticket(1)])
        key = str(result.key)
        jira.update_ticket(
            key,
            FieldUpdate(
                fields={"assignee": PRIYA.account_id, "duedate": date(2025, 4, 1)},
                add_labels=("reviewed",),
            ),
        )
        assert jira.transition(key, ["In Progress"]) == "In Progress"
        assert jira.transition(key, ["Done"]) == "Done"
        prop = TicketProperty(
            item="3001:task:1",
            page="3001",
            base=SyncBase("Cassette action item 1", PRIYA.account_id, date(2025, 4, 1), True),
        )
        jira.set_property(key, prop)
        for title in ("Cassette postmortem", "Cassette postmortem (renamed)"):
            jira.upsert_remote_link(
                key,
                global_id="followup:page:3001",
                url=f"{PLACEHOLDER}/wiki/spaces/SRE/pages/3001",
                title=title,
            )
        jira.add_comment(key, "Closed from the postmortem page.")
        ticket = jira.get_ticket(key)
        users = jira.find_users("Priya")
        assignable = jira.assignable_user(PRIYA.account_id, "OPS")
    assert ticket is not None
    assert (ticket.assignee, ticket.due, ticket.done) == (PRIYA.account_id, date(2025, 4, 1), True)
    assert "reviewed" in ticket.labels
    assert ticket.prop == prop
    assert [u.id for u in users] == [PRIYA.account_id]
    assert assignable


def test_jira_429_storm_honours_retry_after(cloud: Site) -> None:
    """Refused with 429 (Retry-After: 2) about half the time, a search and reads still
    complete; every retry waited at least 2 s (recorded, never slept)."""
    cloud.prepare()
    with cloud.cassette("jira_setup_for_429"):
        jira = cloud.adapters().jira
        jira.page_size = 10
        jira.create_tickets([new_ticket(n) for n in range(30)])
    cloud.faults(rate_429=0.5, retry_after_s=2, seed=21)
    with cloud.cassette("jira_429_storm"):
        adapters = cloud.adapters()
        adapters.jira.page_size = 10
        found = list(adapters.jira.search_tickets("labels = cassette"))
    assert len({t.key for t in found}) == 30
    retries = adapters.stats.retries("jira")
    assert retries > 0
    assert adapters.stats.requests("jira", 429) == retries
    assert len([w for w in cloud.waits if w >= 2.0]) >= retries


def test_jira_create_answered_502_is_ambiguous_and_sent_once(cloud: Site) -> None:
    """The bulk create commits but the answer is a 502: the ambiguous ServerError is
    raised after one request, never a second create."""
    cloud.prepare()
    with cloud.cassette("jira_create_lost"):
        adapters = cloud.adapters()
        assert adapters.jira.deployment == "cloud"
        cloud.faults(drop_write_numbers=[1], drop_mode="502")
        with pytest.raises(errors.ServerError) as raised:
            adapters.jira.create_tickets([new_ticket(1), new_ticket(2)])
    assert raised.value.ambiguous
    assert adapters.stats.requests("jira", 502) == 1
    assert adapters.stats.retries() == 0


# -- Confluence ----------------------------------------------------------------------


def test_confluence_search_pages_past_the_cap(cloud: Site) -> None:
    """40 postmortems, capped at 25 a page by the server: two requests, each page once."""
    cloud.prepare(synthetic_dataset(pages=40, items_per_page=1, seed=3))
    with cloud.cassette("confluence_search_paging"):
        adapters = cloud.adapters()
        pages = list(adapters.confluence.find_pages(POSTMORTEMS))
    assert len({p.id for p in pages}) == len(pages) == 40
    assert all(p.body and p.version == 1 for p in pages)
    assert adapters.stats.requests("confluence") == 2


def test_confluence_update_and_conflict(cloud: Site) -> None:
    """A page written as version + 1; the same stale read written again is a 409."""
    cloud.prepare()
    with cloud.cassette("confluence_update_conflict"):
        wiki = cloud.adapters().confluence
        page = next(iter(wiki.find_pages(POSTMORTEMS)))
        written = wiki.update_page(page, page.body + "<p>cassette</p>", message="followup")
        with pytest.raises(errors.ConflictError):
            wiki.update_page(page, page.body + "<p>stale</p>", message="followup")
        now = wiki.get_page(page.id)
    assert written.version == now.version == page.version + 1
    assert "cassette" in now.body


def test_confluence_properties_compare_and_swap(cloud: Site) -> None:
    """Create, create again (conflict), update at + 1, update stale (conflict)."""
    cloud.prepare()
    with cloud.cassette("confluence_properties"):
        wiki = cloud.adapters().confluence
        page_id = next(iter(wiki.find_pages(POSTMORTEMS))).id
        assert wiki.get_property(page_id, "followup-lease") is None
        assert wiki.create_property(page_id, "followup-lease", {"run": "a"}).version == 1
        with pytest.raises(errors.ConflictError):
            wiki.create_property(page_id, "followup-lease", {"run": "b"})
        assert (
            wiki.update_property(page_id, "followup-lease", {"run": "a2"}, version=2).version == 2
        )
        with pytest.raises(errors.ConflictError):
            wiki.update_property(page_id, "followup-lease", {"run": "b"}, version=2)


def test_confluence_bad_token(cloud: Site) -> None:
    """A wrong token is an AuthenticationError whose message does not hold it."""
    cloud.prepare()
    wrong = "a-wrong-token-for-the-cassette"
    with cloud.cassette("confluence_unauthorized"):
        wiki = cloud.adapters(token=wrong).confluence
        with pytest.raises(errors.AuthenticationError) as raised:
            list(wiki.find_pages(POSTMORTEMS))
    assert raised.value.status == 401
    assert wrong not in raised.value.show()


def test_confluence_429_storm(cloud: Site) -> None:
    """The CQL search rides out 429s (Retry-After: 3), each page still once."""
    cloud.prepare(synthetic_dataset(pages=26, items_per_page=1, seed=9))
    cloud.faults(rate_429=0.5, retry_after_s=3, seed=8)
    with cloud.cassette("confluence_429_storm"):
        adapters = cloud.adapters()
        pages = list(adapters.confluence.find_pages(POSTMORTEMS))
    assert len({p.id for p in pages}) == len(pages) == 26
    retries = adapters.stats.retries("confluence")
    assert retries > 0
    assert len([w for w in cloud.waits if w >= 3.0]) >= retries


def test_confluence_data_center_users(datacenter: Site) -> None:
    """Data Center mentions resolve by userkey and username; unknown is None."""
    datacenter.prepare()
    with datacenter.cassette("confluence_datacenter_users"):
        wiki = datacenter.adapters().confluence
        by_key = wiki.get_user(userkey=PRIYA.key)
        by_name = wiki.get_user(username=PRIYA.name)
        nobody = wiki.get_user(username="no.such.person")
    assert by_key is not None
    assert by_key == by_name
    assert by_key.display_name == PRIYA.display_name
    assert nobody is None


# -- the cassettes themselves --------------------------------------------------------


def test_no_cassette_holds_a_credential() -> None:
    """No recorded request or answer holds the sandbox token, the Basic credential
    built from it, an Authorization header or the recording server's address."""
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files, "no cassettes recorded: run `make cassettes`"
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{path.name} holds a credential"
        assert "authorization" not in text.lower(), f"{path.name} holds an Authorization header"
        assert "127.0.0.1" not in text, f"{path.name} holds the recording server's address"
