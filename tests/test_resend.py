"""followup.sync.resend: "check whether it landed, then send again", on its own, with a
fake clock (nothing sleeps) and a retry policy whose budget the waits are paid from."""

from __future__ import annotations

import random

import pytest

from followup import errors
from followup.adapters.retry import RetryBudget, RetryPolicy
from followup.sync.resend import Seen, Sent, look, send_checked


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def policy(clock: FakeClock, budget: float) -> RetryPolicy:
    return RetryPolicy(
        budget=RetryBudget(budget, clock=clock), sleep=clock.sleep, rng=random.Random(3)
    )


def lost() -> errors.ApiError:
    return errors.ServerError("bad gateway", status=502)


class Server:
    """A write whose first `lose` answers are lost; `lands` says, per lost answer,
    whether the write took effect all the same. `visible_after` is how many looks
    a search needs before it shows what landed (its lag)."""

    def __init__(self, lose: int, lands: list[bool], visible_after: int = 0) -> None:
        self.lose = lose
        self.lands = list(lands)
        self.visible_after = visible_after
        self.sends = 0
        self.made = 0
        self.looks = 0

    def send(self) -> str:
        self.sends += 1
        if self.sends <= self.lose:
            if self.lands.pop(0):
                self.made += 1
            raise lost()
        self.made += 1
        return "made"

    def check(self) -> Seen:
        self.looks += 1
        if self.made and self.looks > self.visible_after:
            return Seen.LANDED
        return Seen.MISSING


def test_an_answered_send_is_sent_once_and_never_looked_at() -> None:
    server = Server(lose=0, lands=[])
    sent = send_checked(server.send, lambda _: server.check(), sends=3)
    assert sent == Sent("made", landed=True, sends=1)
    assert server.looks == 0


def test_an_ambiguous_answer_that_landed_is_not_sent_again() -> None:
    server = Server(lose=1, lands=[True])
    sent = send_checked(server.send, lambda _: server.check(), sends=3)
    assert sent.landed
    assert sent.value is None
    assert sent.error is None
    assert (server.sends, server.made) == (1, 1)  # no duplicate


def test_an_ambiguous_answer_that_did_not_land_is_sent_again() -> None:
    server = Server(lose=2, lands=[False, False])
    sent = send_checked(server.send, lambda _: server.check(), sends=3)
    assert sent == Sent("made", landed=True, sends=3)
    assert (server.sends, server.made, server.looks) == (3, 1, 2)


def test_sends_run_out_the_last_error_is_returned() -> None:
    server = Server(lose=5, lands=[False] * 5)
    sent = send_checked(server.send, lambda _: server.check(), sends=3)
    assert not sent.landed
    assert isinstance(sent.error, errors.ServerError)
    assert (server.sends, server.made) == (3, 0)


def test_an_error_that_is_not_ambiguous_is_raised_and_not_looked_at() -> None:
    calls: list[str] = []

    def refused() -> str:
        calls.append("send")
        raise errors.ClientError("bad request", status=400)

    with pytest.raises(errors.ClientError):
        send_checked(refused, lambda _: Seen.MISSING, sends=3)
    assert calls == ["send"]


def test_the_last_error_is_not_looked_at_when_the_caller_says_so() -> None:
    server = Server(lose=3, lands=[False] * 3)
    sent = send_checked(server.send, lambda _: server.check(), sends=2, look_after_last=False)
    assert (server.sends, server.looks) == (2, 1)
    assert sent.error is not None


def test_a_stopping_run_sends_nothing_more() -> None:
    server = Server(lose=1, lands=[False])
    sent = send_checked(server.send, lambda _: server.check(), sends=3, stop=lambda: True)
    assert server.sends == 1
    assert sent.error is not None
    assert not sent.unknown


def test_a_lagging_search_is_looked_at_again_with_waits_paid_from_the_budget() -> None:
    clock = FakeClock()
    retry = policy(clock, budget=60)
    server = Server(lose=1, lands=[True], visible_after=2)

    def landed(_: errors.ApiError) -> Seen:
        return look(server.check, settle=10, pause=retry.pause)

    sent = send_checked(server.send, landed, sends=3)
    assert sent.landed
    assert (server.sends, server.made) == (1, 1)
    assert clock.sleeps == [0.5, 1.0]  # two waits, doubling
    assert retry.budget.spent == pytest.approx(1.5)


def test_a_search_that_never_shows_it_waits_up_to_settle_then_sends_again() -> None:
    clock = FakeClock()
    retry = policy(clock, budget=60)
    server = Server(lose=1, lands=[False])
    sent = send_checked(
        server.send, lambda _: look(server.check, settle=3, pause=retry.pause), sends=3
    )
    assert sent.value == "made"
    assert (server.sends, server.made) == (2, 1)
    assert clock.sleeps == [0.5, 1.0, 1.5]  # 3 s in all: the last wait is cut to fit
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_budget_spent_stops_without_sending_again_left_for_the_next_run() -> None:
    clock = FakeClock()
    retry = policy(clock, budget=1.0)
    # It landed, but the search would show it only after waits the budget cannot pay.
    server = Server(lose=1, lands=[True], visible_after=5)
    sent = send_checked(
        server.send, lambda _: look(server.check, settle=10, pause=retry.pause), sends=3
    )
    assert sent.unknown
    assert not sent.landed
    assert sent.error is not None
    assert (server.sends, server.made) == (1, 1)  # not sent again: no duplicate
    assert clock.sleeps == [0.5]  # the 1 s wait did not fit in what was left (0.5 s)
    assert retry.budget.spent == pytest.approx(0.5)


def test_look_with_no_settle_looks_once_and_never_waits() -> None:
    clock = FakeClock()
    retry = policy(clock, budget=60)
    checks: list[int] = []

    def check() -> Seen:
        checks.append(1)
        return Seen.MISSING

    assert look(check, settle=0, pause=retry.pause) is Seen.MISSING
    assert checks == [1]
    assert clock.sleeps == []
