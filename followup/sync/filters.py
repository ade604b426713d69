"""Space and page filters that matched no postmortem page.

A run restricted with `--space`/`--page` (or `confluence.spaces`) that finds nothing
for one of them has almost always been given a typo: a misspelt space key, the id of
a page that is not (or no longer) a postmortem. Reporting "nothing to do" would make a
scheduled job succeed forever while doing nothing, so such a run stops, before
anything is written, with a `UsageError` (exit 2) saying which filter matched nothing
and why. One exception: a space named in the configuration (`confluence.spaces`) that
exists but holds no postmortem yet is a team that has not had an incident since it was
added, not a typo; it is logged as a warning and the run goes on.

Whether a filter matched is read off the pages discovery found, so a run whose filters
all match costs no request more; only for a filter that matched nothing is the site
asked why (does the page exist, does the space).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from followup.core.model import Page
from followup.errors import NotFoundError, UsageError
from followup.ports import ConfluencePort

__all__ = ["Unmatched", "check_filters", "unmatched_filters"]

log = structlog.get_logger("followup.sync.filters")


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A filter value no discovered page satisfied."""

    kind: Literal["space", "page"]
    value: str


def unmatched_filters(
    pages: Iterable[Page], *, spaces: Sequence[str] = (), page_ids: Sequence[str] = ()
) -> list[Unmatched]:
    """The space keys and page ids among the filters that no page in `pages` matches.

    With page ids, only they are checked (a page outside the spaces is reported as
    such, and its space did not fail: the two filters narrow each other down). Space
    keys compare without regard to case, as Confluence's search does."""
    found = list(pages)
    if page_ids:
        seen_ids = {page.id for page in found}
        return [Unmatched("page", pid) for pid in dict.fromkeys(page_ids) if pid not in seen_ids]
    seen_spaces = {page.space_key.casefold() for page in found}
    return [
        Unmatched("space", key)
        for key in dict.fromkeys(spaces)
        if key.casefold() not in seen_spaces
    ]


def _why_page(confluence: ConfluencePort, page_id: str, spaces: Sequence[str]) -> str:
    try:
        page = confluence.get_page(page_id)
    except NotFoundError:
        return (
            f"--page {page_id}: there is no page with that id (or followup's account cannot see it)"
        )
    where = f"“{page.title}” in space {page.space_key}"
    if spaces and page.space_key.casefold() not in {s.casefold() for s in spaces}:
        return (
            f"--page {page_id}: {where} is outside the spaces this run is limited to "
            f"({', '.join(spaces)})"
        )
    return (
        f"--page {page_id}: {where} is not a postmortem: it does not match "
        "confluence.cql (by default, postmortems are the pages labelled 'postmortem')"
    )


def _why_space(confluence: ConfluencePort, key: str, *, configured: bool) -> str | None:
    """Why space `key` matched nothing; None for a configured space that exists (no
    postmortem written there yet: not an error)."""
    if not confluence.space_exists(key):
        return (
            f"space {key}: there is no space with that key (or followup's account cannot "
            "see it); space keys are shown in the space's address, /spaces/KEY/"
        )
    if configured:
        log.warning(
            "space-without-postmortems",
            space=key,
            message=f"space {key} (confluence.spaces) has no page matching confluence.cql yet",
        )
        return None
    return (
        f"space {key}: no page there matches confluence.cql (by default, postmortems are "
        "the pages labelled 'postmortem')"
    )


def check_filters(
    confluence: ConfluencePort,
    pages: Sequence[Page],
    *,
    spaces: Sequence[str] = (),
    page_ids: Sequence[str] = (),
    configured_spaces: bool = False,
) -> None:
    """Raise UsageError naming each filter that matched no page in `pages`, and why
    (one request per such filter); nothing when every filter matched something.
    `configured_spaces`: the spaces come from `confluence.spaces`, not the command line,
    so a space that exists but has no postmortem yet is only logged."""
    unmatched = unmatched_filters(pages, spaces=spaces, page_ids=page_ids)
    if not unmatched:
        return
    found = [
        _why_page(confluence, u.value, spaces)
        if u.kind == "page"
        else _why_space(confluence, u.value, configured=configured_spaces)
        for u in unmatched
    ]
    reasons = [r for r in found if r is not None]
    if not reasons:
        return
    if len(reasons) == 1:
        message = f"a filter matched no postmortem page: {reasons[0]}"
    else:
        message = f"{len(reasons)} filters matched no postmortem page:\n" + "\n".join(
            f"  - {reason}" for reason in reasons
        )
    raise UsageError(
        message,
        hint="fix the space key or page id (--space, --page, confluence.spaces); "
        "nothing was changed",
    )
