"""Page leases: a short claim on a page, so two overlapping runs never both create
tickets for it (DESIGN.md section 2).

A lease is the Confluence content property `followup-lease` on the page:
`{"owner": <run id>, "seconds": <length>, "expires": <ISO time>, "released": bool,
"created": [keys]}`, `created` naming the tickets the run created for the page (on
release): Jira's search lags its writes, so the next run, which may start at once,
reads those by key rather than trust a search that may not show them yet. It is taken
and released by the property's version number (compare-and-swap): of two runs writing
version n+1, Confluence accepts one and answers 409 to the other. A lease held by
another run and not yet expired is respected (the page is skipped); an expired one (a
run that died) is taken over.

Expiry is judged by the Confluence server's clock alone: a lease lasts `seconds`
(at most `MAX_LEASE_SECONDS`) from the time the server wrote it (the property
version's `when`), compared with the server's time now (the `Date` of its answers).
A run whose own clock is a day ahead therefore neither leaves leases that block pages
for a day nor takes over leases that are still live. `expires` is written for people
reading the property; it is trusted only where the server gives no `when`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from followup.errors import ApiError, ConflictError
from followup.ports import ConfluencePort, PropertyValue
from followup.sync.resend import Seen, send_checked

LEASE_KEY = "followup-lease"
CREATE_ATTEMPTS = 3  # creates of the lease property met by an ambiguous failure
MAX_RECORDED_CREATES = 500  # ticket keys a released lease names at most
MAX_LEASE_SECONDS = 3600  # the longest a lease blocks a page, whatever it says


@dataclass(frozen=True, slots=True)
class Lease:
    page_id: str
    run_id: str
    version: int
    expires: datetime
    taken_over: bool = False  # an expired lease of another run was taken over
    # Tickets the run that held the lease before created for the page.
    recent: tuple[str, ...] = ()
    seconds: int = 0  # the lease's length, as recorded in it


@dataclass(frozen=True, slots=True)
class Held:
    """The page is leased by another live run: since `age` ago (by the server's
    clock; None if unknown), for `length` in all, until `expires`."""

    page_id: str
    owner: str
    expires: datetime
    age: timedelta | None = None
    length: timedelta | None = None

    @property
    def stale(self) -> bool:
        """Held for over half its length: far longer than a healthy run holds a
        lease (a lease is meant to outlast any run), so the run holding it is stuck
        or dead, and runs before this one have most likely been kept off the page
        too. A stateless run's measure of "leased across runs"."""
        return self.age is not None and self.length is not None and self.age * 2 > self.length


def _value(
    run_id: str,
    expires: datetime,
    *,
    seconds: int,
    released: bool = False,
    created: Sequence[str] = (),
) -> dict[str, object]:
    value: dict[str, object] = {
        "owner": run_id,
        "seconds": seconds,
        "expires": expires.isoformat(),
        "released": released,
    }
    if created:
        # Bounded, so the property stays far below Confluence's size limit (32 KB on
        # Cloud) on a page with thousands of items: one run rarely creates that many.
        value["created"] = list(created)[:MAX_RECORDED_CREATES]
    return value


def _created(prop: PropertyValue) -> tuple[str, ...]:
    """The tickets a lease says its run created (nothing for a malformed list)."""
    keys = prop.value.get("created")
    if not isinstance(keys, list):
        return ()
    return tuple(key for key in keys if isinstance(key, str) and key)


def _parse_expiry(prop: PropertyValue) -> datetime | None:
    try:
        expires = datetime.fromisoformat(str(prop.value.get("expires")))
    except ValueError:
        return None
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=UTC)


def _length(prop: PropertyValue, default: timedelta) -> timedelta:
    """How long the lease lasts: its recorded `seconds` (a sane number), else ours."""
    seconds = prop.value.get("seconds")
    if (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and 1 <= seconds <= MAX_LEASE_SECONDS
    ):
        return timedelta(seconds=seconds)
    return min(default, timedelta(seconds=MAX_LEASE_SECONDS))


def _expiry(prop: PropertyValue, default: timedelta) -> datetime | None:
    """When the lease stops blocking, by the server's clock: when the server wrote
    it plus its length; the recorded `expires` only when the server gave no time."""
    if prop.when is not None:
        return prop.when + _length(prop, default)
    return _parse_expiry(prop)


def _held(prop: PropertyValue, page_id: str, now: datetime, default: timedelta) -> Held | None:
    """Who holds the page, if another live run does (by the server's time `now`)."""
    expiry = _expiry(prop, default)
    if prop.value.get("released") or expiry is None or expiry <= now:
        return None
    owner = str(prop.value.get("owner") or "another run")
    age = now - prop.when if prop.when is not None else None
    return Held(page_id, owner, expiry, age=age, length=_length(prop, default))


