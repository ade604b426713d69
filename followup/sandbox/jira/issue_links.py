"""Links between issues: `issueLinkType` (Jira's four default types), `issueLink` (create,
read, delete) and each issue's `issuelinks` field.

Jira's naming, as its REST document states it: a link goes *from* its outward issue
*to* its inward issue. `POST issueLink {type: Blocks, inwardIssue: A, outwardIssue: B}`
records "B blocks A": `GET issueLink/{id}` gives back the same two issues; B's
`issuelinks` shows A as `outwardIssue` ("blocks"), A's shows B as `inwardIssue` ("is
blocked by"). An optional `comment` is added to the outward issue. Asking for a link
that exists already answers 201 and adds nothing. Both issues' changelogs record a
`Link` change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira import changelog
from followup.sandbox.jira.catalog import (
    issue_type_id,
    issue_type_json,
    priority_json,
    status_json,
    status_of,
)
from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, no_content
from followup.sandbox.jira.formats import rich_text_in, utc_now
from followup.sandbox.jira.lookups import issue_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS issue_links (
    id INTEGER PRIMARY KEY,
    type_id TEXT NOT NULL,
    outward INTEGER NOT NULL,  -- the issue the link goes from
    inward INTEGER NOT NULL    -- the issue it goes to
);
CREATE INDEX IF NOT EXISTS issue_links_outward ON issue_links(outward);
CREATE INDEX IF NOT EXISTS issue_links_inward ON issue_links(inward);
"""
TABLES = ("issue_links",)
ID_BASE = 10000


@dataclass(frozen=True, slots=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


#: The link types a new Jira site has.
LINK_TYPES: tuple[LinkType, ...] = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
)
_BY_ID = {t.id: t for t in LINK_TYPES}


def link_type_json(ctx: Ctx, link_type: LinkType) -> dict[str, Any]:
    return {
        "id": link_type.id,
        "name": link_type.name,
        "inward": link_type.inward,
        "outward": link_type.outward,
        "self": f"{ctx.api}/issueLinkType/{link_type.id}",
    }


def _link_type_of(value: Any) -> LinkType:
    """The link type a request names by `id` or `name` (a 404 when there is none)."""
    if not isinstance(value, dict) or not (value.get("id") or value.get("name")):
        raise JiraError(400, [], {"issuelinks": "The issue link type must be given by id or name."})
    for link_type in LINK_TYPES:
        if value.get("id") == link_type.id or value.get("name") == link_type.name:
            return link_type
    name = value.get("name") or value.get("id")
    raise JiraError(404, [f"No issue link type with name '{name}' found."])


