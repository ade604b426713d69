"""What every resource of the sandbox's Jira API runs in: the request context, the
endpoint that runs a handler, and Jira's error answers.

A handler is a function `Ctx -> Response`, run by `endpoint` on the thread pool; it
raises `JiraError` for an error answer. The authenticated user is in
`request.state.user` (set by the middleware in `app.py`); every database access holds
`state.lock` or runs in `state.transaction()`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from followup.sandbox.state import SandboxState, User

Json = Any

NOT_FOUND_ISSUE = "Issue does not exist or you do not have permission to see it."


# -- errors -----------------------------------------------------------------------------


class JiraError(Exception):
    """A Jira error answer: `{"errorMessages": [...], "errors": {...}}` with a status."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str] = (),
        errors: Mapping[str, str] | None = None,
        *,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, list(messages), dict(errors or {}))
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.body = body

    def response(self) -> Response:
        body = self.body or {"errorMessages": self.messages, "errors": self.errors}
        return JSONResponse(body, status_code=self.status)


class FieldErrors(Exception):
    """Field-level validation problems of one create or edit."""

    def __init__(self, errors: dict[str, str], messages: Sequence[str] = ()) -> None:
        super().__init__(errors)
        self.errors = errors
        self.messages = list(messages)

    def answer(self) -> JiraError:
        """The 400 these problems are answered with."""
        return JiraError(400, self.messages, self.errors)


def not_found_issue() -> JiraError:
    return JiraError(404, [NOT_FOUND_ISSUE])


def cannot_set(name: str) -> str:
    return f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."


# -- the request context ----------------------------------------------------------------


@dataclass(slots=True)
class Ctx:
    """One API call: who, which API version, its parsed input, and the state."""

    state: SandboxState
    request: Request
    version: str  # "2", "3" or "latest" (which behaves as 2)
    user: User
    params: QueryParams
    path: dict[str, str]
    body: Json
    base_url: str
    _users: dict[str, User] | None = field(default=None)

    @property
    def api(self) -> str:
        return f"{self.base_url}/rest/api/{self.version}"

    @property
    def rich(self) -> str:
        """The rich-text dialect: "3" (ADF) or "2" (plain string)."""
        return "3" if self.version == "3" else "2"

    @property
    def cloud(self) -> bool:
        return self.state.flavor == "cloud"

    def users(self) -> dict[str, User]:
        if self._users is None:
            self._users = {u.account_id: u for u in self.state.users()}
        return self._users

    def user_out(self, account_id: str | None) -> Json:
        if account_id is None:
            return None
        user = self.users().get(account_id)
        if user is None:
            return None
        return self.user_json(user)

    def user_json(self, user: User) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.state.user_json(user))
        if self.cloud:
            data["self"] = f"{self.api}/user?accountId={user.account_id}"
        else:
            data["self"] = f"{self.api}/user?username={user.name}"
        data["avatarUrls"] = {
            size: f"{self.base_url}/avatars/{user.account_id}?s={size.split('x')[0]}"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }
        return data

    def list_param(self, name: str) -> list[str] | None:
        """A list-valued parameter: from the JSON body on POST, else repeated/comma query."""
        raw: Any
        if isinstance(self.body, dict) and self.request.method == "POST":
            raw = self.body.get(name)
        else:
            values = self.params.getlist(name)
            raw = values if values else None
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = [raw]
        items: list[str] = []
        for value in raw:
            items.extend(part.strip() for part in str(value).split(",") if part.strip())
        return items

    def param(self, name: str) -> Any:
        if isinstance(self.body, dict) and self.request.method == "POST":
            return self.body.get(name)
        return self.params.get(name)


Handler = Callable[[Ctx], Response]


def _base_url(request: Request) -> str:
    configured = getattr(request.app.state, "base_url", None)
    if configured:
        return str(configured).rstrip("/")
    return str(request.base_url).rstrip("/")


def endpoint(
    state: SandboxState, version: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if state.flavor == "datacenter" and version == "3":
            return JSONResponse(
                {"message": f"null for uri: {request.url}", "status-code": 404}, status_code=404
            )
        raw = await request.body()
        body: Json = None
        if raw and request.method in ("POST", "PUT"):
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return JiraError(
                    400, [f"Unexpected character in the request body: {exc}"]
                ).response()
        user = getattr(request.state, "user", None)
        if user is None:  # only serverInfo is reachable anonymously
            user = User("", "", "", "Anonymous", "", None)
        ctx = Ctx(
            state=state,
            request=request,
            version=version,
            user=user,
            params=request.query_params,
            path={k: str(v) for k, v in request.path_params.items()},
            body=body,
            base_url=_base_url(request),
        )
        try:
            return await run_in_threadpool(handler, ctx)
        except JiraError as exc:
            return exc.response()

    return endpoint


def json_response(data: Json, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


def page_params(ctx: Ctx, default: int = 50) -> tuple[int, int]:
    try:
        start = int(ctx.params.get("startAt", 0))
        limit = int(ctx.params.get("maxResults", default))
    except ValueError as exc:
        raise JiraError(400, [f"Invalid paging parameter: {exc}"]) from exc
    return max(start, 0), max(limit, 0)
