"""What both adapters share on the wire: the rate limiter, request accounting, the
one translation of third-party errors into `followup.errors`, and `Transport`, which
puts them together around every single request.

    adapter method ──► Transport.send(method, url, attempt, safety)
                          │  RetryPolicy.call (followup.adapters.retry): repeat if safe
                          │    RateLimiter.acquire      (shared by both adapters)
                          │    EndpointLimiter.before   (Atlassian's per-endpoint and
                          │                              per-issue limits: .ratelimits)
                          │    attempt()                (the library's session)
                          │    RequestStats.record      (service, status)
                          │    EndpointLimiter.after    (429 scopes, NearLimit)
                          │    translate_error / error_from_response
                          ▼
                       requests.Response (2xx) or a followup.errors.ApiError

No message built here contains the API token or an Authorization header: the
adapters hand `Transport` their secrets and every message is scrubbed of them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from jira.exceptions import JIRAError

from followup.adapters.ratelimits import EndpointLimiter
from followup.adapters.retry import RetryPolicy, Safety
from followup.errors import (
    ApiError,
    CertificateError,
    ConnectionFailedError,
    ConnectivityError,
    RateLimitedError,
    ServerError,
    error_for_status,
)

__all__ = [
    "RateLimiter",
    "RequestStats",
    "ServerClock",
    "Transport",
    "error_from_response",
    "parse_retry_after",
    "response_json",
    "scrub",
    "translate_error",
]

_MAX_MESSAGE = 500
# What the libraries raise for a failed exchange; anything else (a bug, a failed test
# assertion in a response hook) propagates untranslated.
_LIBRARY_ERRORS = (requests.RequestException, JIRAError, urllib3.exceptions.HTTPError)
REDACTED = "[REDACTED]"
_AUTH_HEADER = re.compile(
    r"(authori[sz]ation['\"]?\s*[:=]\s*['\"]?)(basic|bearer)?\s*[^\s'\",}]+", re.I
)


# -- rate limiting -------------------------------------------------------------------


class RateLimiter:
    """A token bucket shared by every adapter and worker thread of a run.

    `acquire()` is called before every request. A 429 (`on_throttle`) halves the
    rate, down to `floor`, at most once per `cooldown` seconds (a burst of workers
    all hitting the same 429 slows down once, not once each), and holds every
    caller until the server's `Retry-After` has passed. Each success (`on_success`)
    gives back `max_rate / 50`, so the rate recovers gradually (additive increase,
    multiplicative decrease). Callers reserve a slot under the lock and sleep
    outside it, so waiting threads do not block each other.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: float | None = None,
        floor: float | None = None,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.max_rate = float(rate_per_s)
        self.floor = min(self.max_rate, floor if floor is not None else max(0.1, rate_per_s / 32))
        self._burst = max(1.0, burst if burst is not None else self.max_rate)
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rate = self.max_rate
        self._tokens = self._burst
        self._last = clock()
        self._blocked_until = 0.0
        self._last_throttle = -float("inf")

    @property
    def rate(self) -> float:
        """The current rate in requests per second."""
        with self._lock:
            return self._rate

    def acquire(self) -> float:
        """Wait for a slot; return the seconds waited."""
        with self._lock:
            now = self._clock()
            capacity = max(1.0, min(self._burst, self._rate))
            self._tokens = min(capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1.0
            wait = max(0.0, -self._tokens / self._rate, self._blocked_until - now)
        if wait > 0:
            self._sleep(wait)
        return wait

    def on_throttle(self, retry_after: float | None = None) -> None:
        """The server said 429: slow down, and hold everyone for `retry_after`."""
        with self._lock:
            now = self._clock()
            if retry_after:
                self._blocked_until = max(self._blocked_until, now + retry_after)
            if now - self._last_throttle >= self._cooldown:
                self._last_throttle = now
                self._rate = max(self.floor, self._rate / 2)
                self._tokens = min(self._tokens, 0.0)

    def on_success(self) -> None:
        """A request got through: recover a little of the rate."""
        with self._lock:
            if self._rate < self.max_rate:
                self._rate = min(self.max_rate, self._rate + self.max_rate / 50)


# -- accounting ----------------------------------------------------------------------


class RequestStats:
    """Requests by service and status code, retries by service. Thread-safe.

    A request that got no answer is counted under status `None` ("none" in
    `snapshot()`); every attempt counts, retries included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int | None]] = Counter()
        self._retries: Counter[str] = Counter()
        self._waited: dict[str, float] = {}

    def record(self, service: str, status: int | None) -> None:
        with self._lock:
            self._requests[(service, status)] += 1

    def record_retry(self, service: str, wait: float) -> None:
        with self._lock:
            self._retries[service] += 1
            self._waited[service] = self._waited.get(service, 0.0) + wait

    def requests(self, service: str | None = None, status: int | str | None = "any") -> int:
        """Attempts sent, optionally for one service and/or one status (None = no answer)."""
        with self._lock:
            return sum(
                n
                for (svc, st), n in self._requests.items()
                if (service is None or svc == service) and (status == "any" or st == status)
            )

    def retries(self, service: str | None = None) -> int:
        with self._lock:
            if service is None:
                return sum(self._retries.values())
            return self._retries[service]

    def snapshot(self) -> dict[str, Any]:
        """Plain data for metrics and logs: `{"requests": {"jira": {"200": 3,
        "none": 1}}, "retries": {"jira": 1}, "retry_wait_seconds": {"jira": 2.5}}`."""
        with self._lock:
            requests_: dict[str, dict[str, int]] = {}
            for (svc, st), n in sorted(
                self._requests.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)
            ):
                requests_.setdefault(svc, {})["none" if st is None else str(st)] = n
            return {
                "requests": requests_,
                "retries": dict(self._retries),
                "retry_wait_seconds": {k: round(v, 3) for k, v in self._waited.items()},
            }


# -- translation ---------------------------------------------------------------------


def credential_secrets(login: str | None, token: str) -> tuple[str, ...]:
    """The token, and the Basic credential built from it with an email or username
    (none for a personal access token): what must never appear in a message."""
    if not login:
        return (token,)
    basic = base64.b64encode(f"{login}:{token}".encode()).decode("ascii")
    return (token, basic)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any of `secrets` and without Authorization header values."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


def _error_text(body: Any, raw: str) -> tuple[str, dict[str, Any]]:
    """A readable message and the details from an Atlassian error body.

    Jira: `{"errorMessages": [...], "errors": {"field": "why"}}`; Confluence:
    `{"message": ..., "data": {"errors": [{"message": {"translation": ...}}]}}`.
    """
    details: dict[str, Any] = {}
    parts: list[str] = []
    if isinstance(body, dict):
        details["response"] = body
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts.extend(str(m) for m in messages if m)
            details["errorMessages"] = messages
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            parts.extend(f"{field}: {why}" for field, why in errors.items())
            details["errors"] = errors
        elif isinstance(errors, list):  # a bulk create: one entry per failed element
            for failure in errors:
                element = failure.get("elementErrors") if isinstance(failure, dict) else None
                if isinstance(element, dict):
                    inner, _ = _error_text(element, "")
                    parts.append(f"#{failure.get('failedElementNumber')}: {inner}")
        for key in ("message", "errorMessage", "reason"):
            if isinstance(body.get(key), str) and body[key]:
                parts.append(body[key])
        data = body.get("data")
        if isinstance(data, dict) and isinstance(data.get("errors"), list):
            for item in data["errors"]:
                message = item.get("message") if isinstance(item, dict) else item
                if isinstance(message, dict):
                    message = message.get("translation") or message.get("key")
                if message:
                    parts.append(str(message))
    if not parts and raw.strip():
        parts.append(" ".join(raw.split())[:200])
    return "; ".join(dict.fromkeys(parts)), details


def response_json(response: requests.Response) -> Any:
    """The JSON of a response, or None when it has none."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _path_of(url: str) -> str:
    return urlsplit(url).path or url


def error_from_response(
    response: requests.Response,
    *,
    service: str,
    method: str,
    url: str,
    secrets: Iterable[str] = (),
) -> ApiError:
    """The `followup.errors` error for an HTTP error response."""
    secrets = tuple(secrets)
    message, details = _error_text(response_json(response), response.text or "")
    message = message or response.reason or f"HTTP {response.status_code}"
    return error_for_status(
        response.status_code,
        scrub(message, secrets)[:_MAX_MESSAGE],
        service=service,
        method=method,
        path=_path_of(url),
        details=json.loads(scrub(json.dumps(details), secrets)) if details else None,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def translate_error(
    exc: BaseException,
    *,
    service: str,
    method: str,
    url: str,
    secrets: Iterable[str] = (),
) -> ApiError:
    """The one translation of a `jira`/`requests` exception into `followup.errors`.

    `JIRAError` carries the response (`.response`, `.status_code`); without one, or
    for any `requests` exception without a response (refused, reset, timeout, a
    body cut short), the outcome is unknown: `ConnectivityError`, ambiguous.
    """
    if isinstance(exc, ApiError):
        return exc
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        return error_from_response(
            response, service=service, method=method, url=url, secrets=secrets
        )
    if isinstance(exc, JIRAError):
        text = exc.text or "no response"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if (
        isinstance(exc, requests.exceptions.SSLError)
        and "certificate verify failed" in text.lower()
    ):
        return CertificateError(
            scrub(text, tuple(secrets))[:_MAX_MESSAGE],
            service=service,
            method=method,
            path=_path_of(url),
            hint="the site's TLS certificate could not be verified (nothing was sent); "
            "if your CA is private, point REQUESTS_CA_BUNDLE at its certificate",
        )
    setting = f"{service}.url" if service else "the site's URL"
    failed = _connection_failure(exc)
    if failed is not None:
        # No connection was made, so nothing was sent: say so, briefly, and do not
        # call the outcome uncertain.
        return ConnectionFailedError(
            scrub(f"could not connect to {_host_of(url)}: {failed}", tuple(secrets)),
            service=service,
            method=method,
            path=_path_of(url),
            hint=f"nothing was sent; check {setting}, DNS, the proxy (HTTPS_PROXY) and "
            "firewalls, and that the site is up",
        )
    timeout = f"{service}.timeout_seconds" if service else "the timeout_seconds settings"
    return ConnectivityError(
        scrub(text, tuple(secrets))[:_MAX_MESSAGE],
        service=service,
        method=method,
        path=_path_of(url),
        hint="the server may or may not have carried out the request; "
        f"check the network, {setting} and {timeout}",
    )


def _connection_failure(exc: BaseException) -> str | None:
    """Why no connection could be made, when that is what `exc` says: refused, a name
    that does not resolve, or a connect timeout. None for anything that may have
    happened after the request was sent (a reset, a read timeout, a dropped answer).

    `requests` wraps urllib3's `NewConnectionError` (its `NameResolutionError` included)
    in a `MaxRetryError` in a `ConnectionError`; `ConnectTimeout` is its own class."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NameResolutionError):
            return "the host name does not resolve"
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            # (a subclass of ConnectTimeoutError, so asked first)
            reason = str(current).rsplit("] ", 1)[-1] if "] " in str(current) else ""
            return (reason or "the connection was not accepted").strip().rstrip(")\"'")
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError):
            return "timed out connecting"
        stack.extend([*current.args, getattr(current, "reason", None)])
        stack.extend([current.__cause__, current.__context__])
    return None


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


# -- the server's clock ----------------------------------------------------------------


class ServerClock:
    """The server's time, from the `Date` header of its answers (RFC 9110 section
    6.6.1: every origin server with a clock sends one), advanced by this process's
    monotonic clock since the latest. Leases are judged by it, so a run whose own
    clock is wrong neither blocks pages for longer than a lease nor steals a live one.
    The header has whole seconds: the estimate runs up to a second behind."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None

    def observe(self, response: requests.Response) -> None:
        value = response.headers.get("Date")
        if not value:
            return
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._seen = (when, self._monotonic())

    def now(self) -> datetime | None:
        """The server's time now, or None before any answer that carried a Date."""
        with self._lock:
            seen = self._seen
        if seen is None:
            return None
        when, at = seen
        return when + timedelta(seconds=max(0.0, self._monotonic() - at))


# -- the request path ----------------------------------------------------------------


class Transport:
    """Sends requests for one service through the shared limiter, policy and stats.

    `attempt` does one HTTP exchange with the adapter's library session and returns
    its `requests.Response` (or raises the library's exception); `Transport` turns
    non-2xx answers and exceptions into `followup.errors` and repeats the attempt
    when `safety` and the policy allow.
    """

    def __init__(
        self,
        service: str,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        stats: RequestStats,
        secrets: Iterable[str] = (),
        pacer: EndpointLimiter | None = None,
    ) -> None:
        self.service = service
        self.limiter = limiter
        self.pacer = pacer
        self.retry = retry
        self.stats = stats
        self.clock = ServerClock()
        self._secrets = tuple(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def send(
        self,
        method: str,
        url: str,
        attempt: Callable[[], requests.Response],
        *,
        safety: Safety,
    ) -> requests.Response:
        def once() -> requests.Response:
            self.limiter.acquire()
            if self.pacer is not None:
                self.pacer.before(self.service, method, url)
            try:
                response = attempt()
            except _LIBRARY_ERRORS as exc:
                error = translate_error(
                    exc, service=self.service, method=method, url=url, secrets=self._secrets
                )
                answered = getattr(exc, "response", None)
                self._account(
                    method,
                    url,
                    error.status,
                    error,
                    answered if isinstance(answered, requests.Response) else None,
                )
                raise error from None
            self.clock.observe(response)
            if response.status_code >= 400:
                error = error_from_response(
                    response, service=self.service, method=method, url=url, secrets=self._secrets
                )
                self._account(method, url, response.status_code, error, response)
                raise error
            self._account(method, url, response.status_code, None, response)
            return response

        def on_retry(error: BaseException, wait: float) -> None:
            self.stats.record_retry(self.service, wait)

        return self.retry.call(once, safety=safety, on_retry=on_retry)

    def send_json(
        self,
        method: str,
        url: str,
        attempt: Callable[[], requests.Response],
        *,
        safety: Safety,
    ) -> Any:
        """`send`, then the response's JSON (None for an empty body). A 2xx whose body
        is not JSON is a `ServerError`: the request may have taken effect."""
        response = self.send(method, url, attempt, safety=safety)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                "the response is not JSON",
                service=self.service,
                status=response.status_code,
                method=method,
                path=_path_of(url),
            ) from None

    def _account(
        self,
        method: str,
        url: str,
        status: int | None,
        error: ApiError | None,
        response: requests.Response | None,
    ) -> None:
        self.stats.record(self.service, status)
        retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
        scope = None
        if self.pacer is not None:
            headers = response.headers if response is not None else None
            scope = self.pacer.after(
                self.service, method, url, status, headers, retry_after=retry_after
            )
        if isinstance(error, RateLimitedError):
            if self.pacer is None:
                self.limiter.on_throttle(retry_after)
            elif scope == "site":
                # A limit on the whole site (a quota, or one a Data Center admin set):
                # the run's overall rate comes down too; the pacer holds the site.
                self.limiter.on_throttle()
        elif error is None:
            self.limiter.on_success()


def json_body(value: Mapping[str, Any] | list[Any]) -> str:
    """A request body as compact JSON (what both libraries send as `data`)."""
    return json.dumps(value, separators=(",", ":"))
