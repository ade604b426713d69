"""A page's labels: `GET/POST /wiki/rest/api/content/{id}/label` and
`DELETE .../label/{label}`. Every label is `global`; a POST (one label or a list) adds,
lower-cased, what the page lacks.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox import webhooks
from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    caller_id,
    guard,
    page_id_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.rows import PageRow, require_page
from followup.sandbox.confluence.writes import apply_metadata
from followup.sandbox.state import SandboxState


def _label_id(label: str) -> str:
    return str(1000000 + zlib.crc32(label.encode("utf-8")) % 900000000)


def _page_labels(db: sqlite3.Connection, page_id: int) -> list[str]:
    rows = db.execute(
        "SELECT label FROM content_labels WHERE content_id = ? ORDER BY label", (page_id,)
    ).fetchall()
    return [row[0] for row in rows]


def labels_json(ctx: Ctx, page: PageRow) -> dict[str, Any]:
    names = _page_labels(ctx.db, page.id)
    return {
        "results": [
            {"prefix": "global", "name": name, "id": _label_id(name), "label": name}
            for name in names
        ],
        "start": 0,
        "limit": 200,
        "size": len(names),
        "_links": {"self": f"{ctx.site.base}/rest/api/content/{page.id}/label"},
    }


def routes(state: SandboxState) -> list[BaseRoute]:
    """The label endpoints over this state."""
    db = state.db

    def get_labels(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        with state.lock:
            page = require_page(db, page_id)
            return JSONResponse(labels_json(Ctx(state, site_of(request)), page))

    def add_labels(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "Unable to parse the request body as JSON") from None
        items = data if isinstance(data, list) else [data]
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            before = set(_page_labels(conn, page_id))
            apply_metadata(conn, page_id, {"labels": items})
            for added in _page_labels(conn, page_id):
                if added not in before:
                    webhooks.page_event(
                        conn, "label_added", page_id, caller_id(request), label=added
                    )
            return JSONResponse(labels_json(Ctx(state, site_of(request)), page))

    def delete_label(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        label = str(request.path_params["label"])
        with state.transaction() as conn:
            require_page(conn, page_id)
            gone = conn.execute(
                "DELETE FROM content_labels WHERE content_id = ? AND label = ?", (page_id, label)
            ).rowcount
            if not gone:
                raise Problem(404, f"Label '{label}' is not on content {page_id}")
            webhooks.page_event(conn, "label_removed", page_id, caller_id(request), label=label)
        return Response(status_code=204)

    return [
        Route("/wiki/rest/api/content/{id}/label", guard(get_labels, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/content/{id}/label", guard(add_labels, v1_error), methods=["POST"]),
        Route(
            "/wiki/rest/api/content/{id}/label/{label}",
            guard(delete_label, v1_error),
            methods=["DELETE"],
        ),
    ]
