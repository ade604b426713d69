"""Reliability of the sync against the sandbox's fault injection: nothing lost, nothing
duplicated, whatever the network or the people editing the pages do meanwhile.

Every test asserts outcomes: the Jira and Confluence state read back through the APIs
(`reliability_support.SiteState`), compared with the state a run without faults leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from reliability_support import Site, fresh_demo, make_changes

from followup.sandbox.seed import DEMO_ADMIN
from followup.sandbox.server import RunningSandbox

# -- 1. ambiguous writes: every write position of a run loses its answer -----------------


def _first_sync(server: RunningSandbox) -> Site:
    return fresh_demo(server)


def _second_sync(server: RunningSandbox) -> Site:
    """A synced demo site after people changed both sides (the next run transitions,
    updates, creates, takes over released leases and rewrites pages)."""
    site = fresh_demo(server)
    first = site.sync()
    assert not first.failed, first.failures
    make_changes(site)
    return site


def _every_position(
    server: RunningSandbox,
    prepare: Callable[[RunningSandbox], Site],
    *,
    modes: tuple[str, ...],
    concurrency: int,
    minimum: int,
) -> None:
    """For every write k of the run `prepare` leads to: commit write k and lose its
    answer, then run again without faults; the state must be the faultless one."""
    site = prepare(server)
    before = site.writes()
    clean = site.sync(concurrency=concurrency)
    assert not clean.failed, clean.failures
    positions = site.writes() - before
    assert positions >= minimum, f"only {positions} writes: is the scenario still writing?"
    expected = site.state()
    assert not expected.duplicates
    wrong: list[str] = []
    for k in range(1, positions + 1):
        mode = modes[k % len(modes)]
        site = prepare(server)
        site.set_faults(drop_write_numbers=[k], drop_mode=mode)
        site.sync(concurrency=concurrency)
        assert site.stats()["faults"]["dropped"] == 1, f"write {k} was not reached"
        site.clear_faults()
        after = site.sync(concurrency=concurrency)
        got = site.state()
        settled = site.sync(concurrency=concurrency)
        if after.failed or got != expected or settled.actions:
            wrong.append(
                f"write {k}/{positions} ({mode}): failed={after.failed} "
                f"{[o.error for o in after.failures]}\n{got.diff(expected)}\n"
                f"still to do: {[a.to_json() for a in settled.actions]}"
            )
    assert not wrong, "\n".join(wrong)


def test_every_write_of_a_first_sync_may_lose_its_answer(sandbox_server: RunningSandbox) -> None:
    """Whichever write of the demo's first sync commits and loses its answer (a closed
    connection or a 502, alternately), a clean run after it leaves exactly the faultless
    state: one ticket per item, every badge, no lease held."""
    _every_position(sandbox_server, _first_sync, modes=("close", "502"), concurrency=1, minimum=30)


def test_every_write_of_a_later_sync_may_lose_its_answer(sandbox_server: RunningSandbox) -> None:
    """The same for a run that follows people's edits on both sides: transitions, a due
    date, a new task, lease take-overs and page rewrites each lose their answer."""
    _every_position(sandbox_server, _second_sync, modes=("502", "close"), concurrency=1, minimum=10)


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("mode", ["close", "502"])
@pytest.mark.parametrize("scenario", [_first_sync, _second_sync], ids=["first", "later"])
def test_every_write_in_every_mode_and_concurrency(
    sandbox_server: RunningSandbox,
    scenario: Callable[[RunningSandbox], Site],
    mode: str,
    concurrency: int,
) -> None:
    """Every position, each way of losing an answer, one worker and four (where the
    write order, and so what position k is, varies between runs)."""
    _every_position(sandbox_server, scenario, modes=(mode,), concurrency=concurrency, minimum=10)


# -- the sandbox itself ----------------------------------------------------------------


def test_sandbox_answers_without_the_delayed_ack_stall(sandbox: RunningSandbox) -> None:
    """Answers with a body come back in milliseconds, not after the ~40 ms a Nagle /
    delayed-ACK stall adds to each one (which made every fault test ten times slower)."""
    session = requests.Session()
    session.auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    session.get(f"{sandbox.url}/rest/api/2/serverInfo", timeout=10)  # connect once
    started = time.monotonic()
    for _ in range(30):
        response = session.get(f"{sandbox.url}/rest/api/2/issue/OPS-1", timeout=10)
        assert response.ok
    assert time.monotonic() - started < 0.6
