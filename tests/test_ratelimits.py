"""Atlassian Cloud's rate limits, kept before the 429: the limiter's budgets per
endpoint and per issue, its answers to `Retry-After`, `RateLimit-Reason` and
`X-RateLimit-NearLimit`, the sandbox's emulation of the published limits, and a
first run under them. Everything runs on a clock that moves only when something
sleeps on it (the sandbox reads the same clock), so no test depends on timing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests
import structlog
from sandbox_support import reset_server

from followup.adapters import CLOUD_LIMITS, EndpointLimiter
from followup.adapters.ratelimits import endpoint_of, issue_of_write
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.sandbox import control
from followup.sandbox.faults import FaultConfig, FaultConfigError
from followup.sandbox.seed import DEMO_ADMIN, DEMO_TODAY, synthetic_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings

JIRA = "https://acme.atlassian.net"


class Clock:
    """Monotonic seconds that move only when a caller sleeps, by what it sleeps (sleeps
    side by side add up: the clock runs fast, never slow)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += seconds
            self.now += max(0.0, seconds)


def _limiter(clock: Clock) -> EndpointLimiter:
    return EndpointLimiter(clock=clock, sleep=clock.sleep)


# -- what a request counts against -----------------------------------------------------


def test_requests_count_against_their_endpoint_and_writes_against_their_issue() -> None:
    assert endpoint_of("post", f"{JIRA}/rest/api/2/issue/OPS-12/remotelink") == (
        "POST /rest/api/2/issue/{key}/remotelink"
    )
    assert endpoint_of("PUT", f"{JIRA}/wiki/rest/api/content/98000001?expand=x") == (
        "PUT /wiki/rest/api/content/{id}"
    )
    assert issue_of_write("jira", "PUT", f"{JIRA}/rest/api/2/issue/OPS-12") == "OPS-12"
    assert issue_of_write("jira", "POST", f"{JIRA}/rest/api/3/issue/10012/transitions") == "10012"
    assert issue_of_write("jira", "GET", f"{JIRA}/rest/api/2/issue/OPS-12") is None
    assert issue_of_write("jira", "POST", f"{JIRA}/rest/api/2/issue/bulk") is None
    assert issue_of_write("confluence", "PUT", f"{JIRA}/wiki/rest/api/content/1") is None


# -- budgets -------------------------------------------------------------------------


def test_each_endpoint_has_its_own_budget_by_method() -> None:
    """GET and POST are paced at 90% of 100/s, PUT and DELETE at 90% of 50/s, each
    endpoint on its own: after a second's burst, requests are spaced at the rate,
    and another endpoint is not held by the first."""
    clock = Clock()
    limiter = _limiter(clock)
    get = f"{JIRA}/rest/api/2/issue/OPS-1"
    for _ in range(90):
        assert limiter.before("jira", "GET", get) == 0.0
    assert limiter.before("jira", "GET", get) == pytest.approx(1 / 90)
    assert limiter.before("jira", "GET", f"{JIRA}/rest/api/3/search/jql") == 0.0
    put = f"{JIRA}/wiki/rest/api/content/7"
    for _ in range(45):
        assert limiter.before("confluence", "PUT", put) == 0.0
    assert limiter.before("confluence", "PUT", put) == pytest.approx(1 / 45)
    # 1,000 GETs to one endpoint take what the budget says, not less.
    start = clock()
    for n in range(1000):
        limiter.before("jira", "GET", f"{JIRA}/rest/api/2/issue/OPS-{n}")
    assert clock() - start == pytest.approx(1000 / 90, abs=0.05)


def test_writes_to_one_issue_keep_both_windows() -> None:
    """At most 18 writes (90% of 20) in any 2 s and 90 (of 100) in any 30 s to one
    issue, whatever its endpoints; writes to other issues and reads go on."""
    clock = Clock()
    limiter = _limiter(clock)
    issue = f"{JIRA}/rest/api/2/issue/OPS-7"
    times = []
    for n in range(120):
        url = issue if n % 2 else f"{issue}/remotelink"
        limiter.before("jira", "PUT" if n % 2 else "POST", url)
        times.append(clock())
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 2.0) <= 18
        assert sum(1 for u in times[i:] if u < t + 30.0) <= 90
    assert times[-1] - times[0] >= 30.0
    before = clock()
    assert limiter.before("jira", "PUT", f"{JIRA}/rest/api/2/issue/OPS-8") == 0.0
    assert limiter.before("jira", "GET", issue) == 0.0
    assert clock() == before


