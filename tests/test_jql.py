"""The sandbox's JQL subset: which issues each query selects, and what it rejects."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.sandbox.jira.jql import JqlError, compile_jql

NOW = datetime(2026, 11, 26, 12, 0)
PRIYA = "712020:3f9a8c2e-4b1d-4e6a-9c7f-2d8e1b5a6c40"
TOMASZ = "5b10ac8d82e05b22cc7d4ef5"
AMARA = "712020:9d2c7e41-0b6a-4f3e-8a15-7c9e3d2b1f08"

SCHEMA = """
CREATE TABLE issues (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE, project TEXT, issuetype TEXT, summary TEXT,
    description TEXT, status TEXT, status_category TEXT, resolution TEXT NULL,
    assignee TEXT NULL, reporter TEXT, priority TEXT, duedate TEXT NULL, created TEXT,
    updated TEXT, resolutiondate TEXT NULL
);
CREATE TABLE issue_labels (issue_id INTEGER, label TEXT);
CREATE TABLE users (account_id TEXT PRIMARY KEY, name TEXT, key TEXT);
"""

# key, type, summary, description, status, category, resolution, assignee, reporter,
# priority, duedate, created, updated, resolutiondate, labels
ISSUES: list[tuple[object, ...]] = [
    (
        "OPS-1",
        "Task",
        "Add alert on replica lag for orders-db",
        "Page when lag > 30s for 5 minutes.",
        "In Progress",
        "indeterminate",
        None,
        TOMASZ,
        PRIYA,
        "High",
        "2026-12-15",
        "2026-10-08T09:12:44.000+0000",
        "2026-11-20T16:03:10.000+0000",
        None,
        (),
    ),
    (
        "OPS-2",
        "Task",
        "Rotate staging Kafka credentials",
        "",
        "Done",
        "done",
        "Done",
        AMARA,
        PRIYA,
        "Medium",
        None,
        "2026-09-14T08:00:00.000+0000",
        "2026-09-20T10:00:00.000+0000",
        "2026-09-20T10:00:00.000+0000",
        ("security",),
    ),
    (
        "OPS-3",
        "Task",
        "Document the failover runbook",
        None,
        "To Do",
        "new",
        None,
        None,
        PRIYA,
        "Low",
        "2026-11-20",
        "2026-11-19T23:59:00Z",
        "2026-11-19T23:59:00Z",
        None,
        ("followup", "followup-98000001"),
    ),
    (
        "OPS-10",
        "Bug",
        "Dashboard shows p99 in seconds, not milliseconds",
        "The Grafana panel for checkout p99 multiplies by 1000 twice.",
        "In Progress",
        "indeterminate",
        None,
        PRIYA,
        TOMASZ,
        "Highest",
        None,
        "2026-11-20T10:30:00Z",
        "2026-11-25T10:30:00Z",
        None,
        ("followup", "followup-98000002"),
    ),
    (
        "OPS-11",
        "Task",
        "Zürich edge: «café» 50% retry budget_review",
        "replica tuning",
        "To Do",
        "new",
        None,
        None,
        AMARA,
        "Medium",
        "2027-01-31",
        "2026-11-26T11:00:00Z",
        "2026-11-26T11:00:00Z",
        None,
        ("tech-debt",),
    ),
    (
        "PAY-1",
        "Task",
        "Idempotency keys for refund webhooks",
        "",
        "Won't Do",
        "done",
        "Won't Do",
        AMARA,
        AMARA,
        "Medium",
        "2026-11-01",
        "2026-10-22T14:00:00Z",
        "2026-11-02T09:00:00Z",
        "2026-11-02T09:00:00Z",
        ("followup", "followup-98000003"),
    ),
]


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    for row in ISSUES:
        key = str(row[0])
        conn.execute(
            "INSERT INTO issues (key, project, issuetype, summary, description, status,"
            " status_category, resolution, assignee, reporter, priority, duedate, created,"
            " updated, resolutiondate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, key.split("-")[0], *row[1:14]),
        )
        issue_id = conn.execute("SELECT id FROM issues WHERE key = ?", (key,)).fetchone()[0]
        labels = row[14]
        assert isinstance(labels, tuple)
        for label in labels:
            conn.execute("INSERT INTO issue_labels VALUES (?, ?)", (issue_id, label))
    yield conn
    conn.close()


def run(
    conn: sqlite3.Connection, query: str, *, flavor: str = "cloud", user: str | None = PRIYA
) -> list[str]:
    where, params, order = compile_jql(query, flavor=flavor, current_user=user, now=NOW)
    sql = f"SELECT issues.key FROM issues WHERE {where} {order or 'ORDER BY issues.id'}"
    return [r[0] for r in conn.execute(sql, params)]


SELECTS = [
    ("", ["OPS-1", "OPS-2", "OPS-3", "OPS-10", "OPS-11", "PAY-1"]),
    ("project = OPS", ["OPS-1", "OPS-2", "OPS-3", "OPS-10", "OPS-11"]),
    ("PROJECT = ops", ["OPS-1", "OPS-2", "OPS-3", "OPS-10", "OPS-11"]),
    ('project in ("PAY")', ["PAY-1"]),
    ("project != OPS", ["PAY-1"]),
    ("key = OPS-1", ["OPS-1"]),
    ("issuekey = ops-10", ["OPS-10"]),
    ("issue in (OPS-2, PAY-1, OPS-99)", ["OPS-2", "PAY-1"]),
    ("key not in (OPS-2, PAY-1)", ["OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ("key > OPS-2", ["OPS-3", "OPS-10", "OPS-11"]),
    ("key >= OPS-10", ["OPS-10", "OPS-11"]),
    ("key < OPS-3", ["OPS-1", "OPS-2"]),
    ("key = 2", ["OPS-2"]),
    ("labels = followup", ["OPS-3", "OPS-10", "PAY-1"]),
    ('labels = "followup-98000002"', ["OPS-10"]),
    ("labels in (followup-98000001, followup-98000003)", ["OPS-3", "PAY-1"]),
    ("labels != followup", ["OPS-2", "OPS-11"]),
    ("labels != followup OR labels is EMPTY", ["OPS-1", "OPS-2", "OPS-11"]),
    ("labels not in (followup, security)", ["OPS-11"]),
    ("NOT labels = followup", ["OPS-1", "OPS-2", "OPS-11"]),
    ("labels is EMPTY", ["OPS-1"]),
    ("labels = EMPTY", ["OPS-1"]),
    ("labels in (EMPTY, security)", ["OPS-1", "OPS-2"]),
    ("labels is not empty", ["OPS-2", "OPS-3", "OPS-10", "OPS-11", "PAY-1"]),
    ("labels = Followup", []),
    ('status = "in progress"', ["OPS-1", "OPS-10"]),
    ("status in ('To Do', Done)", ["OPS-2", "OPS-3", "OPS-11"]),
    ("statusCategory = Done", ["OPS-2", "PAY-1"]),
    ("statuscategory != done", ["OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ('statusCategory in ("To Do", indeterminate)', ["OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ("statusCategory = 3", ["OPS-2", "PAY-1"]),
    ("issuetype = bug", ["OPS-10"]),
    ("priority in (High, Highest)", ["OPS-1", "OPS-10"]),
    (f'assignee = "{TOMASZ}"', ["OPS-1"]),
    (f"assignee = {PRIYA}", ["OPS-10"]),
    ("assignee = currentUser()", ["OPS-10"]),
    ("assignee != currentUser()", ["OPS-1", "OPS-2", "PAY-1"]),
    ("assignee is EMPTY", ["OPS-3", "OPS-11"]),
    ("assignee in (EMPTY, currentUser())", ["OPS-3", "OPS-10", "OPS-11"]),
    (f"assignee not in ({TOMASZ}, {AMARA})", ["OPS-10"]),
    ("reporter = currentUser() AND assignee is not EMPTY", ["OPS-1", "OPS-2"]),
    ("resolution = Unresolved", ["OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ("resolution is EMPTY", ["OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ('resolution = "won\'t do"', ["PAY-1"]),
    ("resolution != Unresolved", ["OPS-2", "PAY-1"]),
    ("resolution in (Done, Unresolved) AND project = PAY", []),
    ("duedate < 2026-11-26", ["OPS-3", "PAY-1"]),
    ("due <= '2026/11/20'", ["OPS-3", "PAY-1"]),
    ("duedate = 2026-12-15", ["OPS-1"]),
    ("duedate is EMPTY", ["OPS-2", "OPS-10"]),
    ("duedate < now() AND statusCategory != Done", ["OPS-3"]),
    ('duedate >= startOfDay() AND duedate <= "30d"', ["OPS-1"]),
    ("duedate > endOfMonth()", ["OPS-1", "OPS-11"]),
    ("due < startOfMonth(1d)", ["PAY-1"]),
    ("due < startOfMonth(-1d)", []),
    ("created >= 2026-11-20", ["OPS-10", "OPS-11"]),
    ('created >= "2026-11-19 23:59"', ["OPS-3", "OPS-10", "OPS-11"]),
    ("created > -7d", ["OPS-3", "OPS-10", "OPS-11"]),
    ('created > "-1w 2d"', ["OPS-3", "OPS-10", "OPS-11"]),
    ("created >= startOfDay()", ["OPS-11"]),
    ("created < startOfWeek()", ["OPS-1", "OPS-2", "OPS-3", "OPS-10", "PAY-1"]),
    ("updated >= -2d", ["OPS-10", "OPS-11"]),
    ("resolved >= 2026-10-01", ["PAY-1"]),
    ("resolutiondate is not EMPTY", ["OPS-2", "PAY-1"]),
    ("summary ~ replica", ["OPS-1"]),
    ('summary ~ "lag replica"', ["OPS-1"]),
    ('summary ~ "\\"lag replica\\""', []),
    ('summary ~ "\\"replica lag\\""', ["OPS-1"]),
    ("summary ~ ROTATE", ["OPS-2"]),
    ('summary ~ "dash*"', ["OPS-10"]),
    ('summary ~ "50%"', ["OPS-11"]),
    ('summary ~ "budget_review"', ["OPS-11"]),
    ('summary ~ "budget_"', ["OPS-11"]),
    ('summary ~ "«café»"', ["OPS-11"]),
    ("summary !~ replica", ["OPS-2", "OPS-3", "OPS-10", "OPS-11", "PAY-1"]),
    ("text ~ replica", ["OPS-1", "OPS-11"]),
    ("description ~ grafana", ["OPS-10"]),
    ("description is EMPTY", ["OPS-2", "OPS-3", "PAY-1"]),
    (
        "labels = followup AND (statusCategory = done OR assignee is EMPTY)",
        ["OPS-3", "PAY-1"],
    ),
    (
        "labels = followup AND statusCategory = done OR assignee is EMPTY",
        ["OPS-3", "OPS-11", "PAY-1"],
    ),
    ("project = OPS && labels = followup || key = PAY-1", ["OPS-3", "OPS-10", "PAY-1"]),
    ("!(project = OPS) ", ["PAY-1"]),
    ("not not project = PAY", ["PAY-1"]),
    ("NOT (labels = followup OR labels is EMPTY)", ["OPS-2", "OPS-11"]),
    ("project = OPS AND NOT status = Done AND NOT key = OPS-1", ["OPS-3", "OPS-10", "OPS-11"]),
    ('"labels" = followup', ["OPS-3", "OPS-10", "PAY-1"]),
    ("labels\n=\nfollowup", ["OPS-3", "OPS-10", "PAY-1"]),
    ("labels = 'follow\\u0075p'", ["OPS-3", "OPS-10", "PAY-1"]),
    ('summary ~ "\\u00abcaf\\u00e9\\u00bb"', ["OPS-11"]),
]


@pytest.mark.parametrize(("query", "expected"), SELECTS)
def test_query_selects_expected_issues(
    db: sqlite3.Connection, query: str, expected: list[str]
) -> None:
    """Each query selects exactly the issues Jira would return for it."""
    assert sorted(run(db, query)) == sorted(expected)


def test_anonymous_current_user_matches_no_one(db: sqlite3.Connection) -> None:
    """`currentUser()` in an anonymous search names no one, as on Jira."""
    assert run(db, "assignee = currentUser()", user=None) == []
    assert sorted(run(db, "assignee != currentUser()", user=None)) == [
        "OPS-1",
        "OPS-10",
        "OPS-2",
        "PAY-1",
    ]


def test_datacenter_names_people_by_username_or_key(db: sqlite3.Connection) -> None:
    """On Data Center a user value is a username (any case), a user key or an account id."""
    db.executemany(
        "INSERT OR IGNORE INTO users VALUES (?, ?, ?)",
        [(PRIYA, "priya.natarajan", "JIRAUSER10101"), (TOMASZ, "tomasz", "JIRAUSER10102")],
    )
    assert run(db, "assignee = Priya.Natarajan", flavor="datacenter") == ["OPS-10"]
    assert run(db, "assignee = JIRAUSER10102", flavor="datacenter") == ["OPS-1"]
    assert run(db, "assignee = currentUser()", flavor="datacenter") == ["OPS-10"]
    assert run(db, "assignee in (tomasz, EMPTY)", flavor="datacenter") == [
        "OPS-1",
        "OPS-3",
        "OPS-11",
    ]
    assert run(db, "assignee not in (tomasz, EMPTY)", flavor="datacenter") == [
        "OPS-2",
        "OPS-10",
        "PAY-1",
    ]
    assert run(db, "assignee = priya.natarajan", flavor="cloud") == []


ORDERS = [
    ("ORDER BY key", ["OPS-1", "OPS-2", "OPS-3", "OPS-10", "OPS-11", "PAY-1"]),
    ("project = OPS order by KEY desc", ["OPS-11", "OPS-10", "OPS-3", "OPS-2", "OPS-1"]),
    ("project = OPS ORDER BY created", ["OPS-11", "OPS-10", "OPS-3", "OPS-1", "OPS-2"]),
    ("project = OPS ORDER BY created ASC", ["OPS-2", "OPS-1", "OPS-3", "OPS-10", "OPS-11"]),
    ("ORDER BY duedate ASC", ["PAY-1", "OPS-3", "OPS-1", "OPS-11", "OPS-2", "OPS-10"]),
    ("ORDER BY duedate DESC", ["OPS-2", "OPS-10", "OPS-11", "OPS-1", "OPS-3", "PAY-1"]),
    (
        "labels = followup ORDER BY priority DESC, key ASC",
        ["OPS-10", "PAY-1", "OPS-3"],
    ),
    ("ORDER BY status ASC, key DESC", ["OPS-2", "OPS-10", "OPS-1", "OPS-11", "OPS-3", "PAY-1"]),
]


@pytest.mark.parametrize(("query", "expected"), ORDERS)
def test_order_by_sorts_like_jira(db: sqlite3.Connection, query: str, expected: list[str]) -> None:
    """ORDER BY sorts per field, empty values last when ascending, ties broken by id."""
    assert run(db, query) == expected


def test_order_by_clause_shape() -> None:
    """The ORDER BY clause is returned separately, qualified with the `issues` alias."""
    where, params, order = compile_jql("ORDER BY created DESC", now=NOW)
    assert (where, params) == ("1", [])
    assert order == "ORDER BY issues.created DESC, issues.id ASC"
    assert compile_jql("labels = x", now=NOW)[2] == ""


ERRORS = [
    (
        "assignee = ",
        "Error in the JQL Query: Expecting either a value, list or function but got"
        " 'end of query'. (line 1, character 12)",
    ),
    ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
    ("labels ~ x", "The operator '~' is not supported by the 'labels' field."),
    ("summary = x", "The operator '=' is not supported by the 'summary' field."),
    ("key is EMPTY", "The operator 'is' is not supported by the 'key' field."),
    ("created is EMPTY", "The field 'created' does not support searching for EMPTY values."),
    ("duedate < EMPTY", "The operator '<' does not support searching for EMPTY values."),
    ("labels is x", "The operator 'is' only supports searching for EMPTY values"),
    ("labels = (a, b)", "Operator '=' does not support the list value '(a, b)' for field"),
    ("labels in a", "Operator 'in' does not support the non-list value 'a' for field 'labels'."),
    ("labels = user", "'user' is a reserved JQL word. You must surround it in quotation marks"),
    ("labels = AND", "Expecting either a value, list or function but got 'AND'. You must"),
    ("labels = a b", "Expecting either 'OR' or 'AND' but got 'b'. (line 1, character 12)"),
    ("labels a", "Expecting operator but got 'a'. The valid operators are '='"),
    ("labels not x", "Expecting 'IN' but got 'x'."),
    ("= x", "Expecting a field name but got '='. (line 1, character 1)"),
    ("project = OPS AND", "Expecting a field name but got 'end of query'."),
    ("(project = OPS", "Expecting ')' but got 'end of query'. (line 1, character 15)"),
    ("labels in (a b)", "Expecting ',' or ')' but got 'b'."),
    ("labels in ()", "Expecting either a value, list or function but got ')'."),
    ('labels = "abc', "The quoted string 'abc' has not been completed. (line 1, character 10)"),
    ("labels = a%", "The character '%' is a reserved JQL character."),
    ("project = OPS\nAND labels = [x]", "(line 2, character 14)"),
    ('labels = "a\\qb"', "The escape sequence '\\q' is invalid."),
    ('labels = "\\ud800"', "The escape sequence '\\ud800' is invalid."),
    ('labels = "tab\there"', "is not allowed in a string"),
    ("labels = now()", "A value provided by the function 'now' is invalid for the field 'labels'"),
    ("assignee = whoever()", "Unable to find JQL function 'whoever()'."),
    ("assignee = currentUser(x)", "Function 'currentUser' expected '0' arguments but got '1'."),
    ("duedate > tomorrow", "Date value 'tomorrow' for field 'duedate' is invalid."),
    ("duedate > 2026-02-30", "Date value '2026-02-30' for field 'duedate' is invalid."),
    ("duedate > startOfDay(soon)", "Duration for function 'startOfDay' should have the format"),
    ("key = OPS", "The issue key 'OPS' for field 'key' is invalid."),
    ("key = EMPTY", "The field 'key' does not support searching for EMPTY values."),
    ("statusCategory = Blocked", "The value 'Blocked' does not exist for the field"),
    ('summary ~ ""', "The field 'summary' does not support searching for an empty string."),
    ("text = x", "The operator '=' is not supported by the 'text' field."),
    ("ORDER key", "Expecting 'BY' but got 'key'."),
    ("ORDER BY labels", "Not able to sort using field 'labels'."),
    ("ORDER BY nope", "Field 'nope' does not exist or you do not have permission to view it."),
    ("ORDER BY key ASC x", "Expecting either ',' or 'end of query' but got 'x'."),
    ("labels WAS x", "Expecting operator but got 'WAS'."),
    ("(" * 60 + "labels = x" + ")" * 60, "The query nests more than 50 levels deep."),
    ("not " * 60 + "labels = x", "The query nests more than 50 levels deep."),
    (" OR ".join(["labels = x"] * 301), "The query has more than 300 clauses."),
]


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_rejects_what_jira_rejects(query: str, message: str) -> None:
    """Unsupported fields, operators and malformed syntax raise JqlError with Jira's wording."""
    with pytest.raises(JqlError) as caught:
        compile_jql(query, now=NOW)
    assert message in str(caught.value)


