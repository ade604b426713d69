"""The generic CQL search, `GET /wiki/rest/api/search` (what atlassian-python-api's
`cql()` calls), on both flavors.

The query runs as in the content search (`confluence_api.cql_search`: the same CQL,
limits and paging, a cursor on Cloud and `start` on Data Center), but each result is a
search result around the page: `content` (expanded with `expand=content.…`), `title`,
`excerpt` (the start of the page's text; `excerpt=none` leaves it empty), `url` (the
page's web address), `resultGlobalContainer` (its space), `entityType: content`,
`lastModified`. The answer carries `totalSize`, `cqlQuery` and `searchDuration`.
Only pages are found (the sandbox has no other content, users or spaces to search).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence_api import (
    PageRow,
    Shapes,
    cql_search,
    friendly_time,
    guard,
    site_of,
    space_row,
    v1_error,
    webui_path,
)
from followup.sandbox.state import SandboxState
from followup.sandbox.storage_html import StorageFormatError, parse_storage

EXCERPT_LENGTH = 200
_SPACES = re.compile(r"\s+")


def excerpt_of(body: str) -> str:
    """The start of a page's text, whitespace collapsed, cut at a word."""
    try:
        text = "".join(str(t) for t in parse_storage(body).itertext())
    except StorageFormatError:
        text = re.sub(r"<[^>]*>", " ", body)
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= EXCERPT_LENGTH:
        return text
    return text[:EXCERPT_LENGTH].rsplit(" ", 1)[0] + "…"


def _slug(title: str) -> str:
    return "+".join("".join(c if c.isalnum() else " " for c in title).split())


def search_result(
    shapes: Shapes, page: PageRow, expand: frozenset[str], *, excerpt: bool
) -> dict[str, Any]:
    """One search result for a page (call with `state.lock` held)."""
    cloud = shapes.state.flavor == "cloud"
    space = space_row(shapes.db, page.space_key)
    url = webui_path(shapes.state.flavor, page.space_key, page.id, page.title)
    if cloud:
        url = f"{url}/{_slug(page.title)}"  # Cloud's result URLs end with the title
    return {
        "content": shapes.content(page, expand),
        "title": page.title,
        "excerpt": excerpt_of(page.body) if excerpt else "",
        "url": url,
        "resultGlobalContainer": {
            "title": space["name"] if space else page.space_key,
            "displayUrl": f"/spaces/{page.space_key}" if cloud else f"/display/{page.space_key}",
        },
        "breadcrumbs": [],
        "entityType": "content",
        "iconCssClass": "aui-icon content-type-page",
        "lastModified": page.last_modified,
        "friendlyLastModified": friendly_time(page.last_modified),
        "score": 0.0,
    }


def routes(state: SandboxState) -> list[BaseRoute]:
    """The generic search over this state."""

    def search(request: Request, payload: bytes) -> Response:
        site = site_of(request)
        found = cql_search(state, request, "/rest/api/search")
        # `expand=content.body.storage` expands the content of each result.
        inner = frozenset(e[8:] for e in found.expand if e.startswith("content."))
        excerpt = request.query_params.get("excerpt", "highlight") != "none"
        with state.lock:
            shapes = Shapes(state, site)
            results = [search_result(shapes, p, inner, excerpt=excerpt) for p in found.pages]
        return JSONResponse(found.answer(site, results, totals=True))

    return [Route("/wiki/rest/api/search", guard(search, v1_error), methods=["GET"])]
