"""`followup report`: the follow-up health of every postmortem, without changing anything.

    discover pages -> extract items -> load tickets -> compute_health -> render [-> publish]

The reading is the sync's own: the same CQL discovery (`postmortem_cql`), one JQL
search for the managed tickets (`managed_tickets_jql`), the engine's extraction of
each page; nothing per item. The figures are `followup.core.health.compute_health` (pure);
`followup.reports.health` renders them (text, Markdown, JSON; HTML and storage format
in `followup.reports.health_html`); this module reads, renders and publishes.

`--publish PAGE_ID` writes the report onto a Confluence page, between two anchor
macros (`followup-report-start` / `followup-report-end`) so that whatever a person
wrote on the page around them is kept; a page without them gets the report appended.
The write uses the sync's optimistic locking: `version = read + 1`; on 409 (or an
answer lost after the write) the page is read again and the report spliced in again,
at most `sync.max_page_retries` more times. A third anchor carries a digest of the
report, so publishing an unchanged report writes nothing.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from followup.commands.sites import open_sites
from followup.commands.sync import build_engine, today_in
from followup.core.health import Health, compute_health
from followup.core.model import Page
from followup.core.queries import managed_tickets_jql, postmortem_cql
from followup.errors import ApiError, NotFoundError, PlanError, SetupError
from followup.ports import ConfluencePort
from followup.reports.health import HealthFormat, render_health
from followup.reports.health_html import to_storage
from followup.sync.filters import check_filters
from followup.sync.pagewrite import write_page

if TYPE_CHECKING:
    from followup.settings import Settings
    from followup.sync.engine import Engine

__all__ = [
    "PublishResult",
    "collect_health",
    "publish_report",
    "report_command",
    "splice_report",
]

log = structlog.get_logger("followup.report")

START, END, DIGEST = "followup-report-start", "followup-report-end", "followup-report-digest-"
PUBLISH_MESSAGE = "followup: follow-up health report"


# -- reading ---------------------------------------------------------------------------


def collect_health(engine: Engine, *, today: date, spaces: Sequence[str] = ()) -> Health:
    """Discovery and the ticket search exactly as a sync does them, then the figures."""
    configured_spaces = not spaces
    spaces = tuple(spaces) or engine.config.spaces
    cql = postmortem_cql(engine.config.cql, spaces=spaces)
    pages = list(engine.confluence.find_pages(cql))
    check_filters(engine.confluence, pages, spaces=spaces, configured_spaces=configured_spaces)
    tickets = list(engine.jira.search_tickets(managed_tickets_jql(engine.policy.label)))
    extractions = {page.id: engine.extract_page(page) for page in pages}
    log.info("report-loaded", pages=len(pages), tickets=len(tickets))
    return compute_health(
        pages, extractions, tickets, today, label=engine.policy.label, scope=engine.policy.scope
    )


# -- publishing ------------------------------------------------------------------------


def _anchor(name: str) -> str:
    return (
        '<ac:structured-macro ac:name="anchor">'
        f'<ac:parameter ac:name="">{name}</ac:parameter></ac:structured-macro>'
    )


def _anchor_pattern(name: str) -> str:
    # Confluence re-serialises what it stores (attribute order, macro ids, a paragraph
    # around an inline macro): match the anchor whatever the bytes around its name.
    return (
        r"(?:<p>\s*)?<ac:structured-macro\b[^>]*\bac:name=\"anchor\"[^>]*>\s*"
        r"<ac:parameter\b[^>]*>\s*" + name + r"\s*</ac:parameter>\s*</ac:structured-macro>"
        r"(?:\s*</p>)?"
    )


_REGION = re.compile(_anchor_pattern(START) + r".*?" + _anchor_pattern(END), re.DOTALL)
_LONE = re.compile(f"{_anchor_pattern(START)}|{_anchor_pattern(END)}")
_DIGEST = re.compile(re.escape(DIGEST) + r"([0-9a-f]{16})")


def report_digest(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def published_digest(body: str) -> str | None:
    """The digest of the report on a page body, None if it holds no report."""
    region = _REGION.search(body)
    found = _DIGEST.search(region.group(0)) if region else None
    return found.group(1) if found else None


def splice_report(body: str, content: str) -> str:
    """`body` with the report region replaced by `content` (appended if there is none).
    Everything outside the region is kept as it is."""
    region = _anchor(START) + _anchor(DIGEST + report_digest(content)) + content + _anchor(END)
    if _REGION.search(body):
        return _REGION.sub(lambda _: region, body, count=1)
    return _LONE.sub("", body) + region


@dataclass(frozen=True, slots=True)
class PublishResult:
    page: Page
    written: bool
    attempts: int


def publish_report(
    confluence: ConfluencePort, page_id: str, content: str, *, max_retries: int = 3
) -> PublishResult:
    """Write `content` onto the page's report region with optimistic locking.

    Reads the page, splices the report in and writes version + 1. A 409 or an
    ambiguous answer (the write may have landed) reads the page again and retries, at
    most `max_retries` times; a page that already shows this report is not written."""
    digest = report_digest(content)

    def body_for(page: Page, attempt: int) -> str | None:
        return None if published_digest(page.body) == digest else splice_report(page.body, content)

    def conflict(attempt: int) -> None:
        log.info("report-page-conflict", page_id=page_id, attempt=attempt)

    done = write_page(
        confluence,
        confluence.get_page(page_id),
        body_for,
        retries=max_retries,
        message=PUBLISH_MESSAGE,
        on_conflict=conflict,
    )
    if done.error is not None:
        raise done.error
    return PublishResult(done.page, written=done.written, attempts=done.attempts)


# -- the command -------------------------------------------------------------------------


def report_command(
    settings: Settings,
    *,
    fmt: str = "text",
    output: Path | None = None,
    spaces: Sequence[str] = (),
    today: date | None = None,
    publish: str | None = None,
) -> None:
    """Compute the health report, print (or write) it, and publish it if asked."""
    adapters = open_sites(settings)
    jira_url = settings.jira.url
    try:
        try:
            # Everything up to the figures only reads: a site that does not answer or
            # refuses the credentials is a setup problem (exit 2), as for a sync.
            engine = build_engine(settings, adapters.jira, adapters.confluence)
            health = collect_health(engine, today=today or today_in(settings), spaces=spaces)
        except ApiError as exc:
            raise SetupError(exc.message, hint=exc.hint) from None
        # The report is out before publishing starts: a page that cannot be written
        # does not cost the reader the report.
        fmt_: HealthFormat = fmt if fmt in ("text", "json", "markdown", "html") else "text"  # type: ignore[assignment]
        color = output is None and sys.stdout.isatty()
        text = render_health(health, fmt_, jira_url=jira_url, color=color)
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        if publish is not None:
            try:
                result = publish_report(
                    adapters.confluence,
                    publish,
                    to_storage(health, jira_url=jira_url),
                    max_retries=settings.sync.max_page_retries,
                )
            except NotFoundError:
                raise PlanError(
                    f"--publish {publish}: there is no Confluence page with that id "
                    "(or followup's account cannot see it)",
                    hint="create the page first; its id is the number in its address "
                    "(/pages/<id>/...)",
                ) from None
            log.info(
                "report-published",
                page_id=publish,
                written=result.written,
                version=result.page.version,
                attempts=result.attempts,
            )
    finally:
        adapters.close()
