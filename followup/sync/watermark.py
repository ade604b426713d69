"""The watermark: since when a run needs to read, so that a run costs what changed.

A run is either a **full pass** (every postmortem page and every managed ticket is
read) or **incremental** (only the pages Confluence says were modified, and the
tickets Jira says were updated, since the last successful run, plus the pages those
tickets belong to). Which one is decided here, from the watermark the last
successful run left on the site.

Where it lives: the Confluence content property `followup-watermark` on the page
named by `sync.state_page`. Not on the machine: the process stays stateless, and two
machines running the same configuration share it. Not in Jira: a project property
needs the Administer Projects permission, an issue property a ticket people may
edit, move or delete, and a user property belongs to whoever runs followup (a person
on a laptop would keep a watermark of their own). A content property needs nothing
followup does not have already (it writes pages and their lease properties), has a
version number for compare-and-swap, and sits beside the pages it describes, where a
person can read it.

What it holds: `{"version": 1, "confluence": <ISO>, "jira": <ISO>, "full": <ISO>,
"day": <YYYY-MM-DD>, "scope": <hash>, "zones": {"confluence": <IANA>, "jira": <IANA>},
"retry": [page ids], "run": <run id>}`: each site's time at the start of the run it
records, by that site's own clock (Confluence's from the `Date` of its answers,
Jira's from serverInfo's `serverTime`, the clock that stamps `updated`), never this
machine's; when the last full pass started; the run's date in `sync.timezone`; a hash
of the settings that decide which pages and tickets exist for followup; the time zone
of the signed-in account on each site (CQL and JQL read a written date in it); and the
pages the run could not finish (leased by another run, failed), which the next run
reads again whatever their dates.

A run reads pages modified since `confluence - overlap` and tickets updated since
`jira - overlap` (`sync.incremental_overlap`, default 5 minutes; both queries have
minute precision and the seconds are dropped, so the window only ever grows). The
overlap covers an edit made while the run was reading, the search index lagging the
edit, and a small drift between the clock that answers (`Date`) and the one that
stamps. It is written only after a run that succeeded, never by a dry run, and never
by a run narrowed by `--space` or `--page`.

A full pass is run when there is no watermark, when it cannot be read or is not
understood, when its scope differs from the settings', when the last full pass is
older than `sync.full_every` (default a day), when the date in `sync.timezone` is not
the watermark's (overdue badges and reminders are decided by the date), when a site's
clock is unknown, and on `followup sync --full`. What an incremental run cannot see
(a ticket linked by hand and edited in Jira before followup adopted it; a page that
lost its label) the next full pass does.
"""

from __future__ import annotations

import hashlib
import json
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import structlog

from followup.core.policy import WatermarkPolicy
from followup.core.queries import check_page_id
from followup.errors import ConflictError, FollowupError
from followup.ports import ConfluencePort, JiraPort, PropertyValue

log = structlog.get_logger("followup.sync.watermark")

WATERMARK_KEY = "followup-watermark"
FORMAT_VERSION = 1
MAX_RETRY_PAGES = 500  # pages carried to the next run at most; more: no watermark
# The widest offset of any time zone from UTC: with the account's zone unknown, a
# date written in UTC is read this far off at worst, so the window is widened by it.
MAX_ZONE_OFFSET = timedelta(hours=14)

RunKind = Literal["full", "incremental"]


@dataclass(frozen=True, slots=True)
class Mark:
    """A watermark as read from the site."""

    confluence: datetime
    jira: datetime
    full: datetime
    day: date
    scope: str
    zones: dict[str, str | None]
    retry: tuple[str, ...] = ()
    run: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "confluence": self.confluence.astimezone(UTC).isoformat(),
            "jira": self.jira.astimezone(UTC).isoformat(),
            "full": self.full.astimezone(UTC).isoformat(),
            "day": self.day.isoformat(),
            "scope": self.scope,
            "zones": dict(self.zones),
            "retry": list(self.retry),
            "run": self.run,
        }


class Unreadable(ValueError):
    """A watermark that is there but is not one this version understands."""


