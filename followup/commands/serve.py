"""`followup serve`: the webhook receiver (followup.serve) wired to the sites.

Each page run is what `followup sync --page <id>` does: the engine built from the
settings (`followup.commands.sync.build_engine`), its plan, its page lease, its
apply; each run ends with one `serve-page-run` log line carrying the counts a
`sync-summary` line has. A worker keeps its adapters (sessions, rate limiter) from run to
run and gives each run a fresh retry budget, as each `followup sync` has its own.

The workers share one rate limiter (`sync.rate_limit` holds per process, as for one
sync; each replica has its own).

`start_in_thread` serves from a background thread on a port of its own (0: any
free one), for tests and the benchmark; `serve_command` serves in the foreground
until SIGTERM or Ctrl-C, then lets the runs under way finish.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
import uvicorn

from followup.adapters.http import RateLimiter
from followup.adapters.retry import RetryBudget
from followup.adapters.webhooks import sites_answer
from followup.commands.sites import open_sites
from followup.commands.sync import build_engine, today_in
from followup.core.plan import Op
from followup.errors import FollowupError, UsageError
from followup.listen import listening_socket
from followup.serve.app import create_app
from followup.serve.events import Target
from followup.serve.metrics import ServeMetrics
from followup.serve.queue import PageQueue, RunReport

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from followup.adapters import Adapters
    from followup.settings import Settings

__all__ = ["PageRunner", "RunningServe", "serve_command", "start_in_thread"]

log = structlog.get_logger("followup.serve")

HEALTH_CACHE_SECONDS = 10.0


class PageRunner:
    """Runs one page as `followup sync --page` does; called by the queue's workers."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.stop = stop if stop is not None else threading.Event()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Adapters] = []
        self._limiter: RateLimiter | None = None

    def _adapters(self) -> Adapters:
        adapters: Adapters | None = getattr(self._local, "adapters", None)
        if adapters is None:
            adapters = open_sites(self.settings)
            self._local.adapters = adapters
            with self._lock:
                self._opened.append(adapters)
                # One rate limiter for the process: `sync.rate_limit` holds for all
                # the workers together, as for the pool of one sync.
                if self._limiter is None:
                    self._limiter = adapters.limiter
                adapters.jira.transport.limiter = self._limiter
                adapters.confluence.transport.limiter = self._limiter
        # The budget bounds one run's waiting for retries, as for each `followup sync`.
        adapters.retry.budget = RetryBudget(self.settings.sync.run_budget_seconds)
        return adapters

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for adapters in opened:
            adapters.close()

    def __call__(self, target: Target) -> RunReport:
        run_id = uuid.uuid4().hex[:12]
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            try:
                report = self._run(target, run_id)
            except FollowupError as exc:
                report = RunReport("failed", detail=exc.show())
            fields = {
                "run_id": run_id,
                "target": target.key,
                "page_id": report.page_id,
                "outcome": report.outcome,
                "wrote": report.wrote,
                "duration_ms": int((time.monotonic() - started) * 1000),
                **report.counts,
            }
            if report.detail:
                fields["detail"] = report.detail
            if report.outcome == "failed":
                log.warning("serve-page-run", **fields)
            else:
                log.info("serve-page-run", **fields)
        return report

    def _run(self, target: Target, run_id: str) -> RunReport:
        adapters = self._adapters()
        page_id = target.id
        if target.kind == "ticket":
            ticket = adapters.jira.get_ticket(target.id)
            if ticket is None or ticket.prop is None:
                return RunReport("ignored", detail="the ticket belongs to no page")
            page_id = ticket.prop.page
        engine = build_engine(
            self.settings, adapters.jira, adapters.confluence, run_id=run_id, stop=self.stop
        )
        try:
            result = engine.run(today=today_in(self.settings), dry_run=False, page_ids=[page_id])
        except UsageError as exc:
            # The page is not a postmortem (the configured CQL does not find it) or is
            # gone: discovery found nothing, and nothing was written.
            return RunReport("ignored", detail=exc.message, page_id=page_id)
        counts = result.counts()
        wrote = any(o.ok and o.action.op is Op.WRITE_PAGE for p in result.pages for o in p.outcomes)
        if any(p.leased_by is not None for p in result.pages):
            return RunReport(
                "leased",
                detail="another run holds the page's lease",
                counts=counts,
                page_id=page_id,
            )
        if result.failed:
            errors = [*result.errors, *(p.error for p in result.pages if p.error)]
            errors += [o.error or "" for o in result.failures]
            detail = "; ".join(e for e in errors if e)[:500] or "some actions failed"
            return RunReport("failed", wrote=wrote, detail=detail, counts=counts, page_id=page_id)
        return RunReport("synced", wrote=wrote, counts=counts, page_id=page_id)


