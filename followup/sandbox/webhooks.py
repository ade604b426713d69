"""Webhooks, as Jira's admin webhooks and Confluence Data Center's webhooks work:
registered through the products' APIs, and delivered, signed, when issues and pages
change.

Registration:

    Jira (both flavors)       POST/GET /rest/webhooks/1.0/webhook, GET/PUT/DELETE
                              /rest/webhooks/1.0/webhook/{id}: {name, url, events,
                              filters: {"issue-related-events-section": JQL},
                              excludeBody, secret}; the answer names it by `self`
    Confluence (datacenter)   POST/GET /wiki/rest/api/webhooks, GET/PUT/DELETE
                              /wiki/rest/api/webhooks/{id}: {name, url, events,
                              active, configuration: {secret}}; Confluence Cloud has
                              no such API (404, as there)

Only the site's administrator (the seeded admin, `control.admin_user`) may manage
webhooks, as both products require administration; anyone else is answered 403. No
answer ever carries a webhook's secret. `GET /_sandbox/webhooks` shows what is
registered (without secrets) and the delivery counts.

Events: `jira:issue_created` (an issue created through the API), `jira:issue_updated`
(every changelog history: edits, transitions, links; with its `changelog.items`),
`jira:issue_deleted`, each sent only to webhooks whose JQL filter matches the issue
(evaluated when the event happens, as Jira does); `page_created`, `page_updated`,
`label_added`, `label_removed`. Each delivery is a POST of the JSON payload (none with
`excludeBody`), with `X-Atlassian-Webhook-Identifier` (unique per delivery, the same
when it is sent again) and, for a webhook with a secret, `X-Hub-Signature:
sha256=<hex HMAC-SHA256 of the body>`. A delivery answered 429 or 5xx, or not at
all, is sent again up to 3 times (after Retry-After, at most 2 s).

Deliveries go out from one thread, in the order the changes were made, after the
change's transaction has committed. Faults (`faults.py`, `webhook_*`) lose,
duplicate, delay or reorder them (`webhook_reorder` = k: groups of k, newest first).

The product modules call `issue_event`, `page_event` with their database connection,
which names the sandbox it belongs to (`attach`, done by `create_app`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.state import SandboxState

if TYPE_CHECKING:
    from followup.sandbox.faults import Faults

__all__ = [
    "Dispatcher",
    "attach",
    "dispatcher_for",
    "init_schema",
    "issue_event",
    "load",
    "page_event",
    "routes",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY,
    product TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    jql TEXT,
    exclude_body INTEGER NOT NULL DEFAULT 0,
    secret TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    updated INTEGER NOT NULL
);
"""
JIRA_FILTER_KEY = "issue-related-events-section"
JIRA_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated", "jira:issue_deleted"})
CONFLUENCE_EVENTS = frozenset({"page_created", "page_updated", "label_added", "label_removed"})
RETRIES = 3
REORDER_WAIT_SECONDS = 30.0


def init_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def load(state: SandboxState, dataset: object) -> None:
    """Datasets hold no webhooks."""


# -- delivery --------------------------------------------------------------------------


@dataclass(slots=True)
class Delivery:
    url: str
    body: bytes
    secret: str | None
    identifier: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(slots=True)
class DeliveryStats:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    duplicated: int = 0


