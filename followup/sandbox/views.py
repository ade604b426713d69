"""The sandbox's HTML views for people: what a reader of the site would see.

- `/` lists the spaces, the pages and the Jira issues;
- `/wiki/spaces/{key}/pages/{id}[/{slug}]` shows a page as Confluence would (tasks
  as checkboxes, status macros as coloured lozenges, Jira macros with the ticket's
  live status, mentions as names): the page JSON's `_links.webui` points here;
- `/browse/{KEY}` shows an issue: status, assignee, due date, labels, description,
  remote links, comments and entity properties.

No authentication, no JavaScript; server-rendered HTML with inline CSS. Everything
from the database is escaped. The Jira tables belong to `jira/tables.py`; a view works
(showing less) when they are missing.
"""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.state import SandboxState
from followup.sandbox.storage_html import IssueFacts, lozenge, status_colour, storage_to_html

__all__ = ["adf_to_text", "issue_status_lookup", "routes", "title_slug", "user_name_lookup"]

LIST_MAX = 500  # rows per table on the index page

_e = html.escape

_CSS = """
body{margin:0;font:14px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#172b4d}
header{background:#0747a6;color:#fff;padding:8px 24px}
header a{color:#fff;text-decoration:none;font-weight:600}
header .note{opacity:.75;font-size:12px;margin-left:12px}
main{max-width:980px;margin:24px auto;padding:0 24px}
a{color:#0052cc}
h1{font-size:24px;margin:8px 0}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #dfe1e6;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f4f5f7}
.meta{color:#6b778c;font-size:12px}
.lozenge{display:inline-block;border-radius:3px;padding:0 4px;font-size:11px;font-weight:700;
 line-height:16px;text-transform:uppercase;white-space:nowrap}
.lozenge-grey{background:#dfe1e6;color:#42526e}
.lozenge-red{background:#de350b;color:#fff}
.lozenge-yellow{background:#ff991f;color:#172b4d}
.lozenge-green{background:#00875a;color:#fff}
.lozenge-blue{background:#0052cc;color:#fff}
.lozenge-subtle{background:#fff;border:1px solid currentColor}
.jira+.lozenge,.lozenge+.lozenge{margin-left:4px}
.jira-summary{color:#42526e}
.lozenge-subtle.lozenge-red{color:#bf2600}
.lozenge-subtle.lozenge-green{color:#006644}
.lozenge-subtle.lozenge-blue{color:#0747a6}
.lozenge-subtle.lozenge-yellow{color:#974f0c}
ul.task-list{list-style:none;padding-left:4px}
li.task-complete .task-body{color:#6b778c}
.mention{background:#f4f5f7;border-radius:12px;padding:0 4px;color:#0052cc}
.panel{border:1px solid #dfe1e6;border-radius:3px;padding:8px 12px;margin:8px 0}
.panel-title{font-weight:600}
.panel-info{background:#deebff}.panel-note{background:#eae6ff}.panel-warning{background:#fffae6}
.panel-tip,.panel-success{background:#e3fcef}.panel-error{background:#ffebe6}
pre{background:#f4f5f7;padding:8px;overflow:auto;white-space:pre-wrap}
.macro-name{color:#6b778c;font-family:monospace}
.unparseable{border:2px solid #de350b;padding:8px}
.label{display:inline-block;background:#f4f5f7;border-radius:3px;padding:0 6px;margin-right:4px}
.description{white-space:pre-wrap}
.comment{border-top:1px solid #dfe1e6;padding:8px 0}
details.source{margin-top:32px}
"""


# -- lookups the renderer needs ---------------------------------------------------------


