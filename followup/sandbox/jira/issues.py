"""One issue: `GET`, `PUT` (an edit, with `returnIssue`) and `DELETE issue/{key}`, and
`PUT issue/{key}/assignee`. Creating one is `create.py`, many `bulk.py`.
"""

from __future__ import annotations

from starlette.responses import Response

from followup.sandbox import webhooks
from followup.sandbox.jira import changelog, hierarchy, issue_links, validation, watchers
from followup.sandbox.jira.context import Ctx, FieldErrors, Handler, json_response, no_content
from followup.sandbox.jira.edit import apply_edit
from followup.sandbox.jira.fields import select_fields
from followup.sandbox.jira.issue_json import properties_param, render_issues
from followup.sandbox.jira.lookups import issue_row


def _get_issue(ctx: Ctx) -> Response:
    selection = select_fields(ctx.list_param("fields"), "*all")
    properties = properties_param(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        row = issue_row(db, ctx.path["issueIdOrKey"])
        issue = render_issues(ctx, db, [row], selection, properties)[0]
    issue.setdefault("fields", {})
    issue.setdefault("key", row["key"])
    issue.setdefault("self", f"{ctx.api}/issue/{row['id']}")
    return json_response(issue)


def _edit_issue(ctx: Ctx) -> Response:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    try:
        with ctx.state.transaction() as db:
            row = issue_row(db, ctx.path["issueIdOrKey"])
            apply_edit(ctx, db, row, body.get("fields") or {}, body.get("update") or {})
            for prop_key, value in validation.check_properties(body.get("properties")):
                db.execute(
                    "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)",
                    (row["id"], prop_key, value),
                )
    except FieldErrors as exc:
        raise exc.answer() from exc
    if ctx.params.get("returnIssue", "false").lower() == "true":
        return _get_issue(ctx)
    return no_content()


def _delete_issue(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        row = issue_row(db, ctx.path["issueIdOrKey"])
        webhooks.issue_event(db, "jira:issue_deleted", int(row["id"]), ctx.user.account_id)
        for table in (
            "issue_labels",
            "issue_properties",
            "remote_links",
            "comments",
            "issue_components",
            "issue_custom",
        ):
            db.execute(f"DELETE FROM {table} WHERE issue_id = ?", (row["id"],))
        for module in (changelog, issue_links, watchers, hierarchy):
            module.forget(db, int(row["id"]))
        db.execute("DELETE FROM issues WHERE id = ?", (row["id"],))
    return no_content()


def _assign(ctx: Ctx) -> Response:
    try:
        with ctx.state.transaction() as db:
            row = issue_row(db, ctx.path["issueIdOrKey"])
            apply_edit(ctx, db, row, {"assignee": ctx.body}, {})
    except FieldErrors as exc:
        raise exc.answer() from exc
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}", _get_issue),
    ("PUT", "issue/{issueIdOrKey}", _edit_issue),
    ("DELETE", "issue/{issueIdOrKey}", _delete_issue),
    ("PUT", "issue/{issueIdOrKey}/assignee", _assign),
)