class Dispatcher:
    """Sends the sandbox's webhook deliveries from one thread."""

    def __init__(self, state: SandboxState, faults: Faults) -> None:
        self.state = state
        self.faults = faults
        self.stats = DeliveryStats()
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._cond = threading.Condition()
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name="sandbox webhooks", daemon=True)
        self._thread.start()

    def send(self, delivery: Delivery) -> None:
        with self._cond:
            self._busy += 1
            self.stats.queued += 1
        self._queue.put(delivery)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery queued so far went out (or failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            copies, delay, reorder = self.faults.webhook_fate()
            if delay:
                time.sleep(delay)
            if reorder > 1:
                deadline = time.monotonic() + REORDER_WAIT_SECONDS
                while len(batch) < reorder:
                    left = max(0.0, deadline - time.monotonic())
                    try:
                        batch.append(self._queue.get(timeout=left))
                    except queue.Empty:
                        break
                batch.reverse()
            # After the transaction that made the change has committed.
            with self.state.lock:
                pass
            for n, delivery in enumerate(batch):
                times = copies if n == 0 else self.faults.webhook_fate()[0]
                if times == 0:
                    self.stats.dropped += 1
                for _ in range(times):
                    self._deliver(delivery)
                if times == 2:
                    self.stats.duplicated += 1
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": delivery.identifier,
        }
        if delivery.secret:
            digest = hmac.new(delivery.secret.encode(), delivery.body, hashlib.sha256)
            headers["X-Hub-Signature"] = "sha256=" + digest.hexdigest()
        for attempt in range(RETRIES + 1):
            if attempt:
                headers["X-Atlassian-Webhook-Retry"] = str(attempt)
            request = urllib.request.Request(  # noqa: S310 - http(s) URLs registered by tests
                delivery.url, data=delivery.body, headers=headers, method="POST"
            )
            wait = 0.1 * 2**attempt
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    answer.read()
                self.stats.delivered += 1
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    self.stats.failed += 1
                    return
                after = exc.headers.get("Retry-After", "")
                if after.isdigit():
                    wait = min(float(after), 2.0)
            except (urllib.error.URLError, OSError):
                pass
            if attempt < RETRIES:
                time.sleep(wait)
        self.stats.failed += 1


_DISPATCHERS: dict[int, Dispatcher] = {}
_BASE_URLS: dict[int, str] = {}


def attach(state: SandboxState, faults: Faults, base_url: str) -> Dispatcher:
    """Start delivering `state`'s events (the app's `create_app` does this)."""
    dispatcher = _DISPATCHERS.get(id(state.db))
    if dispatcher is None or dispatcher.state is not state:
        dispatcher = Dispatcher(state, faults)
        _DISPATCHERS[id(state.db)] = dispatcher
    dispatcher.faults = faults
    _BASE_URLS[id(state.db)] = base_url.rstrip("/")
    return dispatcher


def dispatcher_for(state: SandboxState) -> Dispatcher | None:
    found = _DISPATCHERS.get(id(state.db))
    return found if found is not None and found.state is state else None


def _hooks(db: sqlite3.Connection, product: str, event: str) -> list[sqlite3.Row]:
    dispatcher = _DISPATCHERS.get(id(db))
    if dispatcher is None or dispatcher.state.db is not db:
        return []
    rows = db.execute(
        "SELECT * FROM webhooks WHERE product = ? AND enabled = 1 ORDER BY id", (product,)
    ).fetchall()
    return [r for r in rows if event in json.loads(r["events"])]


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- Jira events -----------------------------------------------------------------------


def _user(state: SandboxState, account_id: str | None) -> dict[str, object] | None:
    user = state.user_by("account_id", account_id) if account_id else None
    return state.user_json(user) if user is not None else None


def _issue_json(state: SandboxState, db: sqlite3.Connection, issue_id: int) -> dict[str, Any]:
    from followup.sandbox.jira.formats import jira_time

    row = db.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
    labels = [
        r[0]
        for r in db.execute(
            "SELECT label FROM issue_labels WHERE issue_id = ? ORDER BY label", (issue_id,)
        )
    ]
    base = _BASE_URLS.get(id(db), "")
    return {
        "id": str(issue_id),
        "self": f"{base}/rest/api/2/issue/{issue_id}",
        "key": row["key"],
        "fields": {
            "summary": row["summary"],
            "issuetype": {"name": row["issuetype"]},
            "project": {"key": row["project"]},
            "status": {
                "name": row["status"],
                "statusCategory": {"key": row["status_category"]},
            },
            "resolution": {"name": row["resolution"]} if row["resolution"] else None,
            "assignee": _user(state, row["assignee"]),
            "reporter": _user(state, row["reporter"]),
            "priority": {"name": row["priority"]} if row["priority"] else None,
            "duedate": row["duedate"],
            "labels": labels,
            "created": jira_time(row["created"]),
            "updated": jira_time(row["updated"]),
        },
    }


def _matches(state: SandboxState, db: sqlite3.Connection, jql: str | None, issue_id: int) -> bool:
    if not jql or not jql.strip():
        return True
    from followup.sandbox.jira.jql import JqlError, compile_jql

    try:
        where, params, _ = compile_jql(jql, flavor=state.flavor)
    except JqlError:
        return False
    found = db.execute(
        f"SELECT 1 FROM issues WHERE issues.id = ? AND ({where})", (issue_id, *params)
    ).fetchone()
    return found is not None


