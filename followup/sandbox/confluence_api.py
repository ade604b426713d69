"""The Confluence half of the sandbox: the v1 (`/wiki/rest/api`) and v2 (`/wiki/api/v2`)
endpoints followup uses, over the sandbox's SQLite database.

What is emulated, and how it bites like a real site (docs/sandbox.md has the table):

- CQL search (`/wiki/rest/api/content/search`) caps `limit` on the server:
  `SEARCH_LIMIT_CAP_WITH_BODY` (25) when a body is expanded, `SEARCH_LIMIT_CAP` (50)
  otherwise, and pages through `_links.next` cursors (stable: ordered by id). The
  response's `limit` says what was applied; a client that trusts its own limit and
  stops early loses pages here as it would on a real site.
- Every page write re-serialises the body the way Confluence does
  (`reserialize_storage`): attributes in sorted order, empty elements self-closed as
  `<x />`, named and numeric entities replaced by characters (only `&amp; &lt; &gt;
  &quot;` are written, quotes in text included),
  `ac:macro-id` (a uuid4) and `ac:schema-version="1"` added to structured macros that
  lack them, CDATA kept for plain-text bodies. A body read back is not byte-equal to
  the body written, so a client comparing bytes is caught.
- Page writes need `version.number` = current + 1, else 409 "Version must be
  incremented on update. Current version is: N"; history is kept per version.
- Content properties are compare-and-swap on their version (409 on a stale one).
  Creating a property whose key exists answers 409 (the spec says 400; Confluence
  Cloud is observed to answer 409, and a client must handle both).

The authenticated `User` is in `request.state.user` (the app's auth middleware
answers 401/403 before these handlers run). Time is real wall-clock UTC.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import string
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.dataset import Dataset
from followup.sandbox.state import SandboxState, User
from followup.sandbox.storage_html import (
    AC_NS,
    StorageFormatError,
    parse_storage,
    qualified_name,
)

__all__ = [
    "PAGE_ID_BASE",
    "PROPERTY_VALUE_MAX_BYTES",
    "SEARCH_LIMIT_CAP",
    "SEARCH_LIMIT_CAP_WITH_BODY",
    "SEARCH_LIMIT_DEFAULT",
    "TABLES",
    "V2_LIMIT_CAP",
    "V2_LIMIT_DEFAULT",
    "init_schema",
    "load",
    "reserialize_storage",
    "routes",
]

PAGE_ID_BASE = 98000001
SPACE_ID_BASE = 98304001
PROPERTY_ID_BASE = 120000001

SEARCH_LIMIT_DEFAULT = 25
SEARCH_LIMIT_CAP = 50
SEARCH_LIMIT_CAP_WITH_BODY = 25
V2_LIMIT_DEFAULT = 25
V2_LIMIT_CAP = 250
PROPERTY_LIMIT_DEFAULT = 10
PROPERTY_LIMIT_CAP = 100

#: POSTs that only read: not writes for stats, faults and read-only users.
READ_ONLY_POSTS = re.compile(r"^/wiki/rest/api/content/\d+/permission/check$")
VERSION_LIMIT_DEFAULT = 200
PROPERTY_VALUE_MAX_BYTES = 32768
TITLE_MAX = 255

SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    key  TEXT PRIMARY KEY,
    id   INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS content (
    id            INTEGER PRIMARY KEY,
    type          TEXT NOT NULL DEFAULT 'page',
    status        TEXT NOT NULL DEFAULT 'current',
    space_key     TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    author        TEXT NOT NULL,
    last_modifier TEXT NOT NULL,
    parent_id     INTEGER NULL
);
CREATE INDEX IF NOT EXISTS content_space_title ON content (space_key, title);
CREATE TABLE IF NOT EXISTS content_labels (
    content_id INTEGER NOT NULL,
    label      TEXT NOT NULL,
    UNIQUE (content_id, label)
);
CREATE INDEX IF NOT EXISTS content_labels_label ON content_labels (label);
CREATE INDEX IF NOT EXISTS content_labels_content ON content_labels (content_id);
CREATE TABLE IF NOT EXISTS content_versions (
    content_id INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    title      TEXT NOT NULL,
    author     TEXT NOT NULL,
    created    TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    minor_edit INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (content_id, version)
);
CREATE TABLE IF NOT EXISTS content_properties (
    content_id INTEGER NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    id         INTEGER NOT NULL UNIQUE,
    updated    TEXT NOT NULL DEFAULT '',
    minor_edit INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (content_id, key)
);
"""

# In an order that deleting from them one by one never leaves a dangling reference.
TABLES = ("content_properties", "content_versions", "content_labels", "content", "spaces")


def init_schema(db: sqlite3.Connection) -> None:
    """Create the Confluence tables (idempotent)."""
    db.executescript(SCHEMA)


# -- storage-format re-serialisation ---------------------------------------------------

_STRUCTURED_MACRO = f"{{{AC_NS}}}structured-macro"
_MACRO_ID = f"{{{AC_NS}}}macro-id"
_SCHEMA_VERSION = f"{{{AC_NS}}}schema-version"
_CDATA_ELEMENTS = frozenset({f"{{{AC_NS}}}plain-text-body", f"{{{AC_NS}}}plain-text-link-body"})
_XML_NS = "http://www.w3.org/XML/1998/namespace"


def _new_macro_id() -> str:
    return str(uuid.uuid4())


def reserialize_storage(body: str, *, new_macro_id: Callable[[], str] = _new_macro_id) -> str:
    """A storage-format body as Confluence stores it: same text and structure, other bytes.

    Raises `StorageFormatError` when the body is not well-formed.
    """
    root = parse_storage(body)
    for macro in root.iter(_STRUCTURED_MACRO):
        if not macro.get(_MACRO_ID):
            macro.set(_MACRO_ID, new_macro_id())
        if not macro.get(_SCHEMA_VERSION):
            macro.set(_SCHEMA_VERSION, "1")
    out: list[str] = [_escape_text(root.text[1:] if root.text else "")]
    for child in root:
        _write(child, out)
    return "".join(out)


def _escape_text(text: str) -> str:
    # Confluence writes quotes in text as &quot; too, whatever the client sent.
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _escape_attribute(value: str) -> str:
    return _escape_text(value)


def _attribute_name(name: str) -> str:
    if name.startswith(f"{{{_XML_NS}}}"):
        return "xml:" + name.split("}", 1)[1]
    return qualified_name(name)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _write(node: etree._Element, out: list[str]) -> None:
    if isinstance(node, etree._Comment):
        out.append(f"<!--{node.text or ''}-->")
    elif isinstance(node.tag, str):
        name = qualified_name(node.tag)
        attributes = sorted((_attribute_name(str(k)), str(v)) for k, v in node.attrib.items())
        start = "<" + name + "".join(f' {k}="{_escape_attribute(v)}"' for k, v in attributes)
        if not node.text and len(node) == 0:
            out.append(start + " />")
        else:
            out.append(start + ">")
            if node.tag in _CDATA_ELEMENTS and len(node) == 0:
                out.append(_cdata(node.text or ""))
            else:
                out.append(_escape_text(node.text or ""))
                for child in node:
                    _write(child, out)
            out.append(f"</{name}>")
    else:  # a processing instruction: kept as lxml writes it
        out.append(etree.tostring(node, with_tail=False, encoding="unicode"))
    if node.tail:
        out.append(_escape_text(node.tail))


