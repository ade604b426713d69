"""A page's children: `GET /wiki/rest/api/content/{id}/child` and `.../child/{type}`, on
both flavors.

- `child/page` lists the pages whose parent is this one (`ancestors` on create or
  update), `start`/`limit` (default 25, at most 200) and `expand` as for content.
  Cloud lists them in the order they were added, as its page tree appends a new page
  after its siblings; Data Center alphabetically by title, its order for pages nobody
  has moved by hand.
- `child/comment` and `child/attachment` are always empty lists: the sandbox holds
  neither comments nor attachments.
- `child` says which kinds of children can be expanded, and expands `page`, `comment`
  and `attachment` (`expand=page.body.storage` expands the child pages too).

An unknown page is a 404 "No content found with id: ContentId{id=N}".
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.content import content_json
from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    Site,
    expand_param,
    guard,
    int_param,
    limit_param,
    listing_json,
    page_id_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.rows import PageRow, require_page
from followup.sandbox.state import SandboxState

CHILD_LIMIT_DEFAULT = 25
CHILD_LIMIT_CAP = 200
CHILD_TYPES = ("attachment", "comment", "page")


def routes(state: SandboxState) -> list[BaseRoute]:
    """The child endpoints over this state."""
    db = state.db

    def child_pages(page_id: int, start: int, limit: int) -> list[PageRow]:
        order = "id" if state.flavor == "cloud" else "title COLLATE NOCASE, id"
        rows = db.execute(
            "SELECT * FROM content WHERE parent_id = ? AND status = 'current'"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            (page_id, limit + 1, start),
        ).fetchall()
        return [PageRow.from_row(row) for row in rows]

    def children_of(
        ctx: Ctx,
        site: Site,
        page_id: int,
        kind: str,
        expand: frozenset[str],
        *,
        start: int = 0,
        limit: int = CHILD_LIMIT_DEFAULT,
    ) -> dict[str, Any]:
        """One page of the `kind` children of the page (call with `state.lock` held)."""
        path = f"/rest/api/content/{page_id}/child/{kind}"
        pages = child_pages(page_id, start, limit) if kind == "page" else []
        results = [content_json(ctx, page, expand) for page in pages[:limit]]
        more = len(pages) > limit
        return listing_json(
            site,
            path,
            results,
            start=start,
            limit=limit,
            next_path=f"{path}?limit={limit}&start={start + limit}" if more else None,
        )

    def child_of_type(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        kind = str(request.path_params["type"])
        if kind not in CHILD_TYPES:
            raise Problem(400, f"Unsupported child type: {kind} (one of {', '.join(CHILD_TYPES)})")
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=CHILD_LIMIT_DEFAULT, cap=CHILD_LIMIT_CAP)
        site = site_of(request)
        with state.lock:
            require_page(db, page_id)
            data = children_of(
                Ctx(state, site),
                site,
                page_id,
                kind,
                expand_param(request),
                start=start,
                limit=limit,
            )
        return JSONResponse(data)

    def all_children(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        expand = expand_param(request)
        site = site_of(request)
        data: dict[str, Any] = {}
        expandable: dict[str, str] = {}
        with state.lock:
            require_page(db, page_id)
            ctx = Ctx(state, site)
            for kind in CHILD_TYPES:
                if kind in expand:
                    prefix = f"{kind}."
                    inner = frozenset(e[len(prefix) :] for e in expand if e.startswith(prefix))
                    data[kind] = children_of(ctx, site, page_id, kind, inner)
                else:
                    expandable[kind] = f"/rest/api/content/{page_id}/child/{kind}"
        data["_expandable"] = expandable
        data["_links"] = {
            "base": site.base,
            "context": site.context,
            "self": f"{site.base}/rest/api/content/{page_id}/child",
        }
        return JSONResponse(data)

    return [
        Route("/wiki/rest/api/content/{id}/child", guard(all_children, v1_error), methods=["GET"]),
        Route(
            "/wiki/rest/api/content/{id}/child/{type}",
            guard(child_of_type, v1_error),
            methods=["GET"],
        ),
    ]
