"""Prometheus metrics of sync runs, for a Pushgateway and/or node_exporter's textfile.

One `SyncMetrics` lives as long as the process: a single `followup sync` records one
run, `followup sync --watch` records every run into the same registry, so its
counters grow as Prometheus expects. After each run the runner calls `observe` and
then `publish`, which

- writes the textfile atomically (a temporary file in the same directory, renamed
  over the old one, so node_exporter never reads half a file). The previous file is
  read once, on the first publish of the process: its counters are carried forward
  and its last-success timestamp kept (and its item gauges, when the run failed
  before reading anything), so that cron and systemd runs, one process each, still
  give monotonic counters and a failed run does not erase the time of the last good
  one;
- pushes to the Pushgateway with POST (`pushadd`), which replaces only the metrics
  it sends: a failed run leaves the last-success timestamp the gateway already holds.

Publishing never fails a run: an unreachable gateway or an unwritable file is a
warning in the log.

Metrics (all prefixed `followup_`; see docs/deploy.md for alerting examples):

    action_items{space,state}           gauge    state: open, overdue, done (exclusive)
    action_items_missing{space,field}   gauge    field: owner, due_date (open items)
    findings{space,code}                gauge    findings of the last run
    last_success_timestamp_seconds      gauge    end of the last run without failures
    last_run_timestamp_seconds          gauge    end of the last run
    last_run_success                    gauge    1 or 0
    run_duration_seconds                gauge    duration of the last run
    runs_total{outcome}                 counter  ok, failed
    actions_total{kind,outcome}         counter  kind: create, update, ...; outcome:
                                                 ok, failed, skipped, planned (dry run)
    api_requests_total{service,status}  counter  status: the HTTP code, or "none"
    api_retries_total{service}          counter
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    pushadd_to_gateway,
    write_to_textfile,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from followup.core.model import KEEP, Badge, ItemChange
from followup.core.plan import Op, PageWrite, payload

if TYPE_CHECKING:
    from followup.settings import MetricsSettings
    from followup.sync.engine import RunResult

__all__ = ["SyncMetrics", "item_states"]

log = structlog.get_logger("followup.metrics")

# `_created` series (one per counter and label set) mean nothing for a batch job and,
# with counters carried forward from the previous textfile, would be wrong.
disable_created_metrics()  # type: ignore[no-untyped-call]

LAST_SUCCESS = "followup_last_success_timestamp_seconds"
PUSH_TIMEOUT_SECONDS = 10.0
_OPEN_TITLES = frozenset({"TO DO", "IN PROGRESS"})


def _item_state(badge: Badge | None, done: bool, due: date | None, today: date) -> str:
    """open, overdue or done: from the badge the item shows after the run, else from
    the page (an item whose ticket is not created yet)."""
    if badge is None:
        if done:
            return "done"
        return "overdue" if due is not None and due < today else "open"
    if badge.title == "OVERDUE":
        return "overdue"
    return "open" if badge.title in _OPEN_TITLES else "done"


def item_states(result: RunResult) -> dict[str, Tally[str]]:
    """Per space key: items by state (open, overdue, done), and open items without an
    owner or a due date (`missing:owner`, `missing:due_date`), as the run left them:
    the page's values with the run's changes to them applied."""
    out: dict[str, Tally[str]] = {}
    for pr in result.pages:
        tally = out.setdefault(pr.page.space_key or "unknown", Tally())
        changes: dict[str, ItemChange] = {}
        for action in pr.plan.actions:
            if action.op is Op.WRITE_PAGE:
                changes.update(payload(action, PageWrite).changes)
        for item in pr.plan.items:
            change = changes.get(item.key, ItemChange())
            badge = item.badge if change.badge is KEEP else change.badge
            done = item.done if change.done is KEEP else bool(change.done)
            due = item.due if change.due is KEEP else change.due
            owner = item.owner if change.owner is KEEP else change.owner
            state = _item_state(badge, done, due, result.today)
            tally[state] += 1
            if state != "done":
                tally["missing:owner"] += owner is None
                tally["missing:due_date"] += due is None
    return out


class _Without:
    """A registry view without some metric families (for a push that must not send them)."""

    def __init__(self, registry: CollectorRegistry, names: Iterable[str]) -> None:
        self._registry = registry
        self._names = frozenset(names)

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if family.name not in self._names:
                yield family


class SyncMetrics:
    """The metrics of this process's runs, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.items = Gauge(
            "followup_action_items",
            "Action items by state (open, overdue, done) as the last run left them.",
            ["space", "state"],
            registry=r,
        )
        self.items_missing = Gauge(
            "followup_action_items_missing",
            "Open action items without an owner or without a due date.",
            ["space", "field"],
            registry=r,
        )
        self.findings = Gauge(
            "followup_findings", "Findings of the last run.", ["space", "code"], registry=r
        )
        self.last_success = Gauge(
            LAST_SUCCESS, "Unix time at which the last run without failures ended.", registry=r
        )
        self.last_run = Gauge(
            "followup_last_run_timestamp_seconds", "Unix time at which the last run ended.",
            registry=r,
        )  # fmt: skip
        self.last_run_success = Gauge(
            "followup_last_run_success", "1 if the last run had no failures, else 0.", registry=r
        )
        self.duration = Gauge(
            "followup_run_duration_seconds", "Duration of the last run.", registry=r
        )
        self.runs = Counter("followup_runs", "Runs by outcome.", ["outcome"], registry=r)
        self.actions = Counter(
            "followup_actions",
            "Actions by kind and outcome (planned: a dry run's).",
            ["kind", "outcome"],
            registry=r,
        )
        self.requests = Counter(
            "followup_api_requests",
            "Jira and Confluence API requests by HTTP status (none: no answer).",
            ["service", "status"],
            registry=r,
        )
        self.retries = Counter(
            "followup_api_retries", "Requests sent again after a failure.", ["service"], registry=r
        )
        self._succeeded = False  # has last_success been set (observed or carried forward)
        self._observed_items = False  # have the item gauges been set by a run
        self._loaded_textfiles: set[Path] = set()

    # -- recording -------------------------------------------------------------------

    def observe(
        self,
        result: RunResult | None,
        *,
        ok: bool,
        duration_s: float,
        requests: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> None:
        """Record one run. `result` None: the run failed before it had one (the item
        gauges keep the last values known). `requests` is `RequestStats.snapshot()`."""
        ended = time.time() if now is None else now
        self.last_run.set(ended)
        self.duration.set(max(0.0, duration_s))
        self.last_run_success.set(1 if ok else 0)
        self.runs.labels("ok" if ok else "failed").inc()
        if ok:
            self.last_success.set(ended)
            self._succeeded = True
        if result is not None:
            self._observe_result(result)
        for service, by_status in ((requests or {}).get("requests") or {}).items():
            for status, count in by_status.items():
                self.requests.labels(service, str(status)).inc(count)
        for service, count in ((requests or {}).get("retries") or {}).items():
            self.retries.labels(service).inc(count)

    def _observe_result(self, result: RunResult) -> None:
        self._observed_items = True
        self.items.clear()
        self.items_missing.clear()
        self.findings.clear()
        for space, tally in item_states(result).items():
            for state in ("open", "overdue", "done"):
                self.items.labels(space, state).set(tally[state])
            for field in ("owner", "due_date"):
                self.items_missing.labels(space, field).set(tally[f"missing:{field}"])
        for pr in result.pages:
            space = pr.page.space_key or "unknown"
            for finding in (*pr.plan.findings, *pr.findings):
                self.findings.labels(space, str(finding.code)).inc()
        if result.dry_run:
            for action in result.actions:
                self.actions.labels(str(action.op), "planned").inc()
            return
        for pr in result.pages:
            for outcome in pr.outcomes:
                state = "ok" if outcome.ok else ("skipped" if outcome.skipped else "failed")
                self.actions.labels(str(outcome.action.op), state).inc()

    # -- publishing ------------------------------------------------------------------

    def publish(self, settings: MetricsSettings) -> None:
        """Write the textfile and push to the gateway, whichever `settings` name."""
        if settings.textfile is not None:
            try:
                self.write_textfile(settings.textfile)
            except OSError as exc:
                log.warning(
                    "metrics-textfile-failed",
                    path=str(settings.textfile),
                    error=f"{type(exc).__name__}: {exc}",
                )
        if settings.pushgateway_url:
            try:
                self.push(settings.pushgateway_url, job=settings.job)
            except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
                log.warning(
                    "metrics-push-failed",
                    url=settings.pushgateway_url,
                    error=f"{type(exc).__name__}: {exc}",
                )

    def write_textfile(self, path: Path) -> None:
        """Write the metrics to `path` atomically (node_exporter reads `*.prom` only)."""
        path = Path(path)
        if path not in self._loaded_textfiles:
            self._loaded_textfiles.add(path)
            self._carry_forward(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        registry = self.registry if self._succeeded else _Without(self.registry, [LAST_SUCCESS])
        write_to_textfile(str(path), registry)  # temporary file + rename(2)

    def push(self, url: str, *, job: str) -> None:
        """POST to the Pushgateway's group `job`: replaces only the metrics sent, so
        the gateway keeps its last-success time when this process has none."""
        registry = self.registry if self._succeeded else _Without(self.registry, [LAST_SUCCESS])
        pushadd_to_gateway(url, job=job, registry=registry, timeout=PUSH_TIMEOUT_SECONDS)

    def _carry_forward(self, path: Path) -> None:
        """Counters, the last-success time and (when this process has no run result
        yet: the run failed before reading anything) the item gauges, from the
        previous file at `path`."""
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return  # the first run here; a path that cannot be written is reported below
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("metrics-textfile-unreadable", path=str(path), error=str(exc))
            return
        counters = {
            "followup_runs": self.runs,
            "followup_actions": self.actions,
            "followup_api_requests": self.requests,
            "followup_api_retries": self.retries,
        }
        gauges = {
            "followup_action_items": self.items,
            "followup_action_items_missing": self.items_missing,
            "followup_findings": self.findings,
        }
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as exc:
            log.warning("metrics-textfile-unreadable", path=str(path), error=str(exc))
            return
        for family in families:
            if family.name == LAST_SUCCESS and not self._succeeded:
                for sample in family.samples:
                    self.last_success.set(sample.value)
                    self._succeeded = True
            gauge = gauges.get(family.name)
            if gauge is not None and not self._observed_items:
                for sample in family.samples:
                    if set(sample.labels) == set(gauge._labelnames):
                        gauge.labels(**sample.labels).set(sample.value)
            counter = counters.get(family.name)
            if counter is None or family.type != "counter":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total") or sample.value <= 0:
                    continue
                if set(sample.labels) != set(counter._labelnames):
                    continue
                target = counter.labels(**sample.labels) if sample.labels else counter
                target.inc(sample.value)