# -- time, ids, rows --------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> str:
    return _iso(datetime.now(UTC))


def friendly_time(when: str) -> str:
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%b %d, %Y")
    except ValueError:
        return when


def _next_id(db: sqlite3.Connection, table: str, base: int) -> int:
    row = db.execute(f"SELECT MAX(id) FROM {table}").fetchone()
    return max(base, (row[0] or 0) + 1)


def tiny_id(page_id: int) -> str:
    raw = page_id.to_bytes(8, "little").rstrip(b"\0")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _label_id(label: str) -> str:
    return str(1000000 + zlib.crc32(label.encode("utf-8")) % 900000000)


@dataclass(frozen=True, slots=True)
class PageRow:
    id: int
    type: str
    status: str
    space_key: str
    title: str
    body: str
    version: int
    created: str
    last_modified: str
    author: str
    last_modifier: str
    parent_id: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PageRow:
        return cls(**{name: row[name] for name in row.keys()})  # noqa: SIM118


@dataclass(frozen=True, slots=True)
class _Version:
    number: int
    when: str
    author: str
    message: str
    minor_edit: bool


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


# -- request helpers ---------------------------------------------------------------------


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


def caller_id(request: Request) -> str:
    user = getattr(request.state, "user", None)
    return user.account_id if isinstance(user, User) else ""


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


