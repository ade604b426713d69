"""The bounded, per-page coalescing queue between the webhook endpoints and the
engine, and the workers that drain it.

An event asks for a run of its page (or of a ticket's page). A page waits in the
queue at most once, however many events name it: a burst of 100 events on one page
makes one run. An event for a page whose run is under way is remembered once, and
the page runs once more after it (the run may have read the page before that
change). So duplicates and replays are harmless: each is at most one more run,
which finds nothing to change and writes nothing.

The queue holds at most `capacity` pages (waiting, waiting behind their own run, or
waiting to retry); an event for another page is refused (`"full"`: the endpoint
answers 503 with Retry-After, and the site delivers it again later).

A page whose lease another run holds (a `followup sync`, another replica) is run
again after `leased_retry_seconds`, up to `max_leased_retries` times in a row: the
other run may have read the page before the event's change, and the event must not
be lost. The scheduled sync stays the safety net for anything beyond that.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import structlog

from followup.serve.events import Target
from followup.serve.metrics import ServeMetrics

__all__ = ["PageQueue", "RunReport", "Submitted"]

log = structlog.get_logger("followup.serve")

Submitted = Literal["queued", "coalesced", "full"]
Outcome = Literal["synced", "leased", "ignored", "failed"]


@dataclass(frozen=True, slots=True)
class RunReport:
    """What became of one page run: `synced` (the page and its tickets agree now),
    `leased` (another run held the page), `ignored` (not a postmortem, or a ticket
    of no page), `failed`; `wrote`: the page was written."""

    outcome: Outcome
    wrote: bool = False
    detail: str = ""
    page_id: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)  # as a sync-summary's


@dataclass(slots=True)
class _Entry:
    target: Target
    received: float  # monotonic time of the first event this run covers
    leased_tries: int = 0
    timer: threading.Timer | None = field(default=None, repr=False)


class PageQueue:
    """Pages waiting for a run, and `workers` threads running them."""

    def __init__(
        self,
        run: Callable[[Target], RunReport],
        *,
        capacity: int,
        workers: int,
        metrics: ServeMetrics,
        leased_retry_seconds: float = 5.0,
        max_leased_retries: int = 12,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self.capacity = capacity
        self.metrics = metrics
        self.leased_retry_seconds = leased_retry_seconds
        self.max_leased_retries = max_leased_retries
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: OrderedDict[str, _Entry] = OrderedDict()
        self._running: set[str] = set()
        self._again: dict[str, _Entry] = {}
        self._delayed: dict[str, _Entry] = {}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"followup-serve-worker-{n}", daemon=True)
            for n in range(max(1, workers))
        ]
        self.runs_done = 0

    # -- the endpoints' side ---------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Take no more runs; let the runs under way finish (each releases its lease)."""
        with self._cond:
            self._stopping = True
            for entry in self._delayed.values():
                if entry.timer is not None:
                    entry.timer.cancel()
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def depth(self) -> int:
        with self._cond:
            return self._size()

    def _size(self) -> int:
        return len(self._pending) + len(self._again) + len(self._delayed)

    def submit(self, target: Target, *, source: str = "jira") -> Submitted:
        """Ask for a run of `target`; see the module docstring."""
        key = target.key
        now = self._clock()
        with self._cond:
            if self._stopping:
                return "full"
            if key in self._pending or key in self._delayed or key in self._again:
                self.metrics.coalesced.labels(source).inc()
                return "coalesced"
            if self._size() >= self.capacity:
                return "full"
            entry = _Entry(target, now)
            if key in self._running:
                self._again[key] = entry
            else:
                self._pending[key] = entry
                self._cond.notify()
            self.metrics.depth.set(self._size())
            return "queued"

    def idle(self) -> bool:
        """Nothing waiting and nothing running."""
        with self._cond:
            return not (self._size() or self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until `idle()` (True), or `timeout` seconds have passed (False)."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._size() or self._running:
                left = deadline - self._clock()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    # -- the workers -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key, entry = self._pending.popitem(last=False)
                self._running.add(key)
                self.metrics.depth.set(self._size())
            try:
                report = self._run(entry.target)
            except Exception as exc:  # a bug in one run must not stop the worker
                log.error("serve-run-failed", target=key, error=repr(exc), exc_info=exc)
                report = RunReport("failed", detail=f"internal error: {type(exc).__name__}")
            self._done(key, entry, report)

    def _done(self, key: str, entry: _Entry, report: RunReport) -> None:
        m = self.metrics
        m.runs.labels(report.outcome).inc()
        if report.outcome == "synced":
            m.synced.inc()
            m.lag.observe(max(0.0, self._clock() - entry.received))
        if report.wrote:
            m.writes.inc()
        with self._cond:
            self._running.discard(key)
            self.runs_done += 1
            again = self._again.pop(key, None)
            if (
                report.outcome == "leased"
                and entry.leased_tries < self.max_leased_retries
                and not self._stopping
            ):
                retry = _Entry(
                    entry.target,
                    min(entry.received, again.received) if again else entry.received,
                    entry.leased_tries + 1,
                )
                self._delay(key, retry)
            elif again is not None:
                self._pending[key] = again
            self.metrics.depth.set(self._size())
            self._cond.notify_all()

    def _delay(self, key: str, entry: _Entry) -> None:
        """Run `entry` again after `leased_retry_seconds` (under the lock)."""

        def due() -> None:
            with self._cond:
                if self._delayed.get(key) is not entry or self._stopping:
                    return
                del self._delayed[key]
                self._pending[key] = entry
                self._cond.notify_all()

        entry.timer = threading.Timer(self.leased_retry_seconds, due)
        entry.timer.daemon = True
        self._delayed[key] = entry
        entry.timer.start()
