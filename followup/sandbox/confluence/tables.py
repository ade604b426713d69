"""The Confluence tables (spaces, content, labels, versions, properties), how ids are
numbered, inserting a page with its first version, and loading a dataset.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from followup.sandbox.confluence.rows import iso, space_row
from followup.sandbox.confluence.storage import reserialize_storage
from followup.sandbox.dataset import Dataset
from followup.sandbox.state import SandboxState
from followup.sandbox.storage_html import StorageFormatError

PAGE_ID_BASE = 98000001
SPACE_ID_BASE = 98304001
PROPERTY_ID_BASE = 120000001

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


def next_id(db: sqlite3.Connection, table: str, base: int) -> int:
    row = db.execute(f"SELECT MAX(id) FROM {table}").fetchone()
    return max(base, (row[0] or 0) + 1)


def insert_page(
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
    page_id = page_id if page_id is not None else next_id(db, "content", PAGE_ID_BASE)
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
                space_id = next_id(db, "spaces", SPACE_ID_BASE)
                db.execute(
                    "INSERT INTO spaces (key, id, name) VALUES (?, ?, ?)",
                    (space.key, space_id, space.name),
                )
        for seed in dataset.pages:
            try:
                body = reserialize_storage(seed.body)
            except StorageFormatError:
                body = seed.body
            insert_page(
                db,
                space_key=seed.space_key,
                title=seed.title,
                body=body,
                author=seed.author,
                created=iso(seed.created),
                labels=seed.labels,
                parent_id=int(seed.parent) if seed.parent is not None else None,
                page_id=int(seed.id) if seed.id is not None else None,
            )


def _create_tables(db: sqlite3.Connection) -> None:
    # executescript would COMMIT the open transaction: run the statements one by one.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
