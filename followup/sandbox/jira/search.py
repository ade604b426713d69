"""Searching issues with JQL (`jql.py`): Cloud's `GET/POST search/jql`, paged by
`nextPageToken`, and Data Center's `GET/POST search`, paged by `startAt` with a
`total` (on Cloud a 410 with Atlassian's removal message).

A page token continues after the last issue's sort key when the query orders by key
or id, so every page costs the same however deep it is; other orders page by offset.
New issues can be held out of Cloud's results for a while (the `search_lag_ms` fault)
unless the request names them in `reconcileIssues`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from typing import Any

from starlette.responses import JSONResponse, Response

from followup.sandbox.jira.context import Ctx, Handler, JiraError, json_response
from followup.sandbox.jira.fields import FieldSelection, select_fields
from followup.sandbox.jira.issue_json import properties_param, render_issues
from followup.sandbox.jira.jql import KEY_NUMBER, JqlError, compile_jql

SEARCH_REMOVED_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


MAX_PAGE_CLOUD = 100


MAX_PAGE_DATACENTER = 1000


MAX_SEARCH_PROPERTIES = 5


def _compile(ctx: Ctx, jql: str) -> tuple[str, list[object], str]:
    """(where, params, order by) for `jql`, via the sandbox's JQL engine.

    `currentUser()` is the caller's account id on Cloud and username on Data Center.
    """
    current = ctx.user.account_id if ctx.cloud else ctx.user.name
    try:
        return compile_jql(jql, flavor=ctx.state.flavor, current_user=current, tz=ctx.user.timezone)
    except JqlError as exc:
        raise JiraError(400, body={"errorMessages": [exc.message], "warningMessages": []}) from exc


def _order_sql(order: str) -> str:
    body = order.strip()
    if body[:8].upper() == "ORDER BY":
        body = body[8:].strip()
    if not body:
        return "ORDER BY issues.id ASC"
    return f"ORDER BY {body}" if "issues.id" in body else f"ORDER BY {body}, issues.id ASC"


def _keyset(order: str) -> tuple[str, ...] | None:
    """The columns a page token continues after, for an ORDER BY by key or by id
    (ascending, the orders clients page through everything by); None: by offset."""
    if not order.strip():
        return ("issues.id",)
    if order.strip() == f"ORDER BY issues.project ASC, {KEY_NUMBER} ASC":
        return ("issues.project", KEY_NUMBER, "issues.id")
    return None


def _query(
    ctx: Ctx,
    db: sqlite3.Connection,
    jql: str,
    offset: int,
    limit: int,
    after: list[object] | None = None,
) -> tuple[list[sqlite3.Row], bool, list[object] | None]:
    """One page of issues matching `jql`, whether more follow, and the sort key of the
    page's last issue when the order allows continuing after it.

    Continuing after a sort key walks the key (or id) index from there, so every page
    costs the same however deep it is; an offset re-walks every earlier page."""
    where, params, order = _compile(ctx, jql) if jql.strip() else ("1=1", [], "")
    hidden = _unindexed(ctx)
    if hidden:  # the search index has not caught up with these new issues yet
        where = f"({where or '1=1'}) AND issues.id NOT IN ({', '.join('?' for _ in hidden)})"
        params = [*params, *hidden]
    columns = _keyset(order)
    select = "SELECT issues.*"
    if columns is not None:
        select += ", " + ", ".join(f"{c} AS _k{n}" for n, c in enumerate(columns))
    if columns is not None and after is not None and len(after) == len(columns):
        marks = ", ".join("?" for _ in columns)
        rows = db.execute(
            f"{select} FROM issues WHERE ({where or '1=1'})"
            f" AND ({', '.join(columns)}) > ({marks}) {_order_sql(order)} LIMIT ?",
            [*params, *after, limit + 1],
        ).fetchall()
    else:
        rows = db.execute(
            f"{select} FROM issues WHERE ({where or '1=1'}) {_order_sql(order)} LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        ).fetchall()
    page = list(rows[:limit])
    last = None
    if columns is not None and page:
        last = [page[-1][f"_k{n}"] for n in range(len(columns))]
    return page, len(rows) > limit, last


def _unindexed(ctx: Ctx) -> list[int]:
    """New issues a Cloud search does not show yet (the `search_lag_ms` fault), less
    those the request names in `reconcileIssues`."""
    faults = ctx.state.faults
    if faults is None or not ctx.cloud:
        return []
    reconciled: set[int] = set()
    for value in ctx.list_param("reconcileIssues") or ():
        try:
            reconciled.add(int(value))
        except ValueError as exc:
            raise JiraError(400, [f"Invalid reconcileIssues value: {value}"]) from exc
    return faults.unindexed(reconciled)


def _unbounded(jql: str) -> bool:
    text = jql.strip().lower()
    return not text or text.startswith("order by")


def _token(jql: str, offset: int, after: list[object] | None = None) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
    data: dict[str, Any] = {"o": offset, "q": digest}
    if after is not None:
        data["k"] = after
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_token(jql: str, token: str) -> tuple[int, list[object] | None]:
    """(offset, sort key to continue after or None) of a token this query issued."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
        digest = str(data["q"])
        after = data.get("k")
        if after is not None and not (
            isinstance(after, list)
            and all(isinstance(v, str | int) and not isinstance(v, bool) for v in after)
        ):
            raise ValueError(after)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise JiraError(400, ["The provided next page token is invalid."]) from exc
    if digest != hashlib.sha256(jql.encode()).hexdigest()[:16] or offset < 0:
        raise JiraError(
            400, ["The provided next page token does not belong to this query (jql changed)."]
        )
    return offset, after


