"""Run metrics: what a real sync against the sandbox records, read back with
prometheus-client's own parser from the textfile and from a push captured by a local
HTTP server; the textfile's atomic replacement and what it carries from run to run."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from followup.cli import exit_code_for_error, exit_code_for_run
from followup.commands.sync import sync_command
from followup.errors import AuthenticationError, FollowupError, SetupError
from followup.logconfig import configure_logging
from followup.metrics import SyncMetrics
from followup.sandbox import control
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings

FAR_FUTURE = date(2030, 1, 1)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}, by prometheus-client's parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def site(server: RunningSandbox, **metrics: Any) -> Settings:
    env = dict(control.env_for(server.state, server.url))
    env["FOLLOWUP_SYNC__RATE_LIMIT"] = "500"
    settings = load_settings(None, env=env)
    for key, val in metrics.items():
        setattr(settings.metrics, key, val)
    return settings


def run(settings: Settings, metrics: SyncMetrics | None = None, **kw: Any) -> int:
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        result = sync_command(settings, fmt="json", metrics=metrics, **kw)
    return exit_code_for_run(result, detailed=False)


# -- a real run, read back ---------------------------------------------------------------------


def test_a_sync_writes_item_states_actions_and_requests_to_the_textfile(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """After a sync the textfile holds, per space, items by state and those lacking an
    owner or date; actions by kind and outcome; requests by service and status."""
    prom = tmp_path / "node" / "followup.prom"
    assert run(site(sandbox, textfile=prom), today=FAR_FUTURE) == 0
    samples = parse(prom.read_text(encoding="utf-8"))
    spaces = {dict(labels)["space"] for name, labels in samples if name == "followup_action_items"}
    assert spaces == {"SRE", "PAY"}
    total = 0.0
    for space in spaces:
        states = {
            state: value(samples, "followup_action_items", space=space, state=state)
            for state in ("open", "overdue", "done")
        }
        total += sum(states.values())
        # In 2030 every open item with a due date is overdue: the open ones have none.
        missing_due = value(samples, "followup_action_items_missing", space=space, field="due_date")
        assert states["open"] == missing_due
    assert value(samples, "followup_action_items", space="SRE", state="overdue") > 0
    assert value(samples, "followup_action_items", space="SRE", state="done") >= 1
    assert total == 23  # the demo's action items
    assert value(samples, "followup_actions_total", kind="create", outcome="ok") > 0
    assert value(samples, "followup_actions_total", kind="write-page", outcome="ok") > 0
    assert value(samples, "followup_api_requests_total", service="jira", status="201") > 0
    assert value(samples, "followup_api_requests_total", service="confluence", status="200") > 0
    assert value(samples, "followup_runs_total", outcome="ok") == 1
    assert value(samples, "followup_last_run_success") == 1
    assert value(samples, "followup_run_duration_seconds") > 0
    last = value(samples, "followup_last_success_timestamp_seconds")
    assert last == value(samples, "followup_last_run_timestamp_seconds")
    assert not [n for n, _ in samples if n.endswith("_created")]
    assert sorted(p.name for p in prom.parent.iterdir()) == ["followup.prom"]  # no temp left


def test_a_dry_run_counts_planned_actions(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """A dry run's actions are counted with outcome 'planned'; nothing is 'ok'."""
    prom = tmp_path / "followup.prom"
    run(site(sandbox, textfile=prom), dry_run=True)
    samples = parse(prom.read_text(encoding="utf-8"))
    outcomes = {dict(lb)["outcome"] for n, lb in samples if n == "followup_actions_total"}
    assert outcomes == {"planned"}


