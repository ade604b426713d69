"""Issue entity properties: `GET issue/{key}/properties` (the keys) and
`GET/PUT/DELETE issue/{key}/properties/{k}`. A PUT answers 201 when it creates, 200
when it replaces; a value is any JSON up to 32 KB.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from followup.sandbox.jira import validation
from followup.sandbox.jira.context import (
    Ctx,
    FieldErrors,
    Handler,
    JiraError,
    json_response,
    no_content,
)
from followup.sandbox.jira.lookups import issue_row


def _property_keys(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        keys = [
            r["key"]
            for r in db.execute(
                "SELECT key FROM issue_properties WHERE issue_id = ? ORDER BY key", (issue["id"],)
            )
        ]
    return json_response(
        {
            "keys": [
                {"self": f"{ctx.api}/issue/{issue['id']}/properties/{k}", "key": k} for k in keys
            ]
        }
    )


def _get_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = db.execute(
            "SELECT value FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).fetchone()
    if row is None:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return json_response({"key": key, "value": json.loads(row["value"])})


def _put_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    raw = ctx.body
    if raw is None:
        raise JiraError(400, ["The property value must be a valid, non-empty JSON value."])
    try:
        value = validation.property_value(key, raw)
    except FieldErrors as exc:
        raise exc.answer() from exc
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        existed = db.execute(
            "SELECT 1 FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)", (issue["id"], key, value)
        )
    return Response(status_code=200 if existed else 201)


def _delete_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        gone = db.execute(
            "DELETE FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).rowcount
    if not gone:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/properties", _property_keys),
    ("GET", "issue/{issueIdOrKey}/properties/{propertyKey}", _get_property),
    ("PUT", "issue/{issueIdOrKey}/properties/{propertyKey}", _put_property),
    ("DELETE", "issue/{issueIdOrKey}/properties/{propertyKey}", _delete_property),
)
