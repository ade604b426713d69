"""Pages as v1 content: `GET/POST /wiki/rest/api/content` (list by `spaceKey`, `title`,
`type`; create) and `GET/PUT /wiki/rest/api/content/{id}` (`version=N` reads an
earlier version; an update needs `version.number` = current + 1), and a page's JSON.

`expand` takes `body.storage`, `version`, `space`, `history`, `ancestors`,
`metadata.labels`; what is not expanded is listed in `_expandable`. Write answers
expand `body.storage`, `version`, `space`, `history` and `ancestors`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox import webhooks
from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    caller_id,
    expand_param,
    guard,
    int_param,
    json_body,
    limit_param,
    listing,
    page_id_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.history import history_json, version_json
from followup.sandbox.confluence.labels import labels_json
from followup.sandbox.confluence.rows import (
    PageRow,
    load_page,
    page_at,
    page_version,
    require_page,
    space_row,
    utc_now,
)
from followup.sandbox.confluence.spaces import space_json
from followup.sandbox.confluence.tables import insert_page
from followup.sandbox.confluence.web import tiny_id, webui_path
from followup.sandbox.confluence.writes import (
    apply_metadata,
    check_title,
    parent_from,
    reserialize_or_400,
    storage_from,
    update_page,
)
from followup.sandbox.state import SandboxState

SEARCH_LIMIT_DEFAULT = 25  # the list's paging, as the searches'
SEARCH_LIMIT_CAP = 50
SEARCH_LIMIT_CAP_WITH_BODY = 25

_DEFAULT_WRITE_EXPAND = frozenset(
    {"body", "body.storage", "version", "space", "history", "ancestors"}
)


def _page_links(ctx: Ctx, page: PageRow) -> dict[str, str]:
    return {
        "webui": webui_path(ctx.state.flavor, page.space_key, page.id, page.title),
        "edit": f"/pages/resumedraft.action?draftId={page.id}",
        "tinyui": f"/x/{tiny_id(page.id)}",
        "self": f"{ctx.site.base}/rest/api/content/{page.id}",
    }


def content_json(
    ctx: Ctx, page: PageRow, expand: frozenset[str], *, top: bool = False
) -> dict[str, Any]:
    """A page as v1 content; `top`: the answer itself rather than an element of a
    list, whose `_links` also carry `base` and `context`."""
    pid = page.id
    data: dict[str, Any] = {
        "id": str(pid),
        "type": page.type,
        "status": page.status,
        "title": page.title,
    }
    expandable: dict[str, str] = {
        "childTypes": "",
        "container": f"/rest/api/space/{page.space_key}",
        "operations": "",
        "children": f"/rest/api/content/{pid}/child",
        "restrictions": f"/rest/api/content/{pid}/restriction/byOperation",
        "descendants": f"/rest/api/content/{pid}/descendant",
    }
    if "space" in expand:
        data["space"] = space_json(ctx, page.space_key)
    else:
        expandable["space"] = f"/rest/api/space/{page.space_key}"
    if "history" in expand:
        data["history"] = history_json(ctx, page)
    else:
        expandable["history"] = f"/rest/api/content/{pid}/history"
    if "version" in expand:
        data["version"] = version_json(ctx, page, page_version(ctx.db, page))
    else:
        expandable["version"] = ""
    if "ancestors" in expand:
        data["ancestors"] = _ancestors(ctx, page)
    else:
        expandable["ancestors"] = ""
    if "body" in expand:
        body: dict[str, Any] = {
            "_expandable": {
                name: ""
                for name in (
                    "editor",
                    "atlas_doc_format",
                    "view",
                    "export_view",
                    "styled_view",
                    "dynamic",
                    "storage",
                    "editor2",
                    "anonymous_export_view",
                )
            }
        }
        if "body.storage" in expand:
            body["storage"] = {
                "value": page.body,
                "representation": "storage",
                "embeddedContent": [],
                "_expandable": {"content": f"/rest/api/content/{pid}"},
            }
            del body["_expandable"]["storage"]
        data["body"] = body
    else:
        expandable["body"] = ""
    if "metadata" in expand:
        metadata: dict[str, Any] = {
            "_expandable": {
                "currentuser": "",
                "comments": "",
                "sourceTemplateEntityId": "",
                "simple": "",
                "properties": "",
                "frontend": "",
                "likes": "",
            }
        }
        if "metadata.labels" in expand:
            metadata["labels"] = labels_json(ctx, page)
        else:
            metadata["_expandable"]["labels"] = f"/rest/api/content/{pid}/label"
        data["metadata"] = metadata
    else:
        expandable["metadata"] = ""
    # Data Center says "none" for a page nobody has placed by hand (as recorded from
    # Confluence Server); Cloud gives every page a position.
    data["extensions"] = {"position": "none" if ctx.dc else 0}
    data["_expandable"] = expandable
    data["_links"] = _page_links(ctx, page)
    if top:
        data["_links"].update({"base": ctx.site.base, "context": ctx.site.context})
    return data


def _ancestors(ctx: Ctx, page: PageRow) -> list[dict[str, Any]]:
    chain: list[PageRow] = []
    parent_id = page.parent_id
    while parent_id is not None and len(chain) < 100:
        parent = load_page(ctx.db, parent_id)
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent.parent_id
    return [content_json(ctx, ancestor, frozenset()) for ancestor in reversed(chain)]


def routes(state: SandboxState) -> list[BaseRoute]:
    """The content endpoints over this state."""
    db = state.db

    def list_content(request: Request, payload: bytes) -> Response:
        kind = request.query_params.get("type", "page")
        expand = expand_param(request)
        cap = SEARCH_LIMIT_CAP_WITH_BODY if "body" in expand else SEARCH_LIMIT_CAP
        limit = limit_param(request, default=SEARCH_LIMIT_DEFAULT, cap=cap)
        start = max(0, int_param(request, "start", 0))
        clauses = ["type = ?"]
        params: list[object] = [kind]
        for param, column in (("spaceKey", "space_key"), ("title", "title")):
            value = request.query_params.get(param)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        site = site_of(request)
        with state.lock:
            rows = db.execute(
                f"SELECT * FROM content WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ? OFFSET ?",
                [*params, limit + 1, start],
            ).fetchall()
            ctx = Ctx(state, site)
            results = [content_json(ctx, PageRow.from_row(row), expand) for row in rows[:limit]]
        next_path = None
        if len(rows) > limit:
            query = {k: v for k, v in request.query_params.items() if k not in ("start", "limit")}
            query.update({"start": str(start + limit), "limit": str(limit)})
            next_path = f"/rest/api/content?{urlencode(query)}"
        return listing(
            site, "/rest/api/content", results, start=start, limit=limit, next_path=next_path
        )

    def get_content(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        number = request.query_params.get("version")
        with state.lock:
            page = page_at(db, page_id, number)
            ctx = Ctx(state, site_of(request))
            return JSONResponse(content_json(ctx, page, expand_param(request), top=True))

    def create_content(request: Request, payload: bytes) -> Response:
        data = json_body(payload)
        kind = data.get("type")
        if kind != "page":
            raise Problem(400, f"Unsupported content type: {kind} (the sandbox has pages only)")
        if data.get("status", "current") != "current":
            raise Problem(400, "The sandbox creates current pages only (no drafts)")
        title = data.get("title")
        if not isinstance(title, str):
            raise Problem(400, "Title is required")
        space = data.get("space")
        space_key = space.get("key") if isinstance(space, dict) else None
        if not isinstance(space_key, str) or not space_key:
            raise Problem(400, "space.key is required")
        body = storage_from(data.get("body"))
        stored = reserialize_or_400(body if body is not None else "")
        parent_id, _ = parent_from(data)
        with state.transaction() as conn:
            if space_row(conn, space_key) is None:
                raise Problem(403, f"Space does not exist or cannot be written: {space_key}")
            check_title(conn, space_key, title, None)
            if parent_id is not None:
                parent = load_page(conn, parent_id)
                if parent is None or parent.space_key != space_key:
                    raise Problem(400, f"Parent page {parent_id} not found in space {space_key}")
            page_id = insert_page(
                conn,
                space_key=space_key,
                title=title,
                body=stored,
                author=caller_id(request),
                created=utc_now(),
                parent_id=parent_id,
            )
            apply_metadata(conn, page_id, data.get("metadata"))
            webhooks.page_event(conn, "page_created", page_id, caller_id(request))
            page = require_page(conn, page_id)
            ctx = Ctx(state, site_of(request))
            expand = _DEFAULT_WRITE_EXPAND | expand_param(request)
            return JSONResponse(content_json(ctx, page, expand, top=True))

    def update_content(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        data = json_body(payload)
        version = data.get("version")
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(
                400,
                "Must supply an incremented version when updating Content. No version supplied.",
            )
        assert isinstance(version, dict)
        if not isinstance(data.get("type"), str):
            raise Problem(400, "Content type is required when updating content")
        title = data.get("title")
        if not isinstance(title, str):
            raise Problem(400, "Title is required when updating content")
        if data.get("status", "current") != "current":
            raise Problem(400, "The sandbox updates current pages only (no drafts)")
        body = storage_from(data.get("body"))
        parent_id, move = parent_from(data)
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            if data["type"] != page.type:
                raise Problem(400, f"Content type cannot change from {page.type} to {data['type']}")
            updated = update_page(
                conn,
                page,
                number=number,
                author=caller_id(request),
                title=title,
                body=body,
                minor_edit=bool(version.get("minorEdit", False)),
                message=str(version.get("message") or ""),
                parent_id=parent_id,
                move=move,
            )
            apply_metadata(conn, page_id, data.get("metadata"))
            ctx = Ctx(state, site_of(request))
            expand = _DEFAULT_WRITE_EXPAND | expand_param(request)
            return JSONResponse(content_json(ctx, updated, expand, top=True))

    return [
        Route("/wiki/rest/api/content", guard(list_content, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/content", guard(create_content, v1_error), methods=["POST"]),
        Route("/wiki/rest/api/content/{id}", guard(get_content, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/content/{id}", guard(update_content, v1_error), methods=["PUT"]),
    ]
