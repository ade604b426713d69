"""Content properties, compare-and-swap on their version:
`GET/POST /wiki/rest/api/content/{id}/property` and `GET/PUT/POST/DELETE
.../property/{key}`.

Creating a key that exists is a 409 (the v1 document says 400; Confluence Cloud is
observed to answer 409, and a client must handle both). A PUT needs `version.number`
= current + 1, else 409; on a key that does not exist, `number: 1` creates it and any
other number is a 404. A value is any JSON up to 32768 bytes (longer: 413).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import (
    Ctx,
    Problem,
    guard,
    int_param,
    json_body,
    limit_param,
    listing,
    page_id_param,
    site_of,
    v1_error,
)
from followup.sandbox.confluence.rows import require_page, utc_now
from followup.sandbox.confluence.tables import PROPERTY_ID_BASE, next_id
from followup.sandbox.state import SandboxState

PROPERTY_LIMIT_DEFAULT = 10
PROPERTY_LIMIT_CAP = 100
PROPERTY_VALUE_MAX_BYTES = 32768


def property_row(db: sqlite3.Connection, page_id: int, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM content_properties WHERE content_id = ? AND key = ?", (page_id, key)
    ).fetchone()
    return row


def property_value(data: Mapping[str, Any]) -> str:
    if "value" not in data:
        raise Problem(400, "A content property needs a value")
    encoded = json.dumps(data["value"], separators=(",", ":"), ensure_ascii=False)
    if len(encoded.encode("utf-8")) > PROPERTY_VALUE_MAX_BYTES:
        raise Problem(413, f"The property value is longer than {PROPERTY_VALUE_MAX_BYTES} bytes")
    return encoded


def check_property_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise Problem(400, "The property key must not be empty")
    if len(key) > 255:
        raise Problem(400, "The property key must not be longer than 255 characters")
    return key


def create_property(
    db: sqlite3.Connection, page_id: int, key: str, value: str, *, minor_edit: bool = False
) -> sqlite3.Row:
    if property_row(db, page_id, key) is not None:
        raise Problem(
            409,
            f"Cannot add a property with key '{key}' to content {page_id}: "
            "a property with that key already exists",
        )
    db.execute(
        "INSERT INTO content_properties (content_id, key, value, version, id, updated,"
        " minor_edit) VALUES (?, ?, ?, 1, ?, ?, ?)",
        (
            page_id,
            key,
            value,
            next_id(db, "content_properties", PROPERTY_ID_BASE),
            utc_now(),
            int(minor_edit),
        ),
    )
    row = property_row(db, page_id, key)
    assert row is not None
    return row


def update_property(
    db: sqlite3.Connection,
    page_id: int,
    key: str,
    value: str,
    number: int,
    *,
    minor_edit: bool = False,
) -> sqlite3.Row:
    current = property_row(db, page_id, key)
    if current is None:
        if number != 1:
            raise Problem(
                404,
                f"No property with key '{key}' on content {page_id}: to create it, send version 1",
            )
        return create_property(db, page_id, key, value, minor_edit=minor_edit)
    if number != current["version"] + 1:
        raise Problem(
            409,
            f"Version must be incremented on update. Current version is: {current['version']}",
        )
    db.execute(
        "UPDATE content_properties SET value = ?, version = ?, updated = ?, minor_edit = ?"
        " WHERE content_id = ? AND key = ?",
        (value, number, utc_now(), int(minor_edit), page_id, key),
    )
    row = property_row(db, page_id, key)
    assert row is not None
    return row


def property_json(ctx: Ctx, page_id: int, row: sqlite3.Row) -> dict[str, Any]:
    key = row["key"]
    return {
        "id": str(row["id"]),
        "key": key,
        "value": json.loads(row["value"]),
        "version": {
            "when": row["updated"],
            "message": "",
            "number": row["version"],
            "minorEdit": bool(row["minor_edit"]),
            "contentTypeModified": False,
        },
        "_links": {
            "base": ctx.site.base,
            "context": ctx.site.context,
            "self": f"{ctx.site.base}/rest/api/content/{page_id}/property/{quote(key)}",
        },
        "_expandable": {"content": f"/rest/api/content/{page_id}"},
    }


def routes(state: SandboxState) -> list[BaseRoute]:
    """The content property endpoints over this state."""
    db = state.db

    def list_properties(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=PROPERTY_LIMIT_DEFAULT, cap=PROPERTY_LIMIT_CAP)
        keys = [k for value in request.query_params.getlist("key") for k in value.split(",") if k]
        site = site_of(request)
        with state.lock:
            require_page(db, page_id)
            sql = "SELECT * FROM content_properties WHERE content_id = ?"
            params: list[object] = [page_id]
            if keys:
                sql += f" AND key IN ({','.join('?' * len(keys))})"
                params.extend(keys)
            rows = db.execute(
                sql + " ORDER BY id LIMIT ? OFFSET ?", [*params, limit + 1, start]
            ).fetchall()
            ctx = Ctx(state, site)
            results = [property_json(ctx, page_id, row) for row in rows[:limit]]
        more = len(rows) > limit
        return listing(
            site,
            f"/rest/api/content/{page_id}/property",
            results,
            start=start,
            limit=limit,
            next_path=(
                f"/rest/api/content/{page_id}/property?start={start + limit}&limit={limit}"
                if more
                else None
            ),
        )

    def post_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        data = json_body(payload)
        key = check_property_key(request.path_params.get("key", data.get("key")))
        value = property_value(data)
        with state.transaction() as conn:
            require_page(conn, page_id)
            row = create_property(conn, page_id, key, value)
            return JSONResponse(property_json(Ctx(state, site_of(request)), page_id, row))

    def get_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = str(request.path_params["key"])
        with state.lock:
            require_page(db, page_id)
            row = property_row(db, page_id, key)
            if row is None:
                raise Problem(404, f"Cannot find content property with key '{key}'")
            return JSONResponse(property_json(Ctx(state, site_of(request)), page_id, row))

    def put_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = check_property_key(str(request.path_params["key"]))
        data = json_body(payload)
        version = data.get("version")
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(400, "A content property update needs version.number")
        assert isinstance(version, dict)
        if "key" in data and data["key"] != key:
            raise Problem(400, f"The key in the body ({data['key']}) differs from the path")
        value = property_value(data)
        with state.transaction() as conn:
            require_page(conn, page_id)
            row = update_property(
                conn, page_id, key, value, number, minor_edit=bool(version.get("minorEdit"))
            )
            return JSONResponse(property_json(Ctx(state, site_of(request)), page_id, row))

    def delete_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = str(request.path_params["key"])
        with state.transaction() as conn:
            require_page(conn, page_id)
            gone = conn.execute(
                "DELETE FROM content_properties WHERE content_id = ? AND key = ?", (page_id, key)
            ).rowcount
            if not gone:
                raise Problem(404, f"Cannot find content property with key '{key}'")
        return Response(status_code=204)

    path = "/wiki/rest/api/content/{id}/property"
    return [
        Route(path, guard(list_properties, v1_error), methods=["GET"]),
        Route(path, guard(post_property, v1_error), methods=["POST"]),
        Route(path + "/{key}", guard(get_property, v1_error), methods=["GET"]),
        Route(path + "/{key}", guard(put_property, v1_error), methods=["PUT"]),
        Route(path + "/{key}", guard(post_property, v1_error), methods=["POST"]),
        Route(path + "/{key}", guard(delete_property, v1_error), methods=["DELETE"]),
    ]
