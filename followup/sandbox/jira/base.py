"""What every part of the sandbox's Jira API shares: the request context, errors, time
and rich text, look-ups of issues and projects, and the JSON shapes of the catalog
(issue types, statuses, priorities, resolutions) that issues and other resources embed.

A handler is a function `Ctx -> Response`, run by `endpoint` on the thread pool; it
raises `JiraError` for an error answer. The authenticated user is in
`request.state.user` (set by the middleware in `app.py`); every database access holds
`state.lock` or runs in `state.transaction()`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from followup.sandbox.jira import workflow
from followup.sandbox.state import SandboxState, User

Json = Any


# -- the catalog: issue types and priorities --------------------------------------------


ISSUE_TYPE_IDS: dict[str, str] = {
    "Epic": "10000",
    "Task": "10001",
    "Bug": "10002",
    "Story": "10003",
    "Sub-task": "10004",
}


PRIORITIES: tuple[tuple[str, str, str], ...] = (  # id, name, colour
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15C75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
)


DEFAULT_PRIORITY = "Medium"


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


def not_found_issue() -> JiraError:
    return JiraError(404, [NOT_FOUND_ISSUE])


def cannot_set(name: str) -> str:
    return f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."


# -- time and rich text -----------------------------------------------------------------


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def jira_time(stored: str | None) -> str | None:
    """ISO 8601 as stored -> Jira's `2024-01-15T10:30:00.000+0000`."""
    if stored is None:
        return None
    parsed = datetime.fromisoformat(stored).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}+0000"


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: blank lines split paragraphs, newlines are hard breaks."""
    content: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if not block:
            continue
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(node: Any) -> str:
    """The text of an ADF document, paragraphs separated by blank lines."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    parts = [adf_to_text(child) for child in node.get("content") or ()]
    if kind in ("doc", "bulletList", "orderedList", "listItem", "blockquote", "panel"):
        return "\n\n".join(p for p in parts if p)
    if kind == "mention":
        return str(node.get("attrs", {}).get("text", ""))
    return "".join(parts)


def is_adf_doc(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def rich_text_out(stored: str | None, version: str) -> Json:
    """A stored rich-text value (JSON: string or ADF) as this API version shows it."""
    if stored is None:
        return None
    value = json.loads(stored)
    if version == "3":
        return value if isinstance(value, dict) else text_to_adf(str(value))
    return adf_to_text(value) if isinstance(value, dict) else value


def rich_text_in(value: Any, version: str) -> tuple[str | None, str | None]:
    """(stored JSON, error) for a rich-text input of this API version."""
    if value is None:
        return None, None
    if version == "3":
        if not is_adf_doc(value):
            return None, (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        return json.dumps(value), None
    if not isinstance(value, str):
        return None, "Operation value must be a string"
    return (json.dumps(value) if value else None), None


def issue_type_id(name: str) -> str:
    if name in ISSUE_TYPE_IDS:
        return ISSUE_TYPE_IDS[name]
    digest = int(hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:6], 16) % 9000
    return str(10100 + digest)


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


# -- lookups ----------------------------------------------------------------------------


def issue_row(db: sqlite3.Connection, id_or_key: str) -> sqlite3.Row:
    if id_or_key.isdigit():
        row = db.execute("SELECT * FROM issues WHERE id = ?", (int(id_or_key),)).fetchone()
    else:
        row = db.execute(
            "SELECT * FROM issues WHERE key = ? COLLATE NOCASE", (id_or_key,)
        ).fetchone()
    if row is None:
        raise not_found_issue()
    return row  # type: ignore[no-any-return]


def find_project(db: sqlite3.Connection, id_or_key: str) -> sqlite3.Row | None:
    row = db.execute(
        "SELECT * FROM projects WHERE key = ? COLLATE NOCASE OR id = ?", (id_or_key, id_or_key)
    ).fetchone()
    return row  # type: ignore[no-any-return]


def project_or_404(db: sqlite3.Connection, id_or_key: str) -> sqlite3.Row:
    row = find_project(db, id_or_key)
    if row is None:
        raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
    return row


def issue_types_of(db: sqlite3.Connection, project: str) -> list[sqlite3.Row]:
    return list(
        db.execute(
            "SELECT id, name FROM issue_types WHERE project = ? ORDER BY CAST(id AS INTEGER)",
            (project,),
        ).fetchall()
    )


def status_of(row: sqlite3.Row) -> workflow.Status:
    return workflow.status_named(row["status"]) or workflow.TO_DO


# -- JSON shapes ------------------------------------------------------------------------


def issue_type_json(ctx: Ctx, type_id: str, name: str) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/issuetype/{type_id}",
        "id": type_id,
        "description": f"A {name.lower()}." if name else "",
        "iconUrl": f"{ctx.base_url}/images/icons/issuetypes/{name.lower()}.svg",
        "name": name,
        "subtask": name == "Sub-task",
        "avatarId": 10318,
        "hierarchyLevel": -1 if name == "Sub-task" else (1 if name == "Epic" else 0),
    }


def status_json(ctx: Ctx, status: workflow.Status) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/status/{status.id}",
        "description": "",
        "iconUrl": f"{ctx.base_url}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": status_category_json(ctx, status.category),
    }


def status_category_json(ctx: Ctx, category: workflow.StatusCategory) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/statuscategory/{category.id}",
        "id": category.id,
        "key": category.key,
        "colorName": category.color_name,
        "name": category.name,
    }


def priority_json(ctx: Ctx, name: str) -> dict[str, Any]:
    for priority_id, priority_name, colour in PRIORITIES:
        if priority_name == name:
            return {
                "self": f"{ctx.api}/priority/{priority_id}",
                "iconUrl": f"{ctx.base_url}/images/icons/priorities/{name.lower()}.svg",
                "name": name,
                "id": priority_id,
                "statusColor": colour,
                "description": f"{name} priority.",
            }
    return {"name": name}


def resolution_json(ctx: Ctx, name: str | None) -> Json:
    if name is None:
        return None
    resolution = workflow.resolution_named(name)
    if resolution is None:
        return {"name": name}
    return {
        "self": f"{ctx.api}/resolution/{resolution.id}",
        "id": resolution.id,
        "description": resolution.description,
        "name": resolution.name,
    }


def project_ref(ctx: Ctx, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/project/{row['id']}",
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "projectTypeKey": "software",
        "simplified": False,
    }


def comment_json(ctx: Ctx, issue_id: int, row: sqlite3.Row) -> dict[str, Any]:
    author = ctx.user_out(row["author"])
    data: dict[str, Any] = {
        "self": f"{ctx.api}/issue/{issue_id}/comment/{row['id']}",
        "id": str(row["id"]),
        "body": rich_text_out(row["body"], ctx.rich),
        "created": jira_time(row["created"]),
        "updated": jira_time(row["created"]),
        "jsdPublic": True,
    }
    if author is not None:
        data["author"] = author
        data["updateAuthor"] = author
    return data


def page_params(ctx: Ctx, default: int = 50) -> tuple[int, int]:
    try:
        start = int(ctx.params.get("startAt", 0))
        limit = int(ctx.params.get("maxResults", default))
    except ValueError as exc:
        raise JiraError(400, [f"Invalid paging parameter: {exc}"]) from exc
    return max(start, 0), max(limit, 0)