class _Health:
    """Whether both sites answer, asked at most once per `HEALTH_CACHE_SECONDS`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._checked = -HEALTH_CACHE_SECONDS
        self._answer: tuple[bool, str] = (False, "not checked yet")

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._checked < HEALTH_CACHE_SECONDS:
                return self._answer
            try:
                adapters = open_sites(self.settings)
                try:
                    sites_answer(adapters.jira, adapters.confluence)
                finally:
                    adapters.close()
                self._answer = (True, "both sites answer")
            except FollowupError as exc:
                self._answer = (False, exc.message)
            self._checked = time.monotonic()
            return self._answer


@dataclass
class Receiver:
    """The receiver's parts: its queue, metrics, runner and application."""

    queue: PageQueue
    metrics: ServeMetrics
    runner: PageRunner
    app: Starlette

    def close(self, timeout: float = 45.0) -> None:
        """Take no more runs, let those under way finish (within `timeout`, then ask
        them to stop between pages), and close the sessions."""
        self.queue.stop(timeout)
        self.runner.stop.set()
        self.runner.close()


def build_receiver(settings: Settings) -> Receiver:
    """The receiver for `settings` (a ConfigError without `[serve] webhook_secret`)."""
    settings.require_sites()
    secret = settings.serve.secret()
    s = settings.serve
    metrics = ServeMetrics()
    runner = PageRunner(settings)
    queue = PageQueue(
        runner,
        capacity=s.queue_size,
        workers=s.workers,
        metrics=metrics,
        leased_retry_seconds=s.leased_retry_seconds,
    )
    app = create_app(
        secret=secret,
        queue=queue,
        metrics=metrics,
        label=settings.sync.label,
        max_body_bytes=s.max_body_bytes,
        health=_Health(settings),
    )
    return Receiver(queue=queue, metrics=metrics, runner=runner, app=app)


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM or SIGINT that stopped it is not raised again
    once it has shut down (uvicorn re-raises it, which ends the process there): the
    receiver still has its runs to finish and their leases to release, then exits 0.
    A second SIGINT still forces the server down at once."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _uvicorn(app: Starlette) -> uvicorn.Server:
    return _Server(
        uvicorn.Config(
            app,
            http="h11",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )


@dataclass
class RunningServe:
    """A receiver serving from a background thread; `stop()` it (or use `with`)."""

    url: str
    receiver: Receiver
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def queue(self) -> PageQueue:
        return self.receiver.queue

    @property
    def metrics(self) -> ServeMetrics:
        return self.receiver.metrics

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self.receiver.close()

    def __enter__(self) -> RunningServe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0
) -> RunningServe:
    """Serve `settings`' receiver from a daemon thread and wait until it listens."""
    receiver = build_receiver(settings)
    sock = listening_socket(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    server = _uvicorn(receiver.app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"serve {url}", daemon=True
    )
    receiver.queue.start()
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            receiver.close()
            raise RuntimeError(f"followup serve did not start on {url}")
        time.sleep(0.005)
    return RunningServe(url=url, receiver=receiver, _server=server, _thread=thread)


def serve_command(settings: Settings, *, host: str, port: int) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C (uvicorn's handlers), then
    let the page runs under way finish and release their leases."""
    receiver = build_receiver(settings)
    sock = listening_socket(host, port)
    server = _uvicorn(receiver.app)
    receiver.queue.start()
    log.info(
        "serve-started",
        host=host,
        port=sock.getsockname()[1],
        public_url=settings.serve.public_url,
        workers=settings.serve.workers,
    )
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        log.info("serve-stopping", waiting=receiver.queue.depth)
        receiver.close()
