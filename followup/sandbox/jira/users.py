"""People: `GET myself`, `GET user`, `GET user/search` and
`GET user/assignable/search`. Cloud finds a user by `accountId` (a `username` is a 400
in GDPR strict mode); Data Center by `username` or `key`. A search matches display-name
words, the e-mail's start, the account id or the username; inactive users are not
assignable.
"""

from __future__ import annotations

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, page_params
from followup.sandbox.jira.lookups import issue_row, project_or_404
from followup.sandbox.state import User


def _myself(ctx: Ctx) -> Response:
    return json_response(ctx.user_json(ctx.user))


def _matches(user: User, query: str) -> bool:
    q = query.lower().strip()
    if not q:
        return False
    words = user.display_name.lower().split()
    return (
        user.display_name.lower().startswith(q)
        or any(w.startswith(q) for w in words)
        or user.email.lower().startswith(q)
        or user.account_id == query
        or user.name.lower().startswith(q)
    )


def _user_query(ctx: Ctx) -> str:
    query = ctx.params.get("query")
    username = ctx.params.get("username")
    if ctx.cloud:
        if query is None and username is not None:
            raise JiraError(
                400,
                ["The query parameter 'username' is not supported in GDPR strict mode."],
            )
        return query or ""
    return username if username is not None else (query or "")


def _user_search(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    account_id = ctx.params.get("accountId")
    if (
        account_id is None
        and ctx.params.get("query") is None
        and ctx.params.get("username") is None
    ):
        raise JiraError(400, ["One of 'query' or 'accountId' parameters must be provided."])
    include_inactive = ctx.params.get("includeInactive", "false").lower() == "true"
    users = ctx.state.users()
    if account_id is not None and ctx.cloud:
        found = [u for u in users if u.account_id == account_id]
    else:
        query = _user_query(ctx)
        found = [u for u in users if _matches(u, query)]
    found = [u for u in found if u.active or include_inactive]
    return json_response([ctx.user_json(u) for u in found[start : start + limit]])


def _assignable_search(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    project = ctx.params.get("project")
    issue_key = ctx.params.get("issueKey")
    with ctx.state.lock:
        if project is not None:
            project_or_404(ctx.state.db, project)
        if issue_key is not None:
            issue_row(ctx.state.db, issue_key)
    if project is None and issue_key is None:
        raise JiraError(400, ["A project, issue key or issue id is required."])
    account_id = ctx.params.get("accountId")
    users = [u for u in ctx.state.users() if u.active]
    if account_id is not None and ctx.cloud:
        found = [u for u in users if u.account_id == account_id]
    else:
        query = _user_query(ctx)
        found = [u for u in users if _matches(u, query)] if query else users
    return json_response([ctx.user_json(u) for u in found[start : start + limit]])


def _user(ctx: Ctx) -> Response:
    user: User | None
    if ctx.cloud:
        account_id = ctx.params.get("accountId")
        if account_id is None:
            raise JiraError(400, ["The query parameter 'accountId' is required."])
        user = ctx.state.user_by("account_id", account_id)
        ident = account_id
    else:
        username, key = ctx.params.get("username"), ctx.params.get("key")
        if username is None and key is None:
            raise JiraError(
                400, ["Either the 'username' or the 'key' query parameter is required."]
            )
        user = (
            ctx.state.user_by("name", username)
            if username is not None
            else ctx.state.user_by("key", str(key))
        )
        ident = username if username is not None else str(key)
    if user is None:
        raise JiraError(
            404, [f"Specified user does not exist or you do not have required permissions: {ident}"]
        )
    return json_response(ctx.user_json(user))


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "myself", _myself),
    ("GET", "user", _user),
    ("GET", "user/search", _user_search),
    ("GET", "user/assignable/search", _assignable_search),
)
