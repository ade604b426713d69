"""`GET mypermissions`: what the caller may do, in a project or an issue when one is
named. Cloud requires `permissions`; Data Center answers every permission without it.
A read-only user has BROWSE_PROJECTS only (what `followup doctor` asks about).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response
from followup.sandbox.jira.lookups import issue_row, project_or_404

# The project permissions a caller can ask about, with Jira's ids; what followup needs
# (and the read-only user lacks) is everything but BROWSE_PROJECTS.
_PERMISSIONS: tuple[tuple[str, str, str, str], ...] = (
    ("BROWSE_PROJECTS", "10", "Browse Projects", "Ability to browse projects and their issues."),
    ("CREATE_ISSUES", "11", "Create Issues", "Ability to create issues."),
    ("EDIT_ISSUES", "12", "Edit Issues", "Ability to edit issues."),
    ("ASSIGN_ISSUES", "13", "Assign Issues", "Ability to assign issues to other people."),
    ("RESOLVE_ISSUES", "14", "Resolve Issues", "Ability to resolve and reopen issues."),
    ("ADD_COMMENTS", "15", "Add Comments", "Ability to comment on issues."),
    ("DELETE_ISSUES", "16", "Delete Issues", "Ability to delete issues."),
    ("ASSIGNABLE_USER", "17", "Assignable User", "May be assigned to issues."),
    ("CLOSE_ISSUES", "18", "Close Issues", "Ability to close issues."),
    ("LINK_ISSUES", "21", "Link Issues", "Ability to link issues together."),
    ("SCHEDULE_ISSUES", "28", "Schedule Issues", "Ability to set or edit an issue's due date."),
    ("TRANSITION_ISSUES", "46", "Transition Issues", "Ability to transition issues."),
)  # fmt: skip


def _my_permissions(ctx: Ctx) -> Response:
    """`GET mypermissions`: what the caller may do, in a project or issue when named.
    Cloud requires `permissions`; Data Center answers every permission without it.
    Read-only users have BROWSE_PROJECTS only."""
    keys = [k.strip() for k in (ctx.params.get("permissions") or "").split(",") if k.strip()]
    known = {p[0]: p for p in _PERMISSIONS}
    if not keys and ctx.cloud:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    with ctx.state.lock:
        db = ctx.state.db
        if ctx.params.get("issueKey") or ctx.params.get("issueId"):
            issue_row(db, ctx.params.get("issueId") or ctx.params.get("issueKey") or "")
        elif ctx.params.get("projectId") or ctx.params.get("projectKey"):
            project_or_404(db, ctx.params.get("projectId") or ctx.params.get("projectKey") or "")
    out: dict[str, Any] = {}
    for key in keys or list(known):
        _key, pid, name, description = known[key]
        out[key] = {
            "id": pid,
            "key": key,
            "name": name,
            "type": "PROJECT",
            "description": description,
            "havePermission": key == "BROWSE_PROJECTS" or not ctx.user.read_only,
        }
    return json_response({"permissions": out})


API: tuple[tuple[str, str, Handler], ...] = (("GET", "mypermissions", _my_permissions),)