def linked_issue_json(ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """The other issue of a link: id, key and the fields a link shows."""
    found = db.execute(
        "SELECT id FROM issue_types WHERE project = ? AND name = ?",
        (row["project"], row["issuetype"]),
    ).fetchone()
    type_id = found["id"] if found else issue_type_id(row["issuetype"])
    return {
        "id": str(row["id"]),
        "key": row["key"],
        "self": f"{ctx.api}/issue/{row['id']}",
        "fields": {
            "summary": row["summary"],
            "status": status_json(ctx, status_of(row)),
            "priority": priority_json(ctx, row["priority"]),
            "issuetype": issue_type_json(ctx, type_id, row["issuetype"]),
        },
    }


def issuelinks(
    ctx: Ctx, db: sqlite3.Connection, issue_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """The `issuelinks` field of each issue: its links, each showing the other issue."""
    ids = list(issue_ids)
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT * FROM issue_links WHERE outward IN ({marks}) OR inward IN ({marks}) ORDER BY id",
        [*ids, *ids],
    ).fetchall()
    others = {int(r["outward"]) for r in rows} | {int(r["inward"]) for r in rows}
    issues = {
        int(r["id"]): r
        for r in db.execute(
            f"SELECT * FROM issues WHERE id IN ({','.join('?' * len(others))})", list(others)
        )
    }
    for link in rows:
        link_type = _BY_ID[link["type_id"]]
        for this, other, side in (
            (int(link["outward"]), int(link["inward"]), "outwardIssue"),
            (int(link["inward"]), int(link["outward"]), "inwardIssue"),
        ):
            if this in out and other in issues:
                out[this].append(
                    {
                        "id": str(link["id"]),
                        "self": f"{ctx.api}/issueLink/{link['id']}",
                        "type": link_type_json(ctx, link_type),
                        side: linked_issue_json(ctx, db, issues[other]),
                    }
                )
    return out


def forget(db: sqlite3.Connection, issue_id: int) -> None:
    """Delete the issue's links (the issue is being deleted)."""
    db.execute("DELETE FROM issue_links WHERE outward = ? OR inward = ?", (issue_id, issue_id))


# -- handlers ---------------------------------------------------------------------------


def _link_types(ctx: Ctx) -> Response:
    return json_response({"issueLinkTypes": [link_type_json(ctx, t) for t in LINK_TYPES]})


def _link_type(ctx: Ctx) -> Response:
    type_id = ctx.path["issueLinkTypeId"]
    if type_id not in _BY_ID:
        raise JiraError(404, [f"No issue link type with id '{type_id}' found."])
    return json_response(link_type_json(ctx, _BY_ID[type_id]))


def _issue_ref(db: sqlite3.Connection, value: Any) -> sqlite3.Row:
    if not isinstance(value, dict) or not (value.get("key") or value.get("id")):
        raise JiraError(400, ["Both inwardIssue and outwardIssue are required, by key or id."])
    return issue_row(db, str(value.get("key") or value.get("id")))


def _link_change(label: str, other: str, *, removed: bool) -> changelog.Change:
    text = f"This issue {label} {other}"
    if removed:
        return changelog.Change("Link", other, text, None, None)
    return changelog.Change("Link", None, None, other, text)


def _record_link(
    ctx: Ctx,
    db: sqlite3.Connection,
    link_type: LinkType,
    outward: sqlite3.Row,
    inward: sqlite3.Row,
    now: str,
    *,
    removed: bool,
) -> None:
    """Record a link made or removed in both issues' changelogs, each naming the other."""
    for issue, label, other in (
        (outward, link_type.outward, inward),
        (inward, link_type.inward, outward),
    ):
        change = _link_change(label, other["key"], removed=removed)
        changelog.record(db, int(issue["id"]), ctx.user.account_id, now, [change])


def _create_link(ctx: Ctx) -> Response:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    link_type = _link_type_of(body.get("type"))
    comment = body.get("comment")
    stored_comment = None
    if isinstance(comment, dict) and comment.get("body") is not None:
        stored_comment, problem = rich_text_in(comment.get("body"), ctx.rich)
        if problem:
            raise JiraError(400, [], {"comment": problem})
    now = utc_now()
    with ctx.state.transaction() as db:
        inward = _issue_ref(db, body.get("inwardIssue"))
        outward = _issue_ref(db, body.get("outwardIssue"))
        exists = db.execute(
            "SELECT 1 FROM issue_links WHERE type_id = ? AND outward = ? AND inward = ?",
            (link_type.id, outward["id"], inward["id"]),
        ).fetchone()
        if not exists:
            link_id = int(
                db.execute(
                    "SELECT COALESCE(MAX(id), ?) + 1 FROM issue_links", (ID_BASE - 1,)
                ).fetchone()[0]
            )
            db.execute(
                "INSERT INTO issue_links (id, type_id, outward, inward) VALUES (?,?,?,?)",
                (link_id, link_type.id, outward["id"], inward["id"]),
            )
            _record_link(ctx, db, link_type, outward, inward, now, removed=False)
        if stored_comment is not None:
            db.execute(
                "INSERT INTO comments (issue_id, author, body, created) VALUES (?,?,?,?)",
                (outward["id"], ctx.user.account_id, stored_comment, now),
            )
        db.execute(
            "UPDATE issues SET updated = ? WHERE id IN (?, ?)", (now, outward["id"], inward["id"])
        )
    return Response(status_code=201)


def _link_row(db: sqlite3.Connection, link_id: str) -> sqlite3.Row:
    row = None
    if link_id.isdigit():
        row = db.execute("SELECT * FROM issue_links WHERE id = ?", (int(link_id),)).fetchone()
    if row is None:
        raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
    return row  # type: ignore[no-any-return]


def _get_link(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        link = _link_row(db, ctx.path["linkId"])
        inward = issue_row(db, str(link["inward"]))
        outward = issue_row(db, str(link["outward"]))
        return json_response(
            {
                "id": str(link["id"]),
                "self": f"{ctx.api}/issueLink/{link['id']}",
                "type": link_type_json(ctx, _BY_ID[link["type_id"]]),
                "inwardIssue": linked_issue_json(ctx, db, inward),
                "outwardIssue": linked_issue_json(ctx, db, outward),
            }
        )


def _delete_link(ctx: Ctx) -> Response:
    now = utc_now()
    with ctx.state.transaction() as db:
        link = _link_row(db, ctx.path["linkId"])
        link_type = _BY_ID[link["type_id"]]
        inward = issue_row(db, str(link["inward"]))
        outward = issue_row(db, str(link["outward"]))
        db.execute("DELETE FROM issue_links WHERE id = ?", (link["id"],))
        _record_link(ctx, db, link_type, outward, inward, now, removed=True)
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issueLinkType", _link_types),
    ("GET", "issueLinkType/{issueLinkTypeId}", _link_type),
    ("POST", "issueLink", _create_link),
    ("GET", "issueLink/{linkId}", _get_link),
    ("DELETE", "issueLink/{linkId}", _delete_link),
)
