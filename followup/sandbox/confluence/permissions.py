"""`POST /wiki/rest/api/content/{id}/permission/check` (Cloud only; Data Center has no
such resource): may a user read, update or delete the page? Read-only users may only
read. It writes nothing (`followup doctor` asks it).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import Problem, guard, json_body, page_id_param, v1_error
from followup.sandbox.confluence.rows import require_page
from followup.sandbox.state import SandboxState

#: POSTs that only read: not writes for stats, faults and read-only users.
READ_ONLY_POSTS = re.compile(r"^/wiki/rest/api/content/\d+/permission/check$")


def routes(state: SandboxState) -> list[BaseRoute]:
    """The permission check over this state, on Cloud only."""

    def check_permission(request: Request, payload: bytes) -> Response:
        """`POST content/{id}/permission/check` (Cloud only): may the subject read,
        update or delete the page? Read-only users may only read; nothing is written.
        Data Center has no such resource: the route is mounted on Cloud only."""
        page_id = page_id_param(request)
        data = json_body(payload)
        subject = data.get("subject")
        operation = data.get("operation")
        if not isinstance(subject, dict) or not subject.get("identifier"):
            raise Problem(400, "subject is required")
        if subject.get("type") != "user":
            raise Problem(400, f"Unsupported subject type: {subject.get('type')}")
        if operation not in ("read", "update", "delete"):
            raise Problem(400, f"Invalid operation: {operation}")
        with state.lock:
            require_page(state.db, page_id)
        user = state.user_by("account_id", str(subject["identifier"]))
        if user is None:
            raise Problem(400, f"No user found with accountId: {subject['identifier']}")
        allowed = user.active and (operation == "read" or not user.read_only)
        errors = (
            []
            if allowed
            else [{"translation": "User does not have permission to the content", "args": []}]
        )
        return JSONResponse({"hasPermission": allowed, "errors": errors})

    if state.flavor != "cloud":
        return []
    return [
        Route(
            "/wiki/rest/api/content/{id}/permission/check",
            guard(check_permission, v1_error),
            methods=["POST"],
        )
    ]
