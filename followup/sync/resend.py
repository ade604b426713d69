"""The one home of "check whether it landed, then send again".

    send_checked(send, landed, sends=3) -> Sent

A write whose answer is lost (no answer, a 5xx) may have taken effect. Sending it
again blindly could do it twice (a second ticket, a second transition), so after
such an answer the caller's `landed` looks at what is there now and says whether the
write took effect (`Seen.LANDED`), did not (`Seen.MISSING`: it is sent again, at most
`sends` sends in all), or cannot be told (`Seen.UNKNOWN`: nothing more is sent, and
the write is left for the next run). The creates of tickets, the lease property, a
transition and the optimistic page write all go through here.

    look(check, settle=..., pause=...) -> Seen

A search lags the writes it searches (seconds on Jira Cloud): `look` asks `check`
again while it says MISSING, waiting 0.5 s, 1 s, 2 s... up to `settle` seconds in
all. Every wait is paid through `pause`, the run's `RetryPolicy.pause`, from the
run's one retry budget; when the budget cannot pay a wait, `look` says UNKNOWN.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from followup.errors import ApiError

__all__ = ["Seen", "Sent", "look", "send_checked"]

T = TypeVar("T")

FIRST_WAIT = 0.5  # seconds before looking again; doubled each time


class Seen(enum.Enum):
    """What looking after an ambiguous answer showed."""

    LANDED = "landed"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Sent(Generic[T]):
    """What became of a checked send: the answer of the send that was answered
    (`value`), or the write seen in place after a lost answer (`landed`, no value),
    or the last error with the write not made (`error`; `unknown`: it may still
    have landed, and is left for the next run). `sends`: requests sent."""

    value: T | None
    landed: bool
    sends: int
    error: ApiError | None = None
    unknown: bool = False


def _ambiguous(error: ApiError) -> bool:
    return error.ambiguous


def _never() -> bool:
    return False


def send_checked(
    send: Callable[[], T],
    landed: Callable[[ApiError], Seen],
    *,
    sends: int,
    resend_on: Callable[[ApiError], bool] = _ambiguous,
    look_after_last: Callable[[ApiError], bool] | bool = True,
    stop: Callable[[], bool] = _never,
) -> Sent[T]:
    """`send()`, and after an error `resend_on` accepts (an ambiguous one by default),
    `landed(error)`, then `send()` again while it says MISSING, at most `sends` sends.
    An error `resend_on` refuses is raised as it is, and so is any error of `landed`.

    `look_after_last`: whether to look after the last send's error too (a caller
    that reports the write as failed either way need not). `stop()`: set when the run
    is stopping; nothing more is sent."""
    if sends < 1:
        raise ValueError("sends must be at least 1")
    for n in range(1, sends + 1):
        try:
            return Sent(send(), landed=True, sends=n)
        except ApiError as exc:
            if not resend_on(exc):
                raise
            last = n == sends
            looks = look_after_last(exc) if callable(look_after_last) else look_after_last
            if last and not looks:
                return Sent(None, landed=False, sends=n, error=exc)
            seen = landed(exc)
            if seen is Seen.LANDED:
                return Sent(None, landed=True, sends=n)
            if seen is Seen.UNKNOWN:
                return Sent(None, landed=False, sends=n, error=exc, unknown=True)
            if last or stop():
                return Sent(None, landed=False, sends=n, error=exc)
    raise AssertionError("unreachable")  # pragma: no cover


def look(
    check: Callable[[], Seen],
    *,
    settle: float,
    pause: Callable[[float], bool],
    stop: Callable[[], bool] = _never,
    on_wait: Callable[[float], None] | None = None,
) -> Seen:
    """`check()`, asked again while it says MISSING, waiting between looks (see the
    module docstring) up to `settle` seconds; MISSING once they are spent (or the
    run is stopping), UNKNOWN when the budget could not pay a wait."""
    waited, step = 0.0, FIRST_WAIT
    settle = max(settle, 0.0)
    while True:
        seen = check()
        if seen is not Seen.MISSING or waited >= settle or stop():
            return seen
        wait = min(step, settle - waited)
        if on_wait is not None:
            on_wait(wait)
        if not pause(wait):
            return Seen.UNKNOWN
        waited += wait
        step *= 2
