"""The one retry policy, the shared rate limiter, request accounting and the
translation of library errors: unit tests with a fake clock and a recording sleep."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from jira.exceptions import JIRAError

from followup import errors
from followup.adapters.http import (
    RateLimiter,
    RequestStats,
    Transport,
    parse_retry_after,
    scrub,
    translate_error,
)
from followup.adapters.retry import RetryBudget, RetryPolicy, Safety

TOKEN = "s3cr3t-t0ken-value"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def flaky(*failures: BaseException, result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A function that raises `failures` in turn, then returns `result`; and its call count."""
    calls = [0]
    pending = list(failures)

    def fn() -> str:
        calls[0] += 1
        if pending:
            raise pending.pop(0)
        return result

    return fn, calls


def rate_limited(retry_after: float | None = None) -> errors.RateLimitedError:
    return errors.RateLimitedError("slow down", status=429, retry_after=retry_after)


def policy(clock: FakeClock, *, budget: float = 600.0, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(
        budget=RetryBudget(budget, clock=clock),
        sleep=clock.sleep,
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


# -- RetryPolicy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "safety", "retried"),
    [
        (rate_limited(), Safety.IDEMPOTENT, True),
        (errors.ServerError("bad gateway", status=502), Safety.IDEMPOTENT, True),
        (errors.ServerError("unavailable", status=503), Safety.IDEMPOTENT, True),
        (errors.ServerError("timeout", status=504), Safety.IDEMPOTENT, True),
        (errors.ConnectivityError("reset"), Safety.IDEMPOTENT, True),
        (errors.ServerError("boom", status=500), Safety.IDEMPOTENT, False),
        (errors.ConflictError("stale", status=409), Safety.IDEMPOTENT, False),
        (errors.NotFoundError("gone", status=404), Safety.IDEMPOTENT, False),
        (rate_limited(), Safety.REJECTED_ONLY, True),
        (errors.ConnectivityError("reset"), Safety.REJECTED_ONLY, False),
        (errors.ServerError("bad gateway", status=502), Safety.REJECTED_ONLY, False),
        (rate_limited(), Safety.NEVER, False),
        (errors.ConnectivityError("reset"), Safety.NEVER, False),
        (errors.ConnectionFailedError("refused"), Safety.IDEMPOTENT, True),
        (errors.ConnectionFailedError("refused"), Safety.REJECTED_ONLY, False),
        (errors.CertificateError("self-signed"), Safety.IDEMPOTENT, False),
    ],
)
def test_which_errors_are_retried(error: errors.ApiError, safety: Safety, retried: bool) -> None:
    """Safe requests are repeated on 429/502/503/504/no answer; POSTs only on 429;
    creates never; everything else is raised at once."""
    clock = FakeClock()
    fn, calls = flaky(error)
    if retried:
        assert policy(clock).call(fn, safety=safety) == "ok"
        assert calls[0] == 2
    else:
        with pytest.raises(type(error)) as raised:
            policy(clock).call(fn, safety=safety)
        assert raised.value is error
        assert calls[0] == 1
        assert clock.sleeps == []


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    """Each wait lies between half and all of base * 2**(n-1), capped at max_delay."""
    clock = FakeClock()
    fn, _ = flaky(*[errors.ConnectivityError("reset") for _ in range(7)])
    p = policy(clock, max_attempts=8, max_attempts_no_answer=8, base_delay=1.0, max_delay=10.0)
    assert p.call(fn, safety=Safety.IDEMPOTENT) == "ok"
    ceilings = [1, 2, 4, 8, 10, 10, 10]
    assert len(clock.sleeps) == 7
    for wait, ceiling in zip(clock.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_is_the_minimum_wait() -> None:
    """A server's Retry-After is honoured even when the backoff would be shorter."""
    clock = FakeClock()
    fn, _ = flaky(rate_limited(7.0), rate_limited(0.0))
    policy(clock, base_delay=0.5).call(fn, safety=Safety.IDEMPOTENT)
    assert clock.sleeps[0] == 7.0
    assert clock.sleeps[1] < 1.0


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    """When attempts run out, the last error is raised as it was."""
    clock = FakeClock()
    last = errors.ServerError("still down", status=503)
    fn, calls = flaky(errors.ServerError("down", status=503), last, result="never")
    with pytest.raises(errors.ServerError) as raised:
        policy(clock, max_attempts=2).call(fn, safety=Safety.IDEMPOTENT)
    assert raised.value is last
    assert calls[0] == 2


def test_budget_exhausted_raises_the_last_error_without_waiting() -> None:
    """A wait the run's budget cannot pay is not taken: the last error is raised."""
    clock = FakeClock()
    fn, calls = flaky(rate_limited(3.0), rate_limited(30.0))
    with pytest.raises(errors.RateLimitedError) as raised:
        policy(clock, budget=10.0).call(fn, safety=Safety.IDEMPOTENT)
    assert raised.value.retry_after == 30.0
    assert calls[0] == 2
    assert clock.sleeps == [3.0]


def test_budget_is_shared_across_calls_and_threads() -> None:
    """One RetryBudget bounds the waiting of every request of the run together."""
    clock = FakeClock()
    budget = RetryBudget(5.0, clock=lambda: 0.0)
    p = RetryPolicy(budget=budget, sleep=clock.sleep, rng=random.Random(1))
    outcomes: list[str] = []

    def one() -> None:
        fn, _ = flaky(rate_limited(2.0))
        try:
            outcomes.append(p.call(fn, safety=Safety.IDEMPOTENT))
        except errors.RateLimitedError:
            outcomes.append("gave up")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["gave up", "gave up", "ok", "ok"]
    assert budget.spent == 4.0
    assert budget.remaining() == 1.0


def test_budget_is_also_bounded_by_the_wall_clock() -> None:
    """Once the run's time is up, no wait is granted, however little was waited."""
    clock = FakeClock()
    budget = RetryBudget(60.0, clock=clock)
    assert budget.try_spend(1.0)
    clock.now += 59.5
    assert not budget.try_spend(1.0)
    assert budget.try_spend(0.5)


def test_on_retry_hears_each_retry_and_its_wait() -> None:
    """The accounting hook is told of every retry before its wait."""
    clock = FakeClock()
    heard: list[tuple[str, float]] = []
    fn, _ = flaky(rate_limited(2.0), errors.ConnectivityError("reset"))
    policy(clock).call(
        fn,
        safety=Safety.IDEMPOTENT,
        on_retry=lambda e, w: heard.append((type(e).__name__, w)),
    )
    assert [name for name, _ in heard] == ["RateLimitedError", "ConnectivityError"]
    assert [w for _, w in heard] == clock.sleeps


def test_non_api_errors_are_not_retried() -> None:
    """A bug (any exception that is not an ApiError) propagates at once."""
    clock = FakeClock()
    fn, calls = flaky(KeyError("oops"))
    with pytest.raises(KeyError):
        policy(clock).call(fn, safety=Safety.IDEMPOTENT)
    assert calls[0] == 1


# -- Retry-After ---------------------------------------------------------------------


def test_retry_after_parses_seconds_and_http_dates() -> None:
    """Retry-After is delta-seconds or an HTTP date; garbage and the past give no wait."""
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now)
        == 30.0
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    )
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


