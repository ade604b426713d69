"""An issue's remote links (links to web pages, such as a postmortem):
`GET/POST/DELETE issue/{key}/remotelink` and `GET/PUT/DELETE .../remotelink/{id}`.

A POST with a `globalId` the issue already has a link for updates that link (200) and
nulls what it left out; otherwise it adds one (201) and records a `RemoteIssueLink`
change. `DELETE` without an id deletes by `?globalId=`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira import changelog
from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, no_content
from followup.sandbox.jira.formats import utc_now
from followup.sandbox.jira.lookups import issue_row


def _link_json(ctx: Ctx, issue_id: int, row: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": int(row["id"]),
        "self": f"{ctx.api}/issue/{issue_id}/remotelink/{row['id']}",
    }
    if row["global_id"] is not None:
        data["globalId"] = row["global_id"]
    data["application"] = json.loads(row["application"]) if row["application"] else {}
    if row["relationship"] is not None:
        data["relationship"] = row["relationship"]
    data["object"] = json.loads(row["object"])
    return data


def _get_links(ctx: Ctx) -> Response:
    global_id = ctx.params.get("globalId")
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        if global_id is not None:
            row = db.execute(
                "SELECT * FROM remote_links WHERE issue_id = ? AND global_id = ?",
                (issue["id"], global_id),
            ).fetchone()
            if row is None:
                raise JiraError(404, [f"No remote link with globalId '{global_id}' on this issue."])
            return json_response(_link_json(ctx, issue["id"], row))
        rows = db.execute(
            "SELECT * FROM remote_links WHERE issue_id = ? ORDER BY id", (issue["id"],)
        ).fetchall()
        return json_response([_link_json(ctx, issue["id"], r) for r in rows])


def _get_link(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        return json_response(_link_json(ctx, issue["id"], row))


def _link_row(db: sqlite3.Connection, issue_id: int, link_id: str) -> sqlite3.Row:
    row = None
    if link_id.isdigit():
        row = db.execute(
            "SELECT * FROM remote_links WHERE issue_id = ? AND id = ?", (issue_id, int(link_id))
        ).fetchone()
    if row is None:
        raise JiraError(404, [f"No remote link with id '{link_id}' on this issue."])
    return row  # type: ignore[no-any-return]


def _link_values(body: Any) -> tuple[str | None, str, str | None, str | None]:
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    obj = body.get("object")
    errors: dict[str, str] = {}
    if not isinstance(obj, dict):
        errors["object"] = "'object' is required."
    else:
        if not isinstance(obj.get("url"), str) or not obj["url"]:
            errors["url"] = "'url' is required."
        if not isinstance(obj.get("title"), str) or not obj["title"]:
            errors["title"] = "'title' is required."
    if errors:
        raise JiraError(400, [], errors)
    global_id = body.get("globalId")
    if global_id is not None and not isinstance(global_id, str):
        raise JiraError(400, [], {"globalId": "'globalId' must be a string."})
    if global_id is not None and len(global_id) > 255:
        raise JiraError(400, [], {"globalId": "'globalId' must be at most 255 characters."})
    relationship = body.get("relationship")
    application = body.get("application")
    return (
        global_id,
        json.dumps(obj),
        None if relationship is None else str(relationship),
        None if application is None else json.dumps(application),
    )


def _post_link(ctx: Ctx) -> Response:
    global_id, obj, relationship, application = _link_values(ctx.body)
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        existing = None
        if global_id is not None:
            existing = db.execute(
                "SELECT id FROM remote_links WHERE issue_id = ? AND global_id = ?",
                (issue["id"], global_id),
            ).fetchone()
        if existing is not None:
            link_id = int(existing["id"])
            db.execute(
                "UPDATE remote_links SET object = ?, relationship = ?, application = ?"
                " WHERE id = ?",
                (obj, relationship, application, link_id),
            )
            status = 200
        else:
            cursor = db.execute(
                "INSERT INTO remote_links (issue_id, global_id, object, relationship, application)"
                " VALUES (?,?,?,?,?)",
                (issue["id"], global_id, obj, relationship, application),
            )
            link_id = int(cursor.lastrowid or 0)
            status = 201
            title = json.loads(obj).get("title")
            changelog.record(
                db,
                int(issue["id"]),
                ctx.user.account_id,
                utc_now(),
                [
                    changelog.Change(
                        "RemoteIssueLink",
                        None,
                        None,
                        str(link_id),
                        f'This issue links to "{title} (Web Link)"',
                    )
                ],
            )
    return json_response(
        {"id": link_id, "self": f"{ctx.api}/issue/{issue['id']}/remotelink/{link_id}"}, status
    )


def _put_link(ctx: Ctx) -> Response:
    global_id, obj, relationship, application = _link_values(ctx.body)
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        db.execute(
            "UPDATE remote_links SET global_id = ?, object = ?, relationship = ?, application = ?"
            " WHERE id = ?",
            (global_id, obj, relationship, application, row["id"]),
        )
    return no_content()


def _delete_link(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        db.execute("DELETE FROM remote_links WHERE id = ?", (row["id"],))
    return no_content()


def _delete_link_by_global_id(ctx: Ctx) -> Response:
    global_id = ctx.params.get("globalId")
    if global_id is None:
        raise JiraError(400, ["The 'globalId' query parameter is required."])
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        gone = db.execute(
            "DELETE FROM remote_links WHERE issue_id = ? AND global_id = ?",
            (issue["id"], global_id),
        ).rowcount
    if not gone:
        raise JiraError(404, [f"No remote link with globalId '{global_id}' on this issue."])
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/remotelink", _get_links),
    ("POST", "issue/{issueIdOrKey}/remotelink", _post_link),
    ("DELETE", "issue/{issueIdOrKey}/remotelink", _delete_link_by_global_id),
    ("GET", "issue/{issueIdOrKey}/remotelink/{linkId}", _get_link),
    ("PUT", "issue/{issueIdOrKey}/remotelink/{linkId}", _put_link),
    ("DELETE", "issue/{issueIdOrKey}/remotelink/{linkId}", _delete_link),
)
