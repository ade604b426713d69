"""Atlassian Cloud's published rate limits, kept before the 429.

Atlassian's figures (Jira Cloud platform, "Rate limiting",
https://developer.atlassian.com/cloud/jira/platform/rate-limiting/, as updated in
March 2026; Confluence Cloud's page, https://developer.atlassian.com/cloud/confluence/rate-limiting/,
February 2026, says the same of API-token traffic: the hourly points quotas apply to
apps, and API tokens "continue to be governed by existing burst rate limits"):

- **Burst limits**, per tenant, per endpoint and HTTP method, as token buckets (a
  steady-state refill rate and a burst buffer above it): by default **GET and POST
  100 requests/s, PUT and DELETE 50/s**. A few endpoints have figures of their own;
  those followup uses have the defaults or higher (`GET /issue/{key}` 150/s), so the
  defaults are kept for all.
  A 429 for this says `RateLimit-Reason: jira-burst-based`: slow down that endpoint
  only.
- **Per-issue writes**: **20 writes per 2 s and 100 per 30 s** to one issue
  (`jira-per-issue-on-write`): space out writes to that issue, and only those.
- **Quotas** (`jira-quota-tenant-based`, `jira-quota-global-based`, and Confluence's
  `confluence-quota-…`): the whole site, for a while.
- Headers: `Retry-After` (seconds, on a 429 and some 503s), `RateLimit-Reason` (on a
  429), `X-RateLimit-NearLimit: true` "when less than 20% of capacity remains".

`EndpointLimiter` paces every request (`before`) and learns from every answer
(`after`):

    before   wait for a hold on the site (a quota 429) or on the endpoint, then for
             the issue's write windows (writes to /rest/api/N/issue/{key}...), then
             for a token of the endpoint's bucket (method + path with ids and
             issue keys replaced: `POST /rest/api/2/issue/{key}/remotelink`)
    after    a 429: hold the scope its reason names (the endpoint, the issue's
             writes, or the whole site when the reason is a quota or none) for
             `Retry-After`, and halve that scope's pace; `X-RateLimit-NearLimit`:
             halve the site's pace (at most once a second); a success gives a
             fiftieth of the pace back. Every 429 and every near-limit warning is
             logged with its reason.

It paces at `headroom` (90%) of each published figure, so that requests that leave
one after another reach the site within its limits even when the network bunches
them a little. The clock and the sleep are injectable: tests run it on a clock that
only moves when something sleeps. Thread-safe: slots are reserved under a lock and
slept outside it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

__all__ = ["CLOUD_LIMITS", "CloudLimits", "EndpointLimiter", "endpoint_of", "issue_of_write"]

log = structlog.get_logger("followup.adapters.ratelimits")

_ID = re.compile(r"[0-9]+")
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]+")
_ISSUE_WRITE = re.compile(r"^/rest/api/(?:2|3|latest)/issue/([A-Z][A-Z0-9_]*-[0-9]+|[0-9]+)(?:/|$)")
_WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True, slots=True)
class CloudLimits:
    """The figures the limiter keeps (see the module docstring for their source)."""

    # Requests per second per endpoint, by method; a method not listed gets `default_rate`.
    rates: Mapping[str, float] = field(
        default_factory=lambda: {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0}
    )
    default_rate: float = 50.0
    # (writes, seconds): at most that many writes to one issue in any such window.
    issue_windows: tuple[tuple[int, float], ...] = ((20, 2.0), (100, 30.0))
    # The fraction of every figure paced at.
    headroom: float = 0.9
    # A bucket holds this many seconds of its rate: the burst it lets through at once.
    burst_seconds: float = 1.0
    # A pace is never cut below this fraction of the figure.
    floor: float = 1 / 16
    # A scope is slowed at most once per `cooldown` seconds, however many answers said so.
    cooldown: float = 1.0


CLOUD_LIMITS = CloudLimits()


def endpoint_of(method: str, url: str) -> str:
    """The endpoint a request counts against: its method and path, with every id and
    issue key a placeholder (`PUT /wiki/rest/api/content/{id}`); the API's version
    (`/rest/api/2`) stays."""
    path = urlsplit(url).path or "/"
    parts: list[str] = []
    for part in path.split("/"):
        if _ID.fullmatch(part) and not (parts and parts[-1] == "api"):
            parts.append("{id}")
        elif _ISSUE_KEY.fullmatch(part):
            parts.append("{key}")
        else:
            parts.append(part)
    return f"{method.upper()} {'/'.join(parts)}"


def issue_of_write(service: str, method: str, url: str) -> str | None:
    """The Jira issue (key or id, as the path names it) a write is to, or None."""
    if service != "jira" or method.upper() not in _WRITES:
        return None
    match = _ISSUE_WRITE.match(urlsplit(url).path)
    return match.group(1) if match else None


class _Pace:
    """A multiplier of a scope's rate: cut on a 429 or a near-limit, regained on success."""

    def __init__(self, floor: float) -> None:
        self.factor = 1.0
        self.floor = floor
        self.last_cut = -math.inf

    def cut(self, now: float, cooldown: float) -> bool:
        if now - self.last_cut < cooldown:
            return False
        self.last_cut = now
        self.factor = max(self.floor, self.factor / 2)
        return True

    def regain(self) -> None:
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + 1 / 50)


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float, floor: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.last = now
        self.pace = _Pace(floor)
        self.blocked_until = -math.inf