# -- RateLimiter ---------------------------------------------------------------------


def test_limiter_spaces_requests_at_its_rate_after_the_burst() -> None:
    """With a burst of 1, the n-th request waits (n-1)/rate from the first."""
    clock = FakeClock()
    limiter = RateLimiter(4.0, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25, 0.25])


def test_limiter_allows_a_burst_then_the_rate() -> None:
    """A full bucket lets `burst` requests through at once."""
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=3, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1)


def test_limiter_halves_on_429_down_to_the_floor_and_recovers_on_success() -> None:
    """429 halves the rate (once per cooldown, never below the floor); successes
    give it back gradually."""
    clock = FakeClock()
    limiter = RateLimiter(8.0, floor=1.0, cooldown=1.0, clock=clock, sleep=clock.sleep)
    limiter.on_throttle()
    assert limiter.rate == 4.0
    limiter.on_throttle()  # same burst of 429s: slowed down once
    assert limiter.rate == 4.0
    for _ in range(4):
        clock.now += 1.0
        limiter.on_throttle()
    assert limiter.rate == 1.0
    limiter.on_success()
    assert limiter.rate == pytest.approx(1.0 + 8.0 / 50)
    for _ in range(100):
        limiter.on_success()
    assert limiter.rate == 8.0


def test_limiter_holds_everyone_until_retry_after() -> None:
    """After a 429 with Retry-After, the next request from any caller waits it out."""
    clock = FakeClock()
    limiter = RateLimiter(100.0, clock=clock, sleep=clock.sleep)
    limiter.on_throttle(retry_after=3.0)
    assert limiter.acquire() == pytest.approx(3.0)


