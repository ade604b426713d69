"""Spaces: `GET /wiki/rest/api/space` and `GET /wiki/rest/api/space/{spaceKey}`, on both
flavors.

The list filters by `spaceKey` (repeated or comma-separated), `type` (every sandbox space
is `global`) and `status` (`current`), pages by `start`/`limit` with a `_links.next`
when more follow, and expands `description.plain`. An unknown key is a 404
"No space with key : X" (as Confluence Data Center answers it).
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
    expand_param,
    guard,
    int_param,
    limit_param,
    listing,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.rows import space_row
from followup.sandbox.state import SandboxState

SPACE_LIMIT_DEFAULT = 25
SPACE_LIMIT_CAP = 500  # the sandbox's own cap: Atlassian documents none for this list


def space_json(ctx: Ctx, key: str, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A space as the API shows it, with `description` when it is expanded."""
    data = _space(ctx, key)
    if "description" in expand:
        description: dict[str, Any] = {"_expandable": {"view": "", "plain": ""}}
        for form in ("plain", "view"):
            if f"description.{form}" in expand:
                description[form] = {"value": "", "representation": form, "embeddedContent": []}
                del description["_expandable"][form]
        data["description"] = description
        del data["_expandable"]["description"]
    return data


def _space(ctx: Ctx, key: str) -> dict[str, Any]:
    row = space_row(ctx.db, key)
    return {
        "id": row["id"] if row else 0,
        "key": key,
        "name": row["name"] if row else key,
        "type": "global",
        "status": "current",
        "_expandable": {
            "settings": f"/rest/api/space/{key}/settings",
            "metadata": "",
            "operations": "",
            "lookAndFeel": f"/rest/api/settings/lookandfeel?spaceKey={key}",
            "identifiers": "",
            "permissions": "",
            "icon": "",
            "description": "",
            "theme": f"/rest/api/space/{key}/theme",
            "history": "",
            "homepage": "",
        },
        "_links": {
            # Data Center: /display/KEY (recorded from Confluence Server, the space
            # list in Virtomize/confluence-go-api's mocks/spaces.json).
            "webui": f"/display/{key}" if ctx.dc else f"/spaces/{key}",
            "self": f"{ctx.site.base}/rest/api/space/{key}",
        },
    }


def routes(state: SandboxState) -> list[BaseRoute]:
    """The space endpoints over this state."""
    db = state.db

    def list_spaces(request: Request, payload: bytes) -> Response:
        params = request.query_params
        keys = [k for value in params.getlist("spaceKey") for k in value.split(",") if k]
        kind = params.get("type")
        status = params.get("status")
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=SPACE_LIMIT_DEFAULT, cap=SPACE_LIMIT_CAP)
        expand = expand_param(request)
        clauses, values = ["1 = 1"], []
        if keys:
            clauses.append(f"key IN ({','.join('?' * len(keys))})")
            values.extend(keys)
        if kind not in (None, "", "global") or status not in (None, "", "current"):
            clauses.append("0 = 1")  # every sandbox space is a current, global one
        site = site_of(request)
        with state.lock:
            rows = db.execute(
                f"SELECT key FROM spaces WHERE {' AND '.join(clauses)} ORDER BY key"
                " LIMIT ? OFFSET ?",
                [*values, limit + 1, start],
            ).fetchall()
            ctx = Ctx(state, site)
            results = [space_json(ctx, row["key"], expand) for row in rows[:limit]]
        kept = [(k, v) for k, v in params.multi_items() if k not in ("start", "limit")]
        next_path = None
        if len(rows) > limit:
            query = [*kept, ("limit", str(limit)), ("start", str(start + limit))]
            next_path = f"/rest/api/space?{urlencode(query)}"
        return listing(
            site,
            f"/rest/api/space?{urlencode(kept)}" if kept else "/rest/api/space",
            results,
            start=start,
            limit=limit,
            next_path=next_path,
        )

    def get_space(request: Request, payload: bytes) -> Response:
        key = str(request.path_params["spaceKey"])
        site = site_of(request)
        with state.lock:
            if space_row(db, key) is None:
                raise Problem(404, f"No space with key : {key}")
            data = space_json(Ctx(state, site), key, expand_param(request))
        data["_links"].update({"base": site.base, "context": site.context})
        return JSONResponse(data)

    return [
        Route("/wiki/rest/api/space", guard(list_spaces, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/space/{spaceKey}", guard(get_space, v1_error), methods=["GET"]),
    ]
