"""The receiver's pure parts and its queue, without HTTP: the signature check, what a
delivery is about, and the per-page coalescing (runs are a function the test holds)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from followup.serve import signing
from followup.serve.events import Ignored, Target, confluence_targets, jira_targets
from followup.serve.metrics import ServeMetrics
from followup.serve.queue import PageQueue, RunReport

SECRET = "unit-test-secret-0123456789"
WAIT = 60.0


def test_a_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    """Valid only for the same secret and the same bytes, in the sha256= form."""
    body = b'{"webhookEvent":"jira:issue_updated"}'
    header = signing.sign(SECRET, body)
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert signing.verify(SECRET, body, header)
    assert signing.verify(SECRET, body, "SHA256=" + header[7:].upper())
    assert not signing.verify(SECRET, body + b" ", header)
    assert not signing.verify("another-secret-0123456789", body, header)
    assert not signing.verify(SECRET, body, None)
    assert not signing.verify(SECRET, body, "")
    assert not signing.verify(SECRET, body, header[7:])
    assert not signing.verify(SECRET, body, "sha1=" + header[7:])
    assert not signing.verify(SECRET, body, "sha256=é")


def _issue(event: str, labels: list[str], key: str = "OPS-7", **extra: Any) -> dict[str, Any]:
    return {"webhookEvent": event, "issue": {"key": key, "fields": {"labels": labels}}, **extra}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (_issue("jira:issue_updated", ["followup", "followup-98000001"]), ["page:98000001"]),
        (
            _issue("jira:issue_created", ["followup", "followup-1", "followup-2", "other"]),
            ["page:1", "page:2"],
        ),
        (_issue("jira:issue_updated", ["followup"]), ["ticket:OPS-7"]),
        (_issue("jira:issue_deleted", ["followup", "followup-5"]), ["page:5"]),
        (
            # The page label taken off by this very change still names the page.
            _issue(
                "jira:issue_updated",
                ["followup"],
                changelog={"items": [{"field": "labels", "fromString": "followup followup-9"}]},
            ),
            ["page:9"],
        ),
        (_issue("jira:issue_updated", ["followup-9"]), "unmanaged"),
        (_issue("jira:issue_updated", []), "unmanaged"),
        (_issue("comment_created", ["followup", "followup-9"]), "event"),
        ({"webhookEvent": "jira:issue_updated"}, "no-subject"),
        (_issue("jira:issue_deleted", ["followup"]), "no-subject"),
        (_issue("jira:issue_updated", ["followup", "followup-x1"], key="not a key"), "no-subject"),
    ],
)
def test_what_a_jira_event_is_about(payload: dict[str, Any], expected: Any) -> None:
    """Pages by the ticket's page labels, else the ticket to look up; else why none."""
    found = jira_targets(payload, "followup")
    if isinstance(expected, str):
        assert isinstance(found, Ignored)
        assert found.reason == expected
    else:
        assert not isinstance(found, Ignored)
        assert [t.key for t in found] == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"event": "page_updated", "page": {"id": 98000001}}, "page:98000001"),
        ({"event": "page_created", "page": {"id": "42", "contentType": "page"}}, "page:42"),
        ({"event": "label_added", "label": {"name": "postmortem"}, "labeled": {"id": 7}}, "page:7"),
        ({"page": {"id": "8"}}, "page:8"),
        ({"event": "blog_updated", "blog": {"id": 8}}, "event"),
        ({"event": "label_added", "labeled": {"id": 7, "contentType": "blogpost"}}, "event"),
        ({"event": "page_updated", "page": {"id": "8; DROP"}}, "no-subject"),
        ({"event": "page_updated"}, "no-subject"),
    ],
)
def test_what_a_confluence_event_is_about(payload: dict[str, Any], expected: str) -> None:
    """A page by id (digits only), or why none."""
    found = confluence_targets(payload)
    if expected.startswith("page:"):
        assert not isinstance(found, Ignored)
        assert [t.key for t in found] == [expected]
    else:
        assert isinstance(found, Ignored)
        assert found.reason == expected


class HeldRuns:
    """A page runner the test steps: each run waits until the test lets it finish."""

    def __init__(self, outcomes: list[str] | None = None) -> None:
        self.started: list[str] = []
        self.go = threading.Event()
        self.running = threading.Event()
        self.outcomes = list(outcomes or [])
        self.lock = threading.Lock()

    def __call__(self, target: Target) -> RunReport:
        with self.lock:
            self.started.append(target.key)
            outcome = self.outcomes.pop(0) if self.outcomes else "synced"
        self.running.set()
        assert self.go.wait(WAIT)
        return RunReport(outcome, wrote=outcome == "synced")  # type: ignore[arg-type]


def _queue(runs: HeldRuns, **kw: Any) -> PageQueue:
    queue = PageQueue(
        runs,
        capacity=kw.pop("capacity", 10),
        workers=kw.pop("workers", 2),
        metrics=ServeMetrics(),
        **kw,
    )
    queue.start()
    return queue


def test_events_for_a_waiting_or_running_page_fold_into_one_more_run() -> None:
    """While a page runs, any number of events for it make exactly one run after it."""
    runs = HeldRuns()
    queue = _queue(runs)
    page = Target("page", "1")
    assert queue.submit(page) == "queued"
    assert runs.running.wait(WAIT)
    answers = [queue.submit(page) for _ in range(99)]
    assert answers == ["queued"] + ["coalesced"] * 98
    runs.go.set()
    assert queue.wait_idle(WAIT)
    assert runs.started == ["page:1", "page:1"]
    queue.stop()


def test_a_full_queue_refuses_a_new_page_but_folds_a_waiting_one() -> None:
    """At capacity an event for another page is refused; one for a waiting page is not."""
    runs = HeldRuns()
    queue = _queue(runs, capacity=1, workers=1)
    assert queue.submit(Target("page", "1")) == "queued"
    assert runs.running.wait(WAIT)  # page 1 runs, so it waits no more
    assert queue.submit(Target("page", "2")) == "queued"
    assert queue.submit(Target("page", "3")) == "full"
    assert queue.submit(Target("page", "2")) == "coalesced"
    runs.go.set()
    assert queue.wait_idle(WAIT)
    assert runs.started == ["page:1", "page:2"]
    queue.stop()


def test_a_page_another_run_holds_is_run_again() -> None:
    """A run that met another run's lease is queued again, until a run gets through."""
    runs = HeldRuns(["leased", "leased", "synced"])
    runs.go.set()
    queue = _queue(runs, leased_retry_seconds=0.01)
    queue.submit(Target("page", "1"))
    assert queue.wait_idle(WAIT)
    assert runs.started == ["page:1"] * 3
    assert (
        queue.metrics.registry.get_sample_value(
            "followup_serve_page_runs_total", {"outcome": "leased"}
        )
        == 2
    )
    queue.stop()


def test_a_run_that_raises_is_counted_failed_and_the_worker_goes_on() -> None:
    """A bug in one run does not stop the queue."""
    calls: list[str] = []

    def run(target: Target) -> RunReport:
        calls.append(target.id)
        if target.id == "1":
            raise RuntimeError("boom")
        return RunReport("synced")

    queue = PageQueue(run, capacity=10, workers=1, metrics=ServeMetrics())
    queue.start()
    queue.submit(Target("page", "1"))
    queue.submit(Target("page", "2"))
    assert queue.wait_idle(WAIT)
    assert calls == ["1", "2"]
    value = queue.metrics.registry.get_sample_value
    assert value("followup_serve_page_runs_total", {"outcome": "failed"}) == 1
    queue.stop()