def test_a_429_holds_the_scope_its_reason_names_for_retry_after() -> None:
    """`jira-burst-based`: that endpoint waits and slows; `jira-per-issue-on-write`:
    that issue's writes wait; a quota (or no reason): everything on that site waits.
    Other scopes, and the other site, go on."""
    clock = Clock()
    limiter = _limiter(clock)
    links = f"{JIRA}/rest/api/2/issue/OPS-1/remotelink"
    scope = limiter.after(
        "jira", "POST", links, 429, {"RateLimit-Reason": "jira-burst-based"}, retry_after=2.0
    )
    assert scope == "endpoint"
    assert limiter.pace("jira", endpoint_of("POST", links)) == 0.5
    assert limiter.before("jira", "GET", f"{JIRA}/rest/api/3/search/jql") == 0.0
    assert limiter.before("jira", "POST", f"{JIRA}/rest/api/2/issue/OPS-9/remotelink") >= 2.0

    edit = f"{JIRA}/rest/api/2/issue/OPS-5"
    scope = limiter.after(
        "jira", "PUT", edit, 429, {"RateLimit-Reason": "jira-per-issue-on-write"}, retry_after=3
    )
    assert scope == "issue"
    assert limiter.before("jira", "PUT", f"{JIRA}/rest/api/2/issue/OPS-6") == 0.0
    assert limiter.before("jira", "POST", f"{edit}/transitions") == pytest.approx(3.0)

    quota = {"RateLimit-Reason": "jira-quota-tenant-based"}
    assert limiter.after("jira", "GET", edit, 429, quota, retry_after=5) == "site"
    assert limiter.before("confluence", "GET", f"{JIRA}/wiki/rest/api/space/OPS") == 0.0
    assert limiter.before("jira", "GET", f"{JIRA}/rest/api/2/serverInfo") >= 5.0
    assert limiter.after("jira", "GET", edit, 429, {}, retry_after=1) == "site"


def test_near_limit_slows_the_site_once_a_second_and_success_recovers() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    url = f"{JIRA}/rest/api/3/search/jql"
    near = {"X-RateLimit-NearLimit": "true"}
    limiter.after("jira", "GET", url, 200, near)
    limiter.after("jira", "GET", url, 200, near)  # the same moment: slowed once
    assert limiter.pace("jira") == 0.5
    assert limiter.pace("confluence") == 1.0
    clock.sleep(1.0)
    limiter.after("jira", "GET", url, 200, near)
    assert limiter.pace("jira") == 0.25
    for _ in range(100):
        limiter.after("jira", "GET", url, 200, {})
    assert limiter.pace("jira") == 1.0


def test_429s_and_near_limits_are_logged_with_their_reason(reset_logging: None) -> None:
    clock = Clock()
    limiter = _limiter(clock)
    url = f"{JIRA}/rest/api/2/issue/OPS-1"
    with structlog.testing.capture_logs() as logs:
        limiter.after(
            "jira", "PUT", url, 429, {"RateLimit-Reason": "jira-per-issue-on-write"}, retry_after=1
        )
        limiter.after("jira", "GET", url, 200, {"X-RateLimit-NearLimit": "true"})
    assert [(e["event"], e.get("reason")) for e in logs] == [
        ("rate-limited", "jira-per-issue-on-write"),
        ("rate-limit-near", None),
    ]
    assert logs[0]["held"] == "issue OPS-1"
    assert logs[0]["retry_after"] == 1


# -- the sandbox's emulation ---------------------------------------------------------


@pytest.fixture
def limited(sandbox: RunningSandbox) -> Any:
    clock = Clock()
    sandbox.faults.clock = clock
    response = requests.put(
        f"{sandbox.url}/_sandbox/faults", json={"rate_limits": True}, timeout=10
    )
    assert response.ok, response.text
    yield sandbox, clock
    sandbox.faults.clear()
    sandbox.faults.clock = time.monotonic


