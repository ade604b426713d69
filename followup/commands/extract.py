"""`followup extract`: the action items and findings followup reads off one page, from
a file or from the configured site (which also names the people the page mentions,
by the look-ups a sync makes for them). Reads, never writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from followup.commands.sites import open_sites
from followup.core.model import Extraction, Page
from followup.core.storage_format import extract
from followup.errors import ApiError, ConfigError, NotFoundError, SetupError, UsageError
from followup.reports.escaping import terminal_text
from followup.reports.extraction import extraction_json, extraction_text
from followup.sync.owners import OwnerResolver

if TYPE_CHECKING:
    from followup.settings import Settings

__all__ = ["extract_command"]


def extract_command(
    settings: Settings,
    *,
    file: Path | None = None,
    page: str | None = None,
    page_id: str | None = None,
    fmt: str = "text",
) -> None:
    """Print the items and findings of `file` (a page body; `page_id` for the item
    keys, default the file's name) or of the site's page `page`."""
    names: dict[str, str] = {}
    where = ""
    if page is not None:
        fetched = _fetch_page(settings, page)
        body, page_id = fetched.body, page
        where = f"“{fetched.title}” {fetched.url}".rstrip()
    else:
        assert file is not None
        try:
            body = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text ({exc.reason})") from None
        page_id = page_id or file.stem
    extraction = extract(
        body,
        page_id,
        date_order=settings.sync.date_order,
        vocabulary=settings.extract.vocabulary(),
        max_items=settings.sync.max_items_per_page,
    )
    if page is not None:
        names = _owner_names(settings, extraction)
    if fmt == "json":
        text = json.dumps(extraction_json(extraction, names), indent=2, ensure_ascii=False)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    if where:
        Console(highlight=False, soft_wrap=True).print(Text(terminal_text(where)))
    console = Console(highlight=False)
    for renderable in extraction_text(extraction, names, from_site=page is not None):
        console.print(renderable)


def _fetch_page(settings: Settings, page_id: str) -> Page:
    """One page of the configured site, body included."""
    settings.require_sites()
    try:
        adapters = open_sites(settings)
        try:
            fetched: Page = adapters.confluence.get_page(page_id)
        finally:
            adapters.close()
    except NotFoundError:
        raise UsageError(
            f"--page {page_id}: there is no page with that id (or followup's account cannot see it)"
        ) from None
    except ApiError as exc:
        # A site that does not answer or refuses the credentials: as for every command.
        raise SetupError(exc.message, hint=exc.hint) from None
    return fetched


def _owner_names(settings: Settings, extraction: Extraction) -> dict[str, str]:
    """Display names of the page's owners, by the look-ups a sync makes for them
    (one per distinct owner: is the person assignable in the project)."""
    adapters = open_sites(settings)
    try:
        resolver = OwnerResolver(
            adapters.jira,
            adapters.confluence,
            project=settings.jira.project_key,
            names=dict(settings.owners),
        )
        found = resolver.resolve({i.owner for i in extraction.items if i.owner is not None})
    finally:
        adapters.close()
    return {owner.value: res.display for owner, res in found.items() if res.display}
