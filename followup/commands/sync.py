"""`followup sync` end to end: settings -> adapters -> engine -> report.

`sync_command` returns the run's result; the CLI (`followup.cli`) turns it into the
exit code. A setting, the credentials or a site that fails before anything was
written raises `followup.errors.SetupError`.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from followup.commands.sites import open_sites
from followup.core.policy import (
    Directions,
    EngineConfig,
    Policy,
    ReminderPolicy,
    Scope,
    WatermarkPolicy,
    site_url,
)
from followup.core.routing import Routing
from followup.errors import ApiError, FollowupError, SetupError
from followup.ports import ConfluencePort, Deployment, JiraPort
from followup.reports.sync import Format, render_report
from followup.sync.engine import Engine, RunResult
from followup.sync.routing_check import check_routing
from followup.sync.watermark import scope_hash

if TYPE_CHECKING:
    from followup.metrics import SyncMetrics
    from followup.settings import Settings

log = structlog.get_logger("followup.sync")


def policies_from_settings(
    settings: Settings, deployment: Deployment, routing: Routing | None = None
) -> tuple[Policy, EngineConfig]:
    """The core's policy values from the settings, the one place they are built: what
    the planner may do (`Policy`, with its `Scope`) and what a run needs
    (`EngineConfig`, with the `ReminderPolicy`).

    The scope is `jira.project`, `jira.adopt_projects` and the projects the
    `[[routing]]` rules name, on the Jira at `jira.url` (and the jira macros of this
    Jira's application link: `[confluence] jira_server_id`, which followup writes, and
    `jira.macro_server_ids`). `routing` is the routing as `checked_routing` returned it
    (None: every ticket goes to `jira.project`); it is never taken from the settings
    unchecked, since its custom fields are named there and sent by id."""
    s, j, c, r = settings.sync, settings.jira, settings.confluence, settings.reminders
    d = s.directions
    routed = {rule.project for rule in settings.routing}
    scope = Scope(
        projects=frozenset({j.project_key, *j.adopt_projects, *routed}),
        site_urls=frozenset({site_url(j.url)} if j.url else ()),
        page_base=c.url or "",
        server_ids=settings.macro_server_ids,
    )
    policy = Policy(
        routing=routing,
        scope=scope,
        adopted_tickets=s.adopted_tickets,
        project=j.project_key,
        issue_type=j.issue_type,
        label=s.label,
        extra_labels=tuple(j.labels),
        default_priority=j.default_priority,
        default_due_days=s.default_due_days,
        fallback_assignee=s.fallback_assignee,
        close_on_tick=s.close_on_tick,
        orphans=s.orphans,
        duplicates=s.duplicates,
        adopt=s.adopt,
        conflict_winner=s.conflict_winner,
        directions=Directions(summary=d.summary, assignee=d.assignee, due=d.due, status=d.status),
        deployment=deployment,
        done_transitions=tuple(j.done_transitions),
        reopen_transitions=tuple(j.reopen_transitions),
    )
    reminders = ReminderPolicy(
        enabled=r.enabled,
        overdue_every_days=r.overdue_every_days,
        before_due_days=r.before_due_days,
        escalate_after=r.escalate_after,
        escalate_to=r.escalate_to,
        escalate_label=r.escalate_label or None,
    )
    config = EngineConfig(
        cql=c.cql,
        spaces=tuple(c.spaces),
        date_order=s.date_order,
        vocabulary=settings.extract.vocabulary(),
        lease_seconds=s.lease_seconds,
        max_page_retries=s.max_page_retries,
        concurrency=s.concurrency,
        max_page_bytes=s.max_page_bytes,
        max_items_per_page=s.max_items_per_page,
        owners=dict(settings.owners),
        # Our jira macros name this Jira's application link when it is configured, so
        # that Confluence shows them from this Jira whatever its primary Jira link is.
        jira_server=settings.macro_link[0],
        jira_server_id=settings.macro_link[1],
        reminders=reminders,
        search_settle_seconds=s.search_settle_seconds,
        watermark=watermark_policy(settings),
    )
    return policy, config


def watermark_policy(settings: Settings) -> WatermarkPolicy:
    """Where the watermark lives and when a run is a full pass. Its scope names every
    setting that decides which pages and tickets followup sees, or how it reads them:
    a watermark written under other values of these says nothing of what changed."""
    s, c, j = settings.sync, settings.confluence, settings.jira
    return WatermarkPolicy(
        state_page=s.state_page,
        full_every_seconds=s.full_every,
        overlap_seconds=s.incremental_overlap,
        timezone=s.timezone,
        scope=scope_hash(c.url, c.cql, sorted(c.spaces), j.url, j.project_key, s.label, s.timezone),
    )


def today_in(settings: Settings, now: datetime | None = None) -> date:
    """The run's date in the configured time zone: OVERDUE is judged against it."""
    tz = zoneinfo.ZoneInfo(settings.sync.timezone)
    return (now or datetime.now(UTC)).astimezone(tz).date()


