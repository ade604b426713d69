"""Atlassian Cloud's published rate limits, emulated: the `rate_limits` fault.

What Atlassian documents for Jira Cloud (and Confluence Cloud's API-token traffic):
per tenant, per endpoint and HTTP method, token buckets refilling at GET and POST
100 requests/s, PUT and DELETE 50/s; per Jira issue, at most 20 writes in 2 s and
100 in 30 s. Here:

- every API request counts against the bucket of its route template and method
  (`POST /rest/api/2/issue/{issueIdOrKey}/remotelink`), which holds one second of its
  rate (Atlassian does not publish the size of its burst buffer) times `scale`;
- a write (POST, PUT, DELETE) to a Jira issue's path (`/rest/api/N/issue/{key or
  id}/...`) also counts against that issue's two windows;
- a request over either is refused before it is handled: 429, `Retry-After` (whole
  seconds until it would pass, at least 1), `X-RateLimit-Reset`, and
  `RateLimit-Reason: jira-burst-based` (`confluence-burst-based`) or
  `jira-per-issue-on-write`;
- an answered request carries `X-RateLimit-Limit` and `X-RateLimit-Remaining` (its
  bucket's rate and tokens left), and `X-RateLimit-NearLimit: true` once fewer than
  20% of its bucket's tokens are left (Atlassian sends it for its quotas, which API
  tokens are not under; the sandbox lets its buckets stand in for them).

The clock is the `clock` attribute of `Faults` (monotonic seconds), so that a test
can run a client and the sandbox on one clock that only moves when the client sleeps.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ISSUE_WINDOWS", "RATES", "Decision", "RateLimits"]

RATES = {"GET": 100.0, "POST": 100.0, "PUT": 50.0, "DELETE": 50.0, "PATCH": 50.0}
ISSUE_WINDOWS = ((20, 2.0), (100, 30.0))
NEAR_LIMIT = 0.2
_ISSUE_PATH = re.compile(
    r"^/rest/api/(?:2|3|latest)/issue/([A-Za-z][A-Za-z0-9_]*-[0-9]+|[0-9]+)(?:/|$)"
)
_WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True, slots=True)
class Decision:
    """What the limits say of one request: refused (`status` 429 with `reason` and
    `retry_after_s`) or let through; and the headers its answer carries."""

    status: int | None = None
    reason: str | None = None
    retry_after_s: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Bucket:
    rate: float
    tokens: float
    last: float


class RateLimits:
    """The buckets and issue windows of one sandbox. Thread-safe."""

    def __init__(self, *, scale: float = 1.0, clock: Callable[[], float]) -> None:
        self.scale = scale
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._issues: dict[str, deque[float]] = {}

    def check(self, product: str, method: str, route: str, path: str) -> Decision:
        """Count one request to `route` (method and template) at `path`."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(route)
            if bucket is None:
                rate = RATES.get(method, 50.0) * self.scale
                bucket = self._buckets[route] = _Bucket(rate, rate, now)
            capacity = bucket.rate
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.last) * bucket.rate)
            bucket.last = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / bucket.rate
                return Decision(429, f"{product}-burst-based", max(1, math.ceil(wait)))
            issue = self._issue_of(method, path)
            if issue is not None:
                sent = self._issues.setdefault(issue, deque())
                longest = max(w for _, w in ISSUE_WINDOWS)
                while sent and sent[0] <= now - longest:
                    sent.popleft()
                for writes, window in ISSUE_WINDOWS:
                    recent = [t for t in sent if t > now - window]
                    if len(recent) >= writes:
                        wait = recent[0] + window - now
                        return Decision(429, "jira-per-issue-on-write", max(1, math.ceil(wait)))
                sent.append(now)
            bucket.tokens -= 1.0
            headers = {
                "X-RateLimit-Limit": str(int(bucket.rate)),
                "X-RateLimit-Remaining": str(max(0, math.floor(bucket.tokens))),
            }
            if bucket.tokens < NEAR_LIMIT * capacity:
                headers["X-RateLimit-NearLimit"] = "true"
            return Decision(headers=headers)

    @staticmethod
    def _issue_of(method: str, path: str) -> str | None:
        if method not in _WRITES:
            return None
        match = _ISSUE_PATH.match(path)
        return match.group(1).upper() if match else None
