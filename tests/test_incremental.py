"""Incremental runs miss nothing: edits made on pages and tickets before a run, in the
middle of one, right after one, across a change of date, under skewed clocks and in
the account's own time zone are all brought into step by the next incremental run
(or, where said, by the next full pass), on both Cloud and Data Center.

Each test drives the real engine against the sandbox over HTTP. "In step" is checked
the strongest way there is: a full pass planned afterwards (a dry run reading every
page and ticket) finds nothing left to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from sandbox_support import reset_server

from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.model import ActionItem
from followup.core.plan import Op
from followup.sandbox import control
from followup.sandbox.faults import FaultConfig
from followup.sandbox.seed import DEMO_TODAY, synthetic_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.sync.engine import RunResult
from followup.sync.watermark import WATERMARK_KEY

TODAY = DEMO_TODAY
PAGES, ITEMS = 6, 2
HOUR = 3600
# How far `Site.age` moves the site's data back: past any run's window, which on Data
# Center (whose Confluence does not say the account's time zone) is widened by 14 h.
AGE = 2 * 86400


@dataclass
class Site:
    server: RunningSandbox
    settings: Settings
    state_page: str
    auth: tuple[str, str]

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.server.url}{path}", auth=self.auth, timeout=30, **kwargs
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def run(
        self,
        *,
        today: date = TODAY,
        full: bool = False,
        dry_run: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> RunResult:
        adapters = from_settings(self.settings, sleep=lambda s: None)
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        try:
            engine = build_engine(self.settings, adapters.jira, adapters.confluence, **extra)
            result = engine.run(today=today, dry_run=dry_run, full=full)
        finally:
            adapters.close()
        assert not result.failed, [o.error for o in result.failures] + result.errors
        return result

    def age(self, seconds: float = AGE) -> None:
        """Let time pass: the run's own writes fall out of the next run's window."""
        control.age(self.server.state, seconds)

    def mark(self) -> dict[str, Any] | None:
        try:
            found = self.api(
                "GET", f"/wiki/rest/api/content/{self.state_page}/property/{WATERMARK_KEY}"
            )
        except requests.HTTPError:
            return None
        assert isinstance(found, dict)
        return found

    def in_step(self, today: date = TODAY) -> None:
        """A full pass reading everything plans nothing: pages and tickets agree."""
        check = self.run(today=today, full=True, dry_run=True)
        assert [(a.op, a.item, a.field) for a in check.actions] == []

    # -- a person's edits ---------------------------------------------------------

    def page(self, page_id: str) -> dict[str, Any]:
        found = self.api(
            "GET", f"/wiki/rest/api/content/{page_id}", params={"expand": "body.storage,version"}
        )
        assert isinstance(found, dict)
        return found

    def reword_on_page(self, item: ActionItem) -> str:
        """A person rewrites an item's text on its page (the summary flows to Jira)."""
        page = self.page(item.page_id)
        body = page["body"]["storage"]["value"]
        assert body.count(item.text) == 1, item.text
        new = f"{item.text} (revised {time.monotonic_ns()})"
        self.api(
            "PUT",
            f"/wiki/rest/api/content/{item.page_id}",
            json={
                "id": item.page_id,
                "type": "page",
                "title": page["title"],
                "version": {"number": page["version"]["number"] + 1},
                "body": {
                    "storage": {"value": body.replace(item.text, new), "representation": "storage"}
                },
            },
        )
        return new

    def close_in_jira(self, key: str) -> None:
        """A person moves a ticket to Done in Jira (the page's badge must follow)."""
        self.api("POST", f"/rest/api/2/issue/{key}/transitions", json={"transition": {"id": "31"}})

    def summary(self, key: str) -> str:
        found = self.api("GET", f"/rest/api/2/issue/{key}", params={"fields": "summary"})
        return str(found["fields"]["summary"])


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    server: RunningSandbox = request.getfixturevalue(
        "sandbox_server" if request.param == "cloud" else "dc_sandbox_server"
    )
    flavor = request.param
    reset_server(
        server, synthetic_dataset(pages=PAGES, items_per_page=ITEMS, seed=3, flavor=flavor)
    )
    env = control.env_for(server.state, server.url)
    auth = (env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"])
    settings = load_settings(None, env=env)
    settings.sync.rate_limit = 100_000.0
    probe = Site(server, settings, "", auth)
    some = probe.api("GET", "/wiki/rest/api/content/search", params={"cql": "type = page"})
    space = probe.page(some["results"][0]["id"])
    space_key = probe.api(
        "GET", f"/wiki/rest/api/content/{space['id']}", params={"expand": "space"}
    )["space"]["key"]
    created = probe.api(
        "POST",
        "/wiki/rest/api/content",
        json={
            "type": "page",
            "title": "followup state",
            "space": {"key": space_key},
            "body": {
                "storage": {
                    "value": "<p>followup keeps its watermark here.</p>",
                    "representation": "storage",
                }
            },
        },
    )
    settings.sync.state_page = str(created["id"])
    yield Site(server, settings, str(created["id"]), auth)
    server.faults.clear()
    reset_server(server)


def _synced(result: RunResult) -> list[ActionItem]:
    """Items that show a ticket and are not done, in page order."""
    return [i for p in result.pages for i in p.plan.items if i.ticket and not i.done]


def _pick(result: RunResult, n: int) -> list[ActionItem]:
    """`n` open items with tickets, each on a different page."""
    seen: set[str] = set()
    out: list[ActionItem] = []
    for item in _synced(result):
        if item.page_id not in seen:
            seen.add(item.page_id)
            out.append(item)
    assert len(out) >= n
    return out[:n]


def _written(result: RunResult) -> set[str]:
    """The pages the run wrote."""
    return {p.page.id for p in result.pages for a in p.plan.actions if a.op is Op.WRITE_PAGE}


def _first(site: Site) -> None:
    first = site.run()
    assert first.kind == "full"
    site.run()  # settles what the first run leaves (the second run plans nothing)
    site.age()
    steady = site.run()
    assert steady.kind == "incremental"
    assert steady.actions == []
    site.age()


# -- the kind of run -----------------------------------------------------------------------


def test_first_run_is_a_full_pass_and_leaves_a_watermark(site: Site) -> None:
    """Without a watermark the run reads everything and then writes one, with each
    site's clock and the account's time zones; the next run is incremental and reads
    only what changed: nothing, so no page and no ticket."""
    assert site.mark() is None
    first = site.run()
    assert (first.kind, first.kind_reason) == ("full", "no watermark yet (the first run)")
    mark = site.mark()
    assert mark is not None
    value = mark["value"]
    assert value["day"] == TODAY.isoformat()
    assert value["retry"] == []
    assert set(value["zones"]) == {"confluence", "jira"}
    site.run()
    site.age()
    steady = site.run()
    assert steady.kind == "incremental"
    assert steady.pages == []
    assert steady.actions == []
    site.in_step()


def test_full_flag_dry_runs_and_narrowed_runs(site: Site) -> None:
    """`--full` reads everything whatever the watermark; a dry run reads the watermark
    but never writes it; a run narrowed to a page neither reads nor writes it."""
    _first(site)
    version = site.mark()["version"]["number"]  # type: ignore[index]
    forced = site.run(full=True)
    assert (forced.kind, forced.kind_reason) == ("full", "asked for (--full)")
    assert len(forced.pages) == PAGES
    version += 1
    assert site.mark()["version"]["number"] == version  # type: ignore[index]
    dry = site.run(dry_run=True)
    assert dry.kind == "incremental"
    assert site.mark()["version"]["number"] == version  # type: ignore[index]
    adapters = from_settings(site.settings, sleep=lambda s: None)
    try:
        engine = build_engine(site.settings, adapters.jira, adapters.confluence)
        narrowed = engine.run(today=TODAY, dry_run=False, page_ids=[forced.pages[0].page.id])
    finally:
        adapters.close()
    assert narrowed.kind == "full"
    assert "--page" in narrowed.kind_reason
    assert site.mark()["version"]["number"] == version  # type: ignore[index]


def test_an_unreadable_watermark_means_a_full_pass_that_rewrites_it(site: Site) -> None:
    """A watermark someone edited into nonsense is not trusted: the run is a full
    pass, says why, and leaves a good watermark for the next."""
    _first(site)
    mark = site.mark()
    assert mark is not None
    site.api(
        "PUT",
        f"/wiki/rest/api/content/{site.state_page}/property/{WATERMARK_KEY}",
        json={
            "key": WATERMARK_KEY,
            "value": {"version": 1, "confluence": "yesterday-ish"},
            "version": {"number": mark["version"]["number"] + 1},
        },
    )
    run = site.run()
    assert run.kind == "full"
    assert "not understood" in run.kind_reason
    site.age()
    assert site.run().kind == "incremental"


def test_the_last_full_pass_older_than_full_every_means_a_full_pass(site: Site) -> None:
    """Once `sync.full_every` has passed by Confluence's clock since the last full
    pass, the run is a full pass, whatever changed."""
    site.settings.sync.full_every = 600
    _first(site)
    site.server.faults.configure(FaultConfig(clock_offset_s=700))
    run = site.run()
    assert run.kind == "full"
    assert "sync.full_every" in run.kind_reason


# -- nothing missed -----------------------------------------------------------------------


def test_edits_made_before_a_run_are_brought_into_step(site: Site) -> None:
    """A text rewritten on one page and a ticket closed in Jira (on another page)
    since the last run: the incremental run reads just those two pages, pushes the
    new text to its ticket and shows the closed ticket on its page."""
    _first(site)
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    site.close_in_jira(str(closed.ticket))
    run = site.run()
    assert run.kind == "incremental"
    assert sorted(p.page.id for p in run.pages) == sorted({reworded.page_id, closed.page_id})
    assert site.summary(str(reworded.ticket)) == text
    assert _written(run) == {closed.page_id}
    site.in_step()


def test_edits_made_in_the_middle_of_a_run_are_read_by_the_next(site: Site) -> None:
    """While a run is held inside its first Jira write (after it has read everything),
    a person rewrites an item on another page and closes a ticket of a third: that
    run cannot see them, the watermark it leaves is from its start (not its end,
    two hours later), so the next incremental run reads both and brings them into
    step."""
    _first(site)
    first_edit, later_edit, later_close = _pick(site.run(full=True, dry_run=True), 3)
    site.reword_on_page(first_edit)
    site.server.faults.configure(
        FaultConfig(hold_route="PUT /rest/api/2/issue/{issueIdOrKey}", hold_after=0)
    )
    outcome: dict[str, RunResult] = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("run", site.run()))
    runner.start()
    try:
        deadline = time.monotonic() + 300  # bounds a hang only; no speed is asserted
        while site.server.stats.snapshot()["faults"]["held"] == 0:
            assert runner.is_alive(), "the run ended before its first Jira write"
            assert time.monotonic() < deadline, "the run never got there"
            time.sleep(0.01)
        text = site.reword_on_page(later_edit)
        site.close_in_jira(str(later_close.ticket))
        # The run goes on (the new fault lets it go) and ends two hours later by the
        # sites' `Date`: a watermark taken at its end would be far past the edits.
        site.server.faults.configure(FaultConfig(clock_offset_s=2 * HOUR))
    finally:
        site.server.faults.release()
        runner.join(60)
    during = outcome["run"]
    assert during.kind == "incremental"
    assert {p.page.id for p in during.pages} == {first_edit.page_id}
    after = site.run()
    assert after.kind == "incremental"
    assert {later_edit.page_id, later_close.page_id} <= {p.page.id for p in after.pages}
    assert site.summary(str(later_edit.ticket)) == text
    site.in_step()


