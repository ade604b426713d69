"""Finding an issue or a project by id or key (case-insensitive), and a project's issue
types: what most resources do first. A missing issue or project is Jira's 404.
"""

from __future__ import annotations

import sqlite3

from followup.sandbox.jira.context import JiraError, not_found_issue


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