@dataclass
class _Issue:
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = -math.inf


@dataclass
class _Site:
    pace: _Pace
    blocked_until: float = -math.inf
    last_near_log: float = -math.inf


class EndpointLimiter:
    """Paces requests to Atlassian's per-endpoint, per-issue and per-site limits (see the
    module docstring). One per run, shared by both adapters (its scopes carry the
    service: "jira" or "confluence")."""

    def __init__(
        self,
        limits: CloudLimits = CLOUD_LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._issues: dict[str, _Issue] = {}
        self._sites: dict[str, _Site] = {}
        self.waited = 0.0

    # -- state -------------------------------------------------------------------------

    def _site(self, service: str) -> _Site:
        site = self._sites.get(service)
        if site is None:
            site = self._sites[service] = _Site(_Pace(self.limits.floor))
        return site

    def _bucket(self, service: str, endpoint: str, now: float) -> _Bucket:
        key = (service, endpoint)
        bucket = self._buckets.get(key)
        if bucket is None:
            method = endpoint.split(" ", 1)[0]
            rate = self.limits.rates.get(method, self.limits.default_rate) * self.limits.headroom
            bucket = _Bucket(rate, rate * self.limits.burst_seconds, now, self.limits.floor)
            self._buckets[key] = bucket
        return bucket

    def pace(self, service: str, endpoint: str | None = None) -> float:
        """The fraction of the published figure a scope is paced at now (1.0: full)."""
        with self._lock:
            factor = self._site(service).pace.factor
            if endpoint is not None and (service, endpoint) in self._buckets:
                factor *= self._buckets[(service, endpoint)].pace.factor
            return factor

    # -- before a request --------------------------------------------------------------

    def before(self, service: str, method: str, url: str) -> float:
        """Wait until the request may go; return the seconds waited."""
        endpoint = endpoint_of(method, url)
        issue = issue_of_write(service, method, url)
        waited = 0.0
        # Holds and the issue's windows first: a request held there takes its token
        # of the endpoint's bucket only when it may really go.
        with self._lock:
            now = self._clock()
            site = self._site(service)
            bucket = self._bucket(service, endpoint, now)
            ready = max(now, site.blocked_until, bucket.blocked_until)
            if issue is not None:
                ready = self._reserve_issue_write(issue, ready)
        if ready > now:
            self._sleep(ready - now)
            waited += ready - now
        with self._lock:
            now = self._clock()
            rate = bucket.rate * bucket.pace.factor * self._site(service).pace.factor
            capacity = max(1.0, min(bucket.capacity, rate * self.limits.burst_seconds))
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.last) * rate)
            bucket.last = now
            bucket.tokens -= 1.0
            wait = max(0.0, -bucket.tokens / rate)
        if wait > 0:
            self._sleep(wait)
            waited += wait
        if waited:
            with self._lock:
                self.waited += waited
        return waited

    def _reserve_issue_write(self, issue: str, ready: float) -> float:
        """The time from which a write to `issue` keeps every window, reserved. Writes
        to one issue are given their times in order."""
        state = self._issues.setdefault(issue, _Issue())
        longest = max(w for _, w in self.limits.issue_windows)
        while state.sent and state.sent[0] <= ready - longest:
            state.sent.popleft()
        at = max(ready, state.blocked_until, state.sent[-1] if state.sent else -math.inf)
        for writes, window in self.limits.issue_windows:
            allowed = max(1, int(writes * self.limits.headroom))
            if len(state.sent) >= allowed:
                at = max(at, state.sent[-allowed] + window)
        state.sent.append(at)
        return at

    # -- after an answer ---------------------------------------------------------------

    def after(
        self,
        service: str,
        method: str,
        url: str,
        status: int | None,
        headers: Mapping[str, str] | None,
        *,
        retry_after: float | None = None,
    ) -> str | None:
        """Learn from an answer (None: no answer): a 429 holds and slows the scope its
        `RateLimit-Reason` names; `X-RateLimit-NearLimit: true` slows the site. For a
        429, the scope held: "endpoint", "issue" or "site"; else None."""
        headers = headers or {}
        endpoint = endpoint_of(method, url)
        near = str(headers.get("X-RateLimit-NearLimit", "")).strip().lower() == "true"
        scope: str | None = None
        with self._lock:
            now = self._clock()
            site = self._site(service)
            bucket = self._bucket(service, endpoint, now)
            if status == 429:
                scope = self._throttled(service, method, url, endpoint, headers, retry_after, now)
            elif status is not None and status < 400:
                bucket.pace.regain()
                if not near:
                    site.pace.regain()
            if near:
                cut = site.pace.cut(now, self.limits.cooldown)
                if cut or now - site.last_near_log >= 60.0:
                    site.last_near_log = now
                    log.info(
                        "rate-limit-near",
                        service=service,
                        endpoint=endpoint,
                        pace=round(site.pace.factor, 3),
                    )
        return scope

    def _throttled(
        self,
        service: str,
        method: str,
        url: str,
        endpoint: str,
        headers: Mapping[str, Any],
        retry_after: float | None,
        now: float,
    ) -> str:
        reason = str(headers.get("RateLimit-Reason") or "").strip()
        hold = max(0.0, retry_after or 0.0)
        issue = issue_of_write(service, method, url)
        site = self._site(service)
        bucket = self._bucket(service, endpoint, now)
        if "per-issue" in reason and issue is not None:
            kind, scope = "issue", f"issue {issue}"
            state = self._issues.setdefault(issue, _Issue())
            state.blocked_until = max(state.blocked_until, now + hold)
        elif "burst" in reason:
            kind, scope = "endpoint", endpoint
            bucket.blocked_until = max(bucket.blocked_until, now + hold)
            if bucket.pace.cut(now, self.limits.cooldown):
                bucket.tokens = min(bucket.tokens, 0.0)
        else:  # a quota, or a site that does not say: everything on it waits
            kind, scope = "site", f"all of {service}"
            site.blocked_until = max(site.blocked_until, now + hold)
            if site.pace.cut(now, self.limits.cooldown):
                for (svc, _), other in self._buckets.items():
                    if svc == service:
                        other.tokens = min(other.tokens, 0.0)
        log.warning(
            "rate-limited",
            service=service,
            endpoint=endpoint,
            reason=reason or None,
            retry_after=retry_after,
            held=scope,
        )
        return kind
