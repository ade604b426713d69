"""The optimistic page write, the one home of "write, and on a newer version read
again and write on top of it": the sync's page writes and `report --publish` both
use it.

    write_page(confluence, page, body_for, retries=..., message=...) -> Written

A page is written as `version = read + 1`. A 409 (someone saved in between) or an
ambiguous answer (the write may have landed) reads the page again and writes what
`body_for` makes of the page as it now is, so the other edit survives and ours is
made again on top of it: at most `retries` times more. `body_for` returning None
means the page already shows what it should: nothing is written. Reading the page
again is an idempotent request, retried (and its waits paid from the run's budget)
by the adapters' one retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from followup.core.model import Page
from followup.errors import ApiError
from followup.ports import ConfluencePort

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
    while True:
        body = body_for(page, attempt)
        if body is None:
            return Written(page, written=False, attempts=attempt)
        try:
            return Written(
                confluence.update_page(page, body, message=message), written=True, attempts=attempt
            )
        except ApiError as exc:
            if not (exc.status == 409 or exc.ambiguous) or attempt > retries:
                return Written(page, written=False, attempts=attempt, error=exc)
        if on_conflict is not None:
            on_conflict(attempt)
        page = confluence.get_page(page.id)
        attempt += 1
