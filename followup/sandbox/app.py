"""Assembly of the sandbox: the routes of every module, and the middleware in front.

`create_app` mounts the Jira routes (`jira/`), the Confluence routes (`confluence/`),
the HTML views (`views.py`) and the `/_sandbox` control plane (`control.py`). One
pure-ASGI middleware sits outermost, in front of Starlette's own, and does, in order:

1. counting: every request to an Atlassian API path (`/rest/...`, `/wiki/rest/...`,
   `/wiki/api/...`) is counted under its route template, e.g.
   `GET /rest/api/3/search/jql` or `PUT /wiki/rest/api/content/{id}`; a write is a
   POST/PUT/DELETE/PATCH on those paths that answered 2xx (POSTs that only read, such
   as a JQL search, are not writes);
2. faults (`faults.py`): a hold until released, latency, 429, 5xx before handling; a
   lost response after a successful write;
3. authentication (HTTP Basic; on Data Center also a Bearer personal access token):
   401 in the product's error shape when credentials are missing or wrong, 403 for a
   read-only user's write. The user goes into
   `request.state.user` for the API modules.

The HTML views and `/_sandbox/*` see neither faults nor authentication. A path or
method no route takes is answered in the product's JSON error shape (`unmatched_answer`).
Module contract: `routes(state) -> list[BaseRoute]`; the product packages also have
`init_schema(db)` (idempotent), `load(state, dataset)` and `READ_ONLY_POSTS` (a
compiled regex of POST paths that do not write).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from followup.sandbox import confluence, control, jira, views, webhooks
from followup.sandbox.control import RequestStats
from followup.sandbox.faults import Faults, Refusal
from followup.sandbox.state import SandboxState

Product = Literal["jira", "confluence"]

_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_ANONYMOUS_OK = re.compile(r"^/rest/api/(2|3|latest)/serverInfo$")
_CONVERTER = re.compile(r"\{(\w+):\w+\}")

JIRA_UNAUTHENTICATED = (
    "You are not authenticated. Authentication required to perform this operation."
)
CONFLUENCE_UNAUTHENTICATED = (
    "This request requires authentication; the credentials are missing or wrong."
)


def product_of(path: str) -> Product | None:
    """Which Atlassian API a path belongs to, or None for views and the control plane."""
    if path.startswith(("/wiki/rest/", "/wiki/api/")):
        return "confluence"
    if path.startswith("/rest/"):
        return "jira"
    return None


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The template of the route that will handle `scope`, e.g. `/wiki/rest/api/content/{id}`."""
    partial: str | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child})
            template = _CONVERTER.sub(r"{\1}", route.path) + (inner or "/{path}")
        else:
            template = _CONVERTER.sub(r"{\1}", getattr(route, "path", "") or "")
        if match is Match.FULL:
            return template
        partial = partial or template
    return partial


