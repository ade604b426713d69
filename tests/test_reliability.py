"""Reliability of the sync against the sandbox's fault injection: nothing lost, nothing
duplicated, whatever the network or the people editing the pages do meanwhile.

Every test asserts outcomes: the Jira and Confluence state read back through the APIs
(`reliability_support.SiteState`), compared with the state a run without faults leaves.
"""

from __future__ import annotations

import ast
import json
import random
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reliability_support import (
    NEW_TASK,
    TODAY,
    Site,
    SiteState,
    assert_converged,
    fresh_demo,
    make_changes,
    ticket_on_page,
)

from followup.adapters import Adapters, build_adapters
from followup.cli import exit_code_for_run
from followup.commands.sites import from_settings
from followup.core.model import FindingCode, Page
from followup.core.storage_format import extract
from followup.errors import BadRequestError, ConnectivityError, RateLimitedError, ServerError
from followup.ports import ConfluencePort, CreateResult, JiraPort, NewTicket, PropertyValue
from followup.sandbox.server import RunningSandbox
from followup.sandbox.state import Flavor
from followup.sync.leases import LEASE_KEY

FLAVORS: tuple[Flavor, ...] = ("cloud", "datacenter")
Servers = dict[Flavor, RunningSandbox]


@pytest.fixture
def servers(sandbox_server: RunningSandbox, dc_sandbox_server: RunningSandbox) -> Servers:
    """The session's sandboxes by flavor (each test resets the one it uses)."""
    return {"cloud": sandbox_server, "datacenter": dc_sandbox_server}


@pytest.fixture(scope="module")
def faultless_states() -> dict[Flavor, SiteState]:
    return {}


@pytest.fixture
def faultless_of(
    servers: Servers, faultless_states: dict[Flavor, SiteState]
) -> Callable[[Flavor], SiteState]:
    """The state the demo's first sync leaves on a flavor when nothing goes wrong."""

    def of(flavor: Flavor) -> SiteState:
        if flavor not in faultless_states:
            site = fresh_demo(servers[flavor])
            result = site.sync()
            assert not result.failed, result.failures
            state = site.state()
            assert not state.duplicates
            assert not state.leases_held
            faultless_states[flavor] = state
        return faultless_states[flavor]

    return of


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
    every: int | None = 1,
) -> None:
    """For every write k of the run `prepare` leads to: commit write k and lose its
    answer, then run again without faults; the state must be the faultless one.
    `every` > 1 takes every `every`-th position only, and always the bulk creates.
    `every` None takes the first two writes of each run of consecutive writes to one
    route (`_first_two_of_each_run`), and always the bulk creates."""
    site = prepare(server)
    before = site.writes()
    creates: list[int] = []

    def note_creates(jira: JiraPort) -> JiraPort:
        create = jira.create_tickets

        def create_tickets(specs: Sequence[NewTicket]) -> list[CreateResult]:
            creates.append(site.writes() - before + 1)  # its position among the writes
            return create(specs)

        jira.create_tickets = create_tickets  # type: ignore[method-assign]
        return jira

    clean = site.sync(concurrency=concurrency, wrap_jira=note_creates)
    assert not clean.failed, clean.failures
    positions = site.writes() - before
    routes = server.stats.write_routes()[before : before + positions]
    assert len(routes) == positions
    assert positions >= minimum, f"only {positions} writes: is the scenario still writing?"
    expected = site.state()
    assert not expected.duplicates
    wrong: list[str] = []
    sample = _first_two_of_each_run(routes) if every is None else range(1, positions + 1, every)
    for k in sorted({*sample, *creates}):
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


def _first_two_of_each_run(routes: Sequence[str]) -> set[int]:
    """The 1-based positions of the first two writes of every run of consecutive writes
    to one route (the remote links of one page's items, the leases of the pages...).
    The writes of one run are the same code on the same kind of state, so two stand for
    the rest, and as the way an answer is lost alternates with the position, one of
    them loses it each way. Every position is taken under -m slow
    (`test_every_write_in_every_mode_and_concurrency`).

    >>> sorted(_first_two_of_each_run(["lease", "lease", "lease", "create", "link", "link"]))
    [1, 2, 4, 5, 6]
    """
    out: set[int] = set()
    length = 0
    for k, route in enumerate(routes, 1):
        length = length + 1 if k > 1 and routes[k - 2] == route else 1
        if length <= 2:
            out.add(k)
    return out


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_write_of_a_first_sync_may_lose_its_answer(servers: Servers, flavor: Flavor) -> None:
    """Whichever write of the demo's first sync commits and loses its answer (a closed
    connection or a 502, alternately), a clean run after it leaves exactly the faultless
    state: one ticket per item, every badge, no lease held. In the default suite, on
    Cloud the first two writes of each run of writes to one route (each losing its
    answer one way), on Data Center, where the search after a lost create, the
    assignments and the user look-ups differ, every third position; always the bulk
    create; every position under -m slow."""
    _every_position(
        servers[flavor],
        _first_sync,
        modes=("close", "502"),
        concurrency=1,
        minimum=30,
        every=None if flavor == "cloud" else 3,
    )


