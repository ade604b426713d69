"""Projects: `GET project` and `GET project/{key or id}` (with `issueTypes` and `lead`),
and the reference to a project that issues and other answers embed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.catalog import issue_type_json
from followup.sandbox.jira.context import Ctx, Handler, json_response
from followup.sandbox.jira.lookups import issue_types_of, project_or_404


def project_ref(ctx: Ctx, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/project/{row['id']}",
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "projectTypeKey": "software",
        "simplified": False,
    }


def _project_json(ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    data = project_ref(ctx, row)
    data.update(
        {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "description": "",
            "issueTypes": [
                issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, row["key"])
            ],
            "assigneeType": "UNASSIGNED",
            "isPrivate": False,
            "style": "classic",
            "properties": {},
        }
    )
    lead = ctx.user_out(row["lead"])
    if lead is not None:
        data["lead"] = lead
    return data


def _project(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        row = project_or_404(db, ctx.path["projectIdOrKey"])
        return json_response(_project_json(ctx, db, row))


def _projects(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        rows = db.execute("SELECT * FROM projects ORDER BY key").fetchall()
        return json_response([_project_json(ctx, db, r) for r in rows])


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "project", _projects),
    ("GET", "project/{projectIdOrKey}", _project),
)