def test_limiter_is_thread_safe() -> None:
    """Many threads acquiring at once all get a distinct slot at the rate."""
    clock = FakeClock()
    limiter = RateLimiter(50.0, burst=1, clock=lambda: 0.0, sleep=clock.sleep)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Slots were reserved one after another: waits 0.02, 0.04, ... 0.38 (the first is free).
    assert sorted(clock.sleeps) == pytest.approx([0.02 * n for n in range(1, 20)])


# -- RequestStats --------------------------------------------------------------------


def test_stats_count_by_service_status_and_retries() -> None:
    """Counts are kept per service and status code; None is a request with no answer."""
    stats = RequestStats()
    for status in (200, 200, 429, None):
        stats.record("jira", status)
    stats.record("confluence", 200)
    stats.record_retry("jira", 1.5)
    assert stats.requests() == 5
    assert stats.requests("jira") == 4
    assert stats.requests("jira", 200) == 2
    assert stats.requests("jira", None) == 1
    assert stats.retries("jira") == 1
    assert stats.retries() == 1
    assert stats.snapshot() == {
        "requests": {"confluence": {"200": 1}, "jira": {"none": 1, "200": 2, "429": 1}},
        "retries": {"jira": 1},
        "retry_wait_seconds": {"jira": 1.5},
    }


# -- translation ---------------------------------------------------------------------


def make_response(
    status: int, body: object = None, *, headers: dict[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers.update(headers or {})
    response.url = "https://acme.atlassian.net/rest/api/2/issue/OPS-1?fields=x"
    return response


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.ForbiddenError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (410, errors.GoneError),
        (429, errors.RateLimitedError),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (418, errors.ClientError),
    ],
)
def test_status_codes_become_the_error_tree(status: int, cls: type[errors.ApiError]) -> None:
    """A JIRAError carrying a response translates by its status, with method and path."""
    exc = JIRAError("x", status_code=status, response=make_response(status, {}))
    error = translate_error(
        exc, service="jira", method="GET", url="https://h/rest/api/2/issue/OPS-1?a=b"
    )
    assert type(error) is cls
    assert error.status == status
    assert error.path == "/rest/api/2/issue/OPS-1"
    assert "jira GET /rest/api/2/issue/OPS-1" in error.message


def test_jira_error_text_and_retry_after_are_kept() -> None:
    """errorMessages and field errors make the message; Retry-After becomes seconds."""
    response = make_response(
        400,
        {"errorMessages": ["Bad JQL"], "errors": {"duedate": "invalid date"}},
        headers={"Retry-After": "12"},
    )
    error = translate_error(
        requests.HTTPError(response=response), service="jira", method="POST", url="/x"
    )
    assert isinstance(error, errors.BadRequestError)
    assert "Bad JQL" in error.message
    assert "duedate: invalid date" in error.message
    assert error.details["errors"] == {"duedate": "invalid date"}
    assert error.retry_after == 12.0


def test_confluence_error_body_is_read() -> None:
    """Confluence's `message` and `data.errors[].message.translation` make the message."""
    body = {
        "statusCode": 409,
        "message": "Version must be incremented on update. Current version is: 4",
        "data": {"errors": [{"message": {"translation": "stale version"}}]},
    }
    error = translate_error(
        requests.HTTPError(response=make_response(409, body)),
        service="confluence",
        method="PUT",
        url="/wiki/rest/api/content/1",
    )
    assert isinstance(error, errors.ConflictError)
    assert "Current version is: 4" in error.message
    assert "stale version" in error.message


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("Connection aborted: RemoteDisconnected"),
        requests.ReadTimeout("read timed out"),
        requests.exceptions.ChunkedEncodingError("IncompleteRead"),
        JIRAError("Empty Response!"),
    ],
)
def test_no_answer_is_an_ambiguous_connectivity_error(exc: Exception) -> None:
    """No response at all (refused, reset, timeout, body cut short) is ambiguous."""
    error = translate_error(
        exc, service="jira", method="POST", url="https://h/rest/api/2/issue/bulk"
    )
    assert isinstance(error, errors.ConnectivityError)
    assert error.ambiguous
    assert error.retryable
    assert error.status is None