def issue_status_lookup(db: sqlite3.Connection) -> Callable[[str], IssueFacts | None]:
    """`key → (status, status category, summary)` from the Jira `issues` table, None
    if absent."""

    def lookup(key: str) -> IssueFacts | None:
        try:
            row = db.execute(
                "SELECT status, status_category, summary FROM issues WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.OperationalError:  # no Jira tables in this sandbox
            return None
        return (str(row[0]), str(row[1] or ""), str(row[2] or "")) if row else None

    return lookup


def user_name_lookup(state: SandboxState) -> Callable[[str], str | None]:
    """`account id | userkey | username → display name`, None for nobody."""

    def lookup(ident: str) -> str | None:
        for column in ("account_id", "key", "name"):
            user = state.user_by(column, ident)
            if user is not None:
                return user.display_name
        return None

    return lookup


def title_slug(title: str) -> str:
    """The `Title+Words` slug Confluence ends a page's web address with."""
    words = "".join(c if c.isalnum() else " " for c in title).split()
    return "+".join(words)


# -- ADF (Jira rich text) ---------------------------------------------------------------

_BLOCKS = frozenset(
    {
        "paragraph",
        "heading",
        "blockquote",
        "codeBlock",
        "listItem",
        "bulletList",
        "orderedList",
        "panel",
        "rule",
        "table",
        "tableRow",
        "mediaSingle",
        "taskList",
        "taskItem",
        "decisionList",
        "decisionItem",
    }
)


def adf_to_text(document: Any) -> str:
    """The plain text of an Atlassian Document Format value (a dict), or of a string."""
    if isinstance(document, str):
        return document
    parts: list[str] = []
    _adf(document, parts)
    text = "".join(parts)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _adf(node: Any, out: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _adf(child, out)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    assert isinstance(attrs, dict)
    if kind == "text":
        out.append(str(node.get("text", "")))
    elif kind == "hardBreak":
        out.append("\n")
    elif kind in ("mention", "status", "emoji"):
        out.append(str(attrs.get("text") or attrs.get("shortName") or ""))
    elif kind in ("inlineCard", "blockCard"):
        out.append(str(attrs.get("url", "")))
    elif kind == "date":
        try:
            stamp = datetime.fromtimestamp(int(attrs.get("timestamp", 0)) / 1000, UTC)
            out.append(stamp.date().isoformat())
        except (TypeError, ValueError, OverflowError):
            pass
    elif kind == "listItem":
        out.append("• ")
    _adf(node.get("content", []), out)
    if kind in _BLOCKS:
        out.append("\n")


def _description(raw: object) -> str:
    """Jira rich text as stored (JSON of a string or an ADF document), as plain text."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
        return value if isinstance(value, str) else adf_to_text(value) if value else raw
    return adf_to_text(raw)


# -- HTML shell -------------------------------------------------------------------------


def _html(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · followup sandbox</title><style>{_CSS}</style></head><body>"
        '<header><a href="/">followup sandbox</a>'
        '<span class="note">a local stand-in for Jira + Confluence</span></header>'
        f"<main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status_code)


def _not_found(what: str) -> HTMLResponse:
    return _html("Not found", f"<h1>Not found</h1><p>{_e(what)}</p>", status_code=404)


def _rows(db: sqlite3.Connection, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
    """Rows of a query on a table that may not exist in this sandbox (then none)."""
    try:
        return db.execute(sql, tuple(params)).fetchall()
    except sqlite3.OperationalError:
        return []


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in _rows(db, f"PRAGMA table_info({table})")}


def _date(value: object) -> str:
    text = str(value or "")
    return text[:10] if len(text) >= 10 else text


def _page_href(space_key: str, page_id: int, title: str) -> str:
    slug = title_slug(title)
    tail = f"/{slug}" if slug else ""
    return f"/wiki/spaces/{_e(space_key)}/pages/{page_id}{_e(tail)}"


def _issue_lozenge(status: str, category: str) -> str:
    return lozenge(status.upper(), status_colour(category))


# -- routes -----------------------------------------------------------------------------


def routes(state: SandboxState) -> list[BaseRoute]:
    """The HTML views, to mount on the sandbox app (no authentication). The endpoints
    are plain functions: Starlette runs them in its thread pool, so waiting for
    `state.lock` never stalls the event loop."""
    db = state.db
    user_name = user_name_lookup(state)

    def person(ident: object) -> str:
        if not ident:
            return '<span class="meta">Unassigned</span>'
        return _e(user_name(str(ident)) or str(ident))

    def index(request: Request) -> Response:
        with state.lock:
            spaces = _rows(
                db,
                "SELECT s.key, s.name, COUNT(c.id) AS pages FROM spaces s"
                " LEFT JOIN content c ON c.space_key = s.key GROUP BY s.key ORDER BY s.key",
            )
            pages = _rows(
                db,
                "SELECT id, space_key, title, version, last_modified FROM content"
                " ORDER BY space_key, title LIMIT ?",
                (LIST_MAX + 1,),
            )
            labels: dict[int, list[str]] = {}
            for row in _rows(db, "SELECT content_id, label FROM content_labels ORDER BY label"):
                labels.setdefault(row[0], []).append(row[1])
            issues = _rows(
                db,
                "SELECT key, summary, status, status_category, assignee, duedate FROM issues"
                " ORDER BY project, id LIMIT ?",
                (LIST_MAX + 1,),
            )
            issue_total = _rows(db, "SELECT COUNT(*) FROM issues")
            page_total = _rows(db, "SELECT COUNT(*) FROM content")
        parts = ["<h1>Sandbox site</h1>", "<h2>Spaces</h2>"]
        if spaces:
            parts.append("<table><tr><th>Key</th><th>Name</th><th>Pages</th></tr>")
            parts.extend(
                f'<tr><td><a href="/wiki/spaces/{_e(s["key"])}">{_e(s["key"])}</a></td>'
                f"<td>{_e(s['name'])}</td><td>{s['pages']}</td></tr>"
                for s in spaces
            )
            parts.append("</table>")
        else:
            parts.append('<p class="meta">No spaces.</p>')
        parts.append("<h2>Pages</h2>")
        parts.append(_page_table(pages[:LIST_MAX], labels))
        if page_total and page_total[0][0] > LIST_MAX:
            parts.append(f'<p class="meta">…and {page_total[0][0] - LIST_MAX} more.</p>')
        parts.append("<h2>Issues</h2>")
        if issues:
            parts.append(
                "<table><tr><th>Key</th><th>Summary</th><th>Status</th>"
                "<th>Assignee</th><th>Due</th></tr>"
            )
            parts.extend(
                f'<tr><td><a href="/browse/{_e(i["key"])}">{_e(i["key"])}</a></td>'
                f"<td>{_e(i['summary'] or '')}</td>"
                f"<td>{_issue_lozenge(i['status'] or '', i['status_category'] or '')}</td>"
                f"<td>{person(i['assignee'])}</td><td>{_e(_date(i['duedate']))}</td></tr>"
                for i in issues[:LIST_MAX]
            )
            parts.append("</table>")
            if issue_total and issue_total[0][0] > LIST_MAX:
                parts.append(f'<p class="meta">…and {issue_total[0][0] - LIST_MAX} more.</p>')
        else:
            parts.append('<p class="meta">No issues.</p>')
        return _html("Sandbox site", "".join(parts))

    def space_view(request: Request) -> Response:
        key = str(request.path_params["space_key"])
        with state.lock:
            space = _rows(db, "SELECT key, name FROM spaces WHERE key = ?", (key,))
            if not space:
                return _not_found(f"There is no space with key {key}.")
            pages = _rows(
                db,
                "SELECT id, space_key, title, version, last_modified FROM content"
                " WHERE space_key = ? ORDER BY title",
                (key,),
            )
            labels: dict[int, list[str]] = {}
            for row in _rows(
                db,
                "SELECT l.content_id, l.label FROM content_labels l"
                " JOIN content c ON c.id = l.content_id WHERE c.space_key = ? ORDER BY l.label",
                (key,),
            ):
                labels.setdefault(row[0], []).append(row[1])
        body = (
            f'<p class="meta"><a href="/">Sandbox</a> / {_e(key)}</p>'
            f"<h1>{_e(space[0]['name'])}</h1>{_page_table(pages, labels)}"
        )
        return _html(str(space[0]["name"]), body)

    def page_view(request: Request) -> Response:
        key = str(request.path_params["space_key"])
        raw_id = str(request.path_params["page_id"])
        if not raw_id.isdigit():
            return _not_found(f"There is no page with id {raw_id}.")
        with state.lock:
            found = _rows(db, "SELECT * FROM content WHERE id = ?", (int(raw_id),))
            if not found:
                return _not_found(f"There is no page with id {raw_id}.")
            page = found[0]
            if page["space_key"] != key:
                return RedirectResponse(
                    _page_href(page["space_key"], page["id"], page["title"]), status_code=301
                )
            space = _rows(db, "SELECT name FROM spaces WHERE key = ?", (key,))
            labels = [
                r[0]
                for r in _rows(
                    db,
                    "SELECT label FROM content_labels WHERE content_id = ? ORDER BY label",
                    (page["id"],),
                )
            ]
            rendered = storage_to_html(
                page["body"], issue_status=issue_status_lookup(db), user_name=user_name
            )
        space_name = space[0]["name"] if space else key
        label_html = "".join(f'<span class="label">{_e(label)}</span>' for label in labels)
        body = (
            f'<p class="meta"><a href="/">Sandbox</a> / '
            f'<a href="/wiki/spaces/{_e(key)}">{_e(space_name)}</a></p>'
            f"<h1>{_e(page['title'])}</h1>"
            f'<p class="meta">Version {page["version"]} · last updated by '
            f"{person(page['last_modifier'])} at {_e(page['last_modified'])} · created by "
            f"{person(page['author'])} · page id {page['id']}</p>"
            f"{'<p>' + label_html + '</p>' if labels else ''}"
            f'<div class="page-body">{rendered}</div>'
            '<details class="source"><summary>Storage format (as stored)</summary>'
            f"<pre>{_e(page['body'])}</pre></details>"
        )
        return _html(str(page["title"]), body)

    def issue_view(request: Request) -> Response:
        key = str(request.path_params["key"]).upper()
        with state.lock:
            found = _rows(db, "SELECT * FROM issues WHERE key = ?", (key,))
            if not found:
                return _not_found(f"There is no issue {key}.")
            issue = found[0]
            labels = [
                r[0]
                for r in _rows(
                    db,
                    "SELECT label FROM issue_labels WHERE issue_id = ? ORDER BY label",
                    (issue["id"],),
                )
            ]
            links = _related(db, "remote_links", issue["id"])
            comments = _related(db, "comments", issue["id"])
            properties = _related(db, "issue_properties", issue["id"])
        # the columns of the `issues` table (jira/tables.py)
        facts = [
            ("Status", _issue_lozenge(issue["status"] or "", issue["status_category"] or "")),
            ("Resolution", _e(issue["resolution"]) if issue["resolution"] else "Unresolved"),
            ("Assignee", person(issue["assignee"])),
            ("Reporter", person(issue["reporter"])),
            ("Due date", _e(_date(issue["duedate"])) if issue["duedate"] else "None"),
            ("Priority", _e(str(issue["priority"] or ""))),
            ("Type", _e(str(issue["issuetype"] or ""))),
            (
                "Labels",
                "".join(f'<span class="label">{_e(label)}</span>' for label in labels)
                or '<span class="meta">None</span>',
            ),
            ("Created", _e(str(issue["created"] or ""))),
            ("Updated", _e(str(issue["updated"] or ""))),
        ]
        parts = [
            f'<p class="meta"><a href="/">Sandbox</a> / {_e(str(issue["project"] or ""))}'
            f" / {_e(key)}</p>",
            f"<h1>{_e(issue['summary'] or '')}</h1>",
            "<table>",
            *(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts),
            "</table>",
            "<h2>Description</h2>",
        ]
        description = _description(issue["description"])
        parts.append(
            f'<div class="description">{_e(description)}</div>'
            if description
            else '<p class="meta">No description.</p>'
        )
        parts.append("<h2>Links</h2>")
        parts.append(_remote_links_html(links) or '<p class="meta">No links.</p>')
        parts.append("<h2>Comments</h2>")
        parts.append(_comments_html(comments, person) or '<p class="meta">No comments.</p>')
        if properties:
            parts.append("<h2>Entity properties</h2>")
            for prop in properties:
                value = prop.get("value", "")
                try:
                    value = json.dumps(json.loads(str(value)), indent=2, ensure_ascii=False)
                except ValueError:
                    value = str(value)
                parts.append(f"<h3>{_e(str(prop.get('key', '')))}</h3><pre>{_e(str(value))}</pre>")
        return _html(f"{key}: {issue['summary'] or ''}", "".join(parts))

    return [
        Route("/", index, methods=["GET"]),
        Route("/wiki/spaces/{space_key}", space_view, methods=["GET"]),
        Route("/wiki/spaces/{space_key}/pages/{page_id}", page_view, methods=["GET"]),
        Route("/wiki/spaces/{space_key}/pages/{page_id}/{slug}", page_view, methods=["GET"]),
        Route("/browse/{key}", issue_view, methods=["GET"]),
    ]


def _page_table(pages: list[sqlite3.Row], labels: dict[int, list[str]]) -> str:
    if not pages:
        return '<p class="meta">No pages.</p>'
    rows = "".join(
        f'<tr><td><a href="{_page_href(p["space_key"], p["id"], p["title"])}">'
        f"{_e(p['title'])}</a></td><td>{_e(p['space_key'])}</td><td>{p['version']}</td>"
        f"<td>{''.join(f'<span class=label>{_e(x)}</span>' for x in labels.get(p['id'], []))}"
        f"</td><td>{_e(_date(p['last_modified']))}</td></tr>"
        for p in pages
    )
    return (
        "<table><tr><th>Title</th><th>Space</th><th>Version</th><th>Labels</th>"
        f"<th>Updated</th></tr>{rows}</table>"
    )


def _related(db: sqlite3.Connection, table: str, issue_id: object) -> list[dict[str, Any]]:
    """Rows of a Jira side table for one issue, whatever its exact columns."""
    columns = _columns(db, table)
    for column in ("issue_id", "issue"):
        if column in columns:
            order = "id" if "id" in columns else "rowid"
            rows = _rows(
                db, f"SELECT * FROM {table} WHERE {column} = ? ORDER BY {order}", (issue_id,)
            )
            return [dict(row) for row in rows]
    return []


def _json_field(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in row and row[name] is not None:
            value = row[name]
            if isinstance(value, str) and value.strip().startswith(("{", "[")):
                try:
                    return json.loads(value)
                except ValueError:
                    return value
            return value
    return None


def _remote_links_html(links: list[dict[str, Any]]) -> str:
    items: list[str] = []
    for link in links:
        obj = _json_field(link, "object", "object_json", "data", "json")
        obj = obj if isinstance(obj, dict) else {}
        nested = obj.get("object") if isinstance(obj.get("object"), dict) else obj
        assert isinstance(nested, dict)
        url = str(nested.get("url") or link.get("url") or "")
        title = str(nested.get("title") or link.get("title") or url)
        href = url if url.startswith(("http://", "https://", "/")) else ""
        anchor = f'<a href="{_e(href)}">{_e(title)}</a>' if href else _e(title)
        global_id = link.get("global_id") or obj.get("globalId")
        extra = f' <span class="meta">{_e(str(global_id))}</span>' if global_id else ""
        items.append(f"<li>{anchor}{extra}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _comments_html(comments: list[dict[str, Any]], person: Callable[[object], str]) -> str:
    items: list[str] = []
    for comment in comments:
        body = _description(_json_field(comment, "body"))
        author = comment.get("author") or comment.get("author_id")
        created = comment.get("created") or ""
        items.append(
            f'<div class="comment"><p class="meta">{person(author)} · {_e(str(created))}</p>'
            f'<div class="description">{_e(body)}</div></div>'
        )
    return "".join(items)