@pytest.mark.parametrize(
    "flavor", [pytest.param("cloud"), pytest.param("datacenter", marks=pytest.mark.slow)]
)
def test_every_write_of_a_later_sync_may_lose_its_answer(servers: Servers, flavor: Flavor) -> None:
    """The same for a run that follows people's edits on both sides: transitions, a due
    date, a new task, lease take-overs and page rewrites each lose their answer."""
    _every_position(
        servers[flavor], _second_sync, modes=("502", "close"), concurrency=1, minimum=10
    )


@pytest.mark.slow
@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("mode", ["close", "502"])
@pytest.mark.parametrize("scenario", [_first_sync, _second_sync], ids=["first", "later"])
def test_every_write_in_every_mode_and_concurrency(
    servers: Servers,
    scenario: Callable[[RunningSandbox], Site],
    mode: str,
    concurrency: int,
    flavor: Flavor,
) -> None:
    """Every position, each way of losing an answer, one worker and four (where the
    write order, and so what position k is, varies between runs), on both flavors."""
    _every_position(servers[flavor], scenario, modes=(mode,), concurrency=concurrency, minimum=10)


# -- 2. storm: 429s with Retry-After and 503s ---------------------------------------------


@pytest.fixture(scope="module")
def faultless(sandbox_server: RunningSandbox) -> SiteState:
    """The state the demo's first sync leaves when nothing goes wrong."""
    site = fresh_demo(sandbox_server)
    result = site.sync()
    assert not result.failed, result.failures
    state = site.state()
    assert not state.duplicates
    assert not state.leases_held
    return state


class RetrySpy:
    """Records every retry decision of the run's one retry policy, and every sleep."""

    def __init__(self) -> None:
        self.retries: list[tuple[BaseException, float]] = []
        self.sleeps: list[float] = []

    def attach(self, adapters: Adapters) -> None:
        self.adapters = adapters
        decide = adapters.retry.delay

        def delay(attempt: int, error: BaseException) -> float:
            wait = decide(attempt, error)
            self.retries.append((error, wait))
            return wait

        adapters.retry.delay = delay  # type: ignore[method-assign]

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.mark.parametrize(
    ("flavor", "seed"), [("cloud", 11), ("cloud", 12), ("cloud", 13), ("datacenter", 14)]
)
def test_a_storm_of_429s_and_503s_is_ridden_out(
    servers: Servers, faultless_of: Callable[[Flavor], SiteState], flavor: Flavor, seed: int
) -> None:
    """With 20% of requests answered 429 (Retry-After: 1) and 10% 502/503, the run
    completes without a failure and leaves exactly the faultless state; every retry
    after a 429 waited at least the second the server asked for."""
    faultless = faultless_of(flavor)
    site = fresh_demo(servers[flavor])
    site.set_faults(rate_429=0.2, retry_after_s=1, rate_5xx=0.1, seed=seed)
    spy = RetrySpy()
    result = site.sync(sleep=spy.sleep, on_adapters=spy.attach)
    faults = site.stats()["faults"]
    site.clear_faults()
    assert not result.failed, [o.error for o in result.failures]
    assert faults["429"] >= 5, faults
    assert faults["5xx"] >= 2, faults
    assert_converged(site, faultless)
    throttled = [wait for error, wait in spy.retries if isinstance(error, RateLimitedError)]
    assert len(throttled) == faults["429"], "every 429 is retried"
    assert all(wait >= 1.0 for wait in throttled), throttled
    # ...and those waits were slept, not just computed.
    assert not Counter(throttled) - Counter(spy.sleeps)


def test_a_site_that_only_says_429_ends_the_run_within_its_budget(
    sandbox_server: RunningSandbox,
) -> None:
    """When every request is refused, the run gives up once its retry budget is spent
    (instead of waiting forever), having written nothing."""
    site = fresh_demo(sandbox_server)
    site.set_faults(rate_429=1.0, retry_after_s=5)
    spy = RetrySpy()
    with pytest.raises(RateLimitedError):
        site.sync(sleep=spy.sleep, on_adapters=spy.attach, run_budget_seconds=30)
    assert site.writes() == 0
    assert 0 < spy.adapters.retry.budget.spent <= 30
    assert all(wait >= 5.0 for _, wait in spy.retries)


@pytest.mark.slow
def test_a_storm_with_real_waits_completes(
    sandbox_server: RunningSandbox, faultless: SiteState
) -> None:
    """The storm again with real sleeps and four workers: the shared limiter and the
    retry policy wait out every Retry-After, and the run still completes."""
    site = fresh_demo(sandbox_server)
    site.set_faults(rate_429=0.2, retry_after_s=1, rate_5xx=0.1, seed=5)
    started = time.monotonic()
    result = site.sync(sleep=time.sleep, concurrency=4)
    elapsed = time.monotonic() - started
    faults = site.stats()["faults"]
    site.clear_faults()
    assert not result.failed, [o.error for o in result.failures]
    assert elapsed >= 1.0
    assert faults["429"] > 0
    assert_converged(site, faultless)


