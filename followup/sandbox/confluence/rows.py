"""Reading content: a page's row (now or at an earlier version), a version's facts and
a space's row; and time as Confluence writes it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from followup.sandbox.confluence.context import Problem


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> str:
    return iso(datetime.now(UTC))


def friendly_time(when: str) -> str:
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%b %d, %Y")
    except ValueError:
        return when


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
class Version:
    number: int
    when: str
    author: str
    message: str
    minor_edit: bool


def load_page(db: sqlite3.Connection, page_id: int) -> PageRow | None:
    row = db.execute("SELECT * FROM content WHERE id = ?", (page_id,)).fetchone()
    return PageRow.from_row(row) if row else None


def require_page(db: sqlite3.Connection, page_id: int) -> PageRow:
    page = load_page(db, page_id)
    if page is None:
        raise Problem(404, f"No content found with id: ContentId{{id={page_id}}}")
    return page


def historical(db: sqlite3.Connection, page: PageRow, number: int) -> PageRow:
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


def page_at(db: sqlite3.Connection, page_id: int, number: str | None) -> PageRow:
    """The page, as it is or at the version a `version` parameter names."""
    page = require_page(db, page_id)
    if not number:
        return page
    if not number.isdigit():
        raise Problem(400, f"Version is not valid: {number}")
    return historical(db, page, int(number))


def page_version(db: sqlite3.Connection, page: PageRow, number: int | None = None) -> Version:
    number = page.version if number is None else number
    row = db.execute(
        "SELECT * FROM content_versions WHERE content_id = ? AND version = ?", (page.id, number)
    ).fetchone()
    if row is None:  # a page written without history: describe it from the page itself
        return Version(number, page.last_modified, page.last_modifier, "", False)
    return Version(number, row["created"], row["author"], row["message"], bool(row["minor_edit"]))


def space_row(db: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute("SELECT * FROM spaces WHERE key = ?", (key,)).fetchone()
    return row
