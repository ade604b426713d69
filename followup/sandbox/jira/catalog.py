"""The catalog every issue refers to: issue types, statuses, status categories,
priorities and resolutions. Their JSON shapes (which issues and other answers embed),
and each as a list and one by id (the `self` links of an issue's fields point at the
latter).

A missing one is a 404 with Jira's message ("The issue type with id '99' does not
exist"). Statuses are also found by name, as `status/{idOrName}` does.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira import workflow
from followup.sandbox.jira.context import Ctx, Handler, JiraError, Json, json_response

ISSUE_TYPE_IDS: dict[str, str] = {
    "Epic": "10000",
    "Task": "10001",
    "Bug": "10002",
    "Story": "10003",
    "Sub-task": "10004",
}


PRIORITIES: tuple[tuple[str, str, str], ...] = (  # id, name, colour
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15C75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
)


DEFAULT_PRIORITY = "Medium"


def issue_type_id(name: str) -> str:
    if name in ISSUE_TYPE_IDS:
        return ISSUE_TYPE_IDS[name]
    digest = int(hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:6], 16) % 9000
    return str(10100 + digest)


def status_of(row: sqlite3.Row) -> workflow.Status:
    return workflow.status_named(row["status"]) or workflow.TO_DO


def issue_type_json(ctx: Ctx, type_id: str, name: str) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/issuetype/{type_id}",
        "id": type_id,
        "description": f"A {name.lower()}." if name else "",
        "iconUrl": f"{ctx.base_url}/images/icons/issuetypes/{name.lower()}.svg",
        "name": name,
        "subtask": name == "Sub-task",
        "avatarId": 10318,
        "hierarchyLevel": -1 if name == "Sub-task" else (1 if name == "Epic" else 0),
    }


def status_json(ctx: Ctx, status: workflow.Status) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/status/{status.id}",
        "description": "",
        "iconUrl": f"{ctx.base_url}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": status_category_json(ctx, status.category),
    }


def status_category_json(ctx: Ctx, category: workflow.StatusCategory) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/statuscategory/{category.id}",
        "id": category.id,
        "key": category.key,
        "colorName": category.color_name,
        "name": category.name,
    }


def priority_json(ctx: Ctx, name: str) -> dict[str, Any]:
    for priority_id, priority_name, colour in PRIORITIES:
        if priority_name == name:
            return {
                "self": f"{ctx.api}/priority/{priority_id}",
                "iconUrl": f"{ctx.base_url}/images/icons/priorities/{name.lower()}.svg",
                "name": name,
                "id": priority_id,
                "statusColor": colour,
                "description": f"{name} priority.",
            }
    return {"name": name}


def resolution_json(ctx: Ctx, name: str | None) -> Json:
    if name is None:
        return None
    resolution = workflow.resolution_named(name)
    if resolution is None:
        return {"name": name}
    return {
        "self": f"{ctx.api}/resolution/{resolution.id}",
        "id": resolution.id,
        "description": resolution.description,
        "name": resolution.name,
    }


# -- handlers ---------------------------------------------------------------------------


def _missing(kind: str, ident: str) -> JiraError:
    return JiraError(404, [f"The {kind} with id '{ident}' does not exist"])


def _issue_types(ctx: Ctx) -> Response:
    with ctx.state.lock:
        rows = ctx.state.db.execute(
            "SELECT DISTINCT id, name FROM issue_types ORDER BY CAST(id AS INTEGER)"
        ).fetchall()
    return json_response([issue_type_json(ctx, r["id"], r["name"]) for r in rows])


def _issue_type(ctx: Ctx) -> Response:
    type_id = ctx.path["id"]
    with ctx.state.lock:
        row = ctx.state.db.execute(
            "SELECT id, name FROM issue_types WHERE id = ? LIMIT 1", (type_id,)
        ).fetchone()
    if row is None:
        raise _missing("issue type", type_id)
    return json_response(issue_type_json(ctx, row["id"], row["name"]))


def _statuses(ctx: Ctx) -> Response:
    return json_response([status_json(ctx, s) for s in workflow.STATUSES])


def _status(ctx: Ctx) -> Response:
    ident = ctx.path["idOrName"]
    for status in workflow.STATUSES:
        if ident == status.id or ident.casefold() == status.name.casefold():
            return json_response(status_json(ctx, status))
    raise _missing("status", ident)


_CATEGORIES = (workflow.NEW, workflow.INDETERMINATE, workflow.DONE_CATEGORY)


def _status_categories(ctx: Ctx) -> Response:
    return json_response([status_category_json(ctx, c) for c in _CATEGORIES])


def _status_category(ctx: Ctx) -> Response:
    ident = ctx.path["idOrKey"]
    for category in _CATEGORIES:
        if ident in (str(category.id), category.key):
            return json_response(status_category_json(ctx, category))
    raise _missing("status category", ident)


def _priorities(ctx: Ctx) -> Response:
    return json_response([priority_json(ctx, name) for _id, name, _c in PRIORITIES])


def _priority(ctx: Ctx) -> Response:
    ident = ctx.path["id"]
    for priority_id, name, _colour in PRIORITIES:
        if ident == priority_id:
            return json_response(priority_json(ctx, name))
    raise _missing("priority", ident)


def _resolutions(ctx: Ctx) -> Response:
    return json_response([resolution_json(ctx, r.name) for r in workflow.RESOLUTIONS])


def _resolution(ctx: Ctx) -> Response:
    ident = ctx.path["id"]
    resolution = workflow.resolution_by_id(ident)
    if resolution is None:
        raise _missing("resolution", ident)
    return json_response(resolution_json(ctx, resolution.name))


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issuetype", _issue_types),
    ("GET", "issuetype/{id}", _issue_type),
    ("GET", "status", _statuses),
    ("GET", "status/{idOrName}", _status),
    ("GET", "statuscategory", _status_categories),
    ("GET", "statuscategory/{idOrKey}", _status_category),
    ("GET", "priority", _priorities),
    ("GET", "priority/{id}", _priority),
    ("GET", "resolution", _resolutions),
    ("GET", "resolution/{id}", _resolution),
)