def _json_body(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Unable to parse the request body as JSON") from None
    if not isinstance(data, dict):
        raise Problem(400, "The request body must be a JSON object")
    return data


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


# -- reading ----------------------------------------------------------------------------


def load_page(db: sqlite3.Connection, page_id: int) -> PageRow | None:
    row = db.execute("SELECT * FROM content WHERE id = ?", (page_id,)).fetchone()
    return PageRow.from_row(row) if row else None


def require_page(db: sqlite3.Connection, page_id: int) -> PageRow:
    page = load_page(db, page_id)
    if page is None:
        raise Problem(404, f"No content found with id: ContentId{{id={page_id}}}")
    return page


def _historical(db: sqlite3.Connection, page: PageRow, number: int) -> PageRow:
    row = db.execute(
        "SELECT * FROM content_versions WHERE content_id = ? AND version = ?", (page.id, number)
    ).fetchone()
    if row is None:
        raise Problem(404, f"No version {number} of content with id: ContentId{{id={page.id}}}")
    if number == page.version:
        return page
    return PageRow(
        id=page.id,
        type=page.type,
        status="historical",
        space_key=page.space_key,
        title=row["title"],
        body=row["body"],
        version=number,
        created=page.created,
        last_modified=row["created"],
        author=page.author,
        last_modifier=row["author"],
        parent_id=page.parent_id,
    )


def page_version(db: sqlite3.Connection, page: PageRow, number: int | None = None) -> _Version:
    number = page.version if number is None else number
    row = db.execute(
        "SELECT * FROM content_versions WHERE content_id = ? AND version = ?", (page.id, number)
    ).fetchone()
    if row is None:  # a page written without history: describe it from the page itself
        return _Version(number, page.last_modified, page.last_modifier, "", False)
    return _Version(number, row["created"], row["author"], row["message"], bool(row["minor_edit"]))


def _labels(db: sqlite3.Connection, page_id: int) -> list[str]:
    rows = db.execute(
        "SELECT label FROM content_labels WHERE content_id = ? ORDER BY label", (page_id,)
    ).fetchall()
    return [row[0] for row in rows]


def space_row(db: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute("SELECT * FROM spaces WHERE key = ?", (key,)).fetchone()
    return row


# -- JSON shapes (checked against the specs by the tests) ---------------------------------

# What Confluence Data Center will not put in a /display/KEY/Title address
# (Confluence's UrlUtils.isSafeTitleForUrl).
_UNSAFE_IN_URL = frozenset('+?%&"/\\;#')


def safe_title_for_url(title: str) -> bool:
    """Whether Data Center addresses a page by its title: not empty, under 150
    characters, all ASCII, none of `+?%&"/\\;#`, not ending in punctuation, not "."."""
    return (
        0 < len(title) < 150
        and title != "."
        and title[-1] not in string.punctuation
        and all(ord(c) < 128 and c not in _UNSAFE_IN_URL for c in title)
    )


def url_encode(text: str) -> str:
    """`text` encoded as Java's URLEncoder does (space as `+`; only letters, digits and
    `.-*_` left as they are), which is how Confluence writes titles into addresses."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def webui_path(flavor: str, space_key: str, page_id: int, title: str) -> str:
    """A page's `_links.webui`, relative to `_links.base`.

    Cloud: `/spaces/KEY/pages/ID`. Data Center: `/display/KEY/Title+Words` when the
    title is safe in an address, else `/pages/viewpage.action?pageId=ID`, as
    Confluence Data Center builds them (and as its answers show: "/display/FS/Page+1"
    in Atlassian's Confluence REST API examples).
    """
    if flavor == "cloud":
        return f"/spaces/{space_key}/pages/{page_id}"
    if safe_title_for_url(title):
        return f"/display/{url_encode(space_key)}/{url_encode(title)}"
    return f"/pages/viewpage.action?pageId={page_id}"


class Shapes:
    """Builds response bodies for one request: knows the site, the state and the flavor."""

    def __init__(self, state: SandboxState, site: Site) -> None:
        self.state = state
        self.site = site
        self.db = state.db
        self.dc = state.flavor == "datacenter"

    # users

    def user(self, ident: str) -> dict[str, Any]:
        user = self.state.user_by("account_id", ident) if ident else None
        picture = {
            "path": "/wiki/aa-avatar/default.png",
            "width": 48,
            "height": 48,
            "isDefault": True,
        }
        if user is None:
            unknown: dict[str, Any] = {
                "type": "unknown",
                "displayName": "Unknown user",
                "profilePicture": picture,
                "_links": {"base": self.site.base, "context": self.site.context},
            }
            if self.state.flavor == "cloud":
                unknown["accountId"] = ident
            else:
                unknown["userKey"] = ident
            return unknown
        return self.known_user(user)

    def known_user(self, user: User) -> dict[str, Any]:
        basis = self.state.user_json(user)
        links = {
            "base": self.site.base,
            "context": self.site.context,
        }
        if self.dc:
            # Data Center names a person by username and userkey, with no e-mail or
            # account fields, as recorded Confluence Data Center answers show them
            # (`version.by`): {type, username, userKey, profilePicture, displayName,
            # _links: {self: .../rest/api/user?key=...}, _expandable: {status}}.
            return {
                "type": "known",
                "username": basis["name"],
                "userKey": basis["key"],
                "profilePicture": {
                    "path": "/images/icons/profilepics/default.svg",
                    "width": 48,
                    "height": 48,
                    "isDefault": True,
                },
                "displayName": basis["displayName"],
                "_links": {
                    "self": f"{self.site.base}/rest/api/user?{urlencode({'key': user.key})}"
                },
                "_expandable": {"status": ""},
            }
        data: dict[str, Any] = {
            "type": "known",
            "accountId": basis["accountId"],
            "accountType": basis.get("accountType", "atlassian"),
        }
        query = urlencode({"accountId": user.account_id})
        data.update(
            {
                "email": basis.get("emailAddress", ""),
                "publicName": basis["displayName"],
                "profilePicture": {
                    "path": "/wiki/aa-avatar/default.png",
                    "width": 48,
                    "height": 48,
                    "isDefault": True,
                },
                "displayName": basis["displayName"],
                "timeZone": basis.get("timeZone"),
                "isExternalCollaborator": False,
                "externalCollaborator": False,
                "_expandable": {"operations": "", "personalSpace": ""},
                "_links": {"self": f"{self.site.base}/rest/api/user?{query}", **links},
            }
        )
        return data

    # v1 content

    def space(self, key: str) -> dict[str, Any]:
        row = space_row(self.db, key)
        return {
            "id": row["id"] if row else 0,
            "key": key,
            "name": row["name"] if row else key,
            "type": "global",
            "status": "current",
            "_expandable": {
                "settings": f"/rest/api/space/{key}/settings",
                "metadata": "",
                "operations": "",
                "lookAndFeel": f"/rest/api/settings/lookandfeel?spaceKey={key}",
                "identifiers": "",
                "permissions": "",
                "icon": "",
                "description": "",
                "theme": f"/rest/api/space/{key}/theme",
                "history": "",
                "homepage": "",
            },
            "_links": {
                # Data Center: /display/KEY (recorded from Confluence Server, the space
                # list in Virtomize/confluence-go-api's mocks/spaces.json).
                "webui": f"/display/{key}" if self.dc else f"/spaces/{key}",
                "self": f"{self.site.base}/rest/api/space/{key}",
            },
        }

    def version(self, page: PageRow, version: _Version) -> dict[str, Any]:
        return {
            "by": self.user(version.author),
            "when": version.when,
            "friendlyWhen": friendly_time(version.when),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor_edit,
            "contentTypeModified": False,
            "_expandable": {"collaborators": "", "content": f"/rest/api/content/{page.id}"},
            "_links": {
                "self": f"{self.site.base}/rest/api/content/{page.id}/version/{version.number}"
            },
        }

    def history(self, page: PageRow) -> dict[str, Any]:
        data: dict[str, Any] = {
            "latest": page.status == "current",
            "createdBy": self.user(page.author),
            "createdDate": page.created,
            "lastUpdated": self.version(page, page_version(self.db, page)),
            "_expandable": {"previousVersion": "", "contributors": "", "nextVersion": ""},
            "_links": {"self": f"{self.site.base}/rest/api/content/{page.id}/history"},
        }
        if page.version > 1:
            previous = page_version(self.db, page, page.version - 1)
            data["previousVersion"] = self.version(page, previous)
            del data["_expandable"]["previousVersion"]
        return data

    def labels(self, page: PageRow) -> dict[str, Any]:
        names = _labels(self.db, page.id)
        return {
            "results": [
                {"prefix": "global", "name": name, "id": _label_id(name), "label": name}
                for name in names
            ],
            "start": 0,
            "limit": 200,
            "size": len(names),
            "_links": {"self": f"{self.site.base}/rest/api/content/{page.id}/label"},
        }

    def page_links(self, page: PageRow) -> dict[str, str]:
        return {
            "webui": webui_path(self.state.flavor, page.space_key, page.id, page.title),
            "edit": f"/pages/resumedraft.action?draftId={page.id}",
            "tinyui": f"/x/{tiny_id(page.id)}",
            "self": f"{self.site.base}/rest/api/content/{page.id}",
        }

    def content(
        self, page: PageRow, expand: frozenset[str], *, top: bool = False
    ) -> dict[str, Any]:
        """A page as v1 content; `top`: the answer itself rather than an element of a
        list, whose `_links` also carry `base` and `context`."""
        pid = page.id
        data: dict[str, Any] = {
            "id": str(pid),
            "type": page.type,
            "status": page.status,
            "title": page.title,
        }
        expandable: dict[str, str] = {
            "childTypes": "",
            "container": f"/rest/api/space/{page.space_key}",
            "operations": "",
            "children": f"/rest/api/content/{pid}/child",
            "restrictions": f"/rest/api/content/{pid}/restriction/byOperation",
            "descendants": f"/rest/api/content/{pid}/descendant",
        }
        if "space" in expand:
            data["space"] = self.space(page.space_key)
        else:
            expandable["space"] = f"/rest/api/space/{page.space_key}"
        if "history" in expand:
            data["history"] = self.history(page)
        else:
            expandable["history"] = f"/rest/api/content/{pid}/history"
        if "version" in expand:
            data["version"] = self.version(page, page_version(self.db, page))
        else:
            expandable["version"] = ""
        if "ancestors" in expand:
            data["ancestors"] = self.ancestors(page)
        else:
            expandable["ancestors"] = ""
        if "body" in expand:
            body: dict[str, Any] = {
                "_expandable": {
                    name: ""
                    for name in (
                        "editor",
                        "atlas_doc_format",
                        "view",
                        "export_view",
                        "styled_view",
                        "dynamic",
                        "storage",
                        "editor2",
                        "anonymous_export_view",
                    )
                }
            }
            if "body.storage" in expand:
                body["storage"] = {
                    "value": page.body,
                    "representation": "storage",
                    "embeddedContent": [],
                    "_expandable": {"content": f"/rest/api/content/{pid}"},
                }
                del body["_expandable"]["storage"]
            data["body"] = body
        else:
            expandable["body"] = ""
        if "metadata" in expand:
            metadata: dict[str, Any] = {
                "_expandable": {
                    "currentuser": "",
                    "comments": "",
                    "sourceTemplateEntityId": "",
                    "simple": "",
                    "properties": "",
                    "frontend": "",
                    "likes": "",
                }
            }
            if "metadata.labels" in expand:
                metadata["labels"] = self.labels(page)
            else:
                metadata["_expandable"]["labels"] = f"/rest/api/content/{pid}/label"
            data["metadata"] = metadata
        else:
            expandable["metadata"] = ""
        # Data Center says "none" for a page nobody has placed by hand (as recorded from
        # Confluence Server); Cloud gives every page a position.
        data["extensions"] = {"position": "none" if self.dc else 0}
        data["_expandable"] = expandable
        data["_links"] = self.page_links(page)
        if top:
            data["_links"].update({"base": self.site.base, "context": self.site.context})
        return data

    def ancestors(self, page: PageRow) -> list[dict[str, Any]]:
        chain: list[PageRow] = []
        parent_id = page.parent_id
        while parent_id is not None and len(chain) < 100:
            parent = load_page(self.db, parent_id)
            if parent is None:
                break
            chain.append(parent)
            parent_id = parent.parent_id
        return [self.content(ancestor, frozenset()) for ancestor in reversed(chain)]

    def content_property(self, page_id: int, row: sqlite3.Row) -> dict[str, Any]:
        key = row["key"]
        return {
            "id": str(row["id"]),
            "key": key,
            "value": json.loads(row["value"]),
            "version": {
                "when": row["updated"],
                "message": "",
                "number": row["version"],
                "minorEdit": bool(row["minor_edit"]),
                "contentTypeModified": False,
            },
            "_links": {
                "base": self.site.base,
                "context": self.site.context,
                "self": f"{self.site.base}/rest/api/content/{page_id}/property/{quote(key)}",
            },
            "_expandable": {"content": f"/rest/api/content/{page_id}"},
        }

    # v2

    def page_v2(self, page: PageRow, *, with_body: bool) -> dict[str, Any]:
        space = space_row(self.db, page.space_key)
        version = page_version(self.db, page)
        data: dict[str, Any] = {
            "id": str(page.id),
            "status": page.status,
            "title": page.title,
            "spaceId": str(space["id"] if space else 0),
        }
        if page.parent_id is not None:
            data["parentId"] = str(page.parent_id)
            data["parentType"] = "page"
        data.update(
            {
                "position": None,
                "authorId": page.author,
                "ownerId": page.author,
                "lastOwnerId": None,
                "createdAt": page.created,
                "version": {
                    "createdAt": version.when,
                    "message": version.message,
                    "number": version.number,
                    "minorEdit": version.minor_edit,
                    "authorId": version.author,
                },
                "body": (
                    {"storage": {"representation": "storage", "value": page.body}}
                    if with_body
                    else {}
                ),
                "_links": {
                    "webui": f"/spaces/{page.space_key}/pages/{page.id}",
                    "editui": f"/pages/resumedraft.action?draftId={page.id}",
                    "tinyui": f"/x/{tiny_id(page.id)}",
                },
            }
        )
        return data


# -- writing ----------------------------------------------------------------------------


def _reserialize_or_400(body: str) -> str:
    try:
        return reserialize_storage(body)
    except StorageFormatError as error:
        raise Problem(400, f"Error parsing xhtml: {error}") from None


def _check_title(db: sqlite3.Connection, space_key: str, title: str, page_id: int | None) -> None:
    if not title.strip():
        raise Problem(400, "Title is required and must not be blank")
    if len(title) > TITLE_MAX:
        raise Problem(400, f"Title must not be longer than {TITLE_MAX} characters")
    clash = db.execute(
        "SELECT id FROM content WHERE space_key = ? AND title = ? AND id IS NOT ?",
        (space_key, title, page_id),
    ).fetchone()
    if clash:
        raise Problem(
            400,
            "A page with this title already exists: "
            "A page already exists with the same TITLE in this space",
        )


def _insert_page(
    db: sqlite3.Connection,
    *,
    space_key: str,
    title: str,
    body: str,
    author: str,
    created: str,
    labels: Iterable[str] = (),
    parent_id: int | None = None,
    page_id: int | None = None,
) -> int:
    page_id = page_id if page_id is not None else _next_id(db, "content", PAGE_ID_BASE)
    db.execute(
        "INSERT INTO content (id, type, status, space_key, title, body, version, created,"
        " last_modified, author, last_modifier, parent_id)"
        " VALUES (?, 'page', 'current', ?, ?, ?, 1, ?, ?, ?, ?, ?)",
        (page_id, space_key, title, body, created, created, author, author, parent_id),
    )
    db.execute(
        "INSERT INTO content_versions (content_id, version, body, title, author, created,"
        " message, minor_edit) VALUES (?, 1, ?, ?, ?, ?, '', 0)",
        (page_id, body, title, author, created),
    )
    db.executemany(
        "INSERT OR IGNORE INTO content_labels (content_id, label) VALUES (?, ?)",
        [(page_id, label) for label in labels],
    )
    return page_id


def _update_page(
    db: sqlite3.Connection,
    page: PageRow,
    *,
    number: int,
    author: str,
    title: str | None,
    body: str | None,
    minor_edit: bool,
    message: str,
    parent_id: int | None,
    move: bool,
) -> PageRow:
    if number != page.version + 1:
        raise Problem(
            409, f"Version must be incremented on update. Current version is: {page.version}"
        )
    new_title = page.title if title is None else title
    if title is not None:
        _check_title(db, page.space_key, title, page.id)
    new_body = page.body if body is None else _reserialize_or_400(body)
    new_parent = page.parent_id
    if move:
        if parent_id is not None:
            parent = load_page(db, parent_id)
            if parent is None or parent.space_key != page.space_key or parent_id == page.id:
                raise Problem(400, f"Parent page {parent_id} not found in space {page.space_key}")
        new_parent = parent_id
    when = utc_now()
    db.execute(
        "UPDATE content SET title = ?, body = ?, version = ?, last_modified = ?,"
        " last_modifier = ?, parent_id = ? WHERE id = ?",
        (new_title, new_body, number, when, author, new_parent, page.id),
    )
    db.execute(
        "INSERT INTO content_versions (content_id, version, body, title, author, created,"
        " message, minor_edit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (page.id, number, new_body, new_title, author, when, message, int(minor_edit)),
    )
    updated = load_page(db, page.id)
    assert updated is not None
    return updated


def _property_row(db: sqlite3.Connection, page_id: int, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM content_properties WHERE content_id = ? AND key = ?", (page_id, key)
    ).fetchone()
    return row


def _property_value(data: Mapping[str, Any]) -> str:
    if "value" not in data:
        raise Problem(400, "A content property needs a value")
    encoded = json.dumps(data["value"], separators=(",", ":"), ensure_ascii=False)
    if len(encoded.encode("utf-8")) > PROPERTY_VALUE_MAX_BYTES:
        raise Problem(413, f"The property value is longer than {PROPERTY_VALUE_MAX_BYTES} bytes")
    return encoded


def _check_property_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise Problem(400, "The property key must not be empty")
    if len(key) > 255:
        raise Problem(400, "The property key must not be longer than 255 characters")
    return key


def _create_property(
    db: sqlite3.Connection, page_id: int, key: str, value: str, *, minor_edit: bool = False
) -> sqlite3.Row:
    if _property_row(db, page_id, key) is not None:
        raise Problem(
            409,
            f"Cannot add a property with key '{key}' to content {page_id}: "
            "a property with that key already exists",
        )
    db.execute(
        "INSERT INTO content_properties (content_id, key, value, version, id, updated,"
        " minor_edit) VALUES (?, ?, ?, 1, ?, ?, ?)",
        (
            page_id,
            key,
            value,
            _next_id(db, "content_properties", PROPERTY_ID_BASE),
            utc_now(),
            int(minor_edit),
        ),
    )
    row = _property_row(db, page_id, key)
    assert row is not None
    return row


def _update_property(
    db: sqlite3.Connection,
    page_id: int,
    key: str,
    value: str,
    number: int,
    *,
    minor_edit: bool = False,
) -> sqlite3.Row:
    current = _property_row(db, page_id, key)
    if current is None:
        if number != 1:
            raise Problem(
                404,
                f"No property with key '{key}' on content {page_id}: to create it, send version 1",
            )
        return _create_property(db, page_id, key, value, minor_edit=minor_edit)
    if number != current["version"] + 1:
        raise Problem(
            409,
            f"Version must be incremented on update. Current version is: {current['version']}",
        )
    db.execute(
        "UPDATE content_properties SET value = ?, version = ?, updated = ?, minor_edit = ?"
        " WHERE content_id = ? AND key = ?",
        (value, number, utc_now(), int(minor_edit), page_id, key),
    )
    row = _property_row(db, page_id, key)
    assert row is not None
    return row


def _apply_metadata(db: sqlite3.Connection, page_id: int, metadata: object) -> None:
    """`metadata.labels` adds labels; `metadata.properties` sets properties, as Confluence does."""
    if not isinstance(metadata, dict):
        return
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        labels = labels.get("results")
    if isinstance(labels, list):
        for label in labels:
            name = label.get("name") if isinstance(label, dict) else label
            if isinstance(name, str) and name.strip():
                db.execute(
                    "INSERT OR IGNORE INTO content_labels (content_id, label) VALUES (?, ?)",
                    (page_id, name.strip().lower()),
                )
    properties = metadata.get("properties")
    if isinstance(properties, dict):
        for key, spec in properties.items():
            if not isinstance(spec, dict) or "value" not in spec:
                continue
            value = _property_value(spec)
            current = _property_row(db, page_id, _check_property_key(key))
            if current is None:
                _create_property(db, page_id, key, value)
            else:
                _update_property(db, page_id, key, value, current["version"] + 1)


def _storage_from(body: object) -> str | None:
    """The storage value of a v1 `body` (`{"storage": {...}}`), or None when there is none."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise Problem(400, "body must be an object")
    storage = body.get("storage")
    if storage is None:
        others = sorted(k for k in body if not k.startswith("_"))
        if others:
            raise Problem(
                400,
                f"Unsupported body representation: {', '.join(others)} "
                "(the sandbox stores storage format only)",
            )
        return None
    return _storage_value(storage)


def _storage_value(storage: object) -> str:
    if not isinstance(storage, dict) or not isinstance(storage.get("value"), str):
        raise Problem(400, "body.storage.value must be a string")
    representation = storage.get("representation", "storage")
    if representation != "storage":
        raise Problem(
            400,
            f"Unsupported body representation: {representation} "
            "(the sandbox stores storage format only)",
        )
    value: str = storage["value"]
    return value


def _parent_from(data: Mapping[str, Any]) -> tuple[int | None, bool]:
    """`(parent id, whether the request names one)` from `ancestors`."""
    ancestors = data.get("ancestors")
    if not ancestors:
        return None, False
    if not isinstance(ancestors, list) or not isinstance(ancestors[-1], dict):
        raise Problem(400, "ancestors must be a list of {id}")
    raw = str(ancestors[-1].get("id", ""))
    if not raw.isdigit():
        raise Problem(400, f"Ancestor id is not valid: {raw}")
    return int(raw), True


# -- CQL searches ---------------------------------------------------------------------


def search_limit_cap(flavor: str, expand: frozenset[str]) -> int:
    """How many results a CQL search returns at most, whatever `limit` asked for.

    Cloud: 25 with a body expanded, else 50. Data Center: 50 with a body, 200 with
    other expansions, 1000 with none (Atlassian KB "Searching for content with the REST
    API and CQL always limits results to 50").
    """
    body = any("body" in name.split(".") for name in expand)  # content.body.storage too
    if flavor == "cloud":
        return SEARCH_LIMIT_CAP_WITH_BODY if body else SEARCH_LIMIT_CAP
    if body:
        return 50
    return 200 if expand else 1000


@dataclass(frozen=True, slots=True)
class CqlPage:
    """One page of a CQL search: the pages found, and how to answer with them."""

    path: str  # the resource, e.g. /rest/api/content/search
    cql: str
    expand: frozenset[str]
    query: tuple[tuple[str, str], ...]  # cql and expand, as the request gave them
    pages: tuple[PageRow, ...]
    start: int
    limit: int
    total: int
    next_query: tuple[tuple[str, str], ...] | None

    def answer(self, site: Site, results: list[Any], *, totals: bool = False) -> dict[str, Any]:
        """The list answer around `results`; `totals` adds `totalSize`, `cqlQuery` and
        `searchDuration`, as the generic search (and Data Center's content search) do."""
        links = {
            "base": site.base,
            "context": site.context,
            "self": f"{site.base}{self.path}?{urlencode(self.query)}",
        }
        if self.next_query is not None:
            links["next"] = f"{self.path}?{urlencode(self.next_query)}"
        data: dict[str, Any] = {
            "results": results,
            "start": self.start,
            "limit": self.limit,
            "size": len(results),
        }
        if totals:
            data.update({"totalSize": self.total, "cqlQuery": self.cql, "searchDuration": 1})
        data["_links"] = links
        return data


def cql_search(state: SandboxState, request: Request, path: str) -> CqlPage:
    """Run the request's `cql` over current content, one page of it.

    Cloud pages by `cursor`: keyset (`id > after`) in the default id order, which stays
    stable while pages are added or edited, an offset under a query's own ORDER BY.
    Data Center pages by `start`, an offset, as its searches do.
    """
    cql = request.query_params.get("cql", "")
    if not cql.strip():
        raise Problem(400, "CQL query parameter is required")
    from followup.sandbox.confluence.cql import CqlError, compile_cql

    try:
        where, params, order = compile_cql(cql, current_user=caller_id(request) or None)
    except CqlError as error:
        details = [error.detail] if error.detail else []
        raise Problem(400, str(error), details=details) from None
    expand = expand_param(request)
    cap = search_limit_cap(state.flavor, expand)
    limit = limit_param(request, default=SEARCH_LIMIT_DEFAULT, cap=cap)
    cloud = state.flavor == "cloud"
    keyset = cloud and order in ("", "ORDER BY content.id ASC")
    cursor = request.query_params.get("cursor") if cloud else None
    if cursor:
        after, start = decode_cursor(cursor)
        offset, bound = (0, after) if keyset else (start, -1)
    else:
        start = max(0, int_param(request, "start", 0))
        offset, bound = start, -1
    matching = f"FROM content WHERE ({where}) AND content.status = 'current'"
    with state.lock:
        rows = state.db.execute(
            f"SELECT content.* {matching} AND content.id > ?"
            f" {order or 'ORDER BY content.id ASC'} LIMIT ? OFFSET ?",
            [*params, bound, limit + 1, offset],
        ).fetchall()
        total = int(state.db.execute(f"SELECT COUNT(*) {matching}", params).fetchone()[0])
    pages = tuple(PageRow.from_row(row) for row in rows[:limit])
    query: list[tuple[str, str]] = [("cql", cql)]
    if request.query_params.getlist("expand"):
        query.append(("expand", ",".join(request.query_params.getlist("expand"))))
    next_query = None
    if len(rows) > limit:
        if cloud:
            position = encode_cursor(pages[-1].id if keyset else -1, start + limit)
            next_query = (*query, ("limit", str(limit)), ("cursor", position))
        else:
            next_query = (*query, ("limit", str(limit)), ("start", str(start + limit)))
    return CqlPage(path, cql, expand, tuple(query), pages, start, limit, total, next_query)


# -- routes -----------------------------------------------------------------------------

_DEFAULT_WRITE_EXPAND = frozenset(
    {"body", "body.storage", "version", "space", "history", "ancestors"}
)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Confluence endpoints, to mount on the sandbox app."""
    db = state.db

    # v1: search and content ------------------------------------------------------------

    def search(request: Request, payload: bytes) -> Response:
        site = site_of(request)
        found = cql_search(state, request, "/rest/api/content/search")
        with state.lock:
            shapes = Shapes(state, site)
            results = [shapes.content(page, found.expand) for page in found.pages]
        # Data Center's content search answers as its generic search does, with the total
        # and the query it ran.
        return JSONResponse(found.answer(site, results, totals=state.flavor != "cloud"))

    def list_content(request: Request, payload: bytes) -> Response:
        kind = request.query_params.get("type", "page")
        expand = expand_param(request)
        cap = SEARCH_LIMIT_CAP_WITH_BODY if "body" in expand else SEARCH_LIMIT_CAP
        limit = limit_param(request, default=SEARCH_LIMIT_DEFAULT, cap=cap)
        start = max(0, int_param(request, "start", 0))
        clauses = ["type = ?"]
        params: list[object] = [kind]
        for param, column in (("spaceKey", "space_key"), ("title", "title")):
            value = request.query_params.get(param)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        site = site_of(request)
        with state.lock:
            rows = db.execute(
                f"SELECT * FROM content WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ? OFFSET ?",
                [*params, limit + 1, start],
            ).fetchall()
            shapes = Shapes(state, site)
            results = [shapes.content(PageRow.from_row(row), expand) for row in rows[:limit]]
        next_path = None
        if len(rows) > limit:
            query = {k: v for k, v in request.query_params.items() if k not in ("start", "limit")}
            query.update({"start": str(start + limit), "limit": str(limit)})
            next_path = f"/rest/api/content?{urlencode(query)}"
        return listing(
            site, "/rest/api/content", results, start=start, limit=limit, next_path=next_path
        )

    def get_content(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        number = request.query_params.get("version")
        with state.lock:
            page = require_page(db, page_id)
            if number:
                if not number.isdigit():
                    raise Problem(400, f"Version is not valid: {number}")
                page = _historical(db, page, int(number))
            shapes = Shapes(state, site_of(request))
            return JSONResponse(shapes.content(page, expand_param(request), top=True))

    def create_content(request: Request, payload: bytes) -> Response:
        data = _json_body(payload)
        kind = data.get("type")
        if kind != "page":
            raise Problem(400, f"Unsupported content type: {kind} (the sandbox has pages only)")
        if data.get("status", "current") != "current":
            raise Problem(400, "The sandbox creates current pages only (no drafts)")
        title = data.get("title")
        if not isinstance(title, str):
            raise Problem(400, "Title is required")
        space = data.get("space")
        space_key = space.get("key") if isinstance(space, dict) else None
        if not isinstance(space_key, str) or not space_key:
            raise Problem(400, "space.key is required")
        body = _storage_from(data.get("body"))
        stored = _reserialize_or_400(body if body is not None else "")
        parent_id, _ = _parent_from(data)
        with state.transaction() as conn:
            if space_row(conn, space_key) is None:
                raise Problem(403, f"Space does not exist or cannot be written: {space_key}")
            _check_title(conn, space_key, title, None)
            if parent_id is not None:
                parent = load_page(conn, parent_id)
                if parent is None or parent.space_key != space_key:
                    raise Problem(400, f"Parent page {parent_id} not found in space {space_key}")
            page_id = _insert_page(
                conn,
                space_key=space_key,
                title=title,
                body=stored,
                author=caller_id(request),
                created=utc_now(),
                parent_id=parent_id,
            )
            _apply_metadata(conn, page_id, data.get("metadata"))
            page = require_page(conn, page_id)
            shapes = Shapes(state, site_of(request))
            expand = _DEFAULT_WRITE_EXPAND | expand_param(request)
            return JSONResponse(shapes.content(page, expand, top=True))

    def update_content(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        data = _json_body(payload)
        version = data.get("version")
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(
                400,
                "Must supply an incremented version when updating Content. No version supplied.",
            )
        assert isinstance(version, dict)
        if not isinstance(data.get("type"), str):
            raise Problem(400, "Content type is required when updating content")
        title = data.get("title")
        if not isinstance(title, str):
            raise Problem(400, "Title is required when updating content")
        if data.get("status", "current") != "current":
            raise Problem(400, "The sandbox updates current pages only (no drafts)")
        body = _storage_from(data.get("body"))
        parent_id, move = _parent_from(data)
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            if data["type"] != page.type:
                raise Problem(400, f"Content type cannot change from {page.type} to {data['type']}")
            updated = _update_page(
                conn,
                page,
                number=number,
                author=caller_id(request),
                title=title,
                body=body,
                minor_edit=bool(version.get("minorEdit", False)),
                message=str(version.get("message") or ""),
                parent_id=parent_id,
                move=move,
            )
            _apply_metadata(conn, page_id, data.get("metadata"))
            shapes = Shapes(state, site_of(request))
            expand = _DEFAULT_WRITE_EXPAND | expand_param(request)
            return JSONResponse(shapes.content(updated, expand, top=True))

    def content_history(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        with state.lock:
            page = require_page(db, page_id)
            return JSONResponse(Shapes(state, site_of(request)).history(page))

    def content_versions(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=VERSION_LIMIT_DEFAULT, cap=VERSION_LIMIT_DEFAULT)
        site = site_of(request)
        with state.lock:
            page = require_page(db, page_id)
            numbers = list(range(page.version, 0, -1))[start : start + limit + 1]
            shapes = Shapes(state, site)
            results = [shapes.version(page, page_version(db, page, n)) for n in numbers[:limit]]
        more = len(numbers) > limit
        return listing(
            site,
            f"/rest/api/content/{page_id}/version",
            results,
            start=start,
            limit=limit,
            next_path=(
                f"/rest/api/content/{page_id}/version?start={start + limit}&limit={limit}"
                if more
                else None
            ),
        )

    def content_version(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        raw = str(request.path_params["number"])
        if not raw.isdigit():
            raise Problem(400, f"Version is not valid: {raw}")
        with state.lock:
            page = require_page(db, page_id)
            _historical(db, page, int(raw))  # 404 when there is no such version
            version = page_version(db, page, int(raw))
            return JSONResponse(Shapes(state, site_of(request)).version(page, version))

    # v1: labels --------------------------------------------------------------------------

    def get_labels(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        with state.lock:
            page = require_page(db, page_id)
            return JSONResponse(Shapes(state, site_of(request)).labels(page))

    def add_labels(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "Unable to parse the request body as JSON") from None
        items = data if isinstance(data, list) else [data]
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            _apply_metadata(conn, page_id, {"labels": items})
            return JSONResponse(Shapes(state, site_of(request)).labels(page))

    def delete_label(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        label = str(request.path_params["label"])
        with state.transaction() as conn:
            require_page(conn, page_id)
            gone = conn.execute(
                "DELETE FROM content_labels WHERE content_id = ? AND label = ?", (page_id, label)
            ).rowcount
            if not gone:
                raise Problem(404, f"Label '{label}' is not on content {page_id}")
        return Response(status_code=204)

    # v1: content properties --------------------------------------------------------------

    def list_properties(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        start = max(0, int_param(request, "start", 0))
        limit = limit_param(request, default=PROPERTY_LIMIT_DEFAULT, cap=PROPERTY_LIMIT_CAP)
        keys = [k for value in request.query_params.getlist("key") for k in value.split(",") if k]
        site = site_of(request)
        with state.lock:
            require_page(db, page_id)
            sql = "SELECT * FROM content_properties WHERE content_id = ?"
            params: list[object] = [page_id]
            if keys:
                sql += f" AND key IN ({','.join('?' * len(keys))})"
                params.extend(keys)
            rows = db.execute(
                sql + " ORDER BY id LIMIT ? OFFSET ?", [*params, limit + 1, start]
            ).fetchall()
            shapes = Shapes(state, site)
            results = [shapes.content_property(page_id, row) for row in rows[:limit]]
        more = len(rows) > limit
        return listing(
            site,
            f"/rest/api/content/{page_id}/property",
            results,
            start=start,
            limit=limit,
            next_path=(
                f"/rest/api/content/{page_id}/property?start={start + limit}&limit={limit}"
                if more
                else None
            ),
        )

    def create_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        data = _json_body(payload)
        key = _check_property_key(request.path_params.get("key", data.get("key")))
        value = _property_value(data)
        with state.transaction() as conn:
            require_page(conn, page_id)
            row = _create_property(conn, page_id, key, value)
            return JSONResponse(Shapes(state, site_of(request)).content_property(page_id, row))

    def get_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = str(request.path_params["key"])
        with state.lock:
            require_page(db, page_id)
            row = _property_row(db, page_id, key)
            if row is None:
                raise Problem(404, f"Cannot find content property with key '{key}'")
            return JSONResponse(Shapes(state, site_of(request)).content_property(page_id, row))

    def update_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = _check_property_key(str(request.path_params["key"]))
        data = _json_body(payload)
        version = data.get("version")
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(400, "A content property update needs version.number")
        assert isinstance(version, dict)
        if "key" in data and data["key"] != key:
            raise Problem(400, f"The key in the body ({data['key']}) differs from the path")
        value = _property_value(data)
        with state.transaction() as conn:
            require_page(conn, page_id)
            row = _update_property(
                conn, page_id, key, value, number, minor_edit=bool(version.get("minorEdit"))
            )
            return JSONResponse(Shapes(state, site_of(request)).content_property(page_id, row))

    def delete_property(request: Request, payload: bytes) -> Response:
        page_id = page_id_param(request)
        key = str(request.path_params["key"])
        with state.transaction() as conn:
            require_page(conn, page_id)
            gone = conn.execute(
                "DELETE FROM content_properties WHERE content_id = ? AND key = ?", (page_id, key)
            ).rowcount
            if not gone:
                raise Problem(404, f"Cannot find content property with key '{key}'")
        return Response(status_code=204)

    # v1: permissions ---------------------------------------------------------------------

    def check_permission(request: Request, payload: bytes) -> Response:
        """`POST content/{id}/permission/check` (Cloud only): may the subject read,
        update or delete the page? Read-only users may only read; nothing is written.
        Data Center has no such resource: the route is mounted on Cloud only."""
        page_id = page_id_param(request)
        data = _json_body(payload)
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

    # v1: users ---------------------------------------------------------------------------

    def get_user(request: Request, payload: bytes) -> Response:
        params = request.query_params
        cloud = state.flavor == "cloud"
        lookups = (
            (("accountId", "account_id"),)
            if cloud
            else (("key", "key"), ("username", "name"), ("accountId", "account_id"))
        )
        for param, column in lookups:
            value = params.get(param)
            if value:
                user = state.user_by(column, value)  # type: ignore[arg-type]
                if user is None:
                    raise Problem(404, f"No user found with {param}: {value}")
                return JSONResponse(Shapes(state, site_of(request)).known_user(user))
        if cloud and (params.get("key") or params.get("username")):
            raise Problem(
                400,
                "The username and key parameters are no longer supported on Confluence "
                "Cloud; use accountId",
            )
        raise Problem(400, "One of accountId, key or username is required")

    def current_user(request: Request, payload: bytes) -> Response:
        user = getattr(request.state, "user", None)
        if not isinstance(user, User):
            return JSONResponse(
                {
                    "type": "anonymous",
                    "displayName": "Anonymous",
                    "profilePicture": {
                        "path": "/wiki/aa-avatar/default.png",
                        "width": 48,
                        "height": 48,
                        "isDefault": True,
                    },
                    "_links": {"base": site_of(request).base, "context": site_of(request).context},
                }
            )
        return JSONResponse(Shapes(state, site_of(request)).known_user(user))

    # v2 ----------------------------------------------------------------------------------

    def require_cloud() -> None:
        if state.flavor != "cloud":
            raise Problem(404, "Confluence Data Center has no /wiki/api/v2")

    def body_format(request: Request) -> bool:
        value = request.query_params.get("body-format")
        if value in (None, "", "none"):  # atlassian-python-api sends "none" for no body
            return False
        if value != "storage":
            raise Problem(
                400, f"Unsupported body-format: {value} (the sandbox serves storage only)"
            )
        return True

    def id_list(request: Request, name: str) -> list[int]:
        ids: list[int] = []
        for value in request.query_params.getlist(name):
            for part in value.split(","):
                if not part.strip().isdigit():
                    raise Problem(400, f"Parameter '{name}' must be a list of ids, got: {part}")
                ids.append(int(part))
        return ids

    def v2_pages(request: Request, payload: bytes) -> Response:
        require_cloud()
        with_body = body_format(request)
        limit = limit_param(request, default=V2_LIMIT_DEFAULT, cap=V2_LIMIT_CAP)
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor)[0] if cursor else 0
        clauses = ["content.type = 'page'", "content.id > ?"]
        params: list[object] = [after]
        page_ids = id_list(request, "id")
        if page_ids:
            clauses.append(f"content.id IN ({','.join('?' * len(page_ids))})")
            params.extend(page_ids)
        space_ids = id_list(request, "space-id")
        if space_ids:
            clauses.append(
                "content.space_key IN (SELECT key FROM spaces WHERE id IN"
                f" ({','.join('?' * len(space_ids))}))"
            )
            params.extend(space_ids)
        title = request.query_params.get("title")
        if title:
            clauses.append("content.title = ?")
            params.append(title)
        statuses = [
            s for value in request.query_params.getlist("status") for s in value.split(",") if s
        ]
        if statuses:
            clauses.append(f"content.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        site = site_of(request)
        with state.lock:
            rows = db.execute(
                f"SELECT content.* FROM content WHERE {' AND '.join(clauses)}"
                " ORDER BY content.id LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
            pages = [PageRow.from_row(row) for row in rows[:limit]]
            shapes = Shapes(state, site)
            results = [shapes.page_v2(page, with_body=with_body) for page in pages]
        links: dict[str, str] = {"base": site.base}
        headers: dict[str, str] = {}
        if len(rows) > limit:
            query = [
                (k, v)
                for k, v in request.query_params.multi_items()
                if k not in ("cursor", "limit")
            ]
            query += [("limit", str(limit)), ("cursor", encode_cursor(pages[-1].id, 0))]
            links["next"] = f"/wiki/api/v2/pages?{urlencode(query)}"
            headers["Link"] = f'<{links["next"]}>; rel="next", <{site.base}>; rel="base"'
        return JSONResponse({"results": results, "_links": links}, headers=headers)

    def v2_page(request: Request, payload: bytes) -> Response:
        require_cloud()
        page_id = page_id_param(request)
        with_body = body_format(request)
        number = request.query_params.get("version")
        with state.lock:
            page = require_page(db, page_id)
            if number:
                if not number.isdigit():
                    raise Problem(400, f"Version is not valid: {number}")
                page = _historical(db, page, int(number))
            data = Shapes(state, site_of(request)).page_v2(page, with_body=with_body)
        data["_links"]["base"] = site_of(request).base
        return JSONResponse(data)

    def v2_update_page(request: Request, payload: bytes) -> Response:
        require_cloud()
        page_id = page_id_param(request)
        data = _json_body(payload)
        missing = [k for k in ("id", "status", "title", "body", "version") if k not in data]
        if missing:
            raise Problem(400, f"Missing required fields: {', '.join(missing)}")
        if str(data["id"]) != str(page_id):
            raise Problem(400, f"The id in the body ({data['id']}) differs from the path")
        if data["status"] != "current":
            raise Problem(400, "The sandbox updates current pages only (no drafts)")
        version = data["version"]
        number = version.get("number") if isinstance(version, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise Problem(400, "version.number is required")
        assert isinstance(version, dict)
        body = data["body"]
        storage = body.get("storage", body) if isinstance(body, dict) else body
        value = _storage_value(storage)
        parent = data.get("parentId")
        if parent is not None and not str(parent).isdigit():
            raise Problem(400, f"parentId is not valid: {parent}")
        with state.transaction() as conn:
            page = require_page(conn, page_id)
            updated = _update_page(
                conn,
                page,
                number=number,
                author=caller_id(request),
                title=str(data["title"]),
                body=value,
                minor_edit=bool(version.get("minorEdit", False)),
                message=str(version.get("message") or ""),
                parent_id=int(parent) if parent is not None else None,
                move=parent is not None,
            )
            result = Shapes(state, site_of(request)).page_v2(updated, with_body=True)
        result["_links"]["base"] = site_of(request).base
        return JSONResponse(result)

    v1: list[tuple[str, Handler, list[str]]] = [
        ("/wiki/rest/api/content/search", search, ["GET"]),
        ("/wiki/rest/api/content", list_content, ["GET"]),
        ("/wiki/rest/api/content", create_content, ["POST"]),
        ("/wiki/rest/api/content/{id}", get_content, ["GET"]),
        ("/wiki/rest/api/content/{id}", update_content, ["PUT"]),
        ("/wiki/rest/api/content/{id}/history", content_history, ["GET"]),
        ("/wiki/rest/api/content/{id}/version", content_versions, ["GET"]),
        ("/wiki/rest/api/content/{id}/version/{number}", content_version, ["GET"]),
        ("/wiki/rest/api/content/{id}/label", get_labels, ["GET"]),
        ("/wiki/rest/api/content/{id}/label", add_labels, ["POST"]),
        ("/wiki/rest/api/content/{id}/label/{label}", delete_label, ["DELETE"]),
        ("/wiki/rest/api/content/{id}/property", list_properties, ["GET"]),
        ("/wiki/rest/api/content/{id}/property", create_property, ["POST"]),
        ("/wiki/rest/api/content/{id}/property/{key}", get_property, ["GET"]),
        ("/wiki/rest/api/content/{id}/property/{key}", update_property, ["PUT"]),
        ("/wiki/rest/api/content/{id}/property/{key}", create_property, ["POST"]),
        ("/wiki/rest/api/content/{id}/property/{key}", delete_property, ["DELETE"]),
        ("/wiki/rest/api/user", get_user, ["GET"]),
        ("/wiki/rest/api/user/current", current_user, ["GET"]),
    ]
    if state.flavor == "cloud":
        v1.append(("/wiki/rest/api/content/{id}/permission/check", check_permission, ["POST"]))
    v2: list[tuple[str, Handler, list[str]]] = [
        ("/wiki/api/v2/pages", v2_pages, ["GET"]),
        ("/wiki/api/v2/pages/{id}", v2_page, ["GET"]),
        ("/wiki/api/v2/pages/{id}", v2_update_page, ["PUT"]),
    ]
    # The resources in followup/sandbox/confluence/ build on this module's helpers, so
    # they are imported here rather than at the top.
    from followup.sandbox.confluence import children, spaces, web
    from followup.sandbox.confluence import search as generic_search

    return [
        *(Route(path, guard(h, v1_error), methods=methods) for path, h, methods in v1),
        *(Route(path, guard(h, v2_error), methods=methods) for path, h, methods in v2),
        *spaces.routes(state),
        *children.routes(state),
        *generic_search.routes(state),
        *web.routes(state),
    ]


# -- seeding ----------------------------------------------------------------------------


def load(state: SandboxState, dataset: Dataset) -> None:
    """Put the dataset's users, spaces and pages (with labels, version 1 in history) in.

    Bodies are stored re-serialised, as a real site would hold them; a body that does
    not parse is stored as given (a seed may hold a broken page on purpose).
    """
    with state.transaction() as db:
        _create_tables(db)
        for user in dataset.users:
            state.add_user(user)
        for space in dataset.spaces:
            if space_row(db, space.key) is None:
                space_id = _next_id(db, "spaces", SPACE_ID_BASE)
                db.execute(
                    "INSERT INTO spaces (key, id, name) VALUES (?, ?, ?)",
                    (space.key, space_id, space.name),
                )
        for seed in dataset.pages:
            try:
                body = reserialize_storage(seed.body)
            except StorageFormatError:
                body = seed.body
            _insert_page(
                db,
                space_key=seed.space_key,
                title=seed.title,
                body=body,
                author=seed.author,
                created=_iso(seed.created),
                labels=seed.labels,
                parent_id=int(seed.parent) if seed.parent is not None else None,
                page_id=int(seed.id) if seed.id is not None else None,
            )


def _create_tables(db: sqlite3.Connection) -> None:
    # executescript would COMMIT the open transaction: run the statements one by one.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
