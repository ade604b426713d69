"""The optimistic page write, the one home of "write, and on a newer version read
again and write on top of it": the sync's page writes and `report --publish` both
use it.

    write_page(confluence, page, body_for, retries=..., message=...) -> Written

A page is written as `version = read + 1`, through `resend.send_checked`. A 409
(someone saved in between) or an ambiguous answer (the write may have landed) reads
the page again and writes what `body_for` makes of the page as it now is, so the
other edit survives and ours is made again on top of it: at most `retries` times
more. `body_for` returning None means the page already shows what it should:
nothing is written. Reading the page
again is an idempotent request, retried (and its waits paid from the run's budget)
by the adapters' one retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from followup.core.model import Page
from followup.errors import ApiError
from followup.ports import ConfluencePort
from followup.sync.resend import Seen, send_checked

__all__ = ["Written", "write_page"]


@dataclass(frozen=True, slots=True)
class Written:
    """What became of an optimistic write: the page as it stands (as written, or as
    last read), whether it was written, how many attempts it took, and the write's
    last error when it could not be made (None otherwise)."""

    page: Page
    written: bool
    attempts: int
    error: ApiError | None = None


def write_page(
    confluence: ConfluencePort,
    page: Page,
    body_for: Callable[[Page, int], str | None],
    *,
    retries: int,
    message: str,
    on_conflict: Callable[[int], None] | None = None,
) -> Written:
    """Write `body_for(page, attempt)` onto `page` (see the module docstring).
    `on_conflict(attempt)` is told before the page is read again. An error reading
    the page again is raised; the write's own error is returned in `Written.error`."""
    attempt = 1
    body = body_for(page, attempt)
    if body is None:
        return Written(page, written=False, attempts=attempt)

    def send() -> Page:
        assert body is not None
        return confluence.update_page(page, body, message=message)

    def landed(_: ApiError) -> Seen:
        # The page as it now is shows whether there is still something to write.
        nonlocal page, body, attempt
        if on_conflict is not None:
            on_conflict(attempt)
        page = confluence.get_page(page.id)
        attempt += 1
        body = body_for(page, attempt)
        return Seen.LANDED if body is None else Seen.MISSING

    sent = send_checked(
        send,
        landed,
        sends=retries + 1,
        resend_on=lambda exc: exc.status == 409 or exc.ambiguous,
        look_after_last=False,
    )
    if sent.value is not None:
        return Written(sent.value, written=True, attempts=attempt)
    return Written(page, written=False, attempts=attempt, error=sent.error)
