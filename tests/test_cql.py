"""The sandbox's CQL subset: which content each query selects, and what it rejects."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.sandbox.confluence.cql import CqlError, compile_cql

NOW = datetime(2026, 11, 26, 12, 0)
PRIYA = "712020:3f9a8c2e-4b1d-4e6a-9c7f-2d8e1b5a6c40"
AMARA = "712020:9d2c7e41-0b6a-4f3e-8a15-7c9e3d2b1f08"

SCHEMA = """
CREATE TABLE content (
    id INTEGER PRIMARY KEY, type TEXT, status TEXT, space_key TEXT, title TEXT, body TEXT,
    version INTEGER, created TEXT, last_modified TEXT, author TEXT, last_modifier TEXT,
    parent_id INTEGER NULL
);
CREATE TABLE content_labels (content_id INTEGER, label TEXT);
"""

# id, type, status, space, title, body, created, last_modified, author, parent, labels
CONTENT: list[tuple[object, ...]] = [
    (
        101,
        "page",
        "current",
        "SRE",
        "Postmortem: orders-db replica lag",
        "<p>Replica lag reached 14 minutes.</p>",
        "2026-10-08T10:00:00.000Z",
        "2026-11-20T09:00:00.000Z",
        PRIYA,
        None,
        ("postmortem", "sev2"),
    ),
    (
        102,
        "page",
        "current",
        "PAY",
        "Incident review: card authorisation timeouts",
        "<p>Issuer timeouts at 9% of authorisations.</p>",
        "2026-10-22T08:30:00.000Z",
        "2026-11-25T16:45:00.000Z",
        AMARA,
        105,
        ("postmortem",),
    ),
    (
        103,
        "blogpost",
        "current",
        "SRE",
        "Q3 reliability review",
        "<p>What we learned from replica incidents.</p>",
        "2026-09-30T12:00:00.000Z",
        "2026-09-30T12:00:00.000Z",
        PRIYA,
        None,
        (),
    ),
    (
        104,
        "page",
        "current",
        "SRE",
        "Runbook: failing over orders-db",
        "<p>Steps.</p>",
        "2026-06-01T09:00:00.000Z",
        "2026-11-26T11:30:00.000Z",
        PRIYA,
        106,
        ("runbook",),
    ),
    (
        105,
        "page",
        "current",
        "PAY",
        "Postmortems",
        "",
        "2026-01-10T09:00:00.000Z",
        "2026-01-10T09:00:00.000Z",
        AMARA,
        None,
        (),
    ),
    (
        106,
        "page",
        "current",
        "SRE",
        "Runbooks",
        "",
        "2026-01-10T09:00:00.000Z",
        "2026-01-10T09:00:00.000Z",
        PRIYA,
        None,
        (),
    ),
    (
        107,
        "page",
        "current",
        "PAY",
        "Postmortem \u2014 Duplicate refund webhooks (100% retried)",
        "<p>Refunds were sent twice.</p>",
        "2026-11-03T14:00:00.000Z",
        "2026-11-03T14:00:00.000Z",
        AMARA,
        105,
        ("Postmortem", "draft"),
    ),
    (
        108,
        "page",
        "trashed",
        "PAY",
        "Appendix: webhook logs",
        "",
        "2026-11-04T14:00:00.000Z",
        "2026-11-04T14:00:00.000Z",
        AMARA,
        107,
        (),
    ),
]

ALL = [101, 102, 103, 104, 105, 106, 107, 108]


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    for row in CONTENT:
        (cid, ctype, status, space, title, body, created, modified, author, parent, labels) = row
        conn.execute(
            "INSERT INTO content VALUES (?,?,?,?,?,?,1,?,?,?,?,?)",
            (cid, ctype, status, space, title, body, created, modified, author, author, parent),
        )
        assert isinstance(labels, tuple)
        for label in labels:
            conn.execute("INSERT INTO content_labels VALUES (?, ?)", (cid, label))
    yield conn
    conn.close()


def run(conn: sqlite3.Connection, query: str, user: str | None = PRIYA) -> list[int]:
    where, params, order = compile_cql(query, current_user=user, now=NOW)
    sql = f"SELECT content.id FROM content WHERE {where} {order or 'ORDER BY content.id'}"
    return [r[0] for r in conn.execute(sql, params)]


SELECTS = [
    ("type = page", [101, 102, 104, 105, 106, 107, 108]),
    ("type = blogpost", [103]),
    ('type = page AND label = "postmortem"', [101, 102, 107]),
    ("TYPE = Page and LABEL = postmortem", [101, 102, 107]),
    ("label = postmortem AND space = SRE", [101]),
    ('label = postmortem AND space in ("SRE", "PAY")', [101, 102, 107]),
    ("label = postmortem AND space.key = 'pay'", [102, 107]),
    ("space not in (PAY)", [101, 103, 104, 106]),
    ("space != SRE", [102, 105, 107, 108]),
    ("label in (runbook, draft)", [104, 107]),
    ("label != postmortem", [103, 104, 105, 106, 108]),
    ("label not in (postmortem, runbook)", [103, 105, 106, 108]),
    ("label = sev2 OR label = runbook", [101, 104]),
    ("type = page NOT label = postmortem", [104, 105, 106, 108]),
    ("type = page and not label = postmortem", [104, 105, 106, 108]),
    ("not (type = page)", [103]),
    ("label = postmortem AND (space = SRE OR title ~ refund)", [101, 107]),
    ("label = postmortem AND space = SRE OR title ~ refund", [101, 107]),
    ('title = "Runbooks"', [106]),
    ('title = "runbooks"', [106]),
    ("title != Runbooks AND space = SRE", [101, 103, 104]),
    ('title in ("Runbooks", "Postmortems")', [105, 106]),
    ("title ~ orders", [101, 104]),
    ('title ~ "orders-db replica"', [101]),
    ('title ~ "\\"replica orders-db\\""', []),
    ('title ~ "run*"', [104, 106]),
    ('title ~ "100%"', [107]),
    ("title !~ postmortem", [102, 103, 104, 106, 108]),
    ("text ~ replica", [101, 103]),
    ("text !~ replica", [102, 104, 105, 106, 107, 108]),
    ("id = 102", [102]),
    ("id in (101, 104, 999)", [101, 104]),
    ("content != 101 and label = postmortem", [102, 107]),
    ("creator = currentUser()", [101, 103, 104, 106]),
    (f'creator = "{AMARA}"', [102, 105, 107, 108]),
    (f"creator != {AMARA}", [101, 103, 104, 106]),
    ("parent = 105", [102, 107]),
    ("parent != 105", [101, 103, 104, 105, 106, 108]),
    ("ancestor = 105", [102, 107, 108]),
    ("ancestor in (105, 106)", [102, 104, 107, 108]),
    ("ancestor = 107", [108]),
    ("created >= 2026-10-01", [101, 102, 107, 108]),
    ("created >= 2026/10/22 and created < 2026-11-01", [102]),
    ('created > "2026-10-22 08:30"', [107, 108]),
    ('created >= "2026-10-22 08:30"', [102, 107, 108]),
    ("created = 2026-01-10", [105, 106]),
    ('created = "2026-10-22 08:30"', [102]),
    ("created != 2026-01-10", [101, 102, 103, 104, 107, 108]),
    ('lastmodified > now("-7d")', [101, 102, 104]),
    ("lastModified >= startOfDay()", [104]),
    ('lastmodified >= startOfMonth() and lastmodified <= endOfDay("-1d")', [101, 102, 107, 108]),
    ('lastmodified < startOfWeek("-1w")', [103, 105, 106, 107, 108]),
    ("created <= endOfMonth(-1w)", ALL),
    ("(((label = postmortem)))", [101, 102, 107]),
]


@pytest.mark.parametrize(("query", "expected"), SELECTS)
def test_query_selects_expected_content(
    db: sqlite3.Connection, query: str, expected: list[int]
) -> None:
    """Each query selects exactly the content Confluence would return for it."""
    assert sorted(run(db, query)) == sorted(expected)


def test_status_is_left_to_the_caller() -> None:
    """The compiled expression does not filter on status; the search endpoint adds it."""
    where, _, _ = compile_cql("type = page", now=NOW)
    assert "status" not in where


def test_anonymous_current_user_matches_no_one(db: sqlite3.Connection) -> None:
    """`currentUser()` without a caller names no one."""
    assert run(db, "creator = currentUser()", user=None) == []


ORDERS = [
    ("label = postmortem ORDER BY created", [101, 102, 107]),
    ("label = postmortem order by created desc", [107, 102, 101]),
    ("type = page AND space = SRE ORDER BY title", [101, 104, 106]),
    ("space = PAY ORDER BY lastmodified DESC, title ASC", [102, 108, 107, 105]),
    ("label = postmortem ORDER BY id DESC", [107, 102, 101]),
    ("creator = currentUser() ORDER BY type DESC, id", [101, 104, 106, 103]),
]


@pytest.mark.parametrize(("query", "expected"), ORDERS)
def test_order_by(db: sqlite3.Connection, query: str, expected: list[int]) -> None:
    """ORDER BY sorts by the named fields, ascending unless told, ties broken by id."""
    assert run(db, query) == expected


def test_order_by_id_needs_no_tiebreak() -> None:
    """Ordering by id alone yields exactly `ORDER BY content.id ASC`, the keyset order."""
    assert compile_cql("type = page ORDER BY id", now=NOW)[2] == "ORDER BY content.id ASC"
    assert compile_cql("type = page", now=NOW)[2] == ""


ERRORS = [
    ("", "expected a clause"),
    ("ORDER BY created", "expected a clause"),
    ("foo = bar", "no field 'foo'"),
    ("space ~ SRE", "operator '~' is not supported by field 'space'"),
    ("label > a", "operator '>' is not supported by field 'label'"),
    ("created ~ 2026", "operator '~' is not supported by field 'created'"),
    ("text = x", "operator '=' is not supported by field 'text'"),
    ("space in SRE", "operator 'in' needs list"),
    ("space = (SRE, PAY)", "operator '=' takes no list"),
    ("id = abc", "'abc' is not a content id"),
    ("parent = -1", "'-1' is not a content id"),
    ("created > yesterday", "invalid date 'yesterday'"),
    ("created > 2026-13-01", "invalid date '2026-13-01'"),
    ('created > now("soon")', "invalid offset 'soon'"),
    ("created > banana()", "function 'banana' is not a date function"),
    ("label = now()", "function 'now' is not valid for field 'label'"),
    ('title ~ ""', "empty text search"),
    ('title = "open', "unterminated string"),
    ('title = "a\\qb"', "invalid escape"),
    ("type = page AND", "expected a field but got end of query"),
    ("type = page label = x", "unexpected 'label'"),
    ("type page", "expected an operator but got 'page'"),
    ("type = ", "expected a value but got end of query"),
    ("(type = page", "expected ')' but got end of query"),
    ("type ! page", "unexpected '!'"),
    ("type = page ORDER created", "expected BY but got 'created'"),
    ("type = page ORDER BY label", "cannot order by 'label'"),
    ("(" * 60 + "type = page" + ")" * 60, "nested more than 50 levels deep"),
    (" OR ".join(["type = page"] * 301), "more than 300 clauses"),
]


@pytest.mark.parametrize(("query", "detail"), ERRORS)
def test_rejects_with_confluence_message_and_a_detail(query: str, detail: str) -> None:
    """A rejected query says `Could not parse cql : <query>`, with the reason in `detail`."""
    with pytest.raises(CqlError) as caught:
        compile_cql(query, now=NOW)
    assert str(caught.value) == f"Could not parse cql : {query}"
    assert detail in caught.value.detail


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


HOSTILE = [
    "'; DROP TABLE content; --",
    '") OR label = "x" OR ("',
    "a\\b\\\\c\\",
    "emoji 🚒 Zürich «café» 東京",
    "% _ * ?",
    "line\nbreak",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_parameters_never_sql(db: sqlite3.Connection, value: str) -> None:
    """A value is bound as a parameter: the SQL text is the same whatever the value."""
    where, params, _ = compile_cql(f"label = {_quote(value)} AND space = {_quote(value)}")
    assert params == [value, value]
    assert where == compile_cql('label = "x" AND space = "x"')[0]
    db.execute(f"SELECT count(*) FROM content WHERE {where}", params).fetchone()
    assert db.execute("SELECT count(*) FROM content").fetchone()[0] == len(CONTENT)


@settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.text())
def test_random_text_raises_only_cql_error(db: sqlite3.Connection, query: str) -> None:
    """Whatever the text, compile_cql either compiles it to runnable SQL or raises CqlError."""
    try:
        where, params, order = compile_cql(query, now=NOW)
    except CqlError:
        return
    db.execute(f"SELECT content.id FROM content WHERE {where} {order}", params).fetchall()


FIELDS = ["type", "space", "space.key", "label", "title", "text", "id", "creator", "parent",
          "ancestor", "created", "lastmodified", "nope"]  # fmt: skip
OPERATORS = ["=", "!=", "~", "!~", "<", "<=", ">", ">=", "in", "not in"]
VALUES = ["page", "SRE", "101", "(101, 102)", "('a', \"b\")", "2026-11-20", '"2026/11/20 10:00"',
          'now("-7d")', "startOfDay()", "currentUser()", "x()", '"a b"']  # fmt: skip


@st.composite
def queries(draw: st.DrawFn) -> str:
    def clause() -> str:
        value = draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=8).map(_quote)))
        return f"{draw(st.sampled_from(FIELDS))} {draw(st.sampled_from(OPERATORS))} {value}"

    text = clause()
    for _ in range(draw(st.integers(0, 3))):
        text += draw(st.sampled_from([" AND ", " OR ", " NOT ", " and not "])) + clause()
    return text + draw(st.sampled_from(["", " ORDER BY created DESC", " order by title, id"]))


@settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(queries())
def test_grammar_shaped_queries_compile_to_valid_sql_or_cql_error(
    db: sqlite3.Connection, query: str
) -> None:
    """Plausible queries over every field and operator give runnable SQL or a CqlError."""
    try:
        where, params, order = compile_cql(query, current_user=PRIYA, now=NOW)
    except CqlError:
        return
    assert where.count("?") == len(params)
    db.execute(f"SELECT content.id FROM content WHERE {where} {order}", params).fetchall()


@pytest.mark.parametrize("written", ["2026-10-22 05:30", "2026/10/22 05:30"])
def test_a_date_with_a_time_is_read_in_the_callers_time_zone(
    db: sqlite3.Connection, written: str
) -> None:
    """Confluence reads `lastmodified >= "yyyy-MM-dd HH:mm"` (and created) in the
    searching account's time zone: 05:30 in São Paulo is 08:30 UTC, the minute page
    102 was created."""

    def select(query: str, tz: str | None) -> list[int]:
        where, params, _order = compile_cql(query, now=NOW, tz=tz)
        sql = f"SELECT content.id FROM content WHERE {where} ORDER BY content.id"
        return [r[0] for r in db.execute(sql, params)]

    zone = "America/Sao_Paulo"
    assert select(f'created >= "{written}"', zone) == [102, 107, 108]
    assert select(f'created > "{written}"', zone) == [107, 108]
    assert select(f'lastmodified >= "{written}"', zone) == select(
        'lastmodified >= "2026-10-22 08:30"', None
    )
    assert select("created >= 2026-10-22", zone) == select("created >= 2026-10-22", None)
