"""`followup serve` end to end: the real receiver (uvicorn, the queue, the engine over
HTTP) and the sandbox delivering real-shaped, signed webhooks to it.

No assertion depends on how fast anything runs: each test waits for a condition (the
page shows it, the queue is idle, the sandbox has sent every delivery), with a
generous timeout that only bounds a failure.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from test_e2e_sync import Site, _site, _ticket_of
from typer.testing import CliRunner

from followup.cli import app
from followup.commands.doctor import Check, run_doctor
from followup.commands.serve import RunningServe, start_in_thread
from followup.commands.webhooks import register_webhooks
from followup.sandbox import control, webhooks
from followup.sandbox.faults import FaultConfig
from followup.sandbox.server import RunningSandbox
from followup.serve import signing
from followup.settings import load_settings

SECRET = "webhook-secret-for-the-tests-0123456789"
PAGE = "98000001"
WAIT = 300.0  # bounds a failure only (a hang): every wait ends as soon as its condition holds
PAGE_WRITE = "PUT /wiki/rest/api/content/{id}"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.02)


def _serve(site: Site, *, register: bool = True, **serve: Any) -> RunningServe:
    settings = site.settings.model_copy(deep=True)
    settings.serve.webhook_secret = SecretStr(SECRET)
    settings.serve.leased_retry_seconds = 0.2
    for name, value in serve.items():
        setattr(settings.serve, name, value)
    running = start_in_thread(settings)
    settings.serve.public_url = running.url
    if register:
        register_webhooks(settings)
    return running


def _settled(site: Site, *receivers: RunningServe) -> None:
    """Every delivery sent and every run done (a run's writes make more deliveries)."""
    dispatcher = webhooks.dispatcher_for(site.server.state)
    assert dispatcher is not None

    def quiet() -> bool:
        return dispatcher.wait_idle(0.05) and all(r.queue.idle() for r in receivers)

    wait_for("the deliveries and the runs to settle", lambda: quiet() and quiet())


def _page_writes(site: Site) -> int:
    return int(site.server.stats.snapshot()["by_route"].get(PAGE_WRITE, 0))


def _held(site: Site) -> int:
    return int(site.server.stats.snapshot()["faults"]["held"])


def _metric(running: RunningServe, name: str, **labels: str) -> float:
    value = running.metrics.registry.get_sample_value(name, labels or None)
    return float(value or 0.0)


def _tick(site: Site, page: str, item_key: str) -> None:
    body = site.page(page)["body"]["storage"]["value"]
    marker = f"<ac:task-id>{item_key.rsplit(':', 1)[1]}</ac:task-id>"
    start = body.index(marker)
    old = "<ac:task-status>incomplete</ac:task-status>"
    at = body.index(old, start)
    site.put_page(
        page, body[:at] + "<ac:task-status>complete</ac:task-status>" + body[at + len(old) :]
    )


@pytest.fixture
def site(sandbox_server: RunningSandbox) -> Site:
    return _site(sandbox_server)


@pytest.fixture
def dc_site(dc_sandbox_server: RunningSandbox) -> Site:
    return _site(dc_sandbox_server)


@pytest.fixture(params=["cloud", "datacenter"])
def any_site(request: pytest.FixtureRequest) -> Site:
    name = "site" if request.param == "cloud" else "dc_site"
    found: Site = request.getfixturevalue(name)
    return found


@pytest.fixture
def stopping(
    sandbox_server: RunningSandbox, dc_sandbox_server: RunningSandbox
) -> Iterator[list[RunningServe]]:
    """Receivers to stop after the test, once every delivery the sandboxes queued has
    gone out (none may reach a receiver of a later test on a reused port)."""
    started: list[RunningServe] = []
    yield started
    for server in (sandbox_server, dc_sandbox_server):
        dispatcher = webhooks.dispatcher_for(server.state)
        if dispatcher is not None:
            dispatcher.wait_idle(WAIT)
    for running in started:
        running.stop()


# -- the two directions ------------------------------------------------------------------


def test_a_ticket_moved_to_done_is_ticked_on_its_page(
    any_site: Site, stopping: list[RunningServe]
) -> None:
    """With serve running and its webhook registered, closing a ticket in Jira ticks
    its item on the page, with the live status, with no sync run by anyone."""
    site = any_site
    assert not site.sync().failed
    key = _ticket_of(site, PAGE, "Alert when replica lag")
    running = _serve(site)
    stopping.append(running)
    registered = site.get("/rest/webhooks/1.0/webhook")
    assert [w["url"] for w in registered] == [f"{running.url}/webhooks/jira"]
    assert registered[0]["filters"]["issue-related-events-section"] == 'labels = "followup"'
    assert "secret" not in registered[0]

    site.transition(key, "Done")

    def ticked() -> bool:
        item = next(i for i in site.items(PAGE).items if i.ticket == key)
        return item.done and item.ticket_live and item.badge is None

    wait_for("the item ticked on the page", ticked)
    _settled(site, running)
    assert _metric(running, "followup_serve_events_verified_total", source="jira") >= 1
    assert _metric(running, "followup_serve_page_writes_total") >= 1
    assert _metric(running, "followup_serve_event_to_page_seconds_count") >= 1
    assert site.sync().actions == []


def test_a_page_edit_changes_its_ticket(dc_site: Site, stopping: list[RunningServe]) -> None:
    """On Data Center, where Confluence has webhooks: ticking an item on the page
    closes its ticket."""
    site = dc_site
    assert not site.sync().failed
    running = _serve(site)
    stopping.append(running)
    assert [w["url"] for w in site.get("/wiki/rest/api/webhooks")["results"]] == [
        f"{running.url}/webhooks/confluence"
    ]
    # A ticket followup created (an adopted one is led by Jira).
    item = next(i for i in site.items(PAGE).items if i.text.startswith("Route order-history"))
    assert item.ticket is not None
    assert not item.done
    _tick(site, PAGE, item.key)

    def closed() -> bool:
        status = site.issue(str(item.ticket))["fields"]["status"]["statusCategory"]["key"]
        return bool(status == "done")

    wait_for("the ticket closed", closed)
    _settled(site, running)
    assert site.sync().actions == []


# -- what must change nothing ------------------------------------------------------------


def _issue_event(site: Site, key: str, page: str = PAGE) -> bytes:
    issue = site.issue(key)
    payload = {
        "timestamp": 1764670000000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "issue": {
            "id": issue["id"],
            "key": key,
            "fields": {name: issue["fields"][name] for name in ("summary", "labels", "duedate")},
        },
        "changelog": {"id": "10001", "items": []},
    }
    return json.dumps(payload).encode()


def _post(running: RunningServe, path: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(f"{running.url}{path}", data=body, headers=headers, timeout=10)


def test_forged_unsigned_oversized_and_malformed_requests_change_nothing(
    site: Site, stopping: list[RunningServe]
) -> None:
    """401 without a valid signature, 413 over the size limit, 400 for a body that is
    not JSON; none of them reaches a page run, and nothing is written."""
    assert not site.sync().failed
    key = _ticket_of(site, PAGE, "Alert when replica lag")
    site.edit_issue(key, {"duedate": "2027-03-03"})  # a change a run would carry over
    running = _serve(site, register=False, max_body_bytes=4096)
    stopping.append(running)
    body = _issue_event(site, key)
    writes = site.writes()

    assert _post(running, "/webhooks/jira", body).status_code == 401
    forged = signing.sign("not-the-secret-but-long-enough", body)
    assert _post(running, "/webhooks/jira", body, **{"X-Hub-Signature": forged}).status_code == 401
    tampered = body.replace(b"2027-03-03", b"2027-03-04")
    good = signing.sign(SECRET, body)
    assert (
        _post(running, "/webhooks/jira", tampered, **{"X-Hub-Signature": good}).status_code == 401
    )
    assert (
        _post(
            running, "/webhooks/jira", body, **{"X-Hub-Signature": "sha1=" + good[7:]}
        ).status_code
        == 401
    )
    big = body + b" " * 5000
    signed_big = signing.sign(SECRET, big)
    assert (
        _post(running, "/webhooks/jira", big, **{"X-Hub-Signature": signed_big}).status_code == 413
    )
    garbage = b"{not json"
    assert (
        _post(
            running,
            "/webhooks/confluence",
            garbage,
            **{"X-Hub-Signature": signing.sign(SECRET, garbage)},
        ).status_code
        == 400
    )

    assert running.queue.idle()
    assert _metric(running, "followup_serve_page_runs_total", outcome="synced") == 0
    assert (
        _metric(running, "followup_serve_events_rejected_total", source="jira", reason="signature")
        == 4
    )
    assert (
        _metric(running, "followup_serve_events_rejected_total", source="jira", reason="too_large")
        == 1
    )
    assert (
        _metric(
            running, "followup_serve_events_rejected_total", source="confluence", reason="malformed"
        )
        == 1
    )
    assert site.writes() == writes
    item = next(i for i in site.items(PAGE).items if i.ticket == key)
    assert str(item.due) != "2027-03-03"


def test_events_about_what_followup_does_not_manage_cost_no_write(
    site: Site, stopping: list[RunningServe]
) -> None:
    """A ticket without followup's label is answered 200 and runs nothing; a page that
    is not a postmortem is looked at and left alone."""
    assert not site.sync().failed
    running = _serve(site, register=False)
    stopping.append(running)
    writes = site.writes()
    found = site.get("/rest/api/3/search/jql", jql="labels is EMPTY", fields="summary")
    unmanaged = found["issues"][0]
    body = _issue_event(site, unmanaged["key"])
    answer = _post(
        running, "/webhooks/jira", body, **{"X-Hub-Signature": signing.sign(SECRET, body)}
    )
    assert answer.status_code == 200
    assert answer.json()["reason"] == "unmanaged"
    not_postmortem = json.dumps({"event": "page_updated", "page": {"id": 1}}).encode()
    answer = _post(
        running,
        "/webhooks/confluence",
        not_postmortem,
        **{"X-Hub-Signature": signing.sign(SECRET, not_postmortem)},
    )
    assert answer.status_code == 202
    assert running.queue.wait_idle(WAIT)
    assert _metric(running, "followup_serve_page_runs_total", outcome="ignored") == 1
    assert site.writes() == writes


def test_a_hundred_duplicate_events_make_at_most_one_page_write(
    site: Site, stopping: list[RunningServe]
) -> None:
    """One change, announced 100 times (duplicates, replays): the page is written once."""
    assert not site.sync().failed
    key = _ticket_of(site, PAGE, "Alert when replica lag")
    site.edit_issue(key, {"duedate": "2027-04-04"})
    running = _serve(site, register=False)
    stopping.append(running)
    body = _issue_event(site, key)
    headers = {"X-Hub-Signature": signing.sign(SECRET, body)}
    before = _page_writes(site)
    # The first event's run is held inside its page write while the other 99 arrive:
    # deterministically "during a run", however fast or slow this machine is.
    site.server.faults.configure(FaultConfig(hold_route=PAGE_WRITE))
    assert _post(running, "/webhooks/jira", body, **headers).status_code == 202
    wait_for("the first run to reach its page write", lambda: _held(site) >= 1)
    answers = [_post(running, "/webhooks/jira", body, **headers).status_code for _ in range(99)]
    assert set(answers) == {202}
    site.server.faults.release()
    assert running.queue.wait_idle(WAIT)
    assert _page_writes(site) - before == 1
    item = next(i for i in site.items(PAGE).items if i.ticket == key)
    assert str(item.due) == "2027-04-04"
    assert _metric(running, "followup_serve_events_coalesced_total", source="jira") == 98
    # The held run, and one more for the events that came during it (writing nothing).
    assert _metric(running, "followup_serve_page_runs_total", outcome="synced") == 2
    assert _metric(running, "followup_serve_page_writes_total") == 1


def test_a_full_queue_answers_503_with_retry_after(
    site: Site, stopping: list[RunningServe]
) -> None:
    """With every worker held inside a page write and the queue full, an event for
    another page is refused with 503 and Retry-After; nothing of it is kept."""
    assert not site.sync().failed
    key = _ticket_of(site, PAGE, "Alert when replica lag")
    site.edit_issue(key, {"duedate": "2027-05-05"})
    site.server.faults.configure(FaultConfig(hold_route=PAGE_WRITE))
    running = _serve(site, register=False, workers=1, queue_size=1)
    stopping.append(running)
    first = _issue_event(site, key)
    assert (
        _post(
            running, "/webhooks/jira", first, **{"X-Hub-Signature": signing.sign(SECRET, first)}
        ).status_code
        == 202
    )
    wait_for("the run to be held in its page write", lambda: _held(site) >= 1)
    pages = [json.dumps({"event": "page_updated", "page": {"id": n}}).encode() for n in (11, 12)]
    answers = [
        _post(running, "/webhooks/confluence", b, **{"X-Hub-Signature": signing.sign(SECRET, b)})
        for b in pages
    ]
    assert [a.status_code for a in answers] == [202, 503]
    assert answers[1].headers["Retry-After"].isdigit()
    site.server.faults.release()
    assert running.queue.wait_idle(WAIT)


# -- replicas ----------------------------------------------------------------------------


def test_two_replicas_and_a_sync_create_no_duplicate_and_lose_no_edit(
    dc_site: Site, stopping: list[RunningServe]
) -> None:
    """Two receivers registered on both sites and a scheduled sync, all at once, on a
    page a person just added an item to and a ticket a person just closed: the item
    gets exactly one ticket, the person's text stays, and the closed ticket is ticked."""
    site = dc_site
    assert not site.sync().failed
    closed = _ticket_of(site, PAGE, "Alert when replica lag")
    first, second = _serve(site), _serve(site)
    stopping.extend([first, second])
    assert len(site.get("/rest/webhooks/1.0/webhook")) == 2

    text = "Page the database on-call when replica lag passes five minutes"
    body = site.page(PAGE)["body"]["storage"]["value"]
    task = (
        "<ac:task><ac:task-id>991</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        f"<ac:task-body>{text}</ac:task-body></ac:task></ac:task-list>"
    )
    syncing = threading.Thread(target=site.sync, name="scheduled sync")
    site.put_page(PAGE, body.replace("</ac:task-list>", task, 1))
    site.transition(closed, "Done")
    syncing.start()
    syncing.join(WAIT)

    def done() -> bool:
        items = site.items(PAGE).items
        new = [i for i in items if i.text == text]
        old = next(i for i in items if i.ticket == closed)
        return len(new) == 1 and new[0].ticket is not None and old.done

    wait_for("the new item linked and the closed one ticked", done)
    _settled(site, first, second)
    summaries = [t["fields"]["summary"] for t in site.tickets()]
    assert summaries.count(text) == 1
    assert len(summaries) == len(set(summaries))
    assert site.sync().actions == []


# -- registering, the doctor, the command line ---------------------------------------------


def _cli_env(site: Site, monkeypatch: pytest.MonkeyPatch, public_url: str) -> None:
    for name, value in control.env_for(site.server.state, site.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FOLLOWUP_SERVE__WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FOLLOWUP_SERVE__PUBLIC_URL", public_url)


def test_register_is_idempotent_and_the_doctor_sees_the_webhooks(
    any_site: Site, clean_env: pytest.MonkeyPatch, reset_logging: None
) -> None:
    """`followup serve --register` creates the webhooks, and run again updates them
    (a rotated secret is taken) instead of adding more; `doctor` warns until they
    exist. Confluence Cloud has none to register, and says so."""
    site = any_site
    public = "https://followup.acme.example"
    _cli_env(site, clean_env, public)
    settings = load_settings(None)

    def webhook_check() -> Check:
        checklist = run_doctor(settings, out=io.StringIO())
        return next(c for c in checklist.checks if c.name == "webhooks")

    before = webhook_check()
    assert before.status == "warn"
    assert before.fix is not None
    assert "--register" in before.fix

    first = CliRunner().invoke(app, ["serve", "--register"])
    assert first.exit_code == 0, first.output
    assert f"jira: created {public}/webhooks/jira" in first.stdout
    again = CliRunner().invoke(app, ["serve", "--register"])
    assert again.exit_code == 0, again.output
    assert f"jira: updated {public}/webhooks/jira" in again.stdout
    assert len(site.get("/rest/webhooks/1.0/webhook")) == 1
    if site.server.state.flavor == "cloud":
        assert "confluence: unavailable" in first.stdout
    else:
        assert f"confluence: updated {public}/webhooks/confluence" in again.stdout
        assert len(site.get("/wiki/rest/api/webhooks")["results"]) == 1
    assert SECRET not in first.output + again.output
    assert webhook_check().status == "ok"


def test_serve_without_a_secret_stops_before_listening(
    site: Site, clean_env: pytest.MonkeyPatch, reset_logging: None
) -> None:
    """No webhook secret: exit 2 naming the setting (a receiver that cannot verify
    deliveries must not start)."""
    _cli_env(site, clean_env, "https://followup.acme.example")
    clean_env.delenv("FOLLOWUP_SERVE__WEBHOOK_SECRET")
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "FOLLOWUP_SERVE__WEBHOOK_SECRET / [serve] webhook_secret" in result.stderr


def test_healthz_and_metrics(site: Site, stopping: list[RunningServe]) -> None:
    """/healthz is 200 while both sites answer; /metrics is Prometheus text."""
    running = _serve(site, register=False)
    stopping.append(running)
    health = requests.get(f"{running.url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    metrics = requests.get(f"{running.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "followup_serve_queue_depth 0.0" in metrics.text
    assert "followup_serve_events_received_total" in metrics.text


# -- deliveries that misbehave -------------------------------------------------------------


def test_duplicated_and_reordered_deliveries_still_leave_the_page_right(
    site: Site, stopping: list[RunningServe]
) -> None:
    """Every delivery sent twice and each pair newest first: each run reads the
    sites as they are, so the page ends showing both changes, once."""
    assert not site.sync().failed
    done = _ticket_of(site, PAGE, "Alert when replica lag")
    moved = _ticket_of(site, PAGE, "Route order-history")
    running = _serve(site)
    stopping.append(running)
    site.server.faults.configure(FaultConfig(webhook_duplicate=1.0, webhook_reorder=2))
    site.transition(done, "Done")
    site.edit_issue(moved, {"duedate": "2027-06-06"})

    def both() -> bool:
        items = {i.ticket: i for i in site.items(PAGE).items}
        return items[done].done and str(items[moved].due) == "2027-06-06"

    wait_for("both changes on the page", both)
    _settled(site, running)
    assert (
        _metric(running, "followup_serve_events_ignored_total", source="jira", reason="duplicate")
        >= 2
    )
    assert site.sync().actions == []


def test_a_lost_delivery_is_caught_by_the_scheduled_sync(
    site: Site, stopping: list[RunningServe]
) -> None:
    """The sites lose a delivery: serve never hears of the change, and the next
    `followup sync` (the safety net) carries it over all the same."""
    assert not site.sync().failed
    key = _ticket_of(site, PAGE, "Route order-history")
    running = _serve(site)
    stopping.append(running)
    site.server.faults.configure(FaultConfig(webhook_drop=1.0))
    site.edit_issue(key, {"duedate": "2027-07-07"})
    _settled(site, running)
    assert _metric(running, "followup_serve_events_received_total", source="jira") == 0
    assert str(next(i for i in site.items(PAGE).items if i.ticket == key).due) != "2027-07-07"
    assert not site.sync().failed
    assert str(next(i for i in site.items(PAGE).items if i.ticket == key).due) == "2027-07-07"


def test_sigterm_stops_serve_cleanly_with_exit_0(site: Site) -> None:
    """`followup serve` as a process: SIGTERM stops taking events, lets the runs
    under way finish, logs `serve-stopping` and exits 0 (as a pod being replaced)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")},
        **control.env_for(site.server.state, site.url),
        "FOLLOWUP_SERVE__WEBHOOK_SECRET": SECRET,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "followup", "--log-json", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        started = json.loads(process.stderr.readline())
        assert started["event"] == "serve-started"
        url = f"http://127.0.0.1:{started['port']}"
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert [json.loads(line)["event"] for line in rest.splitlines()] == ["serve-stopping"]


def test_registering_needs_an_administrator(
    site: Site, clean_env: pytest.MonkeyPatch, reset_logging: None
) -> None:
    """An account that may not manage webhooks: `--register` stops with exit 2 and
    says what is needed; the doctor warns that it cannot tell."""
    _cli_env(site, clean_env, "https://followup.acme.example")
    clean_env.setenv("FOLLOWUP_JIRA__EMAIL", "viewer@example.com")
    clean_env.setenv("FOLLOWUP_JIRA__TOKEN", "sandbox-viewer-token")
    clean_env.setenv("FOLLOWUP_CONFLUENCE__EMAIL", "viewer@example.com")
    clean_env.setenv("FOLLOWUP_CONFLUENCE__TOKEN", "sandbox-viewer-token")
    result = CliRunner().invoke(app, ["serve", "--register"])
    assert result.exit_code == 2, result.output
    assert "Jira refused to manage webhooks" in result.stderr
    assert "administration" in result.stderr
    checklist = run_doctor(load_settings(None), out=io.StringIO())
    check = next(c for c in checklist.checks if c.name == "webhooks")
    assert check.status == "warn"
    assert "may not list webhooks" in check.detail


def test_a_page_becomes_a_postmortem_by_its_label(
    dc_site: Site, stopping: list[RunningServe]
) -> None:
    """Data Center: a new page with an action item is not a postmortem, and its
    `page_created` event writes nothing; labelled `postmortem`, its `label_added`
    event gives the item its ticket."""
    site = dc_site
    running = _serve(site)
    stopping.append(running)
    body = (
        "<h2>Action items</h2><ac:task-list><ac:task><ac:task-id>1</ac:task-id>"
        "<ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Rotate the staging certificates</ac:task-body></ac:task></ac:task-list>"
    )
    made = requests.post(
        f"{site.url}/wiki/rest/api/content",
        json={
            "type": "page",
            "title": "Staging certificate expiry",
            "space": {"key": "SRE"},
            "body": {"storage": {"value": body, "representation": "storage"}},
        },
        auth=site.auth,
        timeout=10,
    )
    made.raise_for_status()
    page = str(made.json()["id"])
    writes = site.writes()
    _settled(site, running)
    assert _metric(running, "followup_serve_page_runs_total", outcome="ignored") == 1
    assert site.writes() == writes
    requests.post(
        f"{site.url}/wiki/rest/api/content/{page}/label",
        json=[{"prefix": "global", "name": "postmortem"}],
        auth=site.auth,
        timeout=10,
    ).raise_for_status()
    wait_for("the item's ticket on the page", lambda: bool(site.items(page).items[0].ticket))
    _settled(site, running)
    summaries = [t["fields"]["summary"] for t in site.tickets()]
    assert summaries.count("Rotate the staging certificates") == 1