# -- the sandbox itself ----------------------------------------------------------------


def test_sandbox_answers_without_the_delayed_ack_stall() -> None:
    """Every connection the sandbox (and `followup serve`) accepts has TCP_NODELAY set,
    so an answer with a body is not held back ~40 ms by a Nagle / delayed-ACK stall (which
    made every fault test ten times slower). The mechanism is checked, not a speed:
    bench/ measures."""
    from followup.listen import listening_socket

    listening = listening_socket("127.0.0.1", 0)
    try:
        client = socket.create_connection(listening.getsockname(), timeout=10)
        accepted, _ = listening.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listening.close()


# -- mechanisms: what a refused (not lost) write does -----------------------------------


def test_a_transition_refused_with_a_5xx_is_checked_then_sent_again(
    sandbox_server: RunningSandbox,
) -> None:
    """A 503 on a transition says nothing about whether it happened: the status is read,
    and because the ticket did not move, the transition is sent again and verified."""
    site = fresh_demo(sandbox_server)
    site.sync()
    key = ticket_on_page(site, "98000004", 0)
    adapters = from_settings(site.settings, sleep=lambda s: None)
    jira = adapters.jira
    send = jira._call
    refused: list[str] = []

    def call(method: str, path: str, **kw: Any) -> Any:
        if method == "POST" and path.endswith("/transitions") and not refused:
            refused.append(path)
            raise ServerError("unavailable", service="jira", status=503, method=method, path=path)
        return send(method, path, **kw)

    jira._call = call  # type: ignore[method-assign]
    try:
        assert jira.transition(key, ["Done"]) == "Done"
    finally:
        adapters.close()
    assert refused
    assert site.get(f"/rest/api/2/issue/{key}")["fields"]["status"]["name"] == "Done"


def test_a_lease_create_refused_with_a_5xx_is_checked_then_sent_again(
    sandbox_server: RunningSandbox, faultless: SiteState
) -> None:
    """Two 503s on the lease's create: each time the property is read, found absent, and
    the create sent again, so no page is skipped for it."""
    site = fresh_demo(sandbox_server)
    refused: Counter[str] = Counter()

    def wrap(confluence: ConfluencePort) -> ConfluencePort:
        create = confluence.create_property

        def create_property(page_id: str, key: str, value: dict[str, Any]) -> PropertyValue:
            if key == LEASE_KEY and refused[page_id] < 2:
                refused[page_id] += 1
                raise ServerError("unavailable", service="confluence", status=503)
            return create(page_id, key, value)

        confluence.create_property = create_property  # type: ignore[method-assign]
        return confluence

    result = site.sync(wrap_confluence=wrap)
    assert not result.failed, [p.error for p in result.pages]
    assert len(refused) >= 5
    assert site.state() == faultless


# -- 4. a person edits the page between our read and our write --------------------------


class EditsBeforeOurWrite:
    """A Confluence port that lets a person save the page right before each of our
    page writes (up to `times` per page), so our write meets a newer version."""

    def __init__(self, site: Site, edit: Callable[[str, int], Callable[[str], str]], times: int):
        self.site, self.edit, self.times = site, edit, times
        self.edits: Counter[str] = Counter()

    def __call__(self, confluence: ConfluencePort) -> ConfluencePort:
        update = confluence.update_page

        def update_page(page: Page, body: str, *, message: str) -> Page:
            if self.edits[page.id] < self.times:
                self.edits[page.id] += 1
                self.site.human_edit(page.id, self.edit(page.id, self.edits[page.id]))
            return update(page, body, message=message)

        confluence.update_page = update_page  # type: ignore[method-assign]
        return confluence


def _note(page_id: str, n: int) -> str:
    return f"<p>Note {n} on {page_id}: the vendor confirmed the root cause.</p>"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_person_editing_before_our_write_keeps_their_edit_and_gets_badges(
    servers: Servers, faultless_of: Callable[[Flavor], SiteState], flavor: Flavor
) -> None:
    """A paragraph a person saves between our read and our write survives, and every
    item still ends up with its ticket and badge (the 409 is met by re-reading,
    re-planning and re-rendering)."""
    faultless = faultless_of(flavor)
    site = fresh_demo(servers[flavor])

    def add_note(page_id: str, n: int) -> Callable[[str], str]:
        return lambda body: body + _note(page_id, n)

    spy = EditsBeforeOurWrite(site, add_note, times=1)
    result = site.sync(wrap_confluence=spy)
    assert not result.failed, [o.error for o in result.failures]
    assert len(spy.edits) >= 5
    for page_id in spy.edits:
        assert _note(page_id, 1) in site.body(page_id)
    assert_converged(site, faultless)