def test_messages_never_carry_the_token_or_authorization_header() -> None:
    """A server or exception that echoes the credentials has them scrubbed."""
    basic = "c29tZW9uZUBleGFtcGxlLmNvbTpzM2NyM3QtdDBrZW4tdmFsdWU="
    response = make_response(
        401, {"message": f"bad token {TOKEN}", "errorMessages": [f"Authorization: Basic {basic}"]}
    )
    error = translate_error(
        requests.HTTPError(response=response),
        service="jira",
        method="GET",
        url="/x",
        secrets=(TOKEN, basic),
    )
    text = error.show() + json.dumps(error.details)
    assert TOKEN not in text
    assert basic not in text
    conn = translate_error(
        requests.ConnectionError(f"proxy said Authorization: Bearer {TOKEN}"),
        service="jira",
        method="GET",
        url="/x",
        secrets=(TOKEN,),
    )
    assert TOKEN not in conn.show()
    assert (
        scrub("headers {'Authorization': 'Basic abc123'}", ())
        == "headers {'Authorization': '[REDACTED]'}"
    )


# -- Transport -----------------------------------------------------------------------


def transport(
    clock: FakeClock, stats: RequestStats, limiter: RateLimiter | None = None
) -> Transport:
    return Transport(
        "jira",
        limiter=limiter or RateLimiter(1000.0, clock=clock, sleep=clock.sleep),
        retry=policy(clock),
        stats=stats,
        secrets=(TOKEN,),
    )


def test_transport_retries_counts_and_slows_the_limiter() -> None:
    """A 429 then a 200: two attempts counted by status, one retry, the limiter halved
    and held for Retry-After; the waits recorded by the injected sleep."""
    clock = FakeClock()
    stats = RequestStats()
    limiter = RateLimiter(1000.0, clock=clock, sleep=clock.sleep)
    answers = [
        make_response(429, {}, headers={"Retry-After": "2"}),
        make_response(200, {"ok": True}),
    ]
    t = transport(clock, stats, limiter)
    body = t.send_json(
        "GET", "https://h/rest/api/2/search", lambda: answers.pop(0), safety=Safety.IDEMPOTENT
    )
    assert body == {"ok": True}
    assert stats.requests("jira", 429) == 1
    assert stats.requests("jira", 200) == 1
    assert stats.retries("jira") == 1
    assert clock.sleeps[0] == 2.0
    assert limiter.rate < 1000.0


def test_transport_never_repeats_a_create() -> None:
    """A create whose connection dropped raises the ambiguous error after one attempt."""
    clock = FakeClock()
    stats = RequestStats()
    calls = [0]

    def attempt() -> requests.Response:
        calls[0] += 1
        raise requests.ConnectionError("Connection aborted")

    with pytest.raises(errors.ConnectivityError) as raised:
        transport(clock, stats).send(
            "POST", "https://h/rest/api/2/issue/bulk", attempt, safety=Safety.NEVER
        )
    assert raised.value.ambiguous
    assert calls[0] == 1
    assert stats.requests("jira", None) == 1
    assert stats.retries() == 0


def test_transport_treats_a_2xx_without_json_as_ambiguous() -> None:
    """A success status whose body is not JSON is a ServerError: it may have happened."""
    clock = FakeClock()
    response = make_response(200)
    response._content = b"<html>proxy error</html>"
    with pytest.raises(errors.ServerError) as raised:
        transport(clock, RequestStats()).send_json(
            "PUT", "https://h/x", lambda: response, safety=Safety.NEVER
        )
    assert raised.value.ambiguous
