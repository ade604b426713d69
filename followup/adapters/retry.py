"""The one retry policy of followup: which requests are repeated, how long to wait,
and how much waiting a run may spend.

Both Atlassian client libraries retry on their own by default; the adapters turn
that off, so this is the only place a request is ever repeated. Retries never
multiply, and a create is never repeated blindly.

    Safety.IDEMPOTENT     GET, and PUTs that carry their whole content (a page with
                          its version, a property, issue fields), upserts by global
                          id: retried on 429, 502, 503, 504 and no answer.
    Safety.REJECTED_ONLY  POSTs whose repetition would double their effect (a bulk
                          create of issues, a comment, a transition, a content
                          property create): retried only on 429, which the server
                          refuses before doing anything. An ambiguous outcome goes
                          back to the caller, which looks before sending again (the
                          engine searches for what a create made; a transition
                          reads the status).
    Safety.NEVER          never repeated here.

Waits grow exponentially with jitter, never below what the server asked for in
`Retry-After`, and every wait is paid from one `RetryBudget` per run, shared by
both adapters: when the budget cannot pay the next wait, the last error is raised.
A request gets at most `max_attempts` sends, and at most `max_attempts_no_answer`
while the server does not answer at all; a TLS certificate that fails verification
is never retried.
The sleep function and the random source are injectable so tests never sleep.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from followup.errors import ApiError, ConnectivityError, RateLimitedError

__all__ = ["RetryBudget", "RetryPolicy", "Safety"]

T = TypeVar("T")


class Safety(enum.Enum):
    """How safe it is to send a request again (see the module docstring)."""

    IDEMPOTENT = "idempotent"
    REJECTED_ONLY = "rejected-only"
    NEVER = "never"


class RetryBudget:
    """The seconds one run may spend waiting before retries, shared by every adapter.

    A wait is granted only while both the total waited so far and the wall clock
    since the budget was made stay within `seconds`, so a run that is slow for other
    reasons also stops retrying once its time is up. Thread-safe.
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError("a retry budget cannot be negative")
        self.seconds = float(seconds)
        self._clock = clock
        self._deadline = clock() + self.seconds
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        """Seconds granted to waits so far."""
        with self._lock:
            return self._spent

    def remaining(self) -> float:
        """Seconds still available for waiting."""
        with self._lock:
            return self._remaining_locked()

    def _remaining_locked(self) -> float:
        return max(0.0, min(self.seconds - self._spent, self._deadline - self._clock()))

    def try_spend(self, seconds: float) -> bool:
        """Reserve `seconds` of waiting; False (and nothing reserved) if it does not fit."""
        with self._lock:
            if seconds > self._remaining_locked():
                return False
            self._spent += seconds
            return True


class RetryPolicy:
    """Runs a request function, repeating it when its `Safety` and the error allow.

    `fn` must raise only `followup.errors` errors (the adapters translate before
    this sees anything). `on_retry(error, wait)` is told about each retry before
    its wait, for request accounting and logs.
    """

    def __init__(
        self,
        *,
        budget: RetryBudget | None = None,
        # Ten: under a storm of 30% refusals six sends still lose one request in ~1,400;
        # the run's budget, not this count, is what bounds the time spent waiting.
        max_attempts: int = 10,
        # A server that does not answer at all (refused, unreachable, timing out) is
        # rarely back within seconds: a few tries, not minutes of them.
        max_attempts_no_answer: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.budget = budget if budget is not None else RetryBudget(600.0)
        self.max_attempts = max_attempts
        self.max_attempts_no_answer = max_attempts_no_answer
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # jitter, not secrecy
        self._rng_lock = threading.Lock()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` paid from the run's budget, for a caller that looks again
        before sending (the engine's search for what a lost create made); False,
        without waiting, when the budget cannot pay it."""
        if not self.budget.try_spend(seconds):
            return False
        self._sleep(seconds)
        return True

    def should_retry(self, error: BaseException, safety: Safety) -> bool:
        """Whether `error` may be answered by sending the same request again: the error
        must be `retryable` (`followup.errors`), and the request safe to repeat after
        it. A request that must not take effect twice is repeated only after a 429,
        which the server refuses before doing anything."""
        if not (isinstance(error, ApiError) and error.retryable):
            return False
        if safety is Safety.IDEMPOTENT:
            return True
        if safety is Safety.REJECTED_ONLY:
            return isinstance(error, RateLimitedError)
        return False

    def delay(self, attempt: int, error: BaseException) -> float:
        """The wait before attempt `attempt + 1`: exponential backoff with jitter
        (between half and all of `base * 2**(attempt-1)`, capped at `max_delay`),
        and never less than the server's `Retry-After`."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        with self._rng_lock:
            backoff: float = ceiling * self._rng.uniform(0.5, 1.0)
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        return max(backoff, retry_after or 0.0)

    def call(
        self,
        fn: Callable[[], T],
        *,
        safety: Safety,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """`fn()`, retried as `safety` allows, within `max_attempts` and the budget.

        When it gives up, the last error is raised as it was."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number, error) if error else 0.0

        def stop(state: RetryCallState) -> bool:
            # tenacity >= 8.3 runs `wait` before `stop`, so the wait about to be
            # taken is known here (`upcoming_sleep`) and can be charged to the budget.
            if state.attempt_number >= self.max_attempts:
                return True
            error = state.outcome.exception() if state.outcome else None
            if (
                isinstance(error, ConnectivityError)
                and state.attempt_number >= self.max_attempts_no_answer
            ):
                return True
            return not self.budget.try_spend(state.upcoming_sleep)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if on_retry is not None and error is not None:
                on_retry(error, state.upcoming_sleep)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: self.should_retry(e, safety)),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)
