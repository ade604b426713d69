"""The control plane under /_sandbox (reset, seed, env, stats) and the ways of running
the sandbox: in a thread, and as its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sandbox_support import ADMIN, JiraSite

from followup.sandbox import control
from followup.sandbox.seed import DEMO_ADMIN
from followup.sandbox.server import RunningSandbox, banner, open_state, start_in_thread
from followup.sandbox.state import JIRA_SERVER, JIRA_SERVER_ID, Flavor

pytest_plugins = ["sandbox_support"]


def _post(url: str, path: str, body: object | None = None) -> requests.Response:
    return requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10)


def test_env_points_followup_at_the_sandbox_as_the_demo_admin(sandbox: RunningSandbox) -> None:
    """The variables name this sandbox, credentials that work on both products, and
    its Jira's application link once (written into followup's macros, and the id
    whose hand-inserted macros are this Jira's)."""
    env = requests.get(f"{sandbox.url}/_sandbox/env", timeout=5).json()
    assert env == {
        "FOLLOWUP_JIRA__URL": sandbox.url,
        "FOLLOWUP_JIRA__EMAIL": DEMO_ADMIN.email,
        "FOLLOWUP_JIRA__TOKEN": DEMO_ADMIN.token,
        "FOLLOWUP_JIRA__PROJECT": "OPS",
        "FOLLOWUP_CONFLUENCE__URL": f"{sandbox.url}/wiki",
        "FOLLOWUP_CONFLUENCE__EMAIL": DEMO_ADMIN.email,
        "FOLLOWUP_CONFLUENCE__TOKEN": DEMO_ADMIN.token,
        "FOLLOWUP_CONFLUENCE__JIRA_SERVER": JIRA_SERVER,
        "FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID": JIRA_SERVER_ID,
    }
    auth = (env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"])
    assert requests.get(f"{env['FOLLOWUP_JIRA__URL']}/rest/api/3/myself", auth=auth, timeout=5).ok
    wiki = requests.get(
        f"{env['FOLLOWUP_CONFLUENCE__URL']}/rest/api/user/current", auth=auth, timeout=5
    )
    assert wiki.ok


def test_the_admin_is_the_first_writable_user_who_can_log_in(jira_site: JiraSite) -> None:
    """With another dataset loaded, env names that dataset's admin."""
    env = jira_site.control("GET", "env")
    assert (env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"]) == (ADMIN.email, ADMIN.token)


def test_stats_reset_zeroes_every_counter(jira_site: JiraSite) -> None:
    """After POST /_sandbox/stats/reset nothing is counted; control calls never are."""
    jira_site.session().get(f"{jira_site.url}/rest/api/3/myself")
    assert jira_site.stats()["requests"] == 1
    zeroed = jira_site.control("POST", "stats/reset")
    assert zeroed == {
        "requests": 0,
        "writes": 0,
        "by_route": {},
        "faults": {"429": 0, "5xx": 0, "dropped": 0, "held": 0},
    }
    assert jira_site.stats()["requests"] == 0


def test_reset_reseeds_and_clears_faults_and_stats(sandbox: RunningSandbox) -> None:
    """`{"seed": "empty"}` leaves nothing; a plain reset brings the demo back."""
    requests.put(f"{sandbox.url}/_sandbox/faults", json={"rate_429": 1.0}, timeout=5)
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    assert requests.get(f"{sandbox.url}/rest/api/3/myself", auth=auth, timeout=5).status_code == 429
    empty = _post(sandbox.url, "reset", {"seed": "empty"}).json()
    assert empty["seed"] == "empty"
    assert all(count == 0 for count in empty["rows"].values())
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()["rate_429"] == 0.0
    assert requests.get(f"{sandbox.url}/rest/api/3/myself", auth=auth, timeout=5).status_code == 401
    demo = _post(sandbox.url, "reset").json()
    assert demo["rows"]["users"] > 0
    assert demo["rows"]["issues"] > 0
    assert requests.get(f"{sandbox.url}/rest/api/3/myself", auth=auth, timeout=5).ok
    assert requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"] == 1


def test_reset_with_an_unknown_seed_is_a_400(sandbox: RunningSandbox) -> None:
    """Only "demo" and "empty" are seeds; the data stays as it was."""
    response = _post(sandbox.url, "reset", {"seed": "galaxy"})
    assert response.status_code == 400
    assert "galaxy" in response.json()["error"]


def test_seed_loads_a_synthetic_dataset(sandbox: RunningSandbox) -> None:
    """POST /_sandbox/seed replaces the data with `pages` postmortems and no issues."""
    counts = _post(sandbox.url, "seed", {"pages": 7, "items_per_page": 3, "seed": 5}).json()
    assert counts["rows"]["issues"] == 0
    auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    found = requests.get(
        f"{sandbox.url}/wiki/rest/api/content/search",
        params={"cql": 'type = page AND label = "postmortem"', "limit": "50"},
        auth=auth,
        timeout=10,
    ).json()
    assert found["size"] == 7
    again = _post(
        sandbox.url, "seed", {"pages": 2, "items_per_page": 1, "seed": 5, "replace": False}
    )
    assert again.ok
    bad = _post(sandbox.url, "seed", {"pages": "many"})
    assert bad.status_code == 400


def test_open_state_seeds_only_an_empty_database(tmp_path: Path) -> None:
    """A new file is created (parents too) and seeded; reopening keeps what is there."""
    path = tmp_path / "a" / "b" / "sandbox.sqlite3"
    state = open_state(str(path), seed="demo")
    assert path.exists()
    control.wipe(state)
    control.load_dataset(state, control.named_dataset("empty"))
    state.db.close()
    reopened = open_state(str(path), seed="empty")
    assert control.is_empty(reopened)
    reopened.db.close()


def test_banner_says_where_and_how_to_log_in() -> None:
    """What `followup sandbox` prints: the URL, the admin's credentials, the variables."""
    state = open_state(seed="demo")
    text = banner(state, "http://127.0.0.1:8089")
    assert "http://127.0.0.1:8089" in text
    assert f"{DEMO_ADMIN.email}  (API token: {DEMO_ADMIN.token})" in text
    assert "export FOLLOWUP_CONFLUENCE__URL=http://127.0.0.1:8089/wiki" in text


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_every_address_the_banner_advertises_answers(flavor: Flavor) -> None:
    """Each URL the banner prints is one the sandbox answers 200 on that flavor (Data
    Center has no REST API v3, so its banner names /rest/api/2)."""
    with start_in_thread(open_state(flavor=flavor, seed="demo")) as running:
        text = banner(running.state, running.url).replace("<KEY>", "OPS-1")
        urls = set(re.findall(r"http://[^\s,]+", text))
        urls |= {running.url + path for path in re.findall(r", (/_sandbox/faults)", text)}
        assert any(url.endswith("/serverInfo") for url in urls), text
        for url in sorted(urls):
            assert requests.get(url, timeout=5).status_code == 200, url


def test_start_in_thread_serves_until_stopped() -> None:
    """A second, independent sandbox runs beside the session one and stops cleanly."""
    with start_in_thread(open_state(seed="empty")) as running:
        assert requests.get(f"{running.url}/_sandbox/health", timeout=5).json()["ok"] is True
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{running.url}/_sandbox/health", timeout=2)


def test_the_server_runs_as_its_own_process_on_a_free_port(tmp_path: Path) -> None:
    """`python -m followup.sandbox.server --port 0 --ready-file F` writes its URL when up."""
    ready = tmp_path / "ready"
    state_path = tmp_path / "db" / "sandbox.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "followup.sandbox.server",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--state-path",
            str(state_path),
            "--flavor",
            "datacenter",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the sandbox process did not become ready"
            time.sleep(0.05)
        url = ready.read_text().strip()
        assert requests.get(f"{url}/_sandbox/health", timeout=5).json() == {
            "ok": True,
            "flavor": "datacenter",
        }
        info = requests.get(f"{url}/rest/api/2/serverInfo", timeout=5).json()
        assert info["deploymentType"] == "Server"
        assert info["baseUrl"] == url
        assert state_path.exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"listening on {url}" in output
