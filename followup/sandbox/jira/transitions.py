"""`GET/POST issue/{key}/transitions`: moving an issue through the workflow
(`workflow.py`). Done sets `resolution` (Done, or `fields.resolution` of the
transition) and `resolutiondate`; leaving Done clears both. Other fields on a
transition are a 400; `update.comment` adds a comment.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira import changelog, workflow
from followup.sandbox.jira.catalog import resolution_json, status_json, status_of
from followup.sandbox.jira.context import (
    Ctx,
    FieldErrors,
    Handler,
    JiraError,
    Json,
    cannot_set,
    json_response,
    no_content,
)
from followup.sandbox.jira.edit import apply_edit
from followup.sandbox.jira.formats import utc_now
from followup.sandbox.jira.lookups import issue_row


def _transition_json(ctx: Ctx, transition: workflow.Transition, with_fields: bool) -> Json:
    data: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(ctx, transition.to),
        "hasScreen": False,
        "isGlobal": True,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "looped": False,
    }
    if with_fields:
        data["fields"] = {}
        if transition.to.category.key == "done":
            data["fields"]["resolution"] = {
                "required": False,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "allowedValues": [resolution_json(ctx, r.name) for r in workflow.RESOLUTIONS],
            }
    return data


def apply_transition(ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row, body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
        raise JiraError(400, ["Missing 'transition' identifier"])
    transition_id = body["transition"].get("id")
    current = status_of(row)
    transition = workflow.transition_by_id(current, str(transition_id))
    if transition is None:
        raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise JiraError(400, ["'fields' must be an object."])
    target = transition.to
    done = target.category.key == "done"
    errors: dict[str, str] = {}
    resolution: str | None = workflow.DEFAULT_RESOLUTION.name if done else None
    for name, value in fields.items():
        if name == "resolution" and done:
            found = None
            if isinstance(value, dict):
                found = workflow.resolution_named(str(value.get("name", ""))) or (
                    workflow.resolution_by_id(str(value.get("id", "")))
                )
            if found is None:
                errors["resolution"] = "The resolution selected is invalid."
            else:
                resolution = found.name
        else:
            errors[name] = cannot_set(name)
    if errors:
        raise JiraError(400, [], errors)
    now = utc_now()
    was_done = row["status_category"] == "done"
    resolved = (row["resolutiondate"] if was_done else now) if done else None
    db.execute(
        "UPDATE issues SET status = ?, status_category = ?, resolution = ?, resolutiondate = ?,"
        " updated = ? WHERE id = ?",
        (target.name, target.category.key, resolution, resolved, now, row["id"]),
    )
    history: list[changelog.Change] = []
    if resolution != row["resolution"]:
        old = workflow.resolution_named(row["resolution"] or "")
        new = workflow.resolution_named(resolution or "")
        history.append(
            changelog.Change(
                "resolution",
                old.id if old else None,
                row["resolution"],
                new.id if new else None,
                resolution,
            )
        )
    if target is not current:
        history.append(changelog.Change("status", current.id, current.name, target.id, target.name))
    changelog.record(db, int(row["id"]), ctx.user.account_id, now, history)
    update = body.get("update")
    if isinstance(update, dict) and update.get("comment"):
        try:
            apply_edit(ctx, db, issue_row(db, str(row["id"])), {}, {"comment": update["comment"]})
        except FieldErrors as exc:
            raise exc.answer() from exc


def _get_transitions(ctx: Ctx) -> Response:
    with ctx.state.lock:
        row = issue_row(ctx.state.db, ctx.path["issueIdOrKey"])
    wanted = ctx.params.get("transitionId")
    with_fields = "transitions.fields" in (ctx.params.get("expand") or "")
    transitions = [
        _transition_json(ctx, t, with_fields)
        for t in workflow.transitions_from(status_of(row))
        if wanted is None or t.id == wanted
    ]
    return json_response({"expand": "transitions", "transitions": transitions})


def _do_transition(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        row = issue_row(db, ctx.path["issueIdOrKey"])
        apply_transition(ctx, db, row, ctx.body)
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/transitions", _get_transitions),
    ("POST", "issue/{issueIdOrKey}/transitions", _do_transition),
)
