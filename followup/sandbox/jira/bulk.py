"""`POST issue/bulk`: up to 50 issues in one request, each created (or refused) as
`POST issue` would; per-element failures in `errors[].failedElementNumber`.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, FieldErrors, Handler, JiraError, json_response
from followup.sandbox.jira.create import create

MAX_BULK = 50


def _create_bulk(ctx: Ctx) -> Response:
    """Create up to 50 issues; each element succeeds or fails on its own.

    A request-level problem (too many elements) fails every element, in the same
    `CreatedIssues` shape, since that is the only 400 body the bulk API has.
    """
    updates = ctx.body.get("issueUpdates") if isinstance(ctx.body, dict) else None
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, ["'issueUpdates' must be a non-empty list of issues to create."])
    if len(updates) > MAX_BULK:
        message = f"You can create at most {MAX_BULK} issues in one request, not {len(updates)}."
        every = [
            {
                "status": 400,
                "elementErrors": {"errorMessages": [message], "errors": {}},
                "failedElementNumber": n,
            }
            for n in range(len(updates))
        ]
        return json_response({"issues": [], "errors": every}, 400)
    issues: list[dict[str, str]] = []
    failures: list[dict[str, Any]] = []
    for number, payload in enumerate(updates):
        try:
            with ctx.state.transaction() as db:
                issues.append(create(ctx, db, payload))
        except (FieldErrors, JiraError) as exc:
            failures.append(
                {
                    "status": 400,
                    "elementErrors": {"errorMessages": exc.messages, "errors": exc.errors},
                    "failedElementNumber": number,
                }
            )
    return json_response({"issues": issues, "errors": failures}, 201 if issues else 400)


API: tuple[tuple[str, str, Handler], ...] = (("POST", "issue/bulk", _create_bulk),)