def parse_mark(value: dict[str, Any]) -> Mark:
    """A property's value as a `Mark`; `Unreadable` says what is wrong with it."""
    if value.get("version") != FORMAT_VERSION:
        raise Unreadable(f"format version {value.get('version')!r}, not {FORMAT_VERSION}")

    def moment(name: str) -> datetime:
        try:
            when = datetime.fromisoformat(str(value.get(name)))
        except ValueError:
            raise Unreadable(f"{name!r} is not a time") from None
        if when.tzinfo is None:
            raise Unreadable(f"{name!r} has no time zone")
        return when

    try:
        day = date.fromisoformat(str(value.get("day")))
    except ValueError:
        raise Unreadable("'day' is not a date") from None
    zones = value.get("zones")
    if not isinstance(zones, dict):
        raise Unreadable("'zones' is missing")
    retry = value.get("retry", [])
    if not isinstance(retry, list) or not all(isinstance(p, str) for p in retry):
        raise Unreadable("'retry' is not a list of page ids")
    try:
        retry_ids = tuple(check_page_id(p) for p in retry)
    except ValueError:
        raise Unreadable("'retry' names something that is not a page id") from None
    return Mark(
        confluence=moment("confluence"),
        jira=moment("jira"),
        full=moment("full"),
        day=day,
        scope=str(value.get("scope", "")),
        zones={
            site: (zone if isinstance(zone, str) and zone else None)
            for site, zone in ((s, zones.get(s)) for s in ("confluence", "jira"))
        },
        retry=retry_ids,
        run=str(value.get("run", "")),
    )