def test_the_sandbox_refuses_what_goes_over_the_published_limits(limited: Any) -> None:
    """101 GETs to one endpoint in one instant: the 101st is a 429 `jira-burst-based`
    with Retry-After; another endpoint answers; a second later the first does too.
    21 writes to one issue within 2 s: the 21st is `jira-per-issue-on-write`."""
    sandbox, clock = limited
    session = requests.Session()
    session.auth = (DEMO_ADMIN.email, str(DEMO_ADMIN.token))
    info = f"{sandbox.url}/rest/api/2/myself"
    answers = [session.get(info, timeout=10) for _ in range(101)]
    assert [a.status_code for a in answers[:100]] == [200] * 100
    assert answers[79].headers.get("X-RateLimit-NearLimit") is None
    assert answers[90].headers["X-RateLimit-NearLimit"] == "true"
    refused = answers[100]
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Reason"] == "jira-burst-based"
    assert refused.headers["Retry-After"] == "1"
    assert session.get(f"{sandbox.url}/rest/api/2/serverInfo", timeout=10).ok
    clock.sleep(1.0)
    assert session.get(info, timeout=10).ok

    key = session.get(
        f"{sandbox.url}/rest/api/3/search/jql",
        params={"jql": "project = OPS ORDER BY key", "fields": "summary"},
        timeout=10,
    ).json()["issues"][0]["key"]
    url = f"{sandbox.url}/rest/api/2/issue/{key}/properties/test"
    statuses = [session.put(url, json={"n": n}, timeout=10).status_code for n in range(21)]
    assert statuses[:20] == [200] * 20 or set(statuses[:20]) <= {200, 201}
    assert statuses[20] == 429
    last = session.put(url, json={"n": 21}, timeout=10)
    assert last.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
    clock.sleep(2.0)
    assert session.put(url, json={"n": 22}, timeout=10).ok


def test_the_rate_limit_fault_is_checked() -> None:
    assert FaultConfig.from_json({"rate_limits": True, "rate_limit_scale": 0.5}).rate_limits
    with pytest.raises(FaultConfigError, match="rate_limit_scale"):
        FaultConfig.from_json({"rate_limits": True, "rate_limit_scale": 0})
    with pytest.raises(FaultConfigError, match="rate_limits"):
        FaultConfig.from_json({"rate_limits": "yes"})


# -- a first run under the limits ----------------------------------------------------

PAGES = 200


def _first_run(server: RunningSandbox, *, keep_limits: bool) -> tuple[int, Counter[str]]:
    """A first run (200 pages x 1 item) under the emulated limits, on the shared clock;
    the 429s the sandbox sent, and the requests by route."""
    reset_server(server, synthetic_dataset(pages=PAGES, items_per_page=1, seed=3))
    clock = Clock()
    server.faults.clock = clock
    server.faults.configure(FaultConfig(rate_limits=True))
    server.stats.reset()
    settings = load_settings(None, env=control.env_for(server.state, server.url))
    # The run's overall rate out of the way: the published limits are under test.
    settings.sync.rate_limit = 1_000_000.0
    adapters = from_settings(
        settings,
        sleep=clock.sleep,
        clock=clock,
        run_budget_seconds=100_000,
        cloud_limits=CLOUD_LIMITS if keep_limits else None,
    )
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence, sleep=clock.sleep).run(
            today=DEMO_TODAY, dry_run=False
        )
    finally:
        adapters.close()
        server.faults.clear()
        server.faults.clock = time.monotonic
    assert not result.failed, [o.error for o in result.failures] + result.errors
    assert result.counts()["create"] == PAGES
    snapshot = server.stats.snapshot()
    return int(snapshot["faults"].get("429", 0)), Counter(snapshot["by_route"])


def test_a_first_run_under_the_published_limits_meets_no_429_with_the_limiter(
    sandbox_server: RunningSandbox,
) -> None:
    """Without the per-endpoint budgets the run's 200 remote links and 200 page writes
    go out faster than 100/s and 50/s and the site refuses many (the retries still
    get the run through); with them, none is refused."""
    try:
        refused_without, _ = _first_run(sandbox_server, keep_limits=False)
        refused_with, routes = _first_run(sandbox_server, keep_limits=True)
    finally:
        reset_server(sandbox_server)
    print(f"429s without the budgets: {refused_without}, with: {refused_with}")
    assert refused_without > 0
    assert refused_with == 0
    assert routes["POST /rest/api/2/issue/{issueIdOrKey}/remotelink"] == PAGES


def test_the_adapters_keep_the_budget_and_heed_near_limit(
    limited: Any, reset_logging: None
) -> None:
    """Through the real adapter: 150 reads of one endpoint in what would be one instant
    meet no 429 (the budget spaces them at 90/s, on the clock the sandbox shares), and
    the site's `X-RateLimit-NearLimit` slows the adapter down and is logged."""
    sandbox, clock = limited
    settings = load_settings(None, env=control.env_for(sandbox.state, sandbox.url))
    settings.sync.rate_limit = 1_000_000.0
    adapters = from_settings(settings, sleep=clock.sleep, clock=clock)
    start = clock()
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(150):
                assert adapters.jira.get_ticket("OPS-1") is not None
    finally:
        adapters.close()
    assert sandbox.stats.snapshot()["faults"]["429"] == 0
    assert clock() - start >= (150 - 90) / 90
    near = [e for e in logs if e["event"] == "rate-limit-near"]
    assert near
    assert near[0]["pace"] == 0.5
    assert near[0]["endpoint"] == "GET /rest/api/2/issue/{key}"
