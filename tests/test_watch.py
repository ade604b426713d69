"""`followup sync --watch`: the loop's schedule and error handling with a fake run, and
the real command in a subprocess against the sandbox, stopped by real signals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from followup.commands.watch import next_delay, watch
from followup.errors import ConfigError, ServerError
from followup.sandbox import control
from followup.sandbox.faults import FaultConfig
from followup.sandbox.server import RunningSandbox

# -- the loop -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seed", range(5))
def test_next_delay_stays_within_the_jitter(seed: int) -> None:
    """The wait is the interval moved by at most the jitter share, either way."""
    rng = random.Random(seed)
    delays = [next_delay(900.0, 0.1, rng) for _ in range(200)]
    assert all(810.0 <= d <= 990.0 for d in delays)
    assert len(set(delays)) > 100  # it does vary


def test_runs_follow_each_other_and_the_wait_counts_from_the_start() -> None:
    """Each run starts after the previous one ended; the wait is interval minus run time."""
    clock = FakeClock()
    stop = threading.Event()
    waits: list[float] = []
    active = 0
    runs = 0

    def run_once(settings: Any, event: threading.Event) -> int:
        nonlocal active, runs
        active += 1
        assert active == 1  # never two at once
        assert event is stop
        clock.now += 40.0  # the run takes 40 s
        runs += 1
        active -= 1
        if runs == 3:
            stop.set()
        return 0

    real_wait = stop.wait

    def wait(timeout: float | None = None) -> bool:
        waits.append(timeout or 0.0)
        clock.now += timeout or 0.0
        return real_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    code = watch(run_once, lambda: "settings", interval=100.0, jitter=0.0, stop=stop, clock=clock)  # type: ignore[arg-type, return-value]
    assert code == 0
    assert runs == 3
    assert waits == [60.0, 60.0]  # 100 s from start to start; the third run stopped it


def test_a_run_longer_than_the_interval_is_followed_at_once() -> None:
    """No wait (and no overlap) when a run outlasts the interval."""
    clock = FakeClock()
    stop = threading.Event()
    waits: list[float] = []
    real_wait = stop.wait

    def run_once(settings: Any, event: threading.Event) -> int:
        clock.now += 500.0
        if len(waits) == 1:
            stop.set()
        return 0

    def wait(timeout: float | None = None) -> bool:
        waits.append(timeout or 0.0)
        return real_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    watch(run_once, lambda: "settings", interval=60.0, jitter=0.0, stop=stop, clock=clock)  # type: ignore[arg-type, return-value]
    assert waits == [0.0]


def test_a_failed_run_is_logged_and_the_next_one_goes_ahead(
    capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """An API failure does not end the watch; the settings are read before every run."""
    from followup.logconfig import configure_logging

    configure_logging("info", json=True)
    stop = threading.Event()
    loads = 0
    outcomes: list[Any] = [ServerError("down", service="jira", status=503), 1, 0]

    def load() -> Any:
        nonlocal loads
        loads += 1
        return loads

    def run_once(settings: Any, event: threading.Event) -> int:
        assert settings == loads
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return int(outcome)

    assert watch(run_once, load, interval=0.01, stop=stop) == 0
    assert loads == 3
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    failed = [e for e in events if e["event"] == "watch-run-failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "warning"
    assert "down" in failed[0]["error"]
    assert events[-1]["event"] == "watch-stopped"


def test_a_setting_that_became_invalid_ends_the_watch() -> None:
    """A ConfigError while reloading the settings propagates (the CLI exits 2)."""
    calls = 0

    def load() -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConfigError("FOLLOWUP_JIRA__URL / [jira] url: must be an http(s) URL")
        return "settings"

    with pytest.raises(ConfigError):
        watch(lambda settings, stop: 0, load, interval=0.0)


# -- the real command, stopped by a signal ---------------------------------------------------


HELD_WRITE = "PUT /wiki/rest/api/content/{id}"


@pytest.fixture
def held_sandbox(sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """The demo site, letting a run write its first page and then holding it inside
    the second page's write until the test releases it: the middle of a run, made
    deterministically."""
    sandbox.faults.configure(FaultConfig(hold_route=HELD_WRITE, hold_after=1))
    yield sandbox
    sandbox.faults.clear()  # lets anything still held go


def start_sync(
    server: RunningSandbox, tmp_path: Path, *args: str, **extra_env: str
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLLOWUP_", "COVERAGE"))}
    env.update(control.env_for(server.state, server.url))
    env.update({"HOME": str(tmp_path), "FOLLOWUP_SYNC__RATE_LIMIT": "200", **extra_env})
    return subprocess.Popen(
        [sys.executable, "-m", "followup", "--log-json", "sync", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, timeout: float = 120.0) -> None:
    """Poll until `condition()` holds; the timeout only guards against a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def read_until(proc: subprocess.Popen[str], event: str) -> list[str]:
    """The process's log lines on standard error up to and including the first with
    `event` (blocking: the lines arrive when the process writes them)."""
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("{") and json.loads(line).get("event") == event:
            return lines
    raise AssertionError(f"the process ended without logging {event}: {''.join(lines)[-2000:]}")


