"""An issue's parent (Jira's `parent` field): a create may name one, by `key` or `id`,
and it must sit a level above the new issue in the issue-type hierarchy (an Epic above
a Task, Story or Bug), as Jira checks it. The create metadata lists `parent` for every
issue type that is not an Epic or a Sub-task; an issue with a parent shows it among its
fields (`*all`, `*navigable`, or `parent` asked for by name) as Jira does: the parent's
id, key and a few of its fields.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from followup.sandbox.jira.catalog import (
    issue_type_id,
    issue_type_json,
    priority_json,
    status_json,
    status_of,
)
from followup.sandbox.jira.context import Ctx, Json

SCHEMA = """
CREATE TABLE IF NOT EXISTS issue_parent (
    issue_id INTEGER PRIMARY KEY,
    parent INTEGER NOT NULL
);
"""
LEVELS = {"Epic": 1, "Sub-task": -1}
WRONG_LEVEL = "Given parent work item does not belong to appropriate hierarchy."


def level(type_name: str) -> int:
    return LEVELS.get(type_name, 0)


def create_metadata() -> dict[str, Any]:
    return {
        "required": False,
        "schema": {"type": "issuelink", "system": "parent"},
        "name": "Parent",
        "key": "parent",
        "hasDefaultValue": False,
        "operations": ["set"],
    }


def check_create(
    db: sqlite3.Connection, value: Any, type_name: str | None, errors: dict[str, str]
) -> int | None:
    """The id of the parent a create names (None: none), with Jira's message in
    `errors` for a parent that does not exist or is not a level above."""
    if value is None:
        return None
    ident = str(value.get("key") or value.get("id") or "") if isinstance(value, dict) else ""
    row = (
        db.execute(
            "SELECT id, issuetype FROM issues WHERE key = ? COLLATE NOCASE OR CAST(id AS TEXT) = ?",
            (ident, ident),
        ).fetchone()
        if ident
        else None
    )
    if row is None:
        errors["parent"] = f"Could not find issue by id or key: {ident or value!r}"
        return None
    if type_name is not None and level(row["issuetype"]) != level(type_name) + 1:
        errors["parent"] = WRONG_LEVEL
        return None
    return int(row["id"])


def store(db: sqlite3.Connection, issue_id: int, parent: int | None) -> None:
    if parent is not None:
        db.execute("INSERT OR REPLACE INTO issue_parent VALUES (?,?)", (issue_id, parent))


def parents(ctx: Ctx, db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Json]:
    """Each issue's `parent` field, for those that have one."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    out: dict[int, Json] = {}
    for row in db.execute(
        f"SELECT ip.issue_id, p.* FROM issue_parent ip JOIN issues p ON p.id = ip.parent"
        f" WHERE ip.issue_id IN ({marks})",
        list(ids),
    ):
        out[int(row["issue_id"])] = {
            "id": str(row["id"]),
            "key": row["key"],
            "self": f"{ctx.api}/issue/{row['id']}",
            "fields": {
                "summary": row["summary"],
                "status": status_json(ctx, status_of(row)),
                "priority": priority_json(ctx, row["priority"]),
                "issuetype": issue_type_json(
                    ctx, issue_type_id(row["issuetype"]), row["issuetype"]
                ),
            },
        }
    return out


def forget(db: sqlite3.Connection, issue_id: int) -> None:
    db.execute("DELETE FROM issue_parent WHERE issue_id = ? OR parent = ?", (issue_id, issue_id))