def acquire(
    confluence: ConfluencePort,
    page_id: str,
    run_id: str,
    *,
    now: datetime,
    ttl: timedelta,
    expect_existing: bool = False,
) -> Lease | Held:
    """Take the page's lease, or say who holds it. Raises only on API errors.

    Time is the Confluence server's (`confluence.server_now()`); `now`, the run's own
    clock, stands in only while the server's is unknown.

    `expect_existing`: the page was synced before, so its (released) lease property is
    most likely there: it is read first and taken by compare-and-swap, which saves the
    create Confluence would refuse. Either way round, the outcome is the same."""

    def clock() -> datetime:
        return confluence.server_now() or now

    seconds = max(1, min(int(ttl.total_seconds()), MAX_LEASE_SECONDS))
    ttl = timedelta(seconds=seconds)
    expires = clock() + ttl
    value = _value(run_id, expires, seconds=seconds)
    current = confluence.get_property(page_id, LEASE_KEY) if expect_existing else None
    if current is None:

        def there(_: ApiError) -> Seen:
            # A conflict (a lease is there), or a create that may have landed with
            # its answer lost: the property tells. None there: our create did not
            # land, or a lease was deleted in between, and the create is sent again.
            nonlocal current
            current = confluence.get_property(page_id, LEASE_KEY)
            return Seen.MISSING if current is None else Seen.LANDED

        sent = send_checked(
            lambda: confluence.create_property(page_id, LEASE_KEY, value),
            there,
            sends=CREATE_ATTEMPTS,
            resend_on=lambda exc: isinstance(exc, ConflictError) or exc.ambiguous,
            look_after_last=lambda exc: isinstance(exc, ConflictError),
        )
        if sent.value is not None:
            return Lease(page_id, run_id, sent.value.version, expires, seconds=seconds)
        if sent.error is not None and not isinstance(sent.error, ConflictError):
            raise sent.error
    if current is None:
        return Held(page_id, "another run", expires)
    mine = current.value.get("owner") == run_id
    if mine and not current.value.get("released"):
        return Lease(page_id, run_id, current.version, expires, seconds=seconds)
    held = _held(current, page_id, clock(), ttl)
    if held is not None:
        return held
    owner = str(current.value.get("owner") or "")
    taken_over = not current.value.get("released") and owner != run_id
    try:
        prop = confluence.update_property(page_id, LEASE_KEY, value, version=current.version + 1)
    except ConflictError:
        # Another run got there first, or our own write landed and its answer was lost
        # (the adapter repeats a PUT whose answer it did not see, and the repeat meets
        # the version our first attempt wrote): the property tells which.
        return _ours_after_conflict(
            confluence, page_id, run_id, expires, clock, ttl, taken_over=taken_over
        )
    return Lease(
        page_id,
        run_id,
        prop.version,
        expires,
        taken_over=taken_over,
        recent=_created(current),
        seconds=seconds,
    )


def _ours_after_conflict(
    confluence: ConfluencePort,
    page_id: str,
    run_id: str,
    expires: datetime,
    clock: Callable[[], datetime],
    ttl: timedelta,
    *,
    taken_over: bool = False,
) -> Lease | Held:
    """After losing a compare-and-swap: our lease if the winning write was our own,
    else whoever holds it now. Without this, a lost answer would leave the page leased
    to a run that skipped it, blocking every other run until the lease expired."""
    current = confluence.get_property(page_id, LEASE_KEY)
    if current is None:
        return Held(page_id, "another run", expires)
    owner = str(current.value.get("owner") or "another run")
    seconds = int(ttl.total_seconds())
    if owner == run_id and not current.value.get("released"):
        return Lease(
            page_id, run_id, current.version, expires, taken_over=taken_over, seconds=seconds
        )
    # Whoever won holds it now, live: it was written a moment ago.
    held = _held(current, page_id, clock(), ttl)
    return held if held is not None else Held(page_id, owner, expires)


def release(confluence: ConfluencePort, lease: Lease, *, created: Sequence[str] = ()) -> bool:
    """Give the lease back, naming the tickets this run `created` for the page. False
    when another run took it over meanwhile (ours had expired), which is harmless: it
    is theirs now."""
    seconds = max(lease.seconds, 1)
    try:
        confluence.update_property(
            lease.page_id,
            LEASE_KEY,
            _value(lease.run_id, lease.expires, seconds=seconds, released=True, created=created),
            version=lease.version + 1,
        )
    except ConflictError:
        return False
    return True