def test_a_lagging_search_never_duplicates_a_ticket_when_our_page_write_conflicts(
    sandbox_server: RunningSandbox, faultless: SiteState
) -> None:
    """Jira Cloud's search lags its writes. When a person's edit makes our page write
    conflict right after our creates, the re-plan searches again and does not see the
    new tickets yet: the run still knows them, so it creates none twice, and the next
    run (the search still lagging) finds them through the page's links."""
    site = fresh_demo(sandbox_server)
    site.set_faults(search_lag_ms=600_000)  # far longer than the test

    def add_note(page_id: str, n: int) -> Callable[[str], str]:
        return lambda body: body + _note(page_id, n)

    spy = EditsBeforeOurWrite(site, add_note, times=1)
    result = site.sync(wrap_confluence=spy)
    assert not result.failed, [o.error for o in result.failures]
    assert len(spy.edits) >= 5
    again = site.sync()
    assert not again.failed, [o.error for o in again.failures]
    site.clear_faults()  # let the checks below search everything
    assert not site.state().duplicates
    for page_id in spy.edits:
        assert _note(page_id, 1) in site.body(page_id)
    assert_converged(site, faultless)


class LoseCreateAnswers:
    """A Jira port whose bulk creates are carried out but whose answers are lost (the
    connection drops), the first `times` of them."""

    def __init__(self, times: int = 1) -> None:
        self.times, self.lost = times, 0

    def __call__(self, jira: JiraPort) -> JiraPort:
        create = jira.create_tickets

        def create_tickets(tickets: Sequence[NewTicket]) -> list[CreateResult]:
            results = create(tickets)
            if self.lost < self.times:
                self.lost += 1
                raise ConnectivityError("connection dropped after the request", service="jira")
            return results

        jira.create_tickets = create_tickets  # type: ignore[method-assign]
        return jira


@pytest.mark.parametrize(("settle", "duplicated"), [(5.0, False), (0.0, True)])
def test_a_lost_create_answer_waits_for_a_lagging_search_before_creating_again(
    sandbox_server: RunningSandbox, settle: float, duplicated: bool
) -> None:
    """A bulk create lands but its answer is lost, and the search does not show the
    new tickets for a second (Jira Cloud's index lags). followup keeps looking, for up
    to `sync.search_settle_seconds`, and finds them: no ticket twice. Without that
    wait (0 s) it creates them again, which is what the wait is for."""
    site = fresh_demo(sandbox_server)
    site.set_faults(search_lag_ms=1000)
    lose = LoseCreateAnswers(times=1)
    result = site.sync(wrap_jira=lose, sleep=time.sleep, search_settle_seconds=settle)
    assert lose.lost == 1
    assert not result.failed, [o.error for o in result.failures]
    site.clear_faults()
    assert bool(site.state().duplicates) is duplicated


def test_a_run_right_after_one_that_could_not_write_the_page_sees_its_tickets(
    sandbox_server: RunningSandbox,
) -> None:
    """A run creates tickets but cannot write them onto the page (Confluence refuses
    the write) and gives the page's lease back; the next run starts at once, while the
    search still lags and the page names no ticket. The lease it takes over lists the
    tickets the last run created, so it reads them by key and creates none twice."""
    site = fresh_demo(sandbox_server)
    site.set_faults(search_lag_ms=600_000)

    def refuse_page_writes(confluence: ConfluencePort) -> ConfluencePort:
        def update_page(page: Page, body: str, *, message: str) -> Page:
            raise BadRequestError("the page cannot be saved", service="confluence", status=400)

        confluence.update_page = update_page  # type: ignore[method-assign]
        return confluence

    first = site.sync(wrap_confluence=refuse_page_writes)
    assert first.failed
    assert first.counts()["create"] >= 5
    second = site.sync()
    assert not second.failed, [o.error for o in second.failures]
    site.clear_faults()
    state = site.state()
    assert not state.duplicates
    assert site.sync().actions == []


def test_a_task_added_before_our_write_gets_its_ticket_in_the_same_run(
    sandbox_server: RunningSandbox,
) -> None:
    """When the person's edit adds a task and ticks another, the re-plan creates the new
    task's ticket, closes the ticked one, and the page shows both, edit intact."""
    site = fresh_demo(sandbox_server)

    def add_task(page_id: str, n: int) -> Callable[[str], str]:
        def edit(body: str) -> str:
            if page_id != "98000004":
                return body
            ticked = body.replace(
                "<ac:task-status>incomplete</ac:task-status>",
                "<ac:task-status>complete</ac:task-status>",
                1,
            )
            return ticked.replace("</ac:task-list>", NEW_TASK + "</ac:task-list>", 1)

        return edit

    result = site.sync(wrap_confluence=EditsBeforeOurWrite(site, add_task, times=1))
    assert not result.failed, [o.error for o in result.failures]
    items = {i.key: i for i in extract(site.body("98000004"), "98000004").items}
    new = items["98000004:task:90"]
    assert new.ticket is not None
    assert new.ticket_live  # our jira macro, showing the status
    assert items["98000004:task:1"].done
    state = site.state()
    assert state.tickets["98000004:task:90"].summary == new.text
    assert state.tickets["98000004:task:1"].status == "Done"
    assert not state.duplicates
    assert site.sync().actions == []


