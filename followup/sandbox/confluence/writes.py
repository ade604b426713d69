"""How a page is written, through v1 and v2 alike: the title rules (not blank, at most
255 characters, unique in its space), the version rule (`version.number` = current + 1,
else 409 "Version must be incremented on update. Current version is: N"), the body
re-serialised (`storage.py`; a body that does not parse is a 400), the parent named
by `ancestors`, and `metadata.labels` / `metadata.properties`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from followup.sandbox import webhooks
from followup.sandbox.confluence.context import Problem
from followup.sandbox.confluence.properties import (
    check_property_key,
    create_property,
    property_row,
    property_value,
    update_property,
)
from followup.sandbox.confluence.rows import PageRow, load_page, utc_now
from followup.sandbox.confluence.storage import reserialize_storage
from followup.sandbox.storage_html import StorageFormatError

TITLE_MAX = 255


def reserialize_or_400(body: str) -> str:
    try:
        return reserialize_storage(body)
    except StorageFormatError as error:
        raise Problem(400, f"Error parsing xhtml: {error}") from None


def check_title(db: sqlite3.Connection, space_key: str, title: str, page_id: int | None) -> None:
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


def update_page(
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
        check_title(db, page.space_key, title, page.id)
    new_body = page.body if body is None else reserialize_or_400(body)
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
    webhooks.page_event(db, "page_updated", page.id, author)
    return updated


def apply_metadata(db: sqlite3.Connection, page_id: int, metadata: object) -> None:
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
            value = property_value(spec)
            current = property_row(db, page_id, check_property_key(key))
            if current is None:
                create_property(db, page_id, key, value)
            else:
                update_property(db, page_id, key, value, current["version"] + 1)


def storage_from(body: object) -> str | None:
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
    return storage_value(storage)


def storage_value(storage: object) -> str:
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


def parent_from(data: Mapping[str, Any]) -> tuple[int | None, bool]:
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