def _json_message(status: int, body: dict[str, Any], headers: dict[str, str]) -> list[Message]:
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json;charset=UTF-8"),
        (b"content-length", str(len(payload)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": raw_headers},
        {"type": "http.response.body", "body": payload},
    ]


def error_messages(
    product: Product, status: int, message: str, headers: dict[str, str] | None = None
) -> list[Message]:
    """An error answer in the product's shape (Jira's ErrorCollection, Confluence's statusCode)."""
    if product == "jira":
        body: dict[str, Any] = {"errorMessages": [message], "errors": {}}
    else:
        body = {
            "statusCode": status,
            "data": {
                "authorized": status not in (401, 403),
                "valid": True,
                "errors": [],
                "successful": False,
            },
            "message": message,
        }
    return _json_message(status, body, headers or {})


def bad_gateway() -> list[Message]:
    payload = (
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><h1>502 Bad Gateway</h1></body></html>"
    )
    return [
        {
            "type": "http.response.start",
            "status": 502,
            "headers": [
                (b"content-type", b"text/html"),
                (b"content-length", str(len(payload)).encode()),
            ],
        },
        {"type": "http.response.body", "body": payload},
    ]


def _refusal_messages(product: Product, refusal: Refusal) -> list[Message]:
    headers: dict[str, str] = {}
    if refusal.retry_after_s is not None:
        headers["Retry-After"] = str(refusal.retry_after_s)
    if refusal.status == 429:
        reset = datetime.now(UTC) + timedelta(seconds=refusal.retry_after_s or 0)
        headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%MZ")
        headers["RateLimit-Reason"] = (
            "jira-quota-global-based" if product == "jira" else "confluence-quota-global-based"
        )
        message = "Rate limit exceeded."
        if product == "jira":
            message = "The request has been rate-limited. Please try again later."
        return error_messages(product, 429, message, headers)
    if refusal.status == 503:
        return error_messages(product, 503, "Service Unavailable", headers)
    return bad_gateway()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _drop_connection(send: Send) -> bool:
    """Close the client's connection without a byte of response, if the server allows it.

    Reaches the transport through uvicorn's per-request cycle object (the `send` it
    hands to the application is that object's bound method); returns False when that
    is not available, so the caller can answer 502 instead.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    for _ in range(50):  # let connection_lost run, so uvicorn does not answer 500 itself
        await asyncio.sleep(0)
        if getattr(cycle, "disconnected", True):
            break
    return True


class SandboxMiddleware:
    """Counting, faults and authentication in front of the sandbox's routes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: SandboxState,
        faults: Faults,
        stats: RequestStats,
        routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.state = state
        self.faults = faults
        self.stats = stats
        self.routes = routes
        self.read_only_posts = (jira.READ_ONLY_POSTS, confluence.READ_ONLY_POSTS)

    def is_write(self, method: str, path: str) -> bool:
        if method not in _WRITE_METHODS:
            return False
        return not (method == "POST" and any(p.match(path) for p in self.read_only_posts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw, send = send, self._dated(send)
        path: str = scope["path"]
        product = product_of(path)
        if product is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        template = route_template(self.routes, scope) or "(unmatched)"
        self.stats.request(f"{method} {template}")

        held = self.faults.should_hold(f"{method} {template}")
        if held is not None:
            self.stats.fault("held")
            await self.faults.wait(held)
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        refusal = self.faults.refusal()
        if refusal is not None:
            self.stats.fault("429" if refusal.status == 429 else "5xx")
            await _send_all(send, _refusal_messages(product, refusal))
            return

        write = self.is_write(method, path)
        authorization = _header(scope, b"authorization")
        user = self.state.authenticate(authorization)
        if user is None and not (authorization is None and _ANONYMOUS_OK.match(path)):
            message = JIRA_UNAUTHENTICATED if product == "jira" else CONFLUENCE_UNAUTHENTICATED
            headers = {"WWW-Authenticate": 'Basic realm="protected-area"'}
            await _send_all(send, error_messages(product, 401, message, headers))
            return
        if user is not None and user.read_only and write:
            message = f"{user.display_name} has read-only access: this operation is not permitted."
            await _send_all(send, error_messages(product, 403, message))
            return
        scope.setdefault("state", {})["user"] = user

        if not write:
            await self.app(scope, receive, send)
            return
        await self._write(scope, receive, send, raw, f"{method} {template}")

    def _dated(self, send: Send) -> Send:
        """`send` that gives every answer a `Date` header from the sandbox's clock
        (the real time, or as `clock_offset_s` sets it); uvicorn's own is off."""

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"date"]
                headers.append((b"date", self.faults.http_date().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        return dated

    async def _write(
        self, scope: Scope, receive: Receive, send: Send, raw: Send, route: str
    ) -> None:
        """Run a write, holding its response back until the fault decision is made.
        `raw` is the server's own `send`, through which a connection can be dropped."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            await _send_all(send, held)
            raise
        status = next((int(m["status"]) for m in held if m["type"] == "http.response.start"), 500)
        if 200 <= status < 300:
            self.stats.write(route)
            drop = self.faults.after_successful_write()
            if drop is not None:
                self.stats.fault("dropped")
                if drop == "close" and await _drop_connection(raw):
                    return
                await _send_all(send, bad_gateway())
                return
        await _send_all(send, held)


async def _send_all(send: Send, messages: Sequence[Message]) -> None:
    for message in messages:
        await send(message)


def unmatched_answer(path: str, url: str, status: int) -> dict[str, Any] | None:
    """The JSON body the products answer for a path they have no resource for (404) or a
    method a resource does not take (405); None for paths outside the APIs.

    Both Jira flavors answer `{"message": "null for uri: <url>", "status-code": 404}`
    (the REST framework's own answer: seen from Jira Data Center 9.12 in
    atlassian-python-api issue #1396, and from Jira Cloud); Confluence answers in its
    v1 error shape, and its v2 API in the v2 one.
    """
    product = product_of(path)
    reason = "Not Found" if status == 404 else "Method Not Allowed"
    message = f"null for uri: {url}" if status == 404 else reason
    if product == "jira":
        return {"message": message, "status-code": status}
    if product is None:
        return None
    if path.startswith("/wiki/api/v2/"):
        code = "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED"
        return {"errors": [{"status": status, "code": code, "title": reason, "detail": None}]}
    return {
        "statusCode": status,
        "data": {"authorized": False, "valid": True, "errors": [], "successful": False},
        "message": message,
        "reason": reason,
    }


async def _unmatched(request: Request, exc: Exception) -> Response:
    """404 and 405 as the products answer them on their API paths; as Starlette does
    elsewhere (the HTML views and the control plane)."""
    assert isinstance(exc, HTTPException)
    body = unmatched_answer(request.url.path, str(request.url), exc.status_code)
    if body is None:
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


class SandboxApp(Starlette):
    """Starlette with the sandbox middleware outermost (it needs the server's own `send`)."""

    def __init__(
        self,
        *,
        sandbox: SandboxState,
        faults: Faults,
        stats: RequestStats,
        routes: Sequence[BaseRoute],
    ) -> None:
        super().__init__(routes=list(routes), exception_handlers={404: _unmatched, 405: _unmatched})
        self._sandbox = sandbox
        self._faults = faults
        self._stats = stats

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return SandboxMiddleware(
            inner,
            state=self._sandbox,
            faults=self._faults,
            stats=self._stats,
            routes=self.router.routes,
        )


def create_app(state: SandboxState, *, base_url: str, faults: Faults | None = None) -> Starlette:
    """The sandbox as an ASGI application over `state`, answering as `base_url`.

    `app.state` carries `sandbox` (the state), `base_url`, `faults` and `stats`.
    """
    faults = faults or Faults()
    state.faults = faults
    stats = RequestStats()
    control.init_schemas(state)
    webhooks.attach(state, faults, base_url)
    routes: list[BaseRoute] = [
        *webhooks.routes(state),
        *jira.routes(state),
        *confluence.routes(state),
        *views.routes(state),
        *control.routes(state, faults=faults, stats=stats, base_url=base_url),
    ]
    app = SandboxApp(sandbox=state, faults=faults, stats=stats, routes=routes)
    app.state.sandbox = state
    app.state.base_url = base_url.rstrip("/")
    app.state.faults = faults
    app.state.stats = stats
    return app