def test_a_page_edited_before_every_write_is_reported_after_bounded_retries(
    sandbox_server: RunningSandbox, faultless: SiteState
) -> None:
    """A page that changes before each of our writes is given up on after
    sync.max_page_retries re-plans: the failure is reported (exit code 1), every one of
    the person's edits is on the page, and the next run finishes the job."""
    site = fresh_demo(sandbox_server)

    def add_note(page_id: str, n: int) -> Callable[[str], str]:
        return lambda body: body + _note(page_id, n)

    spy = EditsBeforeOurWrite(site, add_note, times=100)
    result = site.sync(wrap_confluence=spy, max_page_retries=2)
    assert result.failed
    assert exit_code_for_run(result, detailed=False) == 1
    failed = {o.action.page_id for o in result.failures}
    assert failed == set(spy.edits)
    assert set(spy.edits.values()) == {3}  # the first write and two retries
    for page_id in spy.edits:
        body = site.body(page_id)
        assert all(_note(page_id, n) in body for n in (1, 2, 3))
    assert not site.sync().failed
    assert_converged(site, faultless)


# -- 3. races: two runs at once, and people editing meanwhile ---------------------------

POSTMORTEMS = ("98000001", "98000002", "98000003", "98000004", "98000005")


def _race(server: RunningSandbox, faultless: SiteState, round_: int, tmp: Path) -> None:
    site = fresh_demo(server)
    # A little latency so the two runs overlap for most of their length.
    site.set_faults(latency_ms=15)
    rng = random.Random(round_)
    reports = [tmp / f"race-{round_}-{n}.json" for n in (1, 2)]
    env = site.cli_env(FOLLOWUP_SYNC__RATE_LIMIT="200")
    runs = []
    # The second run starts 0 to 0.8 s after the first: from fully overlapping (one
    # skips every leased page) to meeting the first run's tickets and page versions.
    for out, delay in zip(reports, (0.0, rng.uniform(0.0, 0.8)), strict=True):
        time.sleep(delay)
        args = ("sync", "--today", TODAY.isoformat(), "--format", "json", "--output", str(out))
        runs.append(site.cli(*args, env=env))

    def people() -> None:
        for page_id in rng.sample(POSTMORTEMS, len(POSTMORTEMS)):
            time.sleep(rng.uniform(0.0, 0.4))
            site.human_edit(page_id, lambda body, p=page_id: body + _note(p, round_))

    editor = threading.Thread(target=people)
    editor.start()
    outputs = [run.communicate(timeout=120) for run in runs]
    editor.join(timeout=60)
    site.clear_faults()
    for run, (_, err), out in zip(runs, outputs, reports, strict=True):
        if run.returncode == 1:
            # Allowed, if rare: a page that kept changing under this run's write (the
            # other run's and the person's edits) past sync.max_page_retries.
            failed = [a for a in json.loads(out.read_text())["actions"] if a["outcome"] != "ok"]
            assert {a["op"] for a in failed} <= {"write-page"}, failed
        else:
            assert run.returncode == 0, err[-3000:]
    during = site.state()
    assert not during.duplicates, during.duplicates
    assert during.issues == faultless.issues
    assert not during.leases_held
    for page_id in POSTMORTEMS:
        assert _note(page_id, round_) in site.body(page_id), f"round {round_}: edit lost"
    leased = sum(json.loads(out.read_text())["summary"]["leased"] for out in reports)
    print(f"round {round_}: {leased} page(s) skipped as leased by the other run")
    # Pages one run skipped (leased by the other) are finished by the next run.
    site.sync()
    assert_converged(site, faultless, context=f"round {round_}")


@pytest.mark.parametrize(
    ("flavor", "round_"), [*(("cloud", n) for n in range(5)), ("datacenter", 0), ("datacenter", 1)]
)
def test_two_runs_at_once_never_duplicate_or_lose_an_edit(
    servers: Servers,
    faultless_of: Callable[[Flavor], SiteState],
    flavor: Flavor,
    round_: int,
    tmp_path: Path,
) -> None:
    """Two `followup sync` processes started together, while a person edits every
    page: no ticket is created twice, no edit of the person's is lost, no lease is left
    behind, and the next run leaves the faultless state."""
    _race(servers[flavor], faultless_of(flavor), round_, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flavor", "round_"),
    [*(("cloud", n) for n in range(5, 25)), *(("datacenter", n) for n in range(2, 12))],
)
def test_two_runs_at_once_twenty_more_times(
    servers: Servers,
    faultless_of: Callable[[Flavor], SiteState],
    flavor: Flavor,
    round_: int,
    tmp_path: Path,
) -> None:
    """The race above, twenty more rounds with other timings (ten more on Data Center)."""
    _race(servers[flavor], faultless_of(flavor), round_, tmp_path)


# -- 5. kill -9 at any moment ---------------------------------------------------------

# Expiry is judged by the server's clock, which the tests move (clock_offset_s), so
# the lease can be long enough that no slowness of the test machine lets one
# expire before the test means it to.
LEASE_SECONDS = 120


