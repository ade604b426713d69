"""`POST issue`: creating one issue, checked as Jira checks it, with top-level
`properties`, and `update` and `transition` honoured. Keys are allocated per project
(`OPS-1`, `OPS-2`, ...); creating records no changelog, and the reporter watches the
new issue.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from followup.sandbox import webhooks
from followup.sandbox.jira import hierarchy, project_fields, validation, watchers, workflow
from followup.sandbox.jira.catalog import DEFAULT_PRIORITY
from followup.sandbox.jira.context import Ctx, FieldErrors, Handler, cannot_set, json_response
from followup.sandbox.jira.edit import apply_edit
from followup.sandbox.jira.fields import CREATABLE
from followup.sandbox.jira.formats import rich_text_in, utc_now
from followup.sandbox.jira.lookups import find_project, issue_row, issue_types_of
from followup.sandbox.jira.tables import allocate
from followup.sandbox.jira.transitions import apply_transition


@dataclass(slots=True)
class _NewIssue:
    project: str
    issuetype: str
    summary: str
    description: str | None
    assignee: str | None
    reporter: str
    priority: str
    duedate: str | None
    labels: list[str]
    properties: list[tuple[str, str]]
    components: list[str]
    custom: list[tuple[str, str]]
    parent: int | None


def _validate_create(ctx: Ctx, db: sqlite3.Connection, payload: Any) -> _NewIssue:
    if not isinstance(payload, dict):
        raise FieldErrors({}, ["The request body must be a JSON object."])
    fields = payload.get("fields")
    if not isinstance(fields, dict):
        raise FieldErrors({}, ["Issue fields are required: 'fields' must be an object."])
    errors: dict[str, str] = {}
    project_row: sqlite3.Row | None = None
    project = fields.get("project")
    if isinstance(project, dict) and (project.get("key") or project.get("id")):
        project_row = find_project(db, str(project.get("key") or project.get("id")))
    if project_row is None:
        errors["project"] = "Specify a valid project ID or key"
    extra = project_fields.creatable(db, project_row["key"] if project_row else None) | {"parent"}
    for name in fields:
        if name not in CREATABLE and name not in extra:
            errors[name] = cannot_set(name)
    components: list[str] = []
    custom: list[tuple[str, str]] = []
    if project_row is not None:
        components, custom = project_fields.check_create(db, project_row["key"], fields, errors)

    type_name: str | None = None
    issuetype = fields.get("issuetype")
    if not isinstance(issuetype, dict) or not (issuetype.get("name") or issuetype.get("id")):
        errors["issuetype"] = "Specify an issue type"
    elif project_row is not None:
        for type_row in issue_types_of(db, project_row["key"]):
            if issuetype.get("id") == type_row["id"] or issuetype.get("name") == type_row["name"]:
                type_name = type_row["name"]
        if type_name is None:
            errors["issuetype"] = "The issue type selected is invalid."

    parent = hierarchy.check_create(db, fields.get("parent"), type_name, errors)
    summary = validation.summary(fields.get("summary"), errors)
    description, problem = rich_text_in(fields.get("description"), ctx.rich)
    if problem:
        errors["description"] = problem
    _ok, assignee = validation.user_ref(ctx, "assignee", fields.get("assignee"), errors)
    reporter = ctx.user.account_id
    if "reporter" in fields:
        _ok, chosen = validation.user_ref(ctx, "reporter", fields.get("reporter"), errors)
        reporter = chosen or reporter
    _ok, duedate = validation.due_date(fields.get("duedate"), errors)
    labels = validation.labels(fields.get("labels"), errors)
    priority = (
        validation.priority(fields["priority"], errors)
        if fields.get("priority") is not None
        else DEFAULT_PRIORITY
    )
    properties = validation.check_properties(payload.get("properties"))
    if errors:
        raise FieldErrors(errors)
    assert project_row is not None
    assert type_name is not None
    assert summary is not None
    return _NewIssue(
        project=project_row["key"],
        issuetype=type_name,
        summary=summary,
        description=description,
        assignee=assignee,
        reporter=reporter,
        priority=priority or DEFAULT_PRIORITY,
        duedate=duedate,
        labels=labels or [],
        properties=properties,
        components=components,
        custom=custom,
        parent=parent,
    )


def create(ctx: Ctx, db: sqlite3.Connection, payload: Any) -> dict[str, str]:
    """Validate and insert one issue (inside the caller's transaction)."""
    new = _validate_create(ctx, db, payload)
    issue_id, key = allocate(db, new.project)
    now = utc_now()
    db.execute(
        "INSERT INTO issues (id, key, project, issuetype, summary, description, status,"
        " status_category, resolution, assignee, reporter, priority, duedate, created,"
        " updated, resolutiondate) VALUES (?,?,?,?,?,?,?,?,NULL,?,?,?,?,?,?,NULL)",
        (
            issue_id,
            key,
            new.project,
            new.issuetype,
            new.summary,
            new.description,
            workflow.INITIAL.name,
            workflow.INITIAL.category.key,
            new.assignee,
            new.reporter,
            new.priority,
            new.duedate,
            now,
            now,
        ),
    )
    for label in new.labels:
        db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
    project_fields.store(db, issue_id, new.components, new.custom)
    hierarchy.store(db, issue_id, new.parent)
    for prop_key, value in new.properties:
        db.execute(
            "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)", (issue_id, prop_key, value)
        )
    if ctx.state.faults is not None:
        ctx.state.faults.note_created(issue_id)
    watchers.watch(db, issue_id, new.reporter)  # Jira's users watch what they report
    webhooks.issue_event(db, "jira:issue_created", issue_id, ctx.user.account_id)
    row = issue_row(db, str(issue_id))
    if isinstance(payload, dict) and payload.get("update"):
        apply_edit(ctx, db, row, {}, payload["update"])
    if isinstance(payload, dict) and payload.get("transition"):
        apply_transition(ctx, db, issue_row(db, str(issue_id)), payload)
    return {"id": str(issue_id), "key": key, "self": f"{ctx.api}/issue/{issue_id}"}


def _create_issue(ctx: Ctx) -> Response:
    try:
        with ctx.state.transaction() as db:
            created = create(ctx, db, ctx.body)
    except FieldErrors as exc:
        raise exc.answer() from exc
    return json_response(created, 201)


API: tuple[tuple[str, str, Handler], ...] = (("POST", "issue", _create_issue),)
