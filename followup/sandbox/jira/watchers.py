"""Who watches an issue: `GET/POST/DELETE issue/{key}/watchers` and each issue's
`watches` field.

As in Jira (whose users watch what they report by default), the reporter of a new
issue watches it. `POST` adds the user its body names, a JSON string: an account id
on Cloud, a username on Data Center; without a body, the caller. `DELETE` removes the
user named by `?accountId=` on Cloud, `?username=` on Data Center. Both answer 204;
an unknown user is a 404, an inactive one a 400.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response, no_content
from followup.sandbox.jira.lookups import issue_row
from followup.sandbox.state import User

SCHEMA = """
CREATE TABLE IF NOT EXISTS watchers (
    issue_id INTEGER NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (issue_id, account_id)
);
"""
TABLES = ("watchers",)


def watch(db: sqlite3.Connection, issue_id: int, account_id: str) -> None:
    db.execute("INSERT OR IGNORE INTO watchers VALUES (?, ?)", (issue_id, account_id))


def forget(db: sqlite3.Connection, issue_id: int) -> None:
    """Delete the issue's watchers (the issue is being deleted)."""
    db.execute("DELETE FROM watchers WHERE issue_id = ?", (issue_id,))


def watches(ctx: Ctx, db: sqlite3.Connection, issues: Iterable[tuple[int, str]]) -> dict[int, Any]:
    """The `watches` field of each (issue id, key): how many watch it, and whether the
    caller does."""
    pairs = list(issues)
    out: dict[int, Any] = {}
    if not pairs:
        return out
    ids = [issue_id for issue_id, _key in pairs]
    counts = {issue_id: 0 for issue_id in ids}
    mine: set[int] = set()
    for row in db.execute(
        f"SELECT issue_id, account_id FROM watchers WHERE issue_id IN ({','.join('?' * len(ids))})",
        ids,
    ):
        counts[int(row["issue_id"])] += 1
        if row["account_id"] == ctx.user.account_id:
            mine.add(int(row["issue_id"]))
    for issue_id, key in pairs:
        out[issue_id] = {
            "self": f"{ctx.api}/issue/{key}/watchers",
            "watchCount": counts[issue_id],
            "isWatching": issue_id in mine,
        }
    return out


def _named_user(ctx: Ctx, ident: str) -> User:
    column = "account_id" if ctx.cloud else "name"
    user = ctx.state.user_by(column, ident)  # type: ignore[arg-type]
    if user is None:
        raise JiraError(404, [f"The user '{ident}' does not exist."])
    return user


def _get_watchers(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        ids = [
            r["account_id"]
            for r in db.execute(
                "SELECT account_id FROM watchers WHERE issue_id = ? ORDER BY rowid", (issue["id"],)
            )
        ]
    users = [u for u in (ctx.users().get(i) for i in ids) if u is not None]
    return json_response(
        {
            "self": f"{ctx.api}/issue/{issue['key']}/watchers",
            "isWatching": ctx.user.account_id in ids,
            "watchCount": len(users),
            "watchers": [ctx.user_json(u) for u in users],
        }
    )


def _add_watcher(ctx: Ctx) -> Response:
    if ctx.body is None or ctx.body == "":
        user = ctx.user
    elif isinstance(ctx.body, str):
        user = _named_user(ctx, ctx.body)
    else:
        raise JiraError(400, ["The request body must be a JSON string naming the user."])
    if not user.active:
        raise JiraError(400, [f"The user '{user.display_name}' cannot watch issues."])
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        watch(db, int(issue["id"]), user.account_id)
    return no_content()


def _remove_watcher(ctx: Ctx) -> Response:
    account_id, username = ctx.params.get("accountId"), ctx.params.get("username")
    if ctx.cloud and account_id is None and username is not None:
        raise JiraError(
            400, ["The query parameter 'username' is not supported in GDPR strict mode."]
        )
    ident = account_id if ctx.cloud else (username or account_id)
    if not ident:
        name = "accountId" if ctx.cloud else "username"
        raise JiraError(400, [f"The query parameter '{name}' is required."])
    user = _named_user(ctx, ident)
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        db.execute(
            "DELETE FROM watchers WHERE issue_id = ? AND account_id = ?",
            (issue["id"], user.account_id),
        )
    return no_content()


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "issue/{issueIdOrKey}/watchers", _get_watchers),
    ("POST", "issue/{issueIdOrKey}/watchers", _add_watcher),
    ("DELETE", "issue/{issueIdOrKey}/watchers", _remove_watcher),
)