def checked_routing(settings: Settings, jira: JiraPort) -> Routing | None:
    """The configured routing, checked against Jira's create metadata (ConfigError
    naming the rule and field that is wrong: nothing has been written yet); None
    when no routing is configured (and nothing is asked)."""
    routing = settings.routing_config()
    if routing is None:
        return None
    s, j = settings.sync, settings.jira
    also = [
        name
        for name, setting in (
            ("duedate", s.default_due_days),
            ("assignee", s.fallback_assignee),
            ("priority", j.default_priority),
        )
        if setting is not None
    ]
    return check_routing(jira, routing, also_sent=also)


def build_engine(
    settings: Settings, jira: JiraPort, confluence: ConfluencePort, **kw: Any
) -> Engine:
    """The engine for a run, its routing checked first (see `checked_routing`)."""
    policy, config = policies_from_settings(
        settings, jira.deployment, checked_routing(settings, jira)
    )
    return Engine(jira, confluence, policy, config, **kw)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on a terminal (none otherwise), taken down when the run ends,
    however it ends: a dry run or a failure never leaves a half-drawn bar behind."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def sync_command(
    settings: Settings,
    *,
    dry_run: bool = False,
    fmt: str = "text",
    output: Path | None = None,
    spaces: Sequence[str] = (),
    pages: Sequence[str] = (),
    today: date | None = None,
    metrics: SyncMetrics | None = None,
    stop: threading.Event | None = None,
    full: bool = False,
) -> RunResult:
    """Run one sync and print (or write) its report; return its result.

    Every run, failed or not, ends with one `sync-summary` log line and, when
    `[metrics]` names a textfile or a Pushgateway, its metrics published (`metrics`:
    the process's `SyncMetrics`, so that `--watch` accumulates; a fresh one by
    default). `stop` set: stop between pages (see `Engine`). `full`: a full pass,
    whatever the watermark says."""
    settings.require_sites()
    run_id = uuid.uuid4().hex[:12]
    started = time.monotonic()
    result: RunResult | None = None
    requests: dict[str, Any] | None = None
    error: str | None = None
    try:
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            adapters = open_sites(settings)
            try:
                try:
                    engine = build_engine(
                        settings,
                        adapters.jira,
                        adapters.confluence,
                        run_id=run_id,
                        stop=stop,
                        pause=adapters.retry.pause,
                    )
                    with _progress() as progress:
                        result = engine.run(
                            today=today or today_in(settings),
                            dry_run=dry_run,
                            spaces=spaces,
                            page_ids=pages,
                            progress=progress,
                            full=full,
                        )
                except ApiError as exc:
                    # serverInfo, discovery and the ticket search come before any write
                    # (a site that is down or refuses us is a setup problem: exit 2).
                    raise SetupError(exc.message, hint=exc.hint) from None
            finally:
                adapters.close()
                requests = adapters.stats.snapshot()
        # Reporting is part of the run: a report that cannot be rendered or written
        # makes the run a failed one, in the exit code, the log and the metrics.
        assert result is not None
        _deliver(_render(result, fmt, output, jira_url=settings.jira.url), output)
    except FollowupError as exc:
        error = exc.message
        raise
    except Exception as exc:
        error = f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        _finish(settings, metrics, run_id, dry_run, result, requests, error, started)
    assert result is not None
    return result


def _render(result: RunResult, fmt: str, output: Path | None, *, jira_url: str | None) -> str:
    fmt_ = fmt if fmt in ("text", "json", "markdown", "html") else "text"
    color = output is None and sys.stdout.isatty()
    # A terminal's own width (or $COLUMNS); a file gets a fixed, wide table.
    width = shutil.get_terminal_size((140, 40)).columns if output is None else 140
    return render_report(
        result,
        fmt_,  # type: ignore[arg-type]
        color=color,
        width=width,
        jira_url=jira_url,
    )


def _deliver(text: str, output: Path | None) -> None:
    """Print the report, or write it to `output`. The CLI checked `output` before the
    run; should the write still fail (a full disk), the report goes to standard output
    rather than being lost."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        sys.stdout.write(text)
        sys.stdout.flush()
        raise FollowupError(
            f"--output {output}: the report could not be written "
            f"({exc.strerror or exc}); it was printed on standard output instead"
        ) from None


def _finish(
    settings: Settings,
    metrics: SyncMetrics | None,
    run_id: str,
    dry_run: bool,
    result: RunResult | None,
    requests: dict[str, Any] | None,
    error: str | None,
    started: float,
) -> None:
    """The run's summary log line and its metrics, whatever became of it."""
    duration = time.monotonic() - started
    ok = result is not None and not result.failed and error is None
    fields: dict[str, Any] = {
        "run_id": run_id,
        "action": "sync",
        "outcome": "ok" if ok else "failed",
        "duration_ms": int(duration * 1000),
        "dry_run": dry_run,
    }
    if result is not None:
        fields.update(result.counts())
        fields["kind"] = result.kind
    if error is not None:
        fields["error"] = error
    fields["requests"] = requests
    if ok:
        log.info("sync-summary", **fields)
    else:
        log.warning("sync-summary", **fields)
    target = settings.metrics
    if metrics is None and target.textfile is None and not target.pushgateway_url:
        return
    from followup.metrics import SyncMetrics

    recorder = metrics if metrics is not None else SyncMetrics()
    recorder.observe(result, ok=ok, duration_s=duration, requests=requests)
    recorder.publish(target)


__all__ = ["Format", "build_engine", "sync_command"]