def issue_event(
    db: sqlite3.Connection,
    event: str,
    issue_id: int,
    author: str | None,
    *,
    changelog_id: int | None = None,
    items: Sequence[dict[str, Any]] = (),
) -> None:
    """An issue was created, changed or (about to be) deleted, inside the caller's
    transaction: queue a delivery to every matching Jira webhook."""
    hooks = _hooks(db, "jira", event)
    if not hooks:
        return
    dispatcher = _DISPATCHERS[id(db)]
    state = dispatcher.state
    kinds = {
        "jira:issue_created": "issue_created",
        "jira:issue_updated": "issue_generic",
        "jira:issue_deleted": "issue_deleted",
    }
    payload: dict[str, Any] = {
        "timestamp": _now_ms(),
        "webhookEvent": event,
        "issue_event_type_name": kinds.get(event, "issue_generic"),
        "user": _user(state, author),
        "issue": _issue_json(state, db, issue_id),
    }
    if changelog_id is not None:
        payload["changelog"] = {"id": str(changelog_id), "items": list(items)}
    for hook in hooks:
        if not _matches(state, db, hook["jql"], issue_id):
            continue
        body = (
            b"" if hook["exclude_body"] else _encode({**payload, "matchedWebhookIds": [hook["id"]]})
        )
        dispatcher.send(Delivery(hook["url"], body, hook["secret"]))


# -- Confluence events -----------------------------------------------------------------


def page_event(
    db: sqlite3.Connection,
    event: str,
    page_id: int,
    author: str | None,
    *,
    label: str | None = None,
) -> None:
    """A page was created or updated, or a label added or removed (inside the caller's
    transaction): queue a delivery to every Confluence webhook for the event."""
    hooks = _hooks(db, "confluence", event)
    if not hooks:
        return
    dispatcher = _DISPATCHERS[id(db)]
    state = dispatcher.state
    row = db.execute("SELECT * FROM content WHERE id = ?", (page_id,)).fetchone()
    if row is None:
        return
    base = _BASE_URLS.get(id(db), "")
    user = state.user_by("account_id", author) if author else None
    page = {
        "id": row["id"],
        "contentType": row["type"],
        "spaceKey": row["space_key"],
        "title": row["title"],
        "version": row["version"],
        "self": f"{base}/wiki/pages/viewpage.action?pageId={row['id']}",
        "creatorName": None,
        "lastModifierName": user.name if user is not None else None,
        "modificationDate": row["last_modified"],
    }
    payload: dict[str, Any] = {
        "timestamp": _now_ms(),
        "event": event,
        "userName": user.name if user is not None else None,
    }
    if label is None:
        payload["page"] = page
        payload["updateTrigger"] = "edit_page" if event == "page_updated" else "create_page"
    else:
        payload["label"] = {"name": label, "prefix": "global"}
        payload["labeled"] = page
    body = _encode(payload)
    for hook in hooks:
        dispatcher.send(Delivery(hook["url"], body, hook["secret"]))


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


# -- registration ----------------------------------------------------------------------


def _jira_json(row: sqlite3.Row, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/webhooks/1.0/webhook/{row['id']}",
        "name": row["name"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "filters": {JIRA_FILTER_KEY: row["jql"] or ""},
        "excludeBody": bool(row["exclude_body"]),
        "enabled": bool(row["enabled"]),
        "lastUpdated": row["updated"],
    }


def _confluence_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "active": bool(row["enabled"]),
        "configuration": {},
        "createdDate": row["updated"],
        "updatedDate": row["updated"],
    }


class _Invalid(Exception):
    pass


def _jira_fields(data: Any) -> tuple[str, str, list[str], str | None, bool, str | None, bool]:
    if not isinstance(data, dict):
        raise _Invalid("The request body must be a JSON object.")
    name, url, events = data.get("name"), data.get("url"), data.get("events")
    if not isinstance(name, str) or not name.strip():
        raise _Invalid("The webhook needs a name.")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _Invalid("The webhook URL must be an http(s) URL.")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise _Invalid("events must be a list of event names.")
    filters = data.get("filters") or {}
    jql = filters.get(JIRA_FILTER_KEY) if isinstance(filters, dict) else None
    secret = data.get("secret")
    return (
        name,
        url,
        events,
        jql if isinstance(jql, str) else None,
        bool(data.get("excludeBody", False)),
        secret if isinstance(secret, str) and secret else None,
        bool(data.get("enabled", True)),
    )


