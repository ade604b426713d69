"""Issue changelogs: what changed on an issue, by whom and when.

Every change the sandbox makes to an issue through the API is recorded as Jira records
it, one history per request with an item per field: status and resolution (by
transition), summary, description, assignee, reporter, priority, due date and labels
(by edit), links to other issues (`Link`) and remote links (`RemoteIssueLink`). Item
values follow Jira's conventions: `from`/`to` hold ids (an account id on Cloud, a
userkey on Data Center, a status or priority id, a date), `fromString`/`toString` what
a person reads (a display name, a status name; a due date as `2026-12-04 00:00:00.0`).
Creating an issue records nothing, as in Jira.

Read with `expand=changelog` on an issue or a search (oldest first), and on Cloud with
`GET issue/{key}/changelog` (pages of at most 100); Data Center has no such resource
(its answer is the REST framework's 404, as reported against Jira 9.12 in
atlassian-python-api issue #1396).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from followup.sandbox import webhooks
from followup.sandbox.jira.context import Ctx, Handler, json_response, page_params
from followup.sandbox.jira.formats import jira_time
from followup.sandbox.jira.lookups import issue_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS changelog (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changelog_issue ON changelog(issue_id);
CREATE TABLE IF NOT EXISTS changelog_items (
    changelog_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    field TEXT NOT NULL,
    fieldtype TEXT NOT NULL,
    from_value TEXT,
    from_string TEXT,
    to_value TEXT,
    to_string TEXT,
    PRIMARY KEY (changelog_id, position)
);
"""
TABLES = ("changelog_items", "changelog")
ID_BASE = 10100
PAGE_DEFAULT = PAGE_CAP = 100


@dataclass(frozen=True, slots=True)
class Change:
    """One changed field: the values before and after, as ids and as text."""

    field: str
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None
    fieldtype: str = "jira"


def due_date_change(before: str | None, after: str | None) -> Change:
    """A due date change, written as Jira writes dates in changelogs."""

    def text(day: str | None) -> str | None:
        return f"{day} 00:00:00.0" if day else None

    return Change("duedate", before, text(before), after, text(after))


def text_change(field: str, before: str | None, after: str | None) -> Change:
    """A change of a text field (summary, description): only the strings are set."""
    return Change(field, None, before, None, after)


def record(
    db: sqlite3.Connection, issue_id: int, author: str, when: str, changes: Sequence[Change]
) -> None:
    """Add one history of `changes` to the issue (inside the caller's transaction)."""
    if not changes:
        return
    history_id = int(
        db.execute("SELECT COALESCE(MAX(id), ?) + 1 FROM changelog", (ID_BASE - 1,)).fetchone()[0]
    )
    db.execute(
        "INSERT INTO changelog (id, issue_id, author, created) VALUES (?,?,?,?)",
        (history_id, issue_id, author, when),
    )
    db.executemany(
        "INSERT INTO changelog_items VALUES (?,?,?,?,?,?,?,?)",
        [
            (
                history_id,
                position,
                c.field,
                c.fieldtype,
                c.from_value,
                c.from_string,
                c.to_value,
                c.to_string,
            )
            for position, c in enumerate(changes)
        ],
    )
    webhooks.issue_event(
        db,
        "jira:issue_updated",
        issue_id,
        author,
        changelog_id=history_id,
        items=[
            {
                "field": c.field,
                "fieldtype": c.fieldtype,
                "from": c.from_value,
                "fromString": c.from_string,
                "to": c.to_value,
                "toString": c.to_string,
            }
            for c in changes
        ],
    )


def forget(db: sqlite3.Connection, issue_id: int) -> None:
    """Delete the issue's changelog (the issue is being deleted)."""
    db.execute(
        "DELETE FROM changelog_items WHERE changelog_id IN"
        " (SELECT id FROM changelog WHERE issue_id = ?)",
        (issue_id,),
    )
    db.execute("DELETE FROM changelog WHERE issue_id = ?", (issue_id,))


@dataclass(frozen=True, slots=True)
class History:
    id: int
    issue_id: int
    author: str
    created: str
    items: tuple[sqlite3.Row, ...]


def histories(db: sqlite3.Connection, issue_ids: Iterable[int]) -> dict[int, list[History]]:
    """Every history of these issues, oldest first, by issue id."""
    ids = list(issue_ids)
    out: dict[int, list[History]] = {i: [] for i in ids}
    if not ids:
        return out
    marks = ",".join("?" * len(ids))
    items: dict[int, list[sqlite3.Row]] = {}
    for row in db.execute(
        f"SELECT changelog_items.* FROM changelog_items JOIN changelog"
        f" ON changelog.id = changelog_items.changelog_id WHERE changelog.issue_id IN ({marks})"
        " ORDER BY changelog_items.changelog_id, changelog_items.position",
        ids,
    ):
        items.setdefault(int(row["changelog_id"]), []).append(row)
    for row in db.execute(f"SELECT * FROM changelog WHERE issue_id IN ({marks}) ORDER BY id", ids):
        history_id = int(row["id"])
        out[int(row["issue_id"])].append(
            History(
                history_id,
                int(row["issue_id"]),
                row["author"],
                row["created"],
                tuple(items.get(history_id, ())),
            )
        )
    return out


def history_json(ctx: Ctx, history: History) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(history.id)}
    author = ctx.user_out(history.author)
    if author is not None:
        data["author"] = author
    data["created"] = jira_time(history.created)
    data["items"] = [_item_json(ctx, item) for item in history.items]
    return data


def _item_json(ctx: Ctx, item: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = {"field": item["field"], "fieldtype": item["fieldtype"]}
    if ctx.cloud:  # Data Center's items have no field id
        data["fieldId"] = item["field"]
    data.update(
        {
            "from": item["from_value"],
            "fromString": item["from_string"],
            "to": item["to_value"],
            "toString": item["to_string"],
        }
    )
    return data


def expanded(ctx: Ctx, found: Sequence[History]) -> dict[str, Any]:
    """The `changelog` an issue carries under `expand=changelog`."""
    return {
        "startAt": 0,
        "maxResults": len(found),
        "total": len(found),
        "histories": [history_json(ctx, h) for h in found],
    }


def _get_changelog(ctx: Ctx) -> Response:
    """`GET issue/{key}/changelog` (Cloud): a page of histories, oldest first."""
    if not ctx.cloud:
        return JSONResponse(
            {"message": f"null for uri: {ctx.request.url}", "status-code": 404}, status_code=404
        )
    start, limit = page_params(ctx, PAGE_DEFAULT)
    limit = min(max(limit, 1), PAGE_CAP)
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        found = histories(db, [int(issue["id"])])[int(issue["id"])]
    page = found[start : start + limit]
    self_url = f"{ctx.api}/issue/{issue['key']}/changelog?maxResults={limit}&startAt={start}"
    data: dict[str, Any] = {
        "self": self_url,
        "maxResults": limit,
        "startAt": start,
        "total": len(found),
        "isLast": start + limit >= len(found),
        "values": [history_json(ctx, h) for h in page],
    }
    if not data["isLast"]:
        data["nextPage"] = (
            f"{ctx.api}/issue/{issue['key']}/changelog?maxResults={limit}&startAt={start + limit}"
        )
    return json_response(data)


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/changelog", _get_changelog),
)
