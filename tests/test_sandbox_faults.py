"""The sandbox misbehaves on purpose, observably with the real `requests`-based clients,
and `/_sandbox/stats` counts each kind of fault."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from jira import JIRAError
from sandbox_support import JiraSite

from followup.sandbox.faults import FaultConfig, FaultConfigError, Faults

pytest_plugins = ["sandbox_support"]

NEW_ISSUE = {
    "fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Faulty"}
}


def _issue_count(site: JiraSite) -> int:
    with site.server.state.lock:
        return int(site.server.state.db.execute("SELECT COUNT(*) FROM issues").fetchone()[0])


def _create(site: JiraSite) -> requests.Response:
    return site.session().post(f"{site.url}/rest/api/3/issue", json=NEW_ISSUE)


def test_429_carries_retry_after_and_jiras_body_and_changes_nothing(jira_site: JiraSite) -> None:
    """A refused write has not happened; the answer says when to come back."""
    jira_site.set_faults(rate_429=1.0, retry_after_s=7)
    before = _issue_count(jira_site)
    response = _create(jira_site)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["errorMessages"]
    assert _issue_count(jira_site) == before
    stats = jira_site.stats()
    assert stats["faults"]["429"] == 1
    assert stats["writes"] == 0
    assert stats["requests"] == 1


def test_429_on_the_confluence_side_has_confluences_shape(jira_site: JiraSite) -> None:
    """Faults apply to every Atlassian API path; the body follows the product."""
    jira_site.set_faults(rate_429=1.0)
    response = jira_site.session().get(
        f"{jira_site.url}/wiki/rest/api/content/search", params={"cql": "type = page"}
    )
    assert response.status_code == 429
    assert response.json()["statusCode"] == 429


def test_5xx_are_503_with_retry_after_or_502_and_change_nothing(jira_site: JiraSite) -> None:
    """With rate_5xx=1 every request fails before it is handled, as 503 or 502."""
    jira_site.set_faults(rate_5xx=1.0, retry_after_s=2, seed=3)
    before = _issue_count(jira_site)
    statuses = []
    for _ in range(12):
        response = _create(jira_site)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "2"
    assert set(statuses) == {502, 503}
    assert _issue_count(jira_site) == before
    assert jira_site.stats()["faults"]["5xx"] == 12


def test_latency_delays_each_api_request(jira_site: JiraSite) -> None:
    """latency_ms is spent before the request is handled."""
    jira_site.set_faults(latency_ms=150)
    started = time.monotonic()
    assert jira_site.session().get(f"{jira_site.url}/rest/api/3/myself").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_a_dropped_response_is_a_connection_error_after_the_write_committed(
    jira_site: JiraSite,
) -> None:
    """drop_mode=close: the issue exists, but the client saw no answer at all."""
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="close")
    before = _issue_count(jira_site)
    with pytest.raises(requests.exceptions.ConnectionError):
        _create(jira_site)
    assert _issue_count(jira_site) == before + 1
    assert _create(jira_site).status_code == 201  # only the first write was chosen
    stats = jira_site.stats()
    assert stats["faults"]["dropped"] == 1
    assert stats["writes"] == 2


def test_the_jira_client_sees_a_dropped_create_as_a_connection_error(jira_site: JiraSite) -> None:
    """With max_retries=0 the real client surfaces the drop instead of re-posting."""
    client = jira_site.jira()
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="close")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.create_issue(fields=NEW_ISSUE["fields"])
    assert jira_site.stats()["writes"] == 1
    found = client.enhanced_search_issues("summary ~ Faulty", fields="summary")
    assert len(found) == 1


def test_a_lost_response_can_also_be_a_502_after_the_write(jira_site: JiraSite) -> None:
    """drop_mode=502: a gateway error, although the write went through."""
    client = jira_site.jira()
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="502")
    before = _issue_count(jira_site)
    with pytest.raises(JIRAError) as caught:
        client.create_issue(fields=NEW_ISSUE["fields"])
    assert caught.value.status_code == 502
    assert _issue_count(jira_site) == before + 1


@pytest.mark.parametrize("k", [1, 2, 3])
def test_drop_write_numbers_picks_exactly_the_kth_successful_write(
    jira_site: JiraSite, k: int
) -> None:
    """Failed writes and reads do not count; the k-th successful write loses its answer."""
    jira_site.set_faults(drop_write_numbers=[k], drop_mode="502")
    session = jira_site.session()
    outcomes = []
    for _ in range(3):
        session.get(f"{jira_site.url}/rest/api/3/issue/OPS-1")
        session.post(f"{jira_site.url}/rest/api/3/issue", json={"fields": {}})  # a 400
        outcomes.append(
            session.post(f"{jira_site.url}/rest/api/3/issue", json=NEW_ISSUE).status_code
        )
    assert outcomes == [502 if n == k else 201 for n in (1, 2, 3)]


def _drops(site: JiraSite, seed: int) -> list[bool]:
    """Which of 16 property writes lost their answer."""
    site.set_faults(drop_response_after_write=0.5, drop_mode="502", seed=seed)
    session = site.session()
    url = f"{site.url}/rest/api/3/issue/OPS-1/properties"
    return [session.put(f"{url}/p{n}", json={"n": n}).status_code == 502 for n in range(16)]


def test_random_faults_are_deterministic_for_a_seed(jira_site: JiraSite) -> None:
    """The same seed and the same requests give the same faults; another seed differs."""
    first = _drops(jira_site, seed=11)
    assert any(first)
    assert not all(first)
    assert _drops(jira_site, seed=11) == first
    assert _drops(jira_site, seed=12) != first


def test_the_control_plane_and_views_never_fault(jira_site: JiraSite) -> None:
    """Faults are for the Atlassian APIs: /_sandbox answers even when everything else fails."""
    jira_site.set_faults(rate_429=1.0, rate_5xx=1.0)
    assert requests.get(f"{jira_site.url}/_sandbox/stats", timeout=5).status_code == 200
    assert requests.get(f"{jira_site.url}/_sandbox/health", timeout=5).json()["ok"] is True


def test_faults_can_be_read_back_and_bad_settings_are_refused(jira_site: JiraSite) -> None:
    """PUT replaces the whole configuration; GET returns it; nonsense is a 400."""
    jira_site.set_faults(latency_ms=5, rate_5xx=0.25, drop_write_numbers=[2, 4])
    config = jira_site.control("GET", "faults")
    assert config["latency_ms"] == 5
    assert config["rate_5xx"] == 0.25
    assert config["drop_write_numbers"] == [2, 4]
    assert config["rate_429"] == 0.0
    for bad in ({"rate_429": 2}, {"nonsense": 1}, {"drop_write_numbers": [0]}, {"drop_mode": "x"}):
        response = requests.put(f"{jira_site.url}/_sandbox/faults", json=bad, timeout=5)
        assert response.status_code == 400, bad


def test_stats_count_faults_with_reads_and_writes(jira_site: JiraSite) -> None:
    """A read that hit a 429 is still a request; a dropped write is still a write."""
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="502")
    _create(jira_site)
    jira_site.set_faults(rate_429=1.0)
    jira_site.session().get(f"{jira_site.url}/rest/api/3/myself")
    stats = jira_site.stats()
    assert stats["requests"] == 2
    assert stats["writes"] == 1
    assert stats["faults"] == {"429": 1, "5xx": 0, "dropped": 1, "held": 0}


@pytest.mark.parametrize(
    "settings",
    [{"rate_429": -0.1}, {"latency_ms": -1}, {"seed": "abc"}, {"drop_write_numbers": "x"}],
)
def test_fault_config_validation(settings: dict[str, Any]) -> None:
    """Out-of-range and malformed settings never reach a running sandbox."""
    with pytest.raises(FaultConfigError):
        FaultConfig.from_json(settings)


def test_faults_restart_their_count_when_reconfigured() -> None:
    """`drop_write_numbers` counts from the moment the faults were set."""
    faults = Faults(FaultConfig(drop_write_numbers=(2,), drop_mode="close"))
    assert [faults.after_successful_write() for _ in range(3)] == [None, "close", None]
    faults.configure(FaultConfig(drop_write_numbers=(1,), drop_mode="502"))
    assert faults.after_successful_write() == "502"


def test_a_held_route_waits_until_released_and_nothing_happens_meanwhile(
    jira_site: JiraSite,
) -> None:
    """hold_route holds requests to that route (after the first hold_after) before they
    are handled, until POST /_sandbox/faults/release; other routes go on meanwhile."""
    import threading

    jira_site.set_faults(hold_route="POST /rest/api/3/issue", hold_after=1)
    before = _issue_count(jira_site)
    assert _create(jira_site).status_code == 201  # the first passes
    answers: list[int] = []
    worker = threading.Thread(target=lambda: answers.append(_create(jira_site).status_code))
    worker.start()
    deadline = time.monotonic() + 60  # only guards against a hung test
    while jira_site.stats()["faults"]["held"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Held: not handled yet, while other requests are answered.
    assert _issue_count(jira_site) == before + 1
    assert jira_site.session().get(f"{jira_site.url}/rest/api/3/myself").status_code == 200
    assert answers == []
    released = requests.post(f"{jira_site.url}/_sandbox/faults/release", timeout=10)
    assert released.ok
    worker.join(60)
    assert answers == [201]
    assert _issue_count(jira_site) == before + 2
    assert _create(jira_site).status_code == 201  # no more holding after a release
    assert jira_site.stats()["faults"]["held"] == 1


def test_hold_after_must_not_be_negative() -> None:
    """A negative hold_after is refused like any other impossible fault setting."""
    with pytest.raises(FaultConfigError, match="hold_after"):
        FaultConfig.from_json({"hold_route": "GET /x", "hold_after": -1})