def _killed(server: RunningSandbox, faultless: SiteState, round_: int) -> None:
    site = fresh_demo(server)
    # One worker and some latency stretch the run's ~45 writes over a second or so
    # (they start ~0.5 s after the process), so that random kills land among them.
    site.set_faults(latency_ms=20)
    rng = random.Random(1000 + round_)
    env = site.cli_env(
        FOLLOWUP_SYNC__RATE_LIMIT="200",
        FOLLOWUP_SYNC__CONCURRENCY="1",
        FOLLOWUP_SYNC__LEASE_SECONDS=str(LEASE_SECONDS),
    )
    run = site.cli("sync", "--today", TODAY.isoformat(), env=env)
    time.sleep(rng.uniform(0.4, 1.9))
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    site.clear_faults()
    written = site.writes()
    killed_at = datetime.now(UTC)
    held = site.state(links=False, now=killed_at).leases_held
    if held:
        # Until it expires, the dead run's lease keeps other runs off the page.
        versions = {p: site.page(p)["version"]["number"] for p in held}
        blocked = site.sync()
        skipped = {p.page.id for p in blocked.pages if p.leased_by is not None}
        # (A leased page the dead run had already finished has nothing left to write.)
        assert skipped <= set(held)
        assert blocked.counts()["leased"] == len(skipped)
        assert not [p for p in blocked.pages if p.page.id in held and not p.skipped and p.outcomes]
        assert {p: site.page(p)["version"]["number"] for p in held} == versions
    # After it expires by the server's clock (the sandbox's now says LEASE_SECONDS + 1
    # more have passed), the next run takes the page over and finishes the job.
    later = killed_at + timedelta(seconds=LEASE_SECONDS + 1)
    site.set_faults(clock_offset_s=LEASE_SECONDS + 1)
    after = site.sync()
    assert not after.failed, [o.error for o in after.failures]
    print(f"round {round_}: killed after {written} writes, {len(held)} lease(s) held")
    # The dead run's lease on a page it had finished is left to expire: harmless.
    assert_converged(site, faultless, context=f"round {round_}", now=later)


@pytest.mark.parametrize(
    ("flavor", "round_"), [*(("cloud", n) for n in range(5)), ("datacenter", 0), ("datacenter", 1)]
)
def test_a_run_killed_at_any_moment_leaves_nothing_the_next_cannot_finish(
    servers: Servers, faultless_of: Callable[[Flavor], SiteState], flavor: Flavor, round_: int
) -> None:
    """`kill -9` of a `followup sync` at a random moment, then a clean run: no duplicate,
    no half-written page, and exactly the faultless state (a lease the dead run left
    blocks its page until it expires by the server's clock, then is taken over)."""
    _killed(servers[flavor], faultless_of(flavor), round_)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flavor", "round_"),
    [*(("cloud", n) for n in range(5, 25)), *(("datacenter", n) for n in range(2, 12))],
)
def test_a_run_killed_twenty_more_times(
    servers: Servers, faultless_of: Callable[[Flavor], SiteState], flavor: Flavor, round_: int
) -> None:
    """The kill above, twenty more times at other moments (ten more on Data Center)."""
    _killed(servers[flavor], faultless_of(flavor), round_)


# -- 6. leases follow the server's clock -----------------------------------------------


class _Killed(BaseException):
    """The run dies here, as under kill -9: nothing after it runs, not even a release."""


def _dies_at_its_first_page_write(confluence: ConfluencePort) -> ConfluencePort:
    """A Confluence port through which a run dies at its first page write: it has taken
    its leases and created its tickets, and releases nothing."""
    dead = [False]
    update_property = confluence.update_property

    def update_page(page: Page, body: str, *, message: str) -> Page:
        dead[0] = True
        raise _Killed

    def update_property_(
        page_id: str, key: str, value: dict[str, Any], *, version: int
    ) -> PropertyValue:
        if dead[0]:
            raise _Killed
        return update_property(page_id, key, value, version=version)

    confluence.update_page = update_page  # type: ignore[method-assign]
    confluence.update_property = update_property_  # type: ignore[method-assign]
    return confluence


def _held_by(site: Site, run_id: str) -> list[str]:
    return [
        p
        for p in POSTMORTEMS
        if (lease := site.lease(p)) and lease["owner"] == run_id and not lease["released"]
    ]


