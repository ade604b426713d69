"""What every resource of the sandbox's Confluence API runs in: the site it answers as,
the request parameters, the endpoint wrapper and Confluence's error answers.

A handler is a function `(request, body bytes) -> Response`, made an endpoint by
`guard`, which runs it on the thread pool and renders a `Problem` as the v1 or v2
error body. The authenticated `User` is in `request.state.user` (the app's auth
middleware answers 401/403 before these handlers run); every database access holds
`state.lock` or runs in `state.transaction()`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from followup.sandbox.state import SandboxState, User

# -- errors -----------------------------------------------------------------------------


class Problem(Exception):
    """A request the API refuses: rendered as a v1 or v2 error body by the route wrapper."""

    def __init__(self, status: int, message: str, *, details: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = tuple(details)


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    501: "Not Implemented",
}


_V2_CODES = {
    400: "INVALID_REQUEST_PARAMETER",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
}


def v1_error(problem: Problem) -> JSONResponse:
    return JSONResponse(
        {
            "statusCode": problem.status,
            "data": {
                "authorized": problem.status not in (401, 403),
                "valid": problem.status != 400,
                "allowedInReadOnlyMode": True,
                "errors": [
                    {"message": {"key": detail, "args": [], "translation": detail}}
                    for detail in problem.details
                ],
                "successful": False,
            },
            "message": problem.message,
            "reason": _REASONS.get(problem.status, "Error"),
        },
        status_code=problem.status,
    )


def v2_error(problem: Problem) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "status": problem.status,
                    "code": _V2_CODES.get(problem.status, "ERROR"),
                    "title": problem.message,
                    "detail": "; ".join(problem.details) or None,
                }
            ]
        },
        status_code=problem.status,
    )


Handler = Callable[[Request, bytes], Response]


def guard(
    handler: Handler, render: Callable[[Problem], JSONResponse]
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: reads the body, runs the (blocking, SQLite) handler in the thread
    pool so that waiting for `state.lock` never stalls the event loop, and renders a
    `Problem` as the API's error body."""

    async def endpoint(request: Request) -> Response:
        payload = await request.body()
        try:
            return await run_in_threadpool(handler, request, payload)
        except Problem as problem:
            return render(problem)

    endpoint.__name__ = handler.__name__
    return endpoint


# -- the site and the answer's context ---------------------------------------------------


#: Where Confluence is served: Cloud's fixed `/wiki`, and on Data Center the context path
#: a site that shares its host with Jira is configured with (an installation of its own
#: often has none: `_links.context` is then ""). `_links.base` is origin + context.
CONTEXT_PATH = "/wiki"


@dataclass(frozen=True, slots=True)
class Site:
    origin: str

    @property
    def context(self) -> str:
        return CONTEXT_PATH

    @property
    def base(self) -> str:
        return self.origin + self.context


def site_of(request: Request) -> Site:
    """The site's origin: the app's configured `base_url` (as the Jira half uses), else
    the origin the request came to."""
    configured = getattr(request.app.state, "base_url", None)
    if configured:
        return Site(str(configured).rstrip("/"))
    return Site(f"{request.url.scheme}://{request.url.netloc}")


class Ctx:
    """What building one answer needs: the state, the site it answers as, the flavor."""

    def __init__(self, state: SandboxState, site: Site) -> None:
        self.state = state
        self.site = site
        self.db = state.db
        self.dc = state.flavor == "datacenter"


# -- request parameters ------------------------------------------------------------------


def caller_id(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return user.account_id if isinstance(user, User) else ""


def caller_timezone(request: Request) -> str | None:
    """The caller's profile time zone, in which CQL reads a date with a time."""
    user = getattr(request.state, "user", None)
    return user.timezone if isinstance(user, User) else None


def expand_param(request: Request) -> frozenset[str]:
    names: set[str] = set()
    for value in request.query_params.getlist("expand"):
        for name in value.split(","):
            name = name.strip()
            while name:
                names.add(name)
                name = name.rpartition(".")[0]
    return frozenset(names)


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise Problem(400, f"Parameter '{name}' must be an integer, got: {raw}") from None


def limit_param(request: Request, *, default: int, cap: int) -> int:
    limit = int_param(request, "limit", default)
    if limit < 0:
        raise Problem(400, "Parameter 'limit' must not be negative")
    return max(1, min(limit, cap))


def page_id_param(request: Request, name: str = "id") -> int:
    raw = str(request.path_params[name])
    if not raw.isdigit():
        raise Problem(400, f"Content id is not valid: {raw}")
    return int(raw)


def json_body(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Unable to parse the request body as JSON") from None
    if not isinstance(data, dict):
        raise Problem(400, "The request body must be a JSON object")
    return data


# -- list answers and paging -------------------------------------------------------------


def listing(
    site: Site,
    self_path: str,
    results: list[Any],
    *,
    start: int,
    limit: int,
    next_path: str | None,
) -> JSONResponse:
    """A v1 list answer: results, paging figures and `_links` (with `next`, a path
    relative to `_links.base`, when there is more)."""
    return JSONResponse(
        listing_json(site, self_path, results, start=start, limit=limit, next_path=next_path)
    )


def listing_json(
    site: Site,
    self_path: str,
    results: list[Any],
    *,
    start: int,
    limit: int,
    next_path: str | None,
) -> dict[str, Any]:
    """The body of `listing`."""
    links = {"base": site.base, "context": site.context, "self": f"{site.base}{self_path}"}
    if next_path is not None:
        links["next"] = next_path
    return {
        "results": results,
        "start": start,
        "limit": limit,
        "size": len(results),
        "_links": links,
    }


def encode_cursor(after: int, start: int) -> str:
    raw = json.dumps([after, start], separators=(",", ":")).encode("ascii")
    return "_sb_" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        if not cursor.startswith("_sb_"):
            raise ValueError(cursor)
        payload = cursor[4:]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        after, start = json.loads(raw)
        return int(after), int(start)
    except (ValueError, TypeError, binascii.Error):
        raise Problem(400, f"Invalid cursor: {cursor}") from None
