"""The sandbox's shared state: one SQLite database, its lock, the flavor and the users.

Every API module of the sandbox (Jira, Confluence, the HTML views, the control
plane) works on one `SandboxState`. Each module owns its own tables and creates
them in its `init_schema(conn)`; this module owns only `users`.

All access to `state.db` happens under `state.lock` (uvicorn may run handlers on
several threads; SQLite connections are shared with `check_same_thread=False`).
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from followup.sandbox.faults import Faults

Flavor = Literal["cloud", "datacenter"]
# The sandbox's Confluence reaches its own Jira through one application link: the
# name and id its jira macros carry (`server`, `serverId`), as on a real site. followup
# is pointed at it with [confluence] jira_server / jira_server_id.
JIRA_SERVER = "System Jira"
JIRA_SERVER_ID = "b2c8e7f4-1a3d-3c59-9e06-7d4f1a2b8c65"


@dataclass(frozen=True, slots=True)
class User:
    """A person who exists in both products, with the same account id in each.

    `name`/`key` are the Data Center identities (username and userkey).
    """

    account_id: str
    name: str
    key: str
    display_name: str
    email: str
    token: str | None  # API token; None for users who cannot log in
    read_only: bool = False
    active: bool = True
    timezone: str = "UTC"


USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    account_id   TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    key          TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    token        TEXT,
    read_only    INTEGER NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 1,
    timezone     TEXT NOT NULL DEFAULT 'UTC'
);
"""


def _row_to_user(row: sqlite3.Row) -> User:
    return User(
        account_id=row["account_id"],
        name=row["name"],
        key=row["key"],
        display_name=row["display_name"],
        email=row["email"],
        token=row["token"],
        read_only=bool(row["read_only"]),
        active=bool(row["active"]),
        timezone=row["timezone"],
    )


class SandboxState:
    """The database and settings of one running sandbox."""

    def __init__(self, path: str = ":memory:", flavor: Flavor = "cloud") -> None:
        self.path = path
        self.flavor: Flavor = flavor
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute(
            "PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA foreign_keys=ON"
        )
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(USERS_SCHEMA)
        # The app's fault injection (set by `create_app`): the Jira API asks it which
        # new issues the search index has not caught up with.
        self.faults: Faults | None = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block in one SQLite transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    # -- users -------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO users VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    user.account_id,
                    user.name,
                    user.key,
                    user.display_name,
                    user.email,
                    user.token,
                    int(user.read_only),
                    int(user.active),
                    user.timezone,
                ),
            )

    def users(self) -> list[User]:
        with self.lock:
            rows = self.db.execute("SELECT * FROM users ORDER BY display_name").fetchall()
        return [_row_to_user(r) for r in rows]

    def user_by(
        self, column: Literal["account_id", "name", "key", "email"], value: str
    ) -> User | None:
        with self.lock:
            row = self.db.execute(f"SELECT * FROM users WHERE {column} = ?", (value,)).fetchone()
        return _row_to_user(row) if row else None

    def authenticate(self, authorization: str | None) -> User | None:
        """The user an `Authorization: Basic base64(email:token)` header names, if valid.

        Data Center also accepts `username:token`, and the token alone as a personal
        access token (`Authorization: Bearer <token>`; the sandbox gives each user one
        token for both). Cloud refuses a Bearer API token, as Atlassian's does.
        """
        if not authorization:
            return None
        if authorization.lower().startswith("bearer ") and self.flavor == "datacenter":
            return self._user_by_token(authorization[7:].strip())
        if not authorization.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        login, _, secret = decoded.partition(":")
        user = self.user_by("email", login) or self.user_by("name", login)
        if user is None or user.token is None or not user.active or user.token != secret:
            return None
        return user

    def _user_by_token(self, token: str) -> User | None:
        if not token:
            return None
        with self.lock:
            row = self.db.execute(
                "SELECT * FROM users WHERE token = ? AND active = 1", (token,)
            ).fetchone()
        return _row_to_user(row) if row else None

    def user_json(self, user: User) -> dict[str, object]:
        """A user as the APIs show it: `{accountId,...}` on Cloud, `{name,key,...}` on DC."""
        if self.flavor == "cloud":
            return {
                "accountId": user.account_id,
                "accountType": "atlassian",
                "displayName": user.display_name,
                "emailAddress": user.email,
                "active": user.active,
                "timeZone": user.timezone,
            }
        return {
            "name": user.name,
            "key": user.key,
            "displayName": user.display_name,
            "emailAddress": user.email,
            "active": user.active,
            "timeZone": user.timezone,
        }
