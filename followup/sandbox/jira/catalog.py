"""The catalog every issue refers to: issue types, statuses, status categories,
priorities and resolutions, each as a list and one by id (the `self` links of an issue's
fields point at the latter).

A missing one is a 404 with Jira's message ("The issue type with id '99' does not
exist"). Statuses are also found by name, as `status/{idOrName}` does.
"""

from __future__ import annotations

from starlette.responses import Response

from followup.sandbox.jira import workflow
from followup.sandbox.jira.base import (
    PRIORITIES,
    Ctx,
    Handler,
    JiraError,
    issue_type_json,
    json_response,
    priority_json,
    resolution_json,
    status_category_json,
    status_json,
)


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