def metrics(path: Path) -> dict[str, float]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return {
        s.name + (json.dumps(s.labels, sort_keys=True) if s.labels else ""): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def leases(server: RunningSandbox) -> list[dict[str, Any]]:
    with server.state.lock:
        rows = server.state.db.execute(
            "SELECT value FROM content_properties WHERE key = 'followup-lease'"
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.parametrize("mode", [["--watch", "--interval", "1h"], []], ids=["watch", "once"])
def test_sigterm_mid_run_finishes_the_page_releases_the_leases_and_exits_0(
    held_sandbox: RunningSandbox, tmp_path: Path, mode: list[str]
) -> None:
    """SIGTERM while pages are being written (to --watch, or to a single sync as a pod
    being stopped): the run finishes the page it is writing and starts no other, every
    lease it took is released, the process exits 0, and the next run completes the
    rest. The middle is made deterministically: the second page write is held by the
    sandbox until the process has acknowledged the signal."""
    server = held_sandbox
    prom = tmp_path / "followup.prom"
    # One page at a time, so "the page being written" is exactly one page.
    proc = start_sync(
        server, tmp_path, *mode, "--metrics-file", str(prom), FOLLOWUP_SYNC__CONCURRENCY="1"
    )
    try:
        # The first page is written; the run is now inside the second page's write.
        wait_for(lambda: server.stats.snapshot()["faults"]["held"] == 1)
        assert server.stats.snapshot()["writes"] > 0
        proc.send_signal(signal.SIGTERM)
        before = read_until(proc, "stop-requested")  # the stop is set: release the write
        server.faults.release()
        _, rest = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err = "".join(before) + rest
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    if mode:
        assert names[-1] == "watch-stopped"
        assert events[-1]["signal"] == "SIGTERM"
    assert names.count("sync-summary") == 1  # one run, reported
    taken = leases(server)
    assert taken, "the run took leases"
    assert all(lease["released"] for lease in taken)
    assert names.count("page-written") == 2  # the first page, and the one being written
    assert metrics(prom)["followup_last_run_success"] == 1.0

    # What it left is picked up by the next run, without duplicates.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env.update(control.env_for(server.state, server.url))
    done = subprocess.run(
        [sys.executable, "-m", "followup", "sync", "--format", "json"],
        cwd=tmp_path,
        env={**env, "FOLLOWUP_SYNC__RATE_LIMIT": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["create"] == 0  # every ticket was created once, by the stopped run
    assert summary["page_writes"] == 5 - 2  # the demo's 5 pages that need writing


def test_sigint_between_runs_exits_0_and_the_last_success_stays_current(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Every run moves the last-success time forward; ^C while waiting ends the watch, 0."""
    prom = tmp_path / "followup.prom"
    proc = start_sync(sandbox, tmp_path, "--watch", "--interval", "1s", "--metrics-file", str(prom))
    try:
        wait_for(lambda: metrics(prom).get('followup_runs_total{"outcome": "ok"}', 0) >= 1)
        first = metrics(prom)["followup_last_success_timestamp_seconds"]
        wait_for(lambda: metrics(prom).get('followup_runs_total{"outcome": "ok"}', 0) >= 2)
        second = metrics(prom)["followup_last_success_timestamp_seconds"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert second > first
    assert '"event": "watch-stopped"' in err
    assert '"signal": "SIGINT"' in err
