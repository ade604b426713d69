"""Page leases: a short claim on a page, so two overlapping runs never both create
tickets for it (DESIGN.md section 2).

A lease is the Confluence content property `followup-lease` on the page:
`{"owner": <run id>, "expires": <ISO time>, "released": bool, "created": [keys]}`,
`created` naming the tickets the run created for the page (on release): Jira's search
lags its writes, so the next run, which may start at once, reads those by key rather
than trust a search that may not show them yet. It is taken and
released by the property's version number (compare-and-swap): of two runs writing
version n+1, Confluence accepts one and answers 409 to the other. A lease held by
another run and not yet expired is respected (the page is skipped and reported); an
expired one (a run that died) is taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from followup.errors import ApiError, ConflictError
from followup.ports import ConfluencePort, PropertyValue

LEASE_KEY = "followup-lease"
CREATE_ATTEMPTS = 3  # creates of the lease property met by an ambiguous failure
MAX_RECORDED_CREATES = 500  # ticket keys a released lease names at most


@dataclass(frozen=True, slots=True)
class Lease:
    page_id: str
    run_id: str
    version: int
    expires: datetime
    taken_over: bool = False  # an expired lease of another run was taken over
    # Tickets the run that held the lease before created for the page.
    recent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Held:
    """The page is leased by another live run."""

    page_id: str
    owner: str
    expires: datetime


def _value(
    run_id: str, expires: datetime, *, released: bool = False, created: Sequence[str] = ()
) -> dict[str, object]:
    value: dict[str, object] = {
        "owner": run_id,
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
        return datetime.fromisoformat(str(prop.value.get("expires")))
    except ValueError:
        return None


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

    `expect_existing`: the page was synced before, so its (released) lease property is
    most likely there: it is read first and taken by compare-and-swap, which saves the
    create Confluence would refuse. Either way round, the outcome is the same."""
    expires = now + ttl
    current = confluence.get_property(page_id, LEASE_KEY) if expect_existing else None
    for attempt in range(CREATE_ATTEMPTS if current is None else 0):
        try:
            prop = confluence.create_property(page_id, LEASE_KEY, _value(run_id, expires))
            return Lease(page_id, run_id, prop.version, expires)
        except ConflictError:
            pass
        except ApiError as exc:
            if not exc.ambiguous or attempt == CREATE_ATTEMPTS - 1:
                raise
            # The create may have landed with its answer lost: the property tells.
        current = confluence.get_property(page_id, LEASE_KEY)
        if current is not None:
            break
        # No lease there: our create did not land, or a lease was deleted in between.
    if current is None:
        return Held(page_id, "another run", expires)
    mine = current.value.get("owner") == run_id
    if mine and not current.value.get("released"):
        return Lease(page_id, run_id, current.version, expires)
    owner = str(current.value.get("owner") or "")
    current_expiry = _parse_expiry(current)
    live = (
        not current.value.get("released")
        and owner != run_id
        and current_expiry is not None
        and current_expiry > now
    )
    if live:
        assert current_expiry is not None
        return Held(page_id, owner, current_expiry)
    taken_over = not current.value.get("released") and owner != run_id
    try:
        prop = confluence.update_property(
            page_id, LEASE_KEY, _value(run_id, expires), version=current.version + 1
        )
    except ConflictError:
        # Another run got there first, or our own write landed and its answer was lost
        # (the adapter repeats a PUT whose answer it did not see, and the repeat meets
        # the version our first attempt wrote): the property tells which.
        return _ours_after_conflict(confluence, page_id, run_id, expires, taken_over=taken_over)
    return Lease(
        page_id, run_id, prop.version, expires, taken_over=taken_over, recent=_created(current)
    )


def _ours_after_conflict(
    confluence: ConfluencePort,
    page_id: str,
    run_id: str,
    expires: datetime,
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
    if owner == run_id and not current.value.get("released"):
        return Lease(page_id, run_id, current.version, expires, taken_over=taken_over)
    return Held(page_id, owner, _parse_expiry(current) or expires)


def release(confluence: ConfluencePort, lease: Lease, *, created: Sequence[str] = ()) -> bool:
    """Give the lease back, naming the tickets this run `created` for the page. False
    when another run took it over meanwhile (ours had expired), which is harmless: it
    is theirs now."""
    try:
        confluence.update_property(
            lease.page_id,
            LEASE_KEY,
            _value(lease.run_id, lease.expires, released=True, created=created),
            version=lease.version + 1,
        )
    except ConflictError:
        return False
    return True
