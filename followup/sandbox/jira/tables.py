"""The Jira tables: projects, issue types, issues and what hangs off an issue (labels,
entity properties, remote links, comments; changelogs, issue links and watchers have
their modules' own), how ids and keys are allocated, and loading a dataset into them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from followup.sandbox.dataset import Dataset, SeedIssue
from followup.sandbox.jira import (
    changelog,
    hierarchy,
    issue_links,
    project_fields,
    watchers,
    workflow,
)
from followup.sandbox.jira.catalog import issue_type_id
from followup.sandbox.jira.formats import iso
from followup.sandbox.state import SandboxState

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    lead TEXT,
    issue_counter INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS issue_types (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (project, id)
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,
    project TEXT NOT NULL,
    issuetype TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    status_category TEXT NOT NULL,
    resolution TEXT,
    assignee TEXT,
    reporter TEXT,
    priority TEXT NOT NULL,
    duedate TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    resolutiondate TEXT
);
CREATE INDEX IF NOT EXISTS issues_project ON issues(project);
-- Keys are looked up case-insensitively; the UNIQUE index on key is BINARY.
CREATE INDEX IF NOT EXISTS issues_key_nocase ON issues(key COLLATE NOCASE);
-- ORDER BY key (what jql.py compiles `key` to): a search page walks this index from
-- the previous page's last key, instead of sorting every matching issue every page.
CREATE INDEX IF NOT EXISTS issues_key_order
    ON issues(project, CAST(substr(key, length(project) + 2) AS INTEGER));
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL,
    label TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS issue_labels_label ON issue_labels(label);
CREATE INDEX IF NOT EXISTS issue_labels_issue ON issue_labels(issue_id);
CREATE TABLE IF NOT EXISTS issue_properties (
    issue_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (issue_id, key)
);
CREATE TABLE IF NOT EXISTS remote_links (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    global_id TEXT,
    object TEXT NOT NULL,
    relationship TEXT,
    application TEXT
);
CREATE INDEX IF NOT EXISTS remote_links_issue ON remote_links(issue_id);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments(issue_id);
"""


def init_schema(db: sqlite3.Connection) -> None:
    """Create the Jira tables (idempotent)."""
    db.executescript(SCHEMA)
    for module in (changelog, issue_links, watchers, project_fields, hierarchy):
        db.executescript(module.SCHEMA)


def ensure_project(
    db: sqlite3.Connection, key: str, name: str, lead: str | None, issue_types: Iterable[str]
) -> None:
    exists = db.execute("SELECT 1 FROM projects WHERE key = ?", (key,)).fetchone()
    if not exists:
        next_id = db.execute(
            "SELECT COALESCE(MAX(CAST(id AS INTEGER)), 9999) + 1 FROM projects"
        ).fetchone()[0]
        db.execute(
            "INSERT INTO projects (key, id, name, lead) VALUES (?,?,?,?)",
            (key, str(next_id), name, lead),
        )
    for type_name in issue_types:
        db.execute(
            "INSERT OR IGNORE INTO issue_types (project, id, name) VALUES (?,?,?)",
            (key, issue_type_id(type_name), type_name),
        )


def allocate(db: sqlite3.Connection, project: str) -> tuple[int, str]:
    """A new issue id and key (PROJ-n), counted per project."""
    db.execute("UPDATE projects SET issue_counter = issue_counter + 1 WHERE key = ?", (project,))
    number = db.execute("SELECT issue_counter FROM projects WHERE key = ?", (project,)).fetchone()[
        0
    ]
    issue_id = db.execute("SELECT COALESCE(MAX(id), 10000) + 1 FROM issues").fetchone()[0]
    return int(issue_id), f"{project}-{number}"


def _insert_seed_issue(db: sqlite3.Connection, issue: SeedIssue) -> None:
    status = workflow.status_named(issue.status)
    if status is None:
        raise ValueError(f"unknown status {issue.status!r} for seed issue {issue.summary!r}")
    if not db.execute("SELECT 1 FROM projects WHERE key = ?", (issue.project,)).fetchone():
        raise ValueError(f"seed issue {issue.summary!r} names unknown project {issue.project}")
    ensure_project(db, issue.project, issue.project, None, (issue.issue_type,))
    if issue.number is not None:
        db.execute(
            "UPDATE projects SET issue_counter = MAX(issue_counter, ?) WHERE key = ?",
            (issue.number - 1, issue.project),
        )
    issue_id, key = allocate(db, issue.project)
    created = iso(issue.created)
    done = status.category.key == "done"
    resolution = (issue.resolution or workflow.DEFAULT_RESOLUTION.name) if done else None
    resolved = (iso(issue.resolutiondate) if issue.resolutiondate else created) if done else None
    db.execute(
        "INSERT INTO issues (id, key, project, issuetype, summary, description, status,"
        " status_category, resolution, assignee, reporter, priority, duedate, created,"
        " updated, resolutiondate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            issue_id,
            key,
            issue.project,
            issue.issue_type,
            issue.summary,
            json.dumps(issue.description) if issue.description else None,
            status.name,
            status.category.key,
            resolution,
            issue.assignee,
            issue.reporter,
            issue.priority,
            issue.duedate.isoformat() if issue.duedate else None,
            created,
            max(created, resolved or created),
            resolved,
        ),
    )
    for label in sorted(set(issue.labels)):
        db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
    watchers.watch(db, issue_id, issue.reporter)
    for prop_key, value in issue.properties.items():
        db.execute(
            "INSERT INTO issue_properties VALUES (?,?,?)", (issue_id, prop_key, json.dumps(value))
        )


def load(state: SandboxState, dataset: Dataset) -> None:
    """Load the Jira half of a dataset: users, projects, then issues (PROJ-1, PROJ-2, ...)."""
    for user in dataset.users:
        state.add_user(user)
    with state.transaction() as db:
        for project in dataset.projects:
            ensure_project(db, project.key, project.name, project.lead, project.issue_types)
            project_fields.seed(db, project.key, project.components, project.custom_fields)
        for issue in dataset.issues:
            _insert_seed_issue(db, issue)