def _a_day_ahead() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_dead_runs_lease_blocks_for_its_length_whatever_its_clock_said(
    servers: Servers, faultless_of: Callable[[Flavor], SiteState], flavor: Flavor
) -> None:
    """A run whose clock is a day ahead dies holding every page's lease. The next
    `followup sync` skips those pages, exits 0 and counts them in its summary (no
    finding: another run may be at work); once the leases are older than half their
    length by the server's clock, the pages skipped are findings; once they are older
    than `lease_seconds`, a run takes them over and finishes the job. Nothing waits a
    day, and no client's clock is moved: only the server's."""
    faultless = faultless_of(flavor)
    site = fresh_demo(servers[flavor])
    with pytest.raises(_Killed):
        site.sync(
            clock=_a_day_ahead,
            wrap_confluence=_dies_at_its_first_page_write,
            run_id="ahead",
            lease_seconds=LEASE_SECONDS,
        )
    held = _held_by(site, "ahead")
    assert len(held) == len(POSTMORTEMS)
    versions = {p: site.page(p)["version"]["number"] for p in held}

    run = site.cli("sync", "--today", TODAY.isoformat())
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-3000:]
    assert f"{len(held)} page(s) skipped: another run holds them" in out
    assert "page-leased" not in out
    assert {p: site.page(p)["version"]["number"] for p in held} == versions

    site.set_faults(clock_offset_s=LEASE_SECONDS * 0.6)
    stale = site.sync()
    assert stale.counts()["leased"] == len(held)
    leased = [f for f in stale.findings if f.code is FindingCode.PAGE_LEASED]
    assert sorted(f.page_id for f in leased) == sorted(held)
    assert "ahead" in leased[0].message

    site.set_faults(clock_offset_s=LEASE_SECONDS + 1)
    after = site.sync()
    assert not after.failed, [o.error for o in after.failures]
    assert after.counts()["leased"] == 0
    later = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS + 1)
    assert_converged(site, faultless, context=flavor, now=later)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_run_whose_clock_is_a_day_ahead_takes_over_no_live_lease(
    servers: Servers, flavor: Flavor
) -> None:
    """Leases a run has just taken (and left, dying) are live by the server's clock: a
    run whose own clock says a day has passed skips those pages all the same."""
    site = fresh_demo(servers[flavor])
    with pytest.raises(_Killed):
        site.sync(wrap_confluence=_dies_at_its_first_page_write, run_id="dead")
    held = _held_by(site, "dead")
    assert held
    versions = {p: site.page(p)["version"]["number"] for p in held}
    ahead = site.sync(clock=_a_day_ahead)
    assert ahead.counts()["leased"] == len(held)
    assert {p.page.id for p in ahead.pages if p.leased_by == "dead"} == set(held)
    assert {p: site.page(p)["version"]["number"] for p in held} == versions
    assert _held_by(site, "dead") == held


# -- 8. --dry-run writes nothing, whatever the site does --------------------------------

FAULTS: dict[str, dict[str, Any]] = {
    "429s": {"rate_429": 0.3, "retry_after_s": 1, "seed": 1},
    "5xx": {"rate_5xx": 0.3, "seed": 2},
    "lost answers": {"drop_response_after_write": 1.0, "seed": 3},
    "lost writes 1-3": {"drop_write_numbers": [1, 2, 3], "drop_mode": "close"},
    "everything": {
        "latency_ms": 5,
        "rate_429": 0.2,
        "rate_5xx": 0.1,
        "drop_response_after_write": 0.5,
        "seed": 4,
    },
}


@pytest.mark.parametrize("scenario", [_first_sync, _second_sync], ids=["first", "later"])
@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_dry_run_writes_nothing_under_any_fault(
    sandbox_server: RunningSandbox,
    faults: dict[str, Any],
    scenario: Callable[[RunningSandbox], Site],
) -> None:
    """With creates, transitions and page writes pending and the site misbehaving,
    a dry run plans them all and the sandbox's write counter does not move."""
    site = scenario(sandbox_server)
    writes = site.writes()
    site.set_faults(**faults)
    result = site.sync(dry_run=True)
    assert result.dry_run
    assert result.actions
    assert site.stats()["requests"] > 0
    assert site.writes() == writes
    assert all(not p.outcomes for p in result.pages)


def test_the_dry_run_command_writes_nothing_under_faults(sandbox_server: RunningSandbox) -> None:
    """`followup sync --dry-run` as a process, against lost answers and 5xx: exit code 3
    (changes pending) under --detailed-exitcode, and not one write."""
    site = fresh_demo(sandbox_server)
    site.set_faults(rate_5xx=0.15, retry_after_s=0, drop_response_after_write=1.0, seed=9)
    run = site.cli("sync", "--dry-run", "--detailed-exitcode", "--today", TODAY.isoformat())
    out, err = run.communicate(timeout=120)
    assert run.returncode == 3, err[-2000:]
    assert "create" in out
    assert site.stats()["faults"]["5xx"] > 0
    assert site.writes() == 0


def test_a_site_that_does_not_answer_fails_the_run_in_seconds(
    sandbox_server: RunningSandbox,
) -> None:
    """A site that refuses every connection is tried a few times (not minutes of
    backoff), and the run stops with a setup error, having written nothing."""
    site = fresh_demo(sandbox_server)
    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{down.getsockname()[1]}"
    down.close()
    env = site.cli_env(FOLLOWUP_JIRA__URL=closed, FOLLOWUP_CONFLUENCE__URL=f"{closed}/wiki")
    run = site.cli("--log-json", "sync", "--today", TODAY.isoformat(), env=env)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2, err[-2000:]
    assert "Connection refused" in err
    # A few tries with short backoff, counted by the run itself (not timed here).
    summary = next(
        json.loads(line)
        for line in err.splitlines()
        if line.startswith("{") and json.loads(line)["event"] == "sync-summary"
    )
    requests_ = summary["requests"]
    assert requests_["requests"]["jira"] == {"none": 4}  # four tries in all
    assert sum(requests_["retries"].values()) <= 3
    assert sum(requests_["retry_wait_seconds"].values()) <= 5.0