def _limit(ctx: Ctx, cap: int) -> int:
    raw = ctx.param("maxResults")
    if raw is None or raw == "":
        return 50
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise JiraError(400, [f"Invalid maxResults: {raw}"]) from exc
    if value < 0:
        raise JiraError(400, ["maxResults must not be negative."])
    return min(value or 50, cap)


def _search_jql(ctx: Ctx) -> Response:
    if not ctx.cloud:
        return JSONResponse(
            {"message": f"null for uri: {ctx.request.url}", "status-code": 404}, status_code=404
        )
    jql = str(ctx.param("jql") or "")
    if _unbounded(jql):
        raise JiraError(
            400,
            body={
                "errorMessages": [
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ],
                "warningMessages": [],
            },
        )
    properties = properties_param(ctx)
    if properties and len(properties) > MAX_SEARCH_PROPERTIES:
        raise JiraError(
            400, [f"A maximum of {MAX_SEARCH_PROPERTIES} issue properties can be requested."]
        )
    selection = select_fields(ctx.list_param("fields"), "id")
    limit = _limit(ctx, MAX_PAGE_CLOUD)
    token = ctx.param("nextPageToken")
    offset, after = _from_token(jql, str(token)) if token else (0, None)
    with ctx.state.lock:
        db = ctx.state.db
        rows, more, last = _query(ctx, db, jql, offset, limit, after)
        issues = render_issues(ctx, db, rows, selection, properties)
    data: dict[str, Any] = {"issues": issues, "isLast": not more}
    if more:
        data["nextPageToken"] = _token(jql, offset + limit, last)
    return json_response(data)


def _search_legacy(ctx: Ctx) -> Response:
    if ctx.cloud:
        raise JiraError(410, [SEARCH_REMOVED_MESSAGE])
    jql = str(ctx.param("jql") or "")
    try:
        start = int(ctx.param("startAt") or 0)
    except (TypeError, ValueError) as exc:
        raise JiraError(400, ["Invalid startAt."]) from exc
    limit = _limit(ctx, MAX_PAGE_DATACENTER)
    selection = select_fields(ctx.list_param("fields"), "*navigable")
    properties = properties_param(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        where, params, order = _compile(ctx, jql) if jql.strip() else ("1=1", [], "")
        total = db.execute(
            f"SELECT COUNT(*) FROM issues WHERE ({where or '1=1'})", params
        ).fetchone()[0]
        rows = db.execute(
            f"SELECT issues.* FROM issues WHERE ({where or '1=1'}) {_order_sql(order)}"
            " LIMIT ? OFFSET ?",
            [*params, limit, max(start, 0)],
        ).fetchall()
        if selection.id_only:
            selection = FieldSelection((), False)
        issues = render_issues(ctx, db, rows, selection, properties)
    return json_response(
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": int(total),
            "issues": issues,
        }
    )


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "search/jql", _search_jql),
    ("POST", "search/jql", _search_jql),
    ("GET", "search", _search_legacy),
    ("POST", "search", _search_legacy),
)
