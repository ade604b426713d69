"""The watermark's decisions, on in-memory sites: when a run may read only what
changed, how the window is written in a site's time zone, and how two runs writing
the watermark at once keep the later one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from followup.core.model import Page
from followup.core.policy import WatermarkPolicy
from followup.reports.sync import kind_line, to_html, to_json, to_markdown, to_text
from followup.settings import load_settings
from followup.sync.engine import RunResult
from followup.sync.watermark import (
    WATERMARK_KEY,
    Mark,
    Unreadable,
    Window,
    begin,
    commit,
    parse_mark,
    wall_time,
)
from followup.testing import FakeConfluence, FakeJira

T0 = datetime(2026, 12, 2, 9, 45, 30, tzinfo=UTC)
TODAY = date(2026, 12, 2)
STATE = "900"
POLICY = WatermarkPolicy(STATE, scope="s1")


def _sites(now: datetime = T0) -> tuple[FakeConfluence, FakeJira]:
    confluence = FakeConfluence(clock=lambda: now)
    confluence.add_page(Page(STATE, "state", "SRE", "<p/>", 1))
    return confluence, FakeJira(clock=lambda: now)


def _mark(**changes: object) -> Mark:
    base = {
        "confluence": T0,
        "jira": T0,
        "full": T0,
        "day": TODAY,
        "scope": "s1",
        "zones": {"confluence": "UTC", "jira": "UTC"},
    }
    base.update(changes)
    return Mark(**base)  # type: ignore[arg-type]


def _with(confluence: FakeConfluence, mark: Mark) -> None:
    confluence.create_property(STATE, WATERMARK_KEY, mark.to_json())


def test_wall_time_is_the_sites_reading_and_never_later() -> None:
    """A window's start written in the account's zone; in an hour the clocks repeat,
    the earlier reading is assured; an unknown zone moves it back by 14 hours."""
    assert wall_time(T0, "UTC") == datetime(2026, 12, 2, 9, 45, 30)
    assert wall_time(T0, "America/Sao_Paulo") == datetime(2026, 12, 2, 6, 45, 30)
    # 2026-10-25 00:30 UTC is 01:30 in London the second time (clocks went back at 02:00).
    repeated = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    written = wall_time(repeated, "Europe/London")
    assert written <= datetime(2026, 10, 25, 1, 30)
    from zoneinfo import ZoneInfo

    for fold in (0, 1):
        assert written.replace(tzinfo=ZoneInfo("Europe/London"), fold=fold) <= repeated
    assert wall_time(T0, None) == datetime(2026, 12, 1, 19, 45, 30)
    assert wall_time(T0, "Not/AZone") == datetime(2026, 12, 1, 19, 45, 30)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"version": 2}, "format version"),
        ({**_mark().to_json(), "confluence": "soon"}, "'confluence' is not a time"),
        ({**_mark().to_json(), "jira": "2026-12-02T09:45:00"}, "no time zone"),
        ({**_mark().to_json(), "day": None}, "'day' is not a date"),
        ({**_mark().to_json(), "retry": ["12", "DROP TABLE"]}, "not a page id"),
        ({**_mark().to_json(), "zones": []}, "'zones' is missing"),
    ],
)
def test_a_watermark_not_understood_says_why(value: dict[str, object], problem: str) -> None:
    """A property edited by hand, or written by another version, is not trusted."""
    with pytest.raises(Unreadable, match=problem):
        parse_mark(value)


def test_a_watermark_round_trips() -> None:
    mark = _mark(retry=("12", "13"), run="abc")
    assert parse_mark(mark.to_json()) == mark


@pytest.mark.parametrize(
    ("mark", "today", "now", "forced", "reason"),
    [
        (None, TODAY, T0, False, "no watermark yet (the first run)"),
        (_mark(), TODAY, T0, True, "asked for (--full)"),
        (_mark(scope="other"), TODAY, T0, False, "the settings that choose pages"),
        (_mark(), TODAY + timedelta(days=1), T0, False, "a new day (2026-12-03 in UTC)"),
        (_mark(), TODAY, T0 + timedelta(hours=25), False, "the last full pass was 25 h ago"),
        (_mark(), TODAY, T0 - timedelta(hours=1), False, "a site's clock is behind"),
    ],
)
def test_when_a_run_is_a_full_pass(
    mark: Mark | None, today: date, now: datetime, forced: bool, reason: str
) -> None:
    """Each reason for a full pass, said in the report."""
    confluence, jira = _sites(now)
    if mark is not None:
        _with(confluence, mark)
    window = begin(confluence, jira, POLICY, today=today, full=forced)
    assert window.kind == "full"
    assert window.reason.startswith(reason)
    assert window.keeps_mark


def test_an_incremental_window_starts_an_overlap_before_the_last_run() -> None:
    """Within the day and the full-pass interval: incremental, from the watermark less
    the overlap, in each site's zone, with the pages carried over; no time-zone
    requests (the zones come from the watermark)."""
    confluence, jira = _sites(T0 + timedelta(minutes=15))
    _with(
        confluence,
        _mark(zones={"confluence": "Asia/Tokyo", "jira": None}, retry=("41",)),
    )
    window = begin(confluence, jira, POLICY, today=TODAY)
    assert window.kind == "incremental"
    assert window.pages_since == datetime(2026, 12, 2, 18, 40, 30)  # Tokyo, 5 min earlier
    assert window.tickets_since == datetime(2026, 12, 1, 19, 40, 30)  # zone unknown: -14 h
    assert window.retry == ("41",)
    assert confluence.calls["user_timezone"] == jira.calls["user_timezone"] == 0


def test_no_state_page_and_narrowed_runs_keep_no_watermark() -> None:
    confluence, jira = _sites()
    none = begin(confluence, jira, WatermarkPolicy(None), today=TODAY)
    assert (none.kind, none.keeps_mark) == ("full", False)
    assert "sync.state_page" in none.reason
    narrowed = begin(confluence, jira, POLICY, today=TODAY, narrowed=True)
    assert (narrowed.kind, narrowed.keeps_mark) == ("full", False)
    assert confluence.calls["get_property"] == 0


def test_an_unknown_site_clock_means_a_full_pass_and_no_watermark() -> None:
    """Without a site's clock no watermark can be taken (this machine's is never
    used): the run is a full pass and writes none."""
    confluence, _ = _sites()
    jira = FakeJira()  # tells no time
    _with(confluence, _mark())
    window = begin(confluence, jira, POLICY, today=TODAY)
    assert window.kind == "full"
    assert not window.keeps_mark
    assert commit(confluence, window, POLICY, today=TODAY, run_id="r", retry=()) is None
    assert confluence.properties[(STATE, WATERMARK_KEY)].version == 1


def test_two_runs_writing_at_once_keep_the_later_watermark() -> None:
    """A run whose watermark moved on while it ran (another run finished first) keeps
    the later of the two, and the pages both left unfinished."""
    confluence, jira = _sites()
    _with(confluence, _mark())
    mine = begin(confluence, jira, POLICY, today=TODAY)
    later = _mark(confluence=T0 + timedelta(minutes=3), retry=("7",), run="other")
    current = confluence.properties[(STATE, WATERMARK_KEY)]
    confluence.update_property(STATE, WATERMARK_KEY, later.to_json(), version=current.version + 1)
    assert commit(confluence, mine, POLICY, today=TODAY, run_id="mine", retry=["8"]) is None
    kept = parse_mark(confluence.properties[(STATE, WATERMARK_KEY)].value)
    assert kept.confluence == later.confluence
    assert kept.run == "other"
    assert kept.retry == ("7", "8")


def test_a_watermark_that_cannot_be_written_is_reported_not_fatal() -> None:
    confluence, jira = _sites()
    window = begin(confluence, jira, WatermarkPolicy("404", scope="s1"), today=TODAY)
    confluence.pages.clear()

    def refuse(*args: object, **kwargs: object) -> None:
        from followup.errors import NotFoundError

        raise NotFoundError("page 404 not found", service="confluence", status=404)

    confluence.create_property = refuse  # type: ignore[method-assign,assignment]
    note = commit(confluence, window, POLICY, today=TODAY, run_id="r", retry=())
    assert note is not None
    assert "page 404 not found" in note


def test_too_many_unfinished_pages_leave_the_watermark_as_it_was() -> None:
    confluence, jira = _sites()
    window = begin(confluence, jira, POLICY, today=TODAY)
    note = commit(
        confluence, window, POLICY, today=TODAY, run_id="r", retry=[str(n) for n in range(501)]
    )
    assert note is not None
    assert "full pass" in note
    assert (STATE, WATERMARK_KEY) not in confluence.properties


@pytest.mark.parametrize("render", [to_text, to_markdown, to_html])
def test_every_report_says_which_kind_of_run(render: object) -> None:
    """Text, Markdown and HTML reports say full pass or incremental, and why."""
    result = RunResult("r1", TODAY, False, kind="incremental", kind_reason="changes since x")
    text = render(result)  # type: ignore[operator]
    assert "Incremental run" in text
    assert "changes since x" in text
    full = RunResult("r2", TODAY, False, kind="full", kind_reason="a new day")
    assert "Full pass" in render(full)  # type: ignore[operator]


def test_the_json_report_says_which_kind_of_run() -> None:
    result = RunResult("r1", TODAY, False, kind="full", kind_reason="asked for (--full)")
    result.watermark_note = "the watermark could not be written: 403"
    run = to_json(result)["run"]
    assert run == {
        "kind": "full",
        "reason": "asked for (--full)",
        "watermark_not_written": "the watermark could not be written: 403",
    }
    assert "next run reads more" in kind_line(result)


def test_settings_take_durations_and_a_page_id() -> None:
    settings = load_settings(
        None,
        env={
            "FOLLOWUP_SYNC__STATE_PAGE": "12345",
            "FOLLOWUP_SYNC__FULL_EVERY": "12h",
            "FOLLOWUP_SYNC__INCREMENTAL_OVERLAP": "90s",
        },
    )
    assert settings.sync.state_page == "12345"
    assert (settings.sync.full_every, settings.sync.incremental_overlap) == (43_200, 90)
    assert load_settings(None, env={}).sync.full_every == 86_400


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("STATE_PAGE", "the state page", "page id"),
        ("FULL_EVERY", "daily", "duration"),
        ("FULL_EVERY", "1m", "greater than or equal"),
        ("INCREMENTAL_OVERLAP", "0", "greater than or equal"),
    ],
)
def test_bad_incremental_settings_are_refused_by_name(name: str, value: str, problem: str) -> None:
    from followup.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={f"FOLLOWUP_SYNC__{name}": value})
    assert name.lower() in str(caught.value)
    assert problem in str(caught.value)


def test_window_defaults_are_a_full_pass() -> None:
    assert Window("full", "x").incremental is False