# -- failure isolation ------------------------------------------------------------------

BAD_PRIORITY_TABLE = (
    "<h2>Action items</h2><table><tbody>"
    "<tr><th><p>Action</p></th><th><p>Owner</p></th><th><p>Priority</p></th></tr>"
    "<tr><td><p>Patch the load balancer</p></td><td><p>Nobody</p></td><td><p>High</p></td></tr>"
    "<tr><td><p>Rewrite the pager rota</p></td><td><p>Nobody</p></td>"
    "<td><p>Whenever-ish</p></td></tr>"
    "</tbody></table>"
)


def test_one_bad_item_stops_nothing_else_and_fails_the_exit_code(
    sandbox_server: RunningSandbox, faultless: SiteState, tmp_path: Path
) -> None:
    """An item Jira refuses (a priority it does not know) fails alone: its neighbour on
    the same page and every other page are synced, the report names the failure, and
    `followup sync` exits 1."""
    site = fresh_demo(sandbox_server)
    r = site.post_json(
        "/wiki/rest/api/content",
        {
            "type": "page",
            "title": "One bad row",
            "space": {"key": "SRE"},
            "body": {"storage": {"value": BAD_PRIORITY_TABLE, "representation": "storage"}},
            "metadata": {"labels": [{"name": "postmortem"}]},
        },
    )
    assert r.ok, r.text
    bad = str(r.json()["id"])
    report = tmp_path / "report.json"
    run = site.cli(
        "sync", "--format", "json", "--output", str(report), "--today", TODAY.isoformat()
    )
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err[-2000:]
    failed = [a for a in json.loads(report.read_text())["actions"] if a["outcome"] == "failed"]
    assert [(a["op"], a["page"]) for a in failed] == [("create", bad)]
    items = {i.text: i for i in extract(site.body(bad), bad).items}
    assert items["Patch the load balancer"].ticket is not None
    assert items["Rewrite the pager rota"].ticket is None
    got = site.state()
    assert {k: v for k, v in got.pages.items() if k != bad} == dict(faultless.pages)
    assert {k: v for k, v in got.tickets.items() if not k.startswith(bad)} == dict(
        faultless.tickets
    )


class Broken(Exception):
    """A bug: not one of followup's errors."""


def test_a_bug_on_one_page_stops_no_other_page(
    sandbox_server: RunningSandbox, faultless: SiteState
) -> None:
    """An unexpected exception while planning one page and another while writing a
    second page fail those two pages only (reported, run failed); every other page is
    synced, and the next run finishes the two."""
    site = fresh_demo(sandbox_server)

    def jira(port: JiraPort) -> JiraPort:
        get = port.get_ticket

        def get_ticket(key: str) -> Any:
            if key == "OPS-1":  # the ticket linked by hand on 98000001
                raise Broken("planning blew up")
            return get(key)

        port.get_ticket = get_ticket  # type: ignore[method-assign]
        return port

    def confluence(port: ConfluencePort) -> ConfluencePort:
        update = port.update_page

        def update_page(page: Page, body: str, *, message: str) -> Page:
            if page.id == "98000002":
                raise Broken("writing blew up")
            return update(page, body, message=message)

        port.update_page = update_page  # type: ignore[method-assign]
        return port

    result = site.sync(wrap_jira=jira, wrap_confluence=confluence)
    assert result.failed
    errors = {p.page.id: p.error for p in result.pages if p.error}
    assert set(errors) == {"98000001", "98000002"}
    assert all("Broken" in str(e) for e in errors.values())
    got = site.state()
    for page_id in ("98000003", "98000004", "98000005"):
        assert got.pages[page_id] == faultless.pages[page_id]
    assert not got.leases_held
    assert not site.sync().failed
    assert_converged(site, faultless)


# -- one retry policy, in one place ----------------------------------------------------


def test_tenacity_is_used_in_one_module_and_the_libraries_do_not_retry() -> None:
    """`followup.adapters.retry` is the only module that imports tenacity, and both client
    libraries' own retries (the jira session's, atlassian's, urllib3's) are off, so
    retries never multiply and nothing repeats a create behind our back."""
    package = Path(__file__).resolve().parents[1] / "followup"
    importers = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "tenacity" or n.startswith("tenacity.") for n in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {"adapters/retry.py"}
    adapters = build_adapters(
        jira_url="https://x.example",
        confluence_url="https://x.example/wiki",
        email="a@example.com",
        token="t0ken-for-the-test",
        project="OPS",
        jira_deployment="cloud",
        confluence_cloud=True,
    )
    try:
        assert adapters.jira._session.max_retries == 0
        assert not adapters.confluence.client.backoff_and_retry
        assert not adapters.confluence.client.retry_with_header
        for session in (adapters.jira._session, adapters.confluence.client.session):
            assert {a.max_retries.total for a in session.adapters.values()} == {0}
        assert adapters.jira.transport.retry is adapters.confluence.transport.retry
    finally:
        adapters.close()
