"""A run holds a batch of pages, not the site: pages stream from discovery through
extract, plan and apply, `BATCH_PAGES` at a time, and a written page's body is let
go; the bulk creates still go 50 to a request across pages and batches. Checked on
the in-memory ports (what the run holds, when it writes) and against the sandbox on
both flavors (the counts, the leases, the outcome)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sandbox_support import reset_server

from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.model import Page
from followup.core.plan import Op
from followup.core.policy import Policy
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY, synthetic_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings
from followup.sync import engine as engine_module
from followup.sync import leases
from followup.sync.engine import Engine, EngineConfig
from followup.testing import FakeConfluence, FakeJira

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BATCH = 7
PAGES, ITEMS = 30, 3


def _body(n: int) -> str:
    tasks = "".join(
        f"<ac:task><ac:task-id>{k}</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        f"<ac:task-body>Action {k} of incident {n}</ac:task-body></ac:task>"
        for k in range(1, ITEMS + 1)
    )
    return f"<h2>Action items</h2><ac:task-list>{tasks}</ac:task-list>"


class WatchedConfluence(FakeConfluence):
    """Records how many pages discovery had handed out when the first page write came."""

    yielded: int = 0
    at_first_write: int | None = None

    def find_pages(self, cql: str) -> Iterator[Page]:
        for page in super().find_pages(cql):
            self.yielded += 1
            yield page

    def update_page(self, page: Page, body: str, *, message: str) -> Page:
        if self.at_first_write is None:
            self.at_first_write = self.yielded
        return super().update_page(page, body, message=message)


def _site() -> tuple[FakeJira, WatchedConfluence]:
    conf = WatchedConfluence(clock=lambda: NOW)
    for n in range(PAGES):
        page_id = str(1000 + n)
        conf.add_page(Page(page_id, f"Incident {n}", "SRE" if n % 2 else "OPS", 1, _body(n)))
    return FakeJira(clock=lambda: NOW), conf


def _run(jira: FakeJira, conf: FakeConfluence, **config: object) -> engine_module.RunResult:
    engine = Engine(
        jira,
        conf,
        Policy(),
        EngineConfig(concurrency=2, **config),
        clock=lambda: NOW,  # type: ignore[arg-type]
    )
    return engine.run(today=TODAY, dry_run=False)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "BATCH_PAGES", BATCH)


def test_pages_are_written_while_discovery_still_reads() -> None:
    """The first page write comes after the first batch, not after the whole site:
    the run holds a batch (and the pages whose creates wait for a full request)."""
    jira, conf = _site()
    result = _run(jira, conf)
    assert not result.failed
    assert conf.at_first_write is not None
    assert conf.at_first_write < PAGES
    assert result.counts()["page_writes"] == PAGES
    assert all(p.page.body == "" for p in result.pages)  # let go once written


def test_bulk_creates_still_go_fifty_at_a_time_across_batches() -> None:
    """90 creates over 30 pages in batches of 7 pages (21 creates): two bulk
    requests, as without batches; every item has its ticket and no lease is left."""
    jira, conf = _site()
    result = _run(jira, conf)
    assert result.counts()["create"] == PAGES * ITEMS
    assert jira.calls["create_tickets"] == math.ceil(PAGES * ITEMS / 50)
    assert len(jira.tickets) == PAGES * ITEMS
    left = [
        prop
        for (_, key), prop in conf.properties.items()
        if key == leases.LEASE_KEY and not prop.value.get("released")
    ]
    assert left == []
    again = _run(jira, conf)
    assert again.actions == []


def test_a_run_restricted_to_spaces_writes_nothing_until_discovery_is_over() -> None:
    """A space filter that matches nothing stops the run before any write, so a run
    with spaces applies only once every page was discovered."""
    jira, conf = _site()
    result = _run(jira, conf, spaces=("SRE", "OPS"))
    assert not result.failed
    assert conf.at_first_write == PAGES
    assert result.counts()["page_writes"] == PAGES


def test_a_dry_run_keeps_no_body() -> None:
    jira, conf = _site()
    engine = Engine(jira, conf, Policy(), EngineConfig(concurrency=2), clock=lambda: NOW)
    result = engine.run(today=TODAY, dry_run=True)
    assert len(result.pages) == PAGES
    assert all(p.page.body == "" for p in result.pages)
    assert conf.writes == 0


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_batched_runs_against_the_sandbox(request: pytest.FixtureRequest, flavor: str) -> None:
    """Against the sandbox: a first run in batches of 7 pages sends ⌈I / 50⌉ bulk
    creates, writes every page, leases and gives back each page once; the next run
    plans nothing."""
    server: RunningSandbox = request.getfixturevalue(
        "sandbox_server" if flavor == "cloud" else "dc_sandbox_server"
    )
    pages, items = 24, 3
    reset_server(
        server, synthetic_dataset(pages=pages, items_per_page=items, seed=2, flavor=flavor)
    )
    try:
        settings = load_settings(None, env=control.env_for(server.state, server.url))
        settings.sync.rate_limit = 100_000.0

        def sync() -> engine_module.RunResult:
            server.stats.reset()
            adapters = from_settings(settings, sleep=lambda s: None)
            try:
                engine = build_engine(settings, adapters.jira, adapters.confluence)
                result = engine.run(today=DEMO_TODAY, dry_run=False)
            finally:
                adapters.close()
            assert not result.failed, [o.error for o in result.failures] + result.errors
            return result

        first = sync()
        routes = Counter(server.stats.snapshot()["by_route"])
        creates = sum(1 for a in first.actions if a.op is Op.CREATE)
        assert creates > 50
        assert routes["POST /rest/api/2/issue/bulk"] == math.ceil(creates / 50)
        assert routes["PUT /wiki/rest/api/content/{id}"] == pages
        assert routes["POST /wiki/rest/api/content/{id}/property"] == pages  # leases taken
        assert routes["PUT /wiki/rest/api/content/{id}/property/{key}"] == pages  # given back
        assert sync().actions == []
    finally:
        reset_server(server)
