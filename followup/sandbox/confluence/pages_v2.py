"""Confluence Cloud's v2 pages: `GET /wiki/api/v2/pages` (`id`, `space-id`, `title`,
`status`, `body-format=storage`, `limit`, `cursor`), `GET /wiki/api/v2/pages/{id}` and
`PUT /wiki/api/v2/pages/{id}` (`id, status, title, body, version` required; the same
version rule and re-serialisation as v1). Data Center has no v2: every path is a 404.
Errors have the v2 shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    Site,
    caller_id,
    decode_cursor,
    encode_cursor,
    guard,
    json_body,
    limit_param,
    page_id_param,
    site_of,
    v2_error,
)
from followup.sandbox.confluence.rows import (
    PageRow,
    page_at,
    page_version,
    require_page,
    space_row,
)
from followup.sandbox.confluence.web import tiny_id
from followup.sandbox.confluence.writes import storage_value, update_page
from followup.sandbox.state import SandboxState

V2_LIMIT_DEFAULT = 25
V2_LIMIT_CAP = 250


def page_json(ctx: Ctx, page: PageRow, *, with_body: bool) -> dict[str, Any]:
    space = space_row(ctx.db, page.space_key)
    version = page_version(ctx.db, page)
    data: dict[str, Any] = {
        "id": str(page.id),
        "status": page.status,
        "title": page.title,
        "spaceId": str(space["id"] if space else 0),
    }
    if page.parent_id is not None:
        data["parentId"] = str(page.parent_id)
        data["parentType"] = "page"
    data.update(
        {
            "position": None,
            "authorId": page.author,
            "ownerId": page.author,
            "lastOwnerId": None,
            "createdAt": page.created,
            "version": {
                "createdAt": version.when,
                "message": version.message,
                "number": version.number,
                "minorEdit": version.minor_edit,
                "authorId": version.author,
            },
            "body": (
                {"storage": {"representation": "storage", "value": page.body}} if with_body else {}
            ),
            "_links": {
                "webui": f"/spaces/{page.space_key}/pages/{page.id}",
                "editui": f"/pages/resumedraft.action?draftId={page.id}",
                "tinyui": f"/x/{tiny_id(page.id)}",
            },
        }
    )
    return data


def routes(state: SandboxState) -> list[BaseRoute]:
    """The v2 page endpoints over this state."""
    db = state.db

    def require_cloud() -> None:
        if state.flavor != "cloud":
            raise Problem(404, "Confluence Data Center has no /wiki/api/v2")

    def body_format(request: Request) -> bool:
        value = request.query_params.get("body-format")
        if value in (None, "", "none"):  # atlassian-python-api sends "none" for no body
            return False
        if value != "storage":
            raise Problem(
                400, f"Unsupported body-format: {value} (the sandbox serves storage only)"
            )
        return True

    def id_list(request: Request, name: str) -> list[int]:
        ids: list[int] = []
        for value in request.query_params.getlist(name):
            for part in value.split(","):
                if not part.strip().isdigit():
                    raise Problem(400, f"Parameter '{name}' must be a list of ids, got: {part}")
                ids.append(int(part))
        return ids

    def v2_pages(request: Request, payload: bytes) -> Response:
        require_cloud()
        with_body = body_format(request)
        limit = limit_param(request, default=V2_LIMIT_DEFAULT, cap=V2_LIMIT_CAP)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor)[0] if cursor else 0
        clauses = ["content.type = 'page'", "content.id > ?"]
        params: list[object] = [after]
        page_ids = id_list(request, "id")
        if page_ids:
            clauses.append(f"content.id IN ({','.join('?' * len(page_ids))})")
            params.extend(page_ids)
        space_ids = id_list(request, "space-id")
        if space_ids:
            clauses.append(
                "content.space_key IN (SELECT key FROM spaces WHERE id IN"
                f" ({','.join('?' * len(space_ids))}))"
            )
            params.extend(space_ids)
        title = request.query_params.get("title")
        if title:
            clauses.append("content.title = ?")
            params.append(title)
        statuses = [
            s for value in request.query_params.getlist("status") for s in value.split(",") if s
        ]
        if statuses:
            clauses.append(f"content.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        site = site_of(request)
        with state.lock:
            results, last = pages_after(state, site, clauses, params, limit, with_body=with_body)
        return v2_list(request, "/wiki/api/v2/pages", site, results, limit, last)

    def v2_page(request: Request, payload: bytes) -> Response:
        require_cloud()
        page_id = page_id_param(request)
        with_body = body_format(request)
        number = request.query_params.get("version")
        with state.lock:
            page = page_at(db, page_id, number)
            data = page_json(Ctx(state, site_of(request)), page, with_body=with_body)
        data["_links"]["base"] = site_of(request).base
        return JSONResponse(data)

    def v2_update_page(request: Request, payload: bytes) -> Response:
        require_cloud()
        page_id = page_id_param(request)
        data = json_body(payload)
        missing = [k for k in ("id", "status", "title", "body", "version") if k not in data]
        if missing:
            raise Problem(400, f"Missing required fields: {', '.join(missing)}")
        if str(data["id"]) != str(page_id):
            raise Problem(400, f"The id in the body ({data['id']}) differs from the path")
        if data["status"] != "current":
            raise Problem(400, "The sandbox updates current pages only (no drafts)")
        version = data["version"]
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(400, "version.number is required")
        assert isinstance(version, dict)
        body = data["body"]
        storage = body.get("storage", body) if isinstance(body, dict) else body
        value = storage_value(storage)
        parent = data.get("parentId")
        if parent is not None and not str(parent).isdigit():
            raise Problem(400, f"parentId is not valid: {parent}")
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            updated = update_page(
                conn,
                page,
                number=number,
                author=caller_id(request),
                title=str(data["title"]),
                body=value,
                minor_edit=bool(version.get("minorEdit", False)),
                message=str(version.get("message") or ""),
                parent_id=int(parent) if parent is not None else None,
                move=parent is not None,
            )
            result = page_json(Ctx(state, site_of(request)), updated, with_body=True)
        result["_links"]["base"] = site_of(request).base
        return JSONResponse(result)

    return [
        Route("/wiki/api/v2/pages", guard(v2_pages, v2_error), methods=["GET"]),
        Route("/wiki/api/v2/pages/{id}", guard(v2_page, v2_error), methods=["GET"]),
        Route("/wiki/api/v2/pages/{id}", guard(v2_update_page, v2_error), methods=["PUT"]),
    ]


def pages_after(
    state: SandboxState,
    site: Site,
    clauses: list[str],
    params: list[object],
    limit: int,
    *,
    with_body: bool,
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to `limit` pages matching `clauses` by id order, as v2 JSON, and the id of the
    last one when more follow (None when this is the last page of results). The caller
    holds `state.lock`."""
    rows = state.db.execute(
        f"SELECT content.* FROM content WHERE {' AND '.join(clauses)} ORDER BY content.id LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    pages = [PageRow.from_row(row) for row in rows[:limit]]
    ctx = Ctx(state, site)
    results = [page_json(ctx, page, with_body=with_body) for page in pages]
    return results, (pages[-1].id if len(rows) > limit else None)


def v2_list(
    request: Request,
    path: str,
    site: Site,
    results: list[dict[str, Any]],
    limit: int,
    last: int | None,
) -> JSONResponse:
    """A v2 list answer; when more follow (`last` set), its next link in `_links.next`
    and in the `Link` header, with the request's other parameters kept."""
    links: dict[str, str] = {"base": site.base}
    headers: dict[str, str] = {}
    if last is not None:
        query = [
            (k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "limit")
        ]
        query += [("limit", str(limit)), ("cursor", encode_cursor(last, 0))]
        links["next"] = f"{path}?{urlencode(query)}"
        headers["Link"] = f'<{links["next"]}>; rel="next", <{site.base}>; rel="base"'
    return JSONResponse({"results": results, "_links": links}, headers=headers)