def scope_hash(*parts: object) -> str:
    """A short hash of the settings that decide which pages and tickets a run sees:
    a watermark written under other settings says nothing about these."""
    text = json.dumps([str(p) for p in parts], ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Window:
    """The kind of one run, why, and for an incremental run what to read: pages
    modified since `pages_since` and tickets updated since `tickets_since` (wall
    times in each site's reading of dates), and the pages carried over."""

    kind: RunKind
    reason: str
    pages_since: datetime | None = None
    tickets_since: datetime | None = None
    retry: tuple[str, ...] = ()
    # For the write at the end: the sites' clocks at the start, the property as read
    # (its version), the zones, and whether a watermark is kept at all.
    started_confluence: datetime | None = None
    started_jira: datetime | None = None
    last_full: datetime | None = None
    zones: dict[str, str | None] = field(default_factory=dict)
    read: PropertyValue | None = None
    keeps_mark: bool = False

    @property
    def incremental(self) -> bool:
        return self.kind == "incremental"


def wall_time(moment: datetime, zone: str | None) -> datetime:
    """`moment` as the wall-clock time a site reading dates in `zone` must be given
    so that it reads a time no later than `moment` (seconds are dropped later, which
    only moves it earlier). Unknown zone: UTC, moved back by the widest offset. In a
    zone's repeated hour (clocks going back) the earlier reading is assured."""
    if zone is None:
        return (moment - MAX_ZONE_OFFSET).astimezone(UTC).replace(tzinfo=None)
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return wall_time(moment, None)
    local = moment.astimezone(tz).replace(tzinfo=None)
    later = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if later > moment:  # the wall time names two instants; the site may take the later
        local -= later - moment
    return local


def begin(
    confluence: ConfluencePort,
    jira: JiraPort,
    policy: WatermarkPolicy,
    *,
    today: date,
    full: bool = False,
    narrowed: bool = False,
) -> Window:
    """Read the watermark (one request) and decide the run's kind. A full pass that
    will write a watermark also asks each site for the account's time zone (one
    request each); an incremental run takes them from the watermark."""
    if policy.state_page is None:
        return Window("full", "no watermark page is configured (sync.state_page)")
    if narrowed:
        return Window("full", "--space or --page narrows the run")
    read: PropertyValue | None = None
    problem: str | None = None
    try:
        read = confluence.get_property(policy.state_page, WATERMARK_KEY)
    except FollowupError as exc:
        problem = f"the watermark could not be read: {exc.show()}"
    now_confluence = confluence.server_now()
    now_jira = jira.server_now()
    window = Window("full", "", keeps_mark=True, read=read)
    window.started_confluence = now_confluence
    window.started_jira = now_jira
    mark: Mark | None = None
    if read is not None:
        try:
            mark = parse_mark(read.value)
        except Unreadable as exc:
            problem = f"the watermark is not understood ({exc})"
    reason = _full_reason(policy, mark, problem, now_confluence, now_jira, today, full)
    if now_confluence is None or now_jira is None:
        window.keeps_mark = False
    if reason is not None or mark is None:
        window.reason = reason or "no watermark yet"
        window.last_full = now_confluence
        if window.keeps_mark:
            window.zones = _zones(confluence, jira)
        return window
    window.kind = "incremental"
    window.last_full = mark.full
    window.zones = dict(mark.zones)
    window.retry = mark.retry
    window.pages_since = wall_time(mark.confluence - policy.overlap, mark.zones.get("confluence"))
    window.tickets_since = wall_time(mark.jira - policy.overlap, mark.zones.get("jira"))
    window.reason = (
        f"changes since {mark.confluence.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, less "
        f"{_span(policy.overlap)} of overlap"
    )
    return window


def _full_reason(
    policy: WatermarkPolicy,
    mark: Mark | None,
    problem: str | None,
    now_confluence: datetime | None,
    now_jira: datetime | None,
    today: date,
    forced: bool,
) -> str | None:
    """Why this run must be a full pass; None: it may be incremental."""
    if forced:
        return "asked for (--full)"
    if problem is not None:
        return problem
    if mark is None:
        return "no watermark yet (the first run)"
    if now_confluence is None or now_jira is None:
        return "a site's clock is not known"
    if mark.scope != policy.scope:
        return "the settings that choose pages and tickets changed since the watermark"
    if mark.day != today:
        return f"a new day ({today.isoformat()} in {policy.timezone})"
    age = now_confluence - mark.full
    if age >= policy.full_every:
        return (
            f"the last full pass was {_span(age)} ago (sync.full_every = "
            f"{_span(policy.full_every)})"
        )
    if now_confluence < mark.confluence - policy.overlap or now_jira < mark.jira - policy.overlap:
        # A clock set back by more than the overlap stamps new edits before the window.
        return "a site's clock is behind the watermark by more than the overlap"
    return None


def _zones(confluence: ConfluencePort, jira: JiraPort) -> dict[str, str | None]:
    """Each site's time zone for the signed-in account (None where it does not say)."""
    zones: dict[str, str | None] = {}
    for site, port in (("confluence", confluence), ("jira", jira)):
        try:
            zones[site] = port.user_timezone()
        except FollowupError as exc:
            log.warning("timezone-unknown", site=site, error=exc.show())
            zones[site] = None
    return zones


def commit(
    confluence: ConfluencePort,
    window: Window,
    policy: WatermarkPolicy,
    *,
    today: date,
    run_id: str,
    retry: Sequence[str],
) -> str | None:
    """Write the watermark after a run that succeeded: the sites' clocks at its
    start, and the pages it left for the next run. Returns why it was not written
    (None: written). One request (two when another run wrote it meanwhile)."""
    if not window.keeps_mark or policy.state_page is None:
        return None
    started_c, started_j = window.started_confluence, window.started_jira
    if started_c is None or started_j is None:
        return "a site's clock was not known at the start of the run"
    carried = sorted(set(retry))  # those carried to this run and finished are done
    if len(carried) > MAX_RETRY_PAGES:
        return f"{len(carried)} pages were left unfinished: the next run is a full pass"
    mark = Mark(
        confluence=started_c,
        jira=started_j,
        full=started_c if window.kind == "full" else (window.last_full or started_c),
        day=today,
        scope=policy.scope,
        zones=window.zones,
        retry=tuple(carried),
        run=run_id,
    )
    try:
        written = _write(confluence, policy.state_page, window.read, mark)
    except FollowupError as exc:
        return f"the watermark could not be written: {exc.show()}"
    # The page property's version is stamped by the clock that stamps page edits; a
    # `Date` running ahead of it would put the watermark after edits it has not seen.
    skew = _skew(written.when, confluence.server_now())
    if skew > timedelta(seconds=2):
        log.warning("clock-skew", site="confluence", seconds=int(skew.total_seconds()))
        corrected = Mark(
            confluence=mark.confluence - skew,
            jira=mark.jira,
            full=mark.full - skew if window.kind == "full" else mark.full,
            day=mark.day,
            scope=mark.scope,
            zones=mark.zones,
            retry=mark.retry,
            run=mark.run,
        )
        try:
            _write(confluence, policy.state_page, written, corrected)
        except FollowupError as exc:
            return f"the watermark could not be written: {exc.show()}"
    return None


def _skew(stamped: datetime | None, answered: datetime | None) -> timedelta:
    if stamped is None or answered is None or stamped.tzinfo is None:
        return timedelta()
    return answered - stamped


def _write(
    confluence: ConfluencePort, page_id: str, read: PropertyValue | None, mark: Mark
) -> PropertyValue:
    """Create or update the property by compare-and-swap. Another run that wrote it
    meanwhile also started after what it records: the later watermark wins, the
    pages either left unfinished are kept."""
    value = mark.to_json()
    for _ in range(3):
        try:
            if read is None:
                return confluence.create_property(page_id, WATERMARK_KEY, value)
            return confluence.update_property(
                page_id, WATERMARK_KEY, value, version=read.version + 1
            )
        except ConflictError:
            read = confluence.get_property(page_id, WATERMARK_KEY)
            if read is None:
                continue
            try:
                theirs = parse_mark(read.value)
            except Unreadable:
                continue
            if theirs.scope == mark.scope and theirs.confluence > mark.confluence:
                retry = sorted(set(theirs.retry) | set(mark.retry))
                value = {**theirs.to_json(), "retry": retry}
    raise ConflictError(
        "the watermark kept changing under this run", service="confluence", status=409
    )


def _span(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


__all__ = [
    "WATERMARK_KEY",
    "Mark",
    "RunKind",
    "Window",
    "begin",
    "commit",
    "parse_mark",
    "scope_hash",
    "wall_time",
]
