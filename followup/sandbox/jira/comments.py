"""An issue's comments: `GET/POST issue/{key}/comment` and `GET .../comment/{id}`, and
a comment's JSON (also in an issue's `comment` field). A comment of another issue is
a 404.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, page_params
from followup.sandbox.jira.formats import jira_time, rich_text_in, rich_text_out, utc_now
from followup.sandbox.jira.lookups import issue_row


def comment_json(ctx: Ctx, issue_id: int, row: sqlite3.Row) -> dict[str, Any]:
    author = ctx.user_out(row["author"])
    data: dict[str, Any] = {
        "self": f"{ctx.api}/issue/{issue_id}/comment/{row['id']}",
        "id": str(row["id"]),
        "body": rich_text_out(row["body"], ctx.rich),
        "created": jira_time(row["created"]),
        "updated": jira_time(row["created"]),
        "jsdPublic": True,
    }
    if author is not None:
        data["author"] = author
        data["updateAuthor"] = author
    return data


def _get_comments(ctx: Ctx) -> Response:
    start, limit = page_params(ctx, 5000)
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        rows = db.execute(
            "SELECT * FROM comments WHERE issue_id = ? ORDER BY id", (issue["id"],)
        ).fetchall()
    page = rows[start : start + limit]
    return json_response(
        {
            "startAt": start,
            "maxResults": limit,
            "total": len(rows),
            "comments": [comment_json(ctx, issue["id"], r) for r in page],
        }
    )


def _get_comment(ctx: Ctx) -> Response:
    comment_id = ctx.path["id"]
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = None
        if comment_id.isdigit():
            row = db.execute(
                "SELECT * FROM comments WHERE issue_id = ? AND id = ?",
                (issue["id"], int(comment_id)),
            ).fetchone()
    if row is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    return json_response(comment_json(ctx, issue["id"], row))


def _add_comment(ctx: Ctx) -> Response:
    body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
    stored, problem = rich_text_in(body, ctx.rich)
    if problem or stored is None:
        raise JiraError(400, [], {"comment": problem or "Comment body can not be empty!"})
    now = utc_now()
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        cursor = db.execute(
            "INSERT INTO comments (issue_id, author, body, created) VALUES (?,?,?,?)",
            (issue["id"], ctx.user.account_id, stored, now),
        )
        db.execute("UPDATE issues SET updated = ? WHERE id = ?", (now, issue["id"]))
        row = db.execute("SELECT * FROM comments WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return json_response(comment_json(ctx, issue["id"], row), 201)


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/comment", _get_comments),
    ("POST", "issue/{issueIdOrKey}/comment", _add_comment),
    ("GET", "issue/{issueIdOrKey}/comment/{id}", _get_comment),
)