def test_runs_carry_counters_forward_and_a_failure_keeps_the_last_success(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Three processes, one file: counters add up across them; a run that fails to
    sign in records the failure and keeps the time of the last good run."""
    prom = tmp_path / "followup.prom"
    settings = site(sandbox, textfile=prom)
    run(settings)
    first = parse(prom.read_text(encoding="utf-8"))
    inode = prom.stat().st_ino
    run(settings)  # a new SyncMetrics: as a new process would
    second = parse(prom.read_text(encoding="utf-8"))
    assert prom.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert value(second, "followup_runs_total", outcome="ok") == 2
    jira_200 = ("followup_api_requests_total", (("service", "jira"), ("status", "200")))
    assert second[jira_200] > first[jira_200]
    assert value(second, "followup_actions_total", kind="create", outcome="ok") == value(
        first, "followup_actions_total", kind="create", outcome="ok"
    )  # the second run created nothing new

    bad = site(sandbox, textfile=prom)
    bad.jira.token = bad.confluence.token = type(bad.jira.token)("wrong-token")  # type: ignore[misc]
    with pytest.raises(FollowupError):  # refused credentials
        run(bad)
    third = parse(prom.read_text(encoding="utf-8"))
    assert value(third, "followup_runs_total", outcome="failed") == 1
    assert value(third, "followup_last_run_success") == 0
    assert value(third, "followup_last_success_timestamp_seconds") == value(
        second, "followup_last_success_timestamp_seconds"
    )
    assert value(third, "followup_api_requests_total", service="jira", status="401") == 1
    # The item gauges of the last good run stay (a failed run read nothing).
    assert value(third, "followup_action_items", space="PAY", state="open") == value(
        second, "followup_action_items", space="PAY", state="open"
    )


def test_retries_are_counted_from_the_request_stats() -> None:
    """The adapters' RequestStats snapshot becomes request and retry counters."""
    m = SyncMetrics()
    stats = {
        "requests": {"jira": {"200": 3, "429": 2, "none": 1}},
        "retries": {"jira": 3},
        "retry_wait_seconds": {"jira": 2.5},
    }
    m.observe(None, ok=False, duration_s=1.5, requests=stats, now=1000.0)
    m.observe(None, ok=True, duration_s=0.5, requests=stats, now=2000.0)
    from prometheus_client import generate_latest

    samples = parse(generate_latest(m.registry).decode())
    assert value(samples, "followup_api_requests_total", service="jira", status="429") == 4
    assert value(samples, "followup_api_requests_total", service="jira", status="none") == 2
    assert value(samples, "followup_api_retries_total", service="jira") == 6
    assert value(samples, "followup_last_success_timestamp_seconds") == 2000.0
    assert value(samples, "followup_run_duration_seconds") == 0.5


def test_an_unwritable_textfile_is_a_warning_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """Publishing never fails a run: a textfile under a file is logged and skipped."""
    configure_logging("info", json=True)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    m = SyncMetrics()
    m.observe(None, ok=True, duration_s=1.0)
    settings = load_settings(None, env={})
    settings.metrics.textfile = blocker / "followup.prom"
    m.publish(settings.metrics)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["metrics-textfile-failed"]


# -- the Pushgateway ---------------------------------------------------------------------------


class Gateway(http.server.BaseHTTPRequestHandler):
    pushes: ClassVar[list[tuple[str, str, str]]] = []

    def _capture(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        type(self).pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT = _capture

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A Pushgateway stand-in on 127.0.0.1 that records each push."""
    Gateway.pushes = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Gateway.pushes
    server.shutdown()
    server.server_close()


def test_a_sync_pushes_its_metrics_to_the_gateway(
    sandbox: RunningSandbox, gateway: tuple[str, list[tuple[str, str, str]]]
) -> None:
    """The run's metrics are POSTed to /metrics/job/<job>, in the text format."""
    url, pushes = gateway
    run(site(sandbox, pushgateway_url=url, job="followup-sre"))
    assert len(pushes) == 1
    method, path, body = pushes[0]
    assert (method, path) == ("POST", "/metrics/job/followup-sre")
    samples = parse(body)
    assert value(samples, "followup_last_run_success") == 1
    assert ("followup_last_success_timestamp_seconds", ()) in samples
    assert value(samples, "followup_action_items", space="SRE", state="done") >= 1


def test_a_failed_run_pushes_without_the_last_success_time(
    sandbox: RunningSandbox, gateway: tuple[str, list[tuple[str, str, str]]]
) -> None:
    """POST replaces only what it sends: a failed first run sends no last-success time,
    so the gateway keeps the one it had."""
    url, pushes = gateway
    m = SyncMetrics()
    m.observe(None, ok=False, duration_s=0.1)
    settings = load_settings(None, env={})
    settings.metrics.pushgateway_url = url
    m.publish(settings.metrics)
    method, _path, body = pushes[0]
    samples = parse(body)
    assert method == "POST"
    assert value(samples, "followup_last_run_success") == 0
    assert ("followup_last_success_timestamp_seconds", ()) not in samples


def test_an_unreachable_gateway_is_a_warning(
    capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """A gateway that does not answer is logged; the run's exit code is not touched."""
    import socket

    configure_logging("info", json=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = SyncMetrics()
    m.observe(None, ok=True, duration_s=0.1)
    settings = load_settings(None, env={})
    settings.metrics.pushgateway_url = f"http://127.0.0.1:{port}"
    m.publish(settings.metrics)
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["event"] for e in events] == ["metrics-push-failed"]


def test_no_metrics_settings_means_no_metrics(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """Without a textfile or gateway a run publishes nothing and needs no registry."""
    assert run(site(sandbox)) == 0
    assert list(tmp_path.iterdir()) == []


def test_authentication_errors_are_setup_errors() -> None:
    """(Guard) the failure the carry-forward test provokes stops a sync as a setup
    problem does: exit 2."""
    error = AuthenticationError("refused", service="jira", status=401)
    assert exit_code_for_error(error) == exit_code_for_error(SetupError("down")) == 2
