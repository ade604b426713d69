"""A page's history and versions: `GET /wiki/rest/api/content/{id}/history`
(`createdBy`, `createdDate`, `lastUpdated`, `previousVersion`) and
`GET .../version[/{n}]` (newest first), and a version as answers show it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    guard,
    int_param,
    limit_param,
    listing,
    page_id_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.rows import (
    PageRow,
    Version,
    friendly_time,
    historical,
    page_version,
    require_page,
)
from followup.sandbox.confluence.users import user_json
from followup.sandbox.state import SandboxState

VERSION_LIMIT_DEFAULT = 200


def version_json(ctx: Ctx, page: PageRow, version: Version) -> dict[str, Any]:
    return {
        "by": user_json(ctx, version.author),
        "when": version.when,
        "friendlyWhen": friendly_time(version.when),
        "message": version.message,
        "number": version.number,
        "minorEdit": version.minor_edit,
        "contentTypeModified": False,
        "_expandable": {"collaborators": "", "content": f"/rest/api/content/{page.id}"},
        "_links": {"self": f"{ctx.site.base}/rest/api/content/{page.id}/version/{version.number}"},
    }


def history_json(ctx: Ctx, page: PageRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "latest": page.status == "current",
        "createdBy": user_json(ctx, page.author),
        "createdDate": page.created,
        "lastUpdated": version_json(ctx, page, page_version(ctx.db, page)),
        "_expandable": {"previousVersion": "", "contributors": "", "nextVersion": ""},
        "_links": {"self": f"{ctx.site.base}/rest/api/content/{page.id}/history"},
    }
    if page.version > 1:
        previous = page_version(ctx.db, page, page.version - 1)
        data["previousVersion"] = version_json(ctx, page, previous)
        del data["_expandable"]["previousVersion"]
    return data


def routes(state: SandboxState) -> list[BaseRoute]:
    """The history and version endpoints over this state."""
    db = state.db

    def content_history(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        with state.lock:
            page = require_page(db, page_id)
            return JSONResponse(history_json(Ctx(state, site_of(request)), page))

    def content_versions(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=VERSION_LIMIT_DEFAULT, cap=VERSION_LIMIT_DEFAULT)
        site = site_of(request)
        with state.lock:
            page = require_page(db, page_id)
            numbers = list(range(page.version, 0, -1))[start : start + limit + 1]
            ctx = Ctx(state, site)
            results = [version_json(ctx, page, page_version(db, page, n)) for n in numbers[:limit]]
        more = len(numbers) > limit
        return listing(
            site,
            f"/rest/api/content/{page_id}/version",
            results,
            start=start,
            limit=limit,
            next_path=(
                f"/rest/api/content/{page_id}/version?start={start + limit}&limit={limit}"
                if more
                else None
            ),
        )

    def content_version(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        raw = str(request.path_params["number"])
        if not raw.isdigit():
            raise Problem(400, f"Version is not valid: {raw}")
        with state.lock:
            page = require_page(db, page_id)
            historical(db, page, int(raw))  # 404 when there is no such version
            version = page_version(db, page, int(raw))
            return JSONResponse(version_json(Ctx(state, site_of(request)), page, version))

    return [
        Route(
            "/wiki/rest/api/content/{id}/history",
            guard(content_history, v1_error),
            methods=["GET"],
        ),
        Route(
            "/wiki/rest/api/content/{id}/version",
            guard(content_versions, v1_error),
            methods=["GET"],
        ),
        Route(
            "/wiki/rest/api/content/{id}/version/{number}",
            guard(content_version, v1_error),
            methods=["GET"],
        ),
    ]
