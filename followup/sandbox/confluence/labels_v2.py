"""Finding pages by label, as Confluence Cloud's v2 API and the v1 label lookup do:

- `GET /wiki/rest/api/label?name=…` (Cloud's v1 API documents it; not mounted on Data
  Center): the label (`{"label": {"prefix", "name", "id", "label"},
  "associatedContents": …}`), 404 when no content carries it. The label's id is what
  the v2 endpoint takes.
- `GET /wiki/api/v2/labels/{id}/pages` (Cloud only): the current pages carrying the
  label, with `space-id` (up to 100 ids, comma-separated or repeated),
  `body-format=storage`, `limit` (default 25, capped at 250) and `cursor`, in id order;
  the next page's relative URL both in `_links.next` and in the `Link` header
  (`<…>; rel="next", <base>; rel="base"`), as the v2 OpenAPI document describes.
- `GET /wiki/api/v2/spaces` (Cloud only): spaces by `ids` or `keys` (up to 250 each),
  paged the same way.

A label id that no label has is a 404 in the v2 error shape. Data Center has no v2: its
paths are 404s there.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import (
    Problem,
    Site,
    decode_cursor,
    guard,
    int_param,
    limit_param,
    site_of,
    v1_error,
    v2_error,
)
from followup.sandbox.confluence.labels import label_id
from followup.sandbox.confluence.pages_v2 import (
    V2_LIMIT_CAP,
    V2_LIMIT_DEFAULT,
    pages_after,
    v2_list,
)
from followup.sandbox.state import SandboxState

LABEL_SPACE_IDS_MAX = 100  # `space-id` of labels/{id}/pages: maxItems 100
SPACE_FILTER_MAX = 250  # `ids` and `keys` of /spaces: maxItems 250


def _list_param(request: Request, name: str, *, digits: bool, most: int) -> list[str]:
    values = [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]
    if digits and any(not v.isdigit() for v in values):
        raise Problem(400, f"Parameter '{name}' must be a list of ids")
    if len(values) > most:
        raise Problem(400, f"Parameter '{name}' takes at most {most} values")
    return values


def _label_named(db: sqlite3.Connection, wanted: int) -> str | None:
    for (name,) in db.execute("SELECT DISTINCT label FROM content_labels"):
        if int(label_id(name)) == wanted:
            return str(name)
    return None


def _space_json(site: Site, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "key": row["key"],
        "name": row["name"],
        "type": "global",
        "status": "current",
        "authorId": "",
        "createdAt": "2020-01-01T00:00:00.000Z",
        "_links": {"webui": f"/spaces/{row['key']}"},
    }


def routes(state: SandboxState) -> list[BaseRoute]:
    """The label lookup (both flavors) and the v2 label pages and spaces (Cloud)."""
    db = state.db

    def require_cloud() -> None:
        if state.flavor != "cloud":
            raise Problem(404, "Confluence Data Center has no /wiki/api/v2")

    def label_lookup(request: Request, payload: bytes) -> Response:
        name = (request.query_params.get("name") or "").strip()
        if not name:
            raise Problem(400, "A label name is required")
        kind = request.query_params.get("type")
        if kind not in (None, "", "page", "blogpost", "attachment", "page_template"):
            raise Problem(400, f"Invalid content type: {kind}")
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=200, cap=200)
        kinds = [kind] if kind else ["page", "blogpost", "attachment", "page_template"]
        with state.lock:
            rows = db.execute(
                "SELECT content.id, content.title, content.type FROM content"
                " JOIN content_labels cl ON cl.content_id = content.id"
                " WHERE cl.label = ? AND content.status = 'current'"
                f" AND content.type IN ({','.join('?' * len(kinds))})"
                " ORDER BY content.id LIMIT ? OFFSET ?",
                (name.lower(), *kinds, limit, start),
            ).fetchall()
            known = db.execute(
                "SELECT 1 FROM content_labels WHERE label = ? LIMIT 1", (name.lower(),)
            ).fetchone()
        if known is None:
            raise Problem(404, f"No label found with name: {name}")
        contents = [
            {"contentType": row["type"], "contentId": row["id"], "title": row["title"]}
            for row in rows
        ]
        return JSONResponse(
            {
                "label": {
                    "prefix": "global",
                    "name": name.lower(),
                    "id": label_id(name.lower()),
                    "label": name.lower(),
                },
                "associatedContents": {
                    "results": contents,
                    "start": start,
                    "limit": limit,
                    "size": len(contents),
                },
            }
        )

    def label_pages(request: Request, payload: bytes) -> Response:
        require_cloud()
        raw = str(request.path_params["id"])
        if not raw.isdigit():
            raise Problem(400, f"Label id is not valid: {raw}")
        value = request.query_params.get("body-format")
        if value not in (None, "", "storage"):
            raise Problem(400, f"Unsupported body-format: {value} (the sandbox serves storage)")
        with_body = value == "storage"
        limit = limit_param(request, default=V2_LIMIT_DEFAULT, cap=V2_LIMIT_CAP)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor)[0] if cursor else 0
        space_ids = _list_param(request, "space-id", digits=True, most=LABEL_SPACE_IDS_MAX)
        site = site_of(request)
        with state.lock:
            name = _label_named(db, int(raw))
            if name is None:
                raise Problem(404, f"No label with id {raw}")
            clauses = [
                "content.type = 'page'",
                "content.status = 'current'",
                "content.id > ?",
                "content.id IN (SELECT content_id FROM content_labels WHERE label = ?)",
            ]
            params: list[object] = [after, name]
            if space_ids:
                clauses.append(
                    "content.space_key IN (SELECT key FROM spaces WHERE id IN"
                    f" ({','.join('?' * len(space_ids))}))"
                )
                params.extend(int(i) for i in space_ids)
            results, last = pages_after(state, site, clauses, params, limit, with_body=with_body)
        return v2_list(request, f"/wiki/api/v2/labels/{raw}/pages", site, results, limit, last)

    def spaces(request: Request, payload: bytes) -> Response:
        require_cloud()
        limit = limit_param(request, default=V2_LIMIT_DEFAULT, cap=V2_LIMIT_CAP)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor)[0] if cursor else 0
        ids = _list_param(request, "ids", digits=True, most=SPACE_FILTER_MAX)
        keys = _list_param(request, "keys", digits=False, most=SPACE_FILTER_MAX)
        clauses: list[str] = ["id > ?"]
        params: list[object] = [after]
        if ids:
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(int(i) for i in ids)
        if keys:
            clauses.append(f"key IN ({','.join('?' * len(keys))})")
            params.extend(keys)
        site = site_of(request)
        with state.lock:
            rows = db.execute(
                f"SELECT * FROM spaces WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
        results = [_space_json(site, row) for row in rows[:limit]]
        last = int(rows[limit - 1]["id"]) if len(rows) > limit else None
        return v2_list(request, "/wiki/api/v2/spaces", site, results, limit, last)

    v2: list[BaseRoute] = [
        Route("/wiki/api/v2/labels/{id}/pages", guard(label_pages, v2_error), methods=["GET"]),
        Route("/wiki/api/v2/spaces", guard(spaces, v2_error), methods=["GET"]),
    ]
    if state.flavor != "cloud":
        return v2
    return [Route("/wiki/rest/api/label", guard(label_lookup, v1_error), methods=["GET"]), *v2]