def test_edits_made_right_after_a_run_are_read_by_the_next(site: Site) -> None:
    """An edit in the very minute the last run started (CQL and JQL compare whole
    minutes) is still inside the next run's window."""
    _first(site)
    site.run()
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    site.close_in_jira(str(closed.ticket))
    after = site.run()
    assert after.kind == "incremental"
    assert site.summary(str(reworded.ticket)) == text
    site.in_step()


def test_a_new_date_is_a_full_pass_so_overdue_badges_appear(site: Site) -> None:
    """Nothing changed on either side, but the date did: an item due yesterday is
    overdue today. The first run of a new date is a full pass, and the page shows
    OVERDUE; an incremental run would have read nothing."""
    _first(site)
    open_items = [i for i in _synced(site.run(full=True, dry_run=True)) if i.due and i.due > TODAY]
    due = min(i.due for i in open_items if i.due is not None)
    assert due is not None
    site.run(today=due)  # a new date: a full pass, in step on the due day itself
    site.age()
    same_day = site.run(today=due)
    assert same_day.kind == "incremental"
    assert same_day.actions == []
    next_day = due + timedelta(days=1)
    run = site.run(today=next_day)
    assert run.kind == "full"
    assert run.kind_reason == f"a new day ({next_day.isoformat()} in UTC)"
    assert {i.page_id for i in open_items if i.due == due} <= _written(run)
    site.in_step(next_day)