def _confluence_fields(data: Any) -> tuple[str, str, list[str], str | None, bool, str | None, bool]:
    if not isinstance(data, dict):
        raise _Invalid("The request body must be a JSON object.")
    name, url, events = data.get("name"), data.get("url"), data.get("events")
    if not isinstance(name, str) or not name.strip():
        raise _Invalid("name is required")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _Invalid("url must be an http(s) URL")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise _Invalid("events must be a list of event names")
    config = data.get("configuration") or {}
    secret = config.get("secret") if isinstance(config, dict) else None
    return (
        name,
        url,
        events,
        None,
        False,
        secret if isinstance(secret, str) and secret else None,
        bool(data.get("active", True)),
    )


def routes(state: SandboxState) -> list[BaseRoute]:
    """The webhook registration APIs and `GET /_sandbox/webhooks`."""
    db = state.db

    def base_of(request: Request) -> str:
        configured = getattr(request.app.state, "base_url", None)
        return str(configured or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")

    def jira_error(status: int, message: str) -> Response:
        return JSONResponse({"errorMessages": [message], "errors": {}}, status_code=status)

    def confluence_error(status: int, message: str) -> Response:
        body = {
            "statusCode": status,
            "data": {"authorized": True, "valid": False, "errors": [], "successful": False},
            "message": message,
        }
        return JSONResponse(body, status_code=status)

    def is_admin(request: Request) -> bool:
        from followup.sandbox.control import admin_user

        user = getattr(request.state, "user", None)
        admin = admin_user(state)
        return user is not None and admin is not None and user.account_id == admin.account_id

    def not_on_cloud(request: Request) -> Response | None:
        if state.flavor == "cloud":
            url = str(request.url)
            body = {
                "statusCode": 404,
                "data": {"authorized": False, "valid": True, "errors": [], "successful": False},
                "message": f"null for uri: {url}",
                "reason": "Not Found",
            }
            return JSONResponse(body, status_code=404)
        return None

    def save(product: str, fields: tuple[Any, ...], ident: int | None) -> sqlite3.Row | None:
        name, url, events, jql, exclude, secret, enabled = fields
        with state.transaction() as conn:
            if ident is None:
                cursor = conn.execute(
                    "INSERT INTO webhooks (product, name, url, events, jql, exclude_body,"
                    " secret, enabled, updated) VALUES (?,?,?,?,?,?,?,?,?)",
                    (product, name, url, json.dumps(events), jql, int(exclude), secret,
                     int(enabled), _now_ms()),
                )  # fmt: skip
                ident = int(cursor.lastrowid or 0)
            else:
                changed = conn.execute(
                    "UPDATE webhooks SET name = ?, url = ?, events = ?, jql = ?,"
                    " exclude_body = ?, secret = COALESCE(?, secret), enabled = ?, updated = ?"
                    " WHERE id = ? AND product = ?",
                    (name, url, json.dumps(events), jql, int(exclude), secret, int(enabled),
                     _now_ms(), ident, product),
                ).rowcount  # fmt: skip
                if not changed:
                    return None
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM webhooks WHERE id = ?", (ident,)
            ).fetchone()
            return row

    def one(product: str, ident: str) -> sqlite3.Row | None:
        if not ident.isdigit():
            return None
        with state.lock:
            row: sqlite3.Row | None = db.execute(
                "SELECT * FROM webhooks WHERE id = ? AND product = ?", (int(ident), product)
            ).fetchone()
            return row

    def listed(product: str) -> list[sqlite3.Row]:
        with state.lock:
            return db.execute(
                "SELECT * FROM webhooks WHERE product = ? ORDER BY id", (product,)
            ).fetchall()

    jira_forbidden = "You do not have the permission to manage webhooks (Jira administration)."
    confluence_forbidden = "Administrator permission is required to manage webhooks"

    async def jira_hooks(request: Request) -> Response:
        if not is_admin(request):
            return jira_error(403, jira_forbidden)
        base = base_of(request)
        if request.method == "GET":
            return JSONResponse([_jira_json(r, base) for r in listed("jira")])
        try:
            fields = _jira_fields(json.loads(await request.body() or b"null"))
        except (ValueError, _Invalid) as exc:
            return jira_error(400, str(exc) if isinstance(exc, _Invalid) else "Invalid JSON.")
        row = save("jira", fields, None)
        assert row is not None
        return JSONResponse(_jira_json(row, base), status_code=201)

    async def jira_hook(request: Request) -> Response:
        if not is_admin(request):
            return jira_error(403, jira_forbidden)
        ident = str(request.path_params["id"])
        row = one("jira", ident)
        if row is None:
            return jira_error(404, f"No webhook with id {ident}.")
        if request.method == "GET":
            return JSONResponse(_jira_json(row, base_of(request)))
        if request.method == "DELETE":
            with state.transaction() as conn:
                conn.execute("DELETE FROM webhooks WHERE id = ?", (row["id"],))
            return Response(status_code=204)
        try:
            fields = _jira_fields(json.loads(await request.body() or b"null"))
        except (ValueError, _Invalid) as exc:
            return jira_error(400, str(exc) if isinstance(exc, _Invalid) else "Invalid JSON.")
        saved = save("jira", fields, int(row["id"]))
        assert saved is not None
        return JSONResponse(_jira_json(saved, base_of(request)))

    async def confluence_hooks(request: Request) -> Response:
        cloud = not_on_cloud(request)
        if cloud is not None:
            return cloud
        if not is_admin(request):
            return confluence_error(403, confluence_forbidden)
        if request.method == "GET":
            results = [_confluence_json(r) for r in listed("confluence")]
            return JSONResponse(
                {"results": results, "start": 0, "limit": 100, "size": len(results)}
            )
        try:
            fields = _confluence_fields(json.loads(await request.body() or b"null"))
        except (ValueError, _Invalid) as exc:
            message = str(exc) if isinstance(exc, _Invalid) else "Invalid JSON"
            return confluence_error(400, message)
        row = save("confluence", fields, None)
        assert row is not None
        return JSONResponse(_confluence_json(row), status_code=200)

    async def confluence_hook(request: Request) -> Response:
        cloud = not_on_cloud(request)
        if cloud is not None:
            return cloud
        if not is_admin(request):
            return confluence_error(403, confluence_forbidden)
        ident = str(request.path_params["id"])
        row = one("confluence", ident)
        if row is None:
            return confluence_error(404, f"Webhook {ident} not found")
        if request.method == "GET":
            return JSONResponse(_confluence_json(row))
        if request.method == "DELETE":
            with state.transaction() as conn:
                conn.execute("DELETE FROM webhooks WHERE id = ?", (row["id"],))
            return Response(status_code=204)
        try:
            fields = _confluence_fields(json.loads(await request.body() or b"null"))
        except (ValueError, _Invalid) as exc:
            message = str(exc) if isinstance(exc, _Invalid) else "Invalid JSON"
            return confluence_error(400, message)
        saved = save("confluence", fields, int(row["id"]))
        assert saved is not None
        return JSONResponse(_confluence_json(saved))

    async def overview(request: Request) -> Response:
        dispatcher = dispatcher_for(state)
        stats = dispatcher.stats if dispatcher is not None else DeliveryStats()
        base = base_of(request)
        return JSONResponse(
            {
                "jira": [_jira_json(r, base) for r in listed("jira")],
                "confluence": [_confluence_json(r) for r in listed("confluence")],
                "deliveries": {
                    "queued": stats.queued,
                    "delivered": stats.delivered,
                    "failed": stats.failed,
                    "dropped": stats.dropped,
                    "duplicated": stats.duplicated,
                },
            }
        )

    return [
        Route("/rest/webhooks/1.0/webhook", jira_hooks, methods=["GET", "POST"]),
        Route("/rest/webhooks/1.0/webhook/{id}", jira_hook, methods=["GET", "PUT", "DELETE"]),
        Route("/wiki/rest/api/webhooks", confluence_hooks, methods=["GET", "POST"]),
        Route("/wiki/rest/api/webhooks/{id}", confluence_hook, methods=["GET", "PUT", "DELETE"]),
        Route("/_sandbox/webhooks", overview, methods=["GET"]),
    ]
