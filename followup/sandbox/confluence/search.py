"""The CQL searches: `GET /wiki/rest/api/content/search` (pages as content) and the
generic `GET /wiki/rest/api/search` (what atlassian-python-api's `cql()` calls: each
result a search result around a page), on both flavors. `cql` goes through `cql.py`,
over current content only, with the server's cap on `limit`.

Cloud caps 25 with a body expanded, else 50, and pages by `cursor`: keyset
(`id > after`) in the default id order, which stays stable while pages are added or
edited; an offset under a query's own ORDER BY. Data Center caps 50 with a body, 200
with other expansions, 1000 with none, and pages by `start`, an offset. The answer's
`limit` says what was applied: a client that trusts its own limit and stops early
loses pages here as it would on a real site.

A generic search result has `content` (expanded with `expand=content.…`), `title`,
`excerpt` (the start of the page's text; `excerpt=none` leaves it empty), `url` (the
page's web address), `resultGlobalContainer` (its space), `entityType: content`,
`lastModified`; the answer carries `totalSize`, `cqlQuery` and `searchDuration` (as
Data Center's content search does too). Only pages are found (the sandbox has no other
content, users or spaces to search).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.content import (
    SEARCH_LIMIT_CAP,
    SEARCH_LIMIT_CAP_WITH_BODY,
    SEARCH_LIMIT_DEFAULT,
    content_json,
)
from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    Site,
    caller_id,
    caller_timezone,
    decode_cursor,
    encode_cursor,
    expand_param,
    guard,
    int_param,
    limit_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.cql import CqlError, compile_cql
from followup.sandbox.confluence.rows import PageRow, friendly_time, space_row
from followup.sandbox.confluence.web import webui_path
from followup.sandbox.state import SandboxState
from followup.sandbox.storage_html import StorageFormatError, parse_storage


def search_limit_cap(flavor: str, expand: frozenset[str]) -> int:
    """How many results a CQL search returns at most, whatever `limit` asked for.

    Cloud: 25 with a body expanded, else 50. Data Center: 50 with a body, 200 with
    other expansions, 1000 with none (Atlassian KB "Searching for content with the REST
    API and CQL always limits results to 50").
    """
    body = any("body" in name.split(".") for name in expand)  # content.body.storage too
    if flavor == "cloud":
        return SEARCH_LIMIT_CAP_WITH_BODY if body else SEARCH_LIMIT_CAP
    if body:
        return 50
    return 200 if expand else 1000


@dataclass(frozen=True, slots=True)
class CqlPage:
    """One page of a CQL search: the pages found, and how to answer with them."""

    path: str  # the resource, e.g. /rest/api/content/search
    cql: str
    expand: frozenset[str]
    query: tuple[tuple[str, str], ...]  # cql and expand, as the request gave them
    pages: tuple[PageRow, ...]
    start: int
    limit: int
    total: int
    next_query: tuple[tuple[str, str], ...] | None

    def answer(self, site: Site, results: list[Any], *, totals: bool = False) -> dict[str, Any]:
        """The list answer around `results`; `totals` adds `totalSize`, `cqlQuery` and
        `searchDuration`, as the generic search (and Data Center's content search) do."""
        links = {
            "base": site.base,
            "context": site.context,
            "self": f"{site.base}{self.path}?{urlencode(self.query)}",
        }
        if self.next_query is not None:
            links["next"] = f"{self.path}?{urlencode(self.next_query)}"
        data: dict[str, Any] = {
            "results": results,
            "start": self.start,
            "limit": self.limit,
            "size": len(results),
        }
        if totals:
            data.update({"totalSize": self.total, "cqlQuery": self.cql, "searchDuration": 1})
        data["_links"] = links
        return data


def cql_search(state: SandboxState, request: Request, path: str) -> CqlPage:
    """Run the request's `cql` over current content, one page of it.

    Cloud pages by `cursor`: keyset (`id > after`) in the default id order, which stays
    stable while pages are added or edited, an offset under a query's own ORDER BY.
    Data Center pages by `start`, an offset, as its searches do.
    """
    cql = request.query_params.get("cql", "")
    if not cql.strip():
        raise Problem(400, "CQL query parameter is required")
    try:
        where, params, order = compile_cql(
            cql, current_user=caller_id(request) or None, tz=caller_timezone(request)
        )
    except CqlError as error:
        details = [error.detail] if error.detail else []
        raise Problem(400, str(error), details=details) from None
    expand = expand_param(request)
    cap = search_limit_cap(state.flavor, expand)
    limit = limit_param(request, default=SEARCH_LIMIT_DEFAULT, cap=cap)
    cloud = state.flavor == "cloud"
    keyset = cloud and order in ("", "ORDER BY content.id ASC")
    cursor = request.query_params.get("cursor") if cloud else None
    if cursor:
        after, start = decode_cursor(cursor)
        offset, bound = (0, after) if keyset else (start, -1)
    else:
        start = max(0, int_param(request, "start", 0))
        offset, bound = start, -1
    matching = f"FROM content WHERE ({where}) AND content.status = 'current'"
    with state.lock:
        rows = state.db.execute(
            f"SELECT content.* {matching} AND content.id > ?"
            f" {order or 'ORDER BY content.id ASC'} LIMIT ? OFFSET ?",
            [*params, bound, limit + 1, offset],
        ).fetchall()
        total = int(state.db.execute(f"SELECT COUNT(*) {matching}", params).fetchone()[0])
    pages = tuple(PageRow.from_row(row) for row in rows[:limit])
    query: list[tuple[str, str]] = [("cql", cql)]
    if request.query_params.getlist("expand"):
        query.append(("expand", ",".join(request.query_params.getlist("expand"))))
    next_query = None
    if len(rows) > limit:
        if cloud:
            position = encode_cursor(pages[-1].id if keyset else -1, start + limit)
            next_query = (*query, ("limit", str(limit)), ("cursor", position))
        else:
            next_query = (*query, ("limit", str(limit)), ("start", str(start + limit)))
    return CqlPage(path, cql, expand, tuple(query), pages, start, limit, total, next_query)


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
    ctx: Ctx, page: PageRow, expand: frozenset[str], *, excerpt: bool
) -> dict[str, Any]:
    """One search result for a page (call with `state.lock` held)."""
    cloud = ctx.state.flavor == "cloud"
    space = space_row(ctx.db, page.space_key)
    url = webui_path(ctx.state.flavor, page.space_key, page.id, page.title)
    if cloud:
        url = f"{url}/{_slug(page.title)}"  # Cloud's result URLs end with the title
    return {
        "content": content_json(ctx, page, expand),
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
    """The two searches over this state."""

    def search(request: Request, payload: bytes) -> Response:
        site = site_of(request)
        found = cql_search(state, request, "/rest/api/content/search")
        with state.lock:
            ctx = Ctx(state, site)
            results = [content_json(ctx, page, found.expand) for page in found.pages]
        # Data Center's content search answers as its generic search does, with the total
        # and the query it ran.
        return JSONResponse(found.answer(site, results, totals=state.flavor != "cloud"))

    def generic_search(request: Request, payload: bytes) -> Response:
        site = site_of(request)
        found = cql_search(state, request, "/rest/api/search")
        # `expand=content.body.storage` expands the content of each result.
        inner = frozenset(e[8:] for e in found.expand if e.startswith("content."))
        excerpt = request.query_params.get("excerpt", "highlight") != "none"
        with state.lock:
            ctx = Ctx(state, site)
            results = [search_result(ctx, p, inner, excerpt=excerpt) for p in found.pages]
        return JSONResponse(found.answer(site, results, totals=True))

    return [
        Route("/wiki/rest/api/content/search", guard(search, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/search", guard(generic_search, v1_error), methods=["GET"]),
    ]