@pytest.mark.parametrize("offset", [HOUR, -HOUR])
def test_a_server_date_off_its_own_stamps_misses_nothing(site: Site, offset: int) -> None:
    """The `Date` a site answers with runs an hour ahead of (or behind) the clock
    that stamps edits (a proxy, a cluster node off its NTP): the watermark is
    corrected by the difference measured when it is written, so the next
    incremental run still sees every edit."""
    site.server.faults.configure(FaultConfig(clock_offset_s=offset))
    _first(site)
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    site.close_in_jira(str(closed.ticket))
    run = site.run()
    assert run.kind == "incremental"
    assert site.summary(str(reworded.ticket)) == text
    site.in_step()


def test_this_machines_clock_does_not_matter(site: Site) -> None:
    """followup's own clock two days fast changes nothing: the watermark is taken
    from the sites' clocks."""
    skewed = lambda: datetime.now(UTC) + timedelta(days=2)  # noqa: E731
    first = site.run(clock=skewed)
    assert first.kind == "full"
    site.age()
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    site.close_in_jira(str(closed.ticket))
    run = site.run(clock=skewed)
    assert run.kind == "incremental"
    assert site.summary(str(reworded.ticket)) == text
    site.in_step()


def test_a_site_clock_set_back_means_a_full_pass(site: Site) -> None:
    """A site whose clock was set back by more than the overlap would stamp new edits
    before the watermark: the run is a full pass instead, and misses nothing."""
    _first(site)
    site.server.faults.configure(FaultConfig(clock_offset_s=-2 * HOUR))
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    run = site.run()
    assert run.kind == "full"
    assert "behind the watermark" in run.kind_reason
    assert site.summary(str(reworded.ticket)) == text
    del closed
    site.in_step()


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Asia/Tokyo"])
def test_dates_are_written_in_the_accounts_time_zone(site: Site, zone: str) -> None:
    """Jira and Confluence read a date written in a query in the searching account's
    time zone. Three hours behind UTC, a window written in UTC would start three
    hours late and miss the edit; it is written in the account's zone."""
    with site.server.state.lock:
        site.server.state.db.execute("UPDATE users SET timezone = ?", (zone,))
    _first(site)
    zones = site.mark()["value"]["zones"]  # type: ignore[index]
    # Confluence Data Center does not say the account's zone: its window is widened.
    confluence = None if site.server.state.flavor == "datacenter" else zone
    assert zones == {"confluence": confluence, "jira": zone}
    reworded, closed = _pick(site.run(full=True, dry_run=True), 2)
    text = site.reword_on_page(reworded)
    site.close_in_jira(str(closed.ticket))
    run = site.run()
    assert run.kind == "incremental"
    assert {reworded.page_id, closed.page_id} <= {p.page.id for p in run.pages}
    assert site.summary(str(reworded.ticket)) == text
    site.in_step()


