"""What a create may set, per project and issue type: `GET issue/createmeta` (with
`projectKeys`, `projectIds`, `issuetypeNames/Ids`, `expand=projects.issuetypes.fields`)
and `GET issue/createmeta/{project}/issuetypes[/{id}]`, which Cloud pages as
`issueTypes`/`fields` and Data Center as `values`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira import hierarchy, project_fields
from followup.sandbox.jira.catalog import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    issue_type_json,
    priority_json,
)
from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, page_params
from followup.sandbox.jira.fields import CREATABLE, FIELDS, REQUIRED_ON_CREATE
from followup.sandbox.jira.lookups import issue_types_of, project_or_404
from followup.sandbox.jira.projects import project_ref


def _field_metadata(ctx: Ctx, db: sqlite3.Connection, project: sqlite3.Row) -> dict[str, Any]:
    by_id = {f.id: f for f in FIELDS}
    meta: dict[str, Any] = {}
    for field_id in CREATABLE:
        f = by_id[field_id]
        item: dict[str, Any] = {
            "required": field_id in REQUIRED_ON_CREATE,
            "schema": dict(f.schema or {"type": "string"}),
            "name": f.name,
            "key": field_id,
            "hasDefaultValue": field_id == "priority",
            "operations": ["set"] if field_id != "labels" else ["add", "set", "remove"],
        }
        if field_id == "priority":
            item["allowedValues"] = [priority_json(ctx, n) for _i, n, _c in PRIORITIES]
            item["defaultValue"] = priority_json(ctx, DEFAULT_PRIORITY)
        elif field_id == "issuetype":
            item["allowedValues"] = [
                issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, project["key"])
            ]
        elif field_id == "project":
            item["allowedValues"] = [project_ref(ctx, project)]
        elif field_id in ("assignee", "reporter"):
            item["autoCompleteUrl"] = (
                f"{ctx.api}/user/assignable/search?project={project['key']}&query="
            )
        meta[field_id] = item
    meta.update(project_fields.create_metadata(ctx, db, project["key"]))
    meta["parent"] = hierarchy.create_metadata()
    return meta


def _createmeta(ctx: Ctx) -> Response:
    keys = ctx.list_param("projectKeys") or []
    ids = ctx.list_param("projectIds") or []
    type_names = set(ctx.list_param("issuetypeNames") or [])
    type_ids = set(ctx.list_param("issuetypeIds") or [])
    expand = ",".join(ctx.list_param("expand") or [])
    with_fields = "projects.issuetypes.fields" in expand
    projects = []
    with ctx.state.lock:
        db = ctx.state.db
        rows = db.execute("SELECT * FROM projects ORDER BY key").fetchall()
        for row in rows:
            if (keys or ids) and row["key"] not in keys and row["id"] not in ids:
                continue
            types = []
            for t in issue_types_of(db, row["key"]):
                if (
                    (type_names or type_ids)
                    and t["name"] not in type_names
                    and t["id"] not in type_ids
                ):
                    continue
                item = issue_type_json(ctx, t["id"], t["name"])
                item.pop("hierarchyLevel", None)
                item["expand"] = "fields"
                if with_fields:
                    item["fields"] = _field_metadata(ctx, db, row)
                types.append(item)
            ref = project_ref(ctx, row)
            projects.append(
                {
                    "self": ref["self"],
                    "id": ref["id"],
                    "key": ref["key"],
                    "name": ref["name"],
                    "expand": "issuetypes",
                    "issuetypes": types,
                }
            )
    return json_response({"expand": "projects", "projects": projects})


def _paged(ctx: Ctx, items: list[Any], start: int, limit: int, cloud_key: str) -> Response:
    """One page of `items`: Cloud names the list `cloud_key`; Data Center names it
    `values` and says whether it is the last page."""
    page = items[start : start + limit]
    key = cloud_key if ctx.cloud else "values"
    return json_response(
        {
            "maxResults": limit,
            "startAt": start,
            "total": len(items),
            key: page,
            **({} if ctx.cloud else {"isLast": start + limit >= len(items)}),
        }
    )


def _createmeta_issuetypes(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        project = project_or_404(db, ctx.path["projectIdOrKey"])
        types = [
            issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, project["key"])
        ]
    return _paged(ctx, types, start, limit, "issueTypes")


def _createmeta_fields(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        project = project_or_404(db, ctx.path["projectIdOrKey"])
        if ctx.path["issueTypeId"] not in {t["id"] for t in issue_types_of(db, project["key"])}:
            raise JiraError(400, ["The issue type selected is invalid."])
        meta = _field_metadata(ctx, db, project)
    items = [{"fieldId": k, **v} for k, v in meta.items()]
    return _paged(ctx, items, start, limit, "fields")


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/createmeta", _createmeta),
    ("GET", "issue/createmeta/{projectIdOrKey}/issuetypes", _createmeta_issuetypes),
    ("GET", "issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}", _createmeta_fields),
)