def test_unknown_flavor_is_a_programming_error() -> None:
    """A flavor other than cloud/datacenter is a caller bug, not a query error."""
    with pytest.raises(ValueError, match="unknown flavor"):
        compile_jql("labels = x", flavor="server")


def _quote(value: str) -> str:
    """A JQL double-quoted literal, escaped the way Jira's encodeAsQuotedString does."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif (
            ord(ch) < 0x20
            or 0x7F <= ord(ch) <= 0x9F
            or 0xFDD0 <= ord(ch) <= 0xFDEF
            or 0xFFFE <= ord(ch) <= 0xFFFF
        ):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


HOSTILE = [
    "'; DROP TABLE issues; --",
    '") OR labels is EMPTY OR ("',
    "a\\b\\\\c\\",
    "quote \" and apostrophe '",
    "line\nbreak\ttab\rreturn",
    "emoji 🚒 and Zürich «café» 東京",
    "% _ * ? [x] {y}",
    "\x00\x1f\x7f",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_parameters_never_sql(db: sqlite3.Connection, value: str) -> None:
    """A value is bound as a parameter: the SQL text is the same whatever the value."""
    where, params, _ = compile_jql(f"labels = {_quote(value)}", now=NOW)
    assert params == [value]
    assert where == compile_jql('labels = "x"', now=NOW)[0]
    db.execute(f"SELECT count(*) FROM issues WHERE {where}", params).fetchone()
    assert db.execute("SELECT count(*) FROM issues").fetchone()[0] == len(ISSUES)


@pytest.mark.parametrize("value", [v for v in HOSTILE if v.strip()])
def test_hostile_text_search_values_are_parameters(db: sqlite3.Connection, value: str) -> None:
    """Text search terms are bound too, with LIKE's own metacharacters escaped."""
    where, params, _ = compile_jql(f'summary ~ "\\"{_quote(value)[1:-1]}\\""', now=NOW)
    like = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    assert params == ["%" + like.replace("*", "%").replace("?", "_") + "%"]
    assert "DROP" not in where
    assert value not in where
    db.execute(f"SELECT count(*) FROM issues WHERE {where}", params).fetchone()


@settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.text())
def test_random_text_raises_only_jql_error(db: sqlite3.Connection, query: str) -> None:
    """Whatever the text, compile_jql either compiles it to runnable SQL or raises JqlError."""
    try:
        where, params, order = compile_jql(query, now=NOW)
    except JqlError:
        return
    db.execute(f"SELECT issues.key FROM issues WHERE {where} {order}", params).fetchall()


FIELDS = ["labels", "key", "project", "status", "statusCategory", "assignee", "duedate",
          "created", "resolution", "summary", "text", "nope"]  # fmt: skip
OPERATORS = ["=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in", "is", "is not"]
VALUES = ["OPS-1", "EMPTY", "null", "-7d", "2026-11-20", "Done", "currentUser()", "now()",
          "(a, b)", "(OPS-1, EMPTY)", '"x y"', "'q'", "unresolved", "new", "startOfDay(-1d)",
          "42", "foo()", "user"]  # fmt: skip


@st.composite
def clauses(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(OPERATORS))
    value = draw(st.one_of(st.sampled_from(VALUES), st.text(max_size=8).map(_quote)))
    return f"{field} {op} {value}"


@st.composite
def queries(draw: st.DrawFn) -> str:
    parts = [draw(clauses())]
    for _ in range(draw(st.integers(0, 3))):
        joiner = draw(st.sampled_from([" AND ", " OR ", " AND NOT ", " OR ("]))
        parts.append(joiner + draw(clauses()) + (")" if joiner.endswith("(") else ""))
    order = draw(st.sampled_from(["", " ORDER BY key", " order by created asc, duedate"]))
    return "".join(parts) + order


@settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(queries(), st.sampled_from(["cloud", "datacenter"]))
def test_grammar_shaped_queries_compile_to_valid_sql_or_jql_error(
    db: sqlite3.Connection, query: str, flavor: str
) -> None:
    """Plausible queries over every field and operator give runnable SQL or a JqlError."""
    try:
        where, params, order = compile_jql(query, flavor=flavor, current_user=PRIYA, now=NOW)
    except JqlError:
        return
    assert where.count("?") == len(params)
    db.execute(f"SELECT issues.key FROM issues WHERE {where} {order}", params).fetchall()


def test_utf16_escape_pairs_decode_to_one_character() -> None:
    """`\\uXXXX` escapes follow Java: a surrogate pair written as two escapes is one character."""
    assert compile_jql('labels = "\\ud83d\\ude92 \\u00e9"', now=NOW)[1] == ["🚒 é"]


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
@pytest.mark.parametrize("written", ["2026/11/20 13:03", "2026-11-20 13:03"])
def test_a_date_with_a_time_is_read_in_the_callers_time_zone(
    db: sqlite3.Connection, flavor: str, written: str
) -> None:
    """Jira reads `updated >= "yyyy/MM/dd HH:mm"` in the searching account's time
    zone: 13:03 in São Paulo is 16:03 UTC, the minute OPS-1 was last updated."""

    def select(query: str, tz: str | None) -> list[str]:
        where, params, _ = compile_jql(query, flavor=flavor, now=NOW, tz=tz)
        sql = f"SELECT issues.key FROM issues WHERE {where} ORDER BY issues.id"
        return [r[0] for r in db.execute(sql, params)]

    zone = "America/Sao_Paulo"
    assert "OPS-1" in select(f'updated >= "{written}"', zone)
    assert "OPS-1" not in select(f'updated > "{written}"', zone)
    assert select(f'updated >= "{written}"', zone) == select('updated >= "2026/11/20 16:03"', None)
    assert select("duedate >= 2026-12-01", zone) == select("duedate >= 2026-12-01", None)