def test_a_page_another_run_holds_is_carried_to_the_next_run(site: Site) -> None:
    """An edited page that another live run holds is skipped; the watermark names it,
    and the next incremental run reads it again though nothing changed meanwhile."""
    _first(site)
    (item,) = _pick(site.run(full=True, dry_run=True), 1)
    text = site.reword_on_page(item)
    lease = site.api("GET", f"/wiki/rest/api/content/{item.page_id}/property/followup-lease")
    expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    site.api(
        "PUT",
        f"/wiki/rest/api/content/{item.page_id}/property/followup-lease",
        json={
            "key": "followup-lease",
            "value": {
                "owner": "another-run",
                "seconds": 300,
                "expires": expires,
                "released": False,
            },
            "version": {"number": lease["version"]["number"] + 1},
        },
    )
    skipped = site.run()
    assert skipped.kind == "incremental"
    assert skipped.counts()["leased"] == 1
    assert site.mark()["value"]["retry"] == [item.page_id]  # type: ignore[index]
    assert site.summary(str(item.ticket)) != text
    site.age()  # the other run's lease expires; the edit falls out of the window
    carried = site.run()
    assert carried.kind == "incremental"
    assert [p.page.id for p in carried.pages] == [item.page_id]
    assert site.summary(str(item.ticket)) == text
    assert site.mark()["value"]["retry"] == []  # type: ignore[index]
    site.in_step()


@pytest.mark.usefixtures("clean_env", "reset_logging")
def test_followup_sync_says_which_kind_of_run_and_full_forces_a_full_pass(
    sandbox_server: RunningSandbox,
) -> None:
    """`followup sync` with `sync.state_page`: the JSON report's `run` says full or
    incremental and why; `--full` makes a full pass of a run that would have been
    incremental."""
    import json

    from typer.testing import CliRunner

    from followup.cli import app

    reset_server(sandbox_server, synthetic_dataset(pages=3, items_per_page=1, seed=5))
    try:
        env = control.env_for(sandbox_server.state, sandbox_server.url)
        page = sandbox_server.state.db.execute("SELECT MIN(id) FROM content").fetchone()[0]
        env.update({"FOLLOWUP_SYNC__STATE_PAGE": str(page), "FOLLOWUP_SYNC__RATE_LIMIT": "1000"})

        def sync(*args: str) -> dict[str, Any]:
            result = CliRunner().invoke(
                app, ["sync", "--today", TODAY.isoformat(), "--format", "json", *args], env=env
            )
            assert result.exit_code == 0, result.output
            report: dict[str, Any] = json.loads(result.stdout)
            return report["run"]

        assert sync()["kind"] == "full"
        control.age(sandbox_server.state, AGE)
        assert sync("--dry-run")["kind"] == "incremental"
        forced = sync("--full")
        assert forced == {
            "kind": "full",
            "reason": "asked for (--full)",
            "watermark_not_written": None,
        }
        control.age(sandbox_server.state, AGE)
        assert sync()["kind"] == "incremental"
    finally:
        reset_server(sandbox_server)
