"""Building JQL and CQL: values stay single literals, restrictions always hold."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.core.queries import (
    cql_string,
    jql_string,
    managed_tickets_jql,
    page_label,
    postmortem_cql,
)
from followup.sandbox.confluence.cql import compile_cql
from followup.sandbox.jira.jql import compile_jql

NOW = datetime(2026, 11, 26, 12, 0)

HOSTILE = [
    "followup",
    "",
    '"',
    "\\",
    '\\"',
    "a\\b\\\\c\\",
    ") OR labels is EMPTY OR (",
    '") OR labels is EMPTY OR ("',
    "') OR labels is EMPTY OR ('",
    'x" OR project = "OPS',
    "'; DROP TABLE issues; --",
    "line\nbreak\r\nand\ttab",
    "\x00\x05\x1b\x7f\x85\ufdd0\uffff",
    "order by key",
    "user",
    "% @ [ ] { } * / ; ? $ # ^ +",
    "emoji 🚒, Zürich «café», 東京, שלום",
    "\\u0041 is not an escape here",
]


# -- jql_string -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("followup", '"followup"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("it's", '"it\'s"'),
        ("a\nb\tc\rd", '"a\\nb\\tc\\rd"'),
        ("bell\x07", '"bell\\u0007"'),
        ("nel\x85", '"nel\\u0085"'),
        ("Zürich 🚒", '"Zürich 🚒"'),
        ("", '""'),
    ],
)
def test_jql_string_escapes_like_jira(value: str, literal: str) -> None:
    """Quotes and backslashes get a backslash, controls their escape, the rest is kept."""
    assert jql_string(value) == literal


@pytest.mark.parametrize("value", HOSTILE)
def test_jql_string_is_one_literal_in_the_sandbox_parser(value: str) -> None:
    """Whatever it holds, a quoted value is exactly one parameter and changes no structure."""
    where, params, order = compile_jql(f"labels = {jql_string(value)}", now=NOW)
    assert params == [value]
    assert (where, order) == compile_jql('labels = "x"', now=NOW)[::2]


@given(st.text())
def test_any_text_round_trips_through_jql_string(value: str) -> None:
    """Property: for any text, `labels = <jql_string(v)>` binds exactly `v`, same SQL shape."""
    where, params, _ = compile_jql(f"labels = {jql_string(value)} OR labels = 'y'", now=NOW)
    assert params == [value, "y"]
    assert where == compile_jql('labels = "x" OR labels = "y"', now=NOW)[0]


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_any_texts_round_trip_in_a_jql_list(values: list[str]) -> None:
    """Property: a list of quoted values binds each value once, in order."""
    literal = ", ".join(jql_string(v) for v in values)
    _, params, _ = compile_jql(f"assignee in ({literal}) AND project = OPS", now=NOW)
    assert params == [*values, "OPS"]


def test_jql_string_refuses_lone_surrogates() -> None:
    """Text that is not valid Unicode cannot be sent at all, so it is refused."""
    with pytest.raises(ValueError, match="lone surrogate"):
        jql_string("a\ud800b")


# -- cql_string -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("postmortem", '"postmortem"'),
        ('a "b"', '"a \\"b\\""'),
        ("c:\\temp", '"c:\\\\temp"'),
        ("l'été", '"l\'été"'),
    ],
)
def test_cql_string_escapes_quotes_and_backslashes(value: str, literal: str) -> None:
    """Double quotes and backslashes get a backslash; nothing else changes."""
    assert cql_string(value) == literal


@pytest.mark.parametrize("value", [v for v in HOSTILE if v.isprintable() or v == ""])
def test_cql_string_is_one_literal_in_the_sandbox_parser(value: str) -> None:
    """Whatever it holds, a quoted value is exactly one parameter and changes no structure."""
    where, params, order = compile_cql(f"label = {cql_string(value)} AND type = page", now=NOW)
    assert params == [value, "page"]
    assert (where, order) == compile_cql('label = "x" AND type = page', now=NOW)[::2]


@given(st.text().filter(lambda v: all(ord(c) > 0x1F and not 0x7F <= ord(c) <= 0x9F for c in v)))
def test_any_printable_text_round_trips_through_cql_string(value: str) -> None:
    """Property: for any text without controls, `label = <cql_string(v)>` binds exactly `v`."""
    where, params, _ = compile_cql(f"title = {cql_string(value)} OR label = 'y'", now=NOW)
    assert params == [value, "y"]
    assert where == compile_cql("title = 'x' OR label = 'y'", now=NOW)[0]


@pytest.mark.parametrize("value", ["line\nbreak", "tab\there", "nul\x00", "c1\x85"])
def test_cql_string_refuses_control_characters(value: str) -> None:
    """CQL has no documented escape for control characters: such a value is refused."""
    with pytest.raises(ValueError, match="control character"):
        cql_string(value)


# -- managed tickets ------------------------------------------------------------------


def test_managed_tickets_jql_shapes() -> None:
    """The label search, narrowed by project or by page labels, always ordered by key."""
    assert managed_tickets_jql("followup") == 'labels = "followup" ORDER BY key ASC'
    assert managed_tickets_jql("followup", project="OPS") == (
        'labels = "followup" AND project = "OPS" ORDER BY key ASC'
    )
    assert managed_tickets_jql("followup", page_ids=["123", "456", "123"]) == (
        'labels in ("followup-123", "followup-456") ORDER BY key ASC'
    )


def test_page_label() -> None:
    """The per-page label is `<label>-<pageId>`."""
    assert page_label("followup", "98000001") == "followup-98000001"
    assert page_label("pm.sync", "7") == "pm.sync-7"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": ""}, "not a valid Jira label"),
        ({"label": "follow up"}, "not a valid Jira label"),
        ({"label": "x" * 256}, "not a valid Jira label"),
        ({"label": "followup", "page_ids": ["12a"]}, "not a Confluence page id"),
        ({"label": "followup", "page_ids": [""]}, "not a Confluence page id"),
        ({"label": "followup", "page_ids": ["١٢٣"]}, "not a Confluence page id"),
        ({"label": "followup", "project": 'OPS" OR 1'}, "not a Jira project key"),
        ({"label": "followup", "project": "9OPS"}, "not a Jira project key"),
    ],
)
def test_managed_tickets_jql_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    """Labels with spaces, non-numeric page ids and odd project keys fail with a clear error."""
    with pytest.raises(ValueError, match=message):
        managed_tickets_jql(**kwargs)  # type: ignore[arg-type]


SCHEMA = """
CREATE TABLE issues (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE, project TEXT, issuetype TEXT, summary TEXT,
    description TEXT, status TEXT, status_category TEXT, resolution TEXT NULL,
    assignee TEXT NULL, reporter TEXT, priority TEXT, duedate TEXT NULL, created TEXT,
    updated TEXT, resolutiondate TEXT NULL
);
CREATE TABLE issue_labels (issue_id INTEGER, label TEXT);
CREATE TABLE content (
    id INTEGER PRIMARY KEY, type TEXT, status TEXT, space_key TEXT, title TEXT, body TEXT,
    version INTEGER, created TEXT, last_modified TEXT, author TEXT, last_modifier TEXT,
    parent_id INTEGER NULL
);
CREATE TABLE content_labels (content_id INTEGER, label TEXT);
"""

ISSUE_LABELS = {
    "OPS-1": (),
    "OPS-2": ("followup", "followup-101"),
    "OPS-3": ("followup", "followup-102"),
    "OPS-10": ("followup", "followup-101"),
    "OPS-11": ("follow-up",),
    "PAY-1": ("followup", "followup-103"),
    "PAY-2": ("followup-101",),
}
PAGES = [  # id, type, space, title, labels
    (101, "page", "SRE", "Postmortem: orders-db", ("postmortem",)),
    (102, "page", "PAY", "Postmortem: card auth", ("postmortem",)),
    (103, "page", "PAY", "Runbook", ("runbook",)),
    (104, "blogpost", "SRE", "Postmortem roundup", ("postmortem",)),
    (105, "page", "DATA", 'Quote " and \\ in title', ("postmortem",)),
    (106, "page", "SRE", "Draft", ()),
]


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    for n, (key, labels) in enumerate(ISSUE_LABELS.items(), start=1):
        conn.execute(
            "INSERT INTO issues (id, key, project, status_category) VALUES (?, ?, ?, 'new')",
            (n, key, key.split("-")[0]),
        )
        conn.executemany("INSERT INTO issue_labels VALUES (?, ?)", [(n, v) for v in labels])
    for cid, ctype, space, title, labels in PAGES:
        conn.execute(
            "INSERT INTO content (id, type, status, space_key, title, body, created,"
            " last_modified) VALUES (?, ?, 'current', ?, ?, '', '2026-11-01', '2026-11-02')",
            (cid, ctype, space, title),
        )
        conn.executemany("INSERT INTO content_labels VALUES (?, ?)", [(cid, v) for v in labels])
    yield conn
    conn.close()


def issues(conn: sqlite3.Connection, jql: str) -> list[str]:
    where, params, order = compile_jql(jql, now=NOW)
    return [r[0] for r in conn.execute(f"SELECT key FROM issues WHERE {where} {order}", params)]


def pages(conn: sqlite3.Connection, cql: str) -> list[int]:
    where, params, order = compile_cql(cql, now=NOW)
    sql = f"SELECT id FROM content WHERE {where} {order or 'ORDER BY id'}"
    return [r[0] for r in conn.execute(sql, params)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["OPS-2", "OPS-3", "OPS-10", "PAY-1"]),
        ({"project": "OPS"}, ["OPS-2", "OPS-3", "OPS-10"]),
        ({"page_ids": ["101"]}, ["OPS-2", "OPS-10", "PAY-2"]),
        ({"page_ids": ["101", "103"], "project": "PAY"}, ["PAY-1", "PAY-2"]),
        ({"page_ids": ["999"]}, []),
    ],
)
def test_managed_tickets_jql_finds_exactly_the_labelled_tickets(
    db: sqlite3.Connection, kwargs: dict[str, object], expected: list[str]
) -> None:
    """Run through the sandbox, the query finds the tickets with the label, in key order."""
    assert issues(db, managed_tickets_jql("followup", **kwargs)) == expected  # type: ignore[arg-type]


labels = st.text(min_size=1, max_size=30).filter(lambda v: not any(c.isspace() for c in v))
page_id_lists = st.lists(st.integers(1, 10**12).map(str), max_size=4)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(labels, page_id_lists, st.sampled_from([None, "OPS", "PAY_2"]))
def test_managed_tickets_jql_binds_only_its_values(
    label: str, page_ids: list[str], project: str | None
) -> None:
    """Property: any valid label, pages and project compile to exactly those values."""
    jql = managed_tickets_jql(label, project=project, page_ids=page_ids)
    _, params, order = compile_jql(jql, now=NOW)
    wanted: list[object] = (
        [f"{label}-{p}" for p in dict.fromkeys(page_ids)] if page_ids else [label]
    )
    assert params == wanted + ([project] if project else [])
    assert order.startswith("ORDER BY issues.project ASC")


# -- postmortem discovery ---------------------------------------------------------------


def test_postmortem_cql_shapes() -> None:
    """The base is parenthesised and ANDed with the space and page restrictions."""
    base = 'type = page AND label = "postmortem"'
    assert postmortem_cql(base) == f"({base})"
    assert postmortem_cql(base, spaces=["OPS", "SRE"]) == f'({base}) AND space in ("OPS","SRE")'
    assert postmortem_cql(base, page_ids=["1", "2"]) == f"({base}) AND id in (1,2)"
    assert postmortem_cql(base, spaces=["SRE", "SRE"], page_ids=["7"]) == (
        f'({base}) AND space in ("SRE") AND id in (7)'
    )
    assert postmortem_cql("", spaces=["SRE"]) == 'space in ("SRE")'
    assert postmortem_cql("label = pm ORDER BY created DESC", spaces=["SRE"]) == (
        '(label = pm) AND space in ("SRE") ORDER BY created DESC'
    )
    assert postmortem_cql('title = "order by x"', spaces=["A"]) == (
        '(title = "order by x") AND space in ("A")'
    )
    assert postmortem_cql("label = reorder by", spaces=["A"]) == (
        '(label = reorder by) AND space in ("A")'
    )
    assert postmortem_cql("x = 1", spaces=["~priya.natarajan"]) == (
        '(x = 1) AND space in ("~priya.natarajan")'
    )


@pytest.mark.parametrize(
    ("base", "kwargs", "message"),
    [
        ("type = page", {"spaces": ["SRE OPS"]}, "not a Confluence space key"),
        ("type = page", {"spaces": ['SRE") OR ("']}, "not a Confluence space key"),
        ("type = page", {"spaces": [""]}, "not a Confluence space key"),
        ("type = page", {"spaces": ["SR-E"]}, "not a Confluence space key"),
        ("type = page", {"page_ids": ["1 OR 1=1"]}, "not a Confluence page id"),
        ("type = page", {"page_ids": ["-3"]}, "not a Confluence page id"),
        ("type = page) OR (type = blogpost", {"spaces": ["SRE"]}, "unbalanced"),
        ("type = page OR (label = a", {"spaces": ["SRE"]}, "unbalanced"),
        ('title = "open', {"spaces": ["SRE"]}, "unbalanced"),
        ("   ", {}, "empty"),
    ],
)
def test_postmortem_cql_rejects_bad_settings(
    base: str, kwargs: dict[str, object], message: str
) -> None:
    """Bad space keys, page ids and a base that would escape its parentheses are refused."""
    with pytest.raises(ValueError, match=message):
        postmortem_cql(base, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("base", "kwargs", "expected"),
    [
        ('type = page AND label = "postmortem"', {}, [101, 102, 105]),
        ('type = page AND label = "postmortem"', {"spaces": ["PAY", "SRE"]}, [101, 102]),
        ("label = postmortem OR type = blogpost", {"spaces": ["SRE"]}, [101, 104]),
        ("label = postmortem OR type = page", {"page_ids": ["103", "104"]}, [103, 104]),
        ("label = postmortem ORDER BY id DESC", {"spaces": ["SRE"]}, [104, 101]),
    ],
)
def test_postmortem_cql_restricts_discovery(
    db: sqlite3.Connection, base: str, kwargs: dict[str, object], expected: list[int]
) -> None:
    """Run through the sandbox, the restrictions hold even when the base uses OR."""
    assert pages(db, postmortem_cql(base, **kwargs)) == expected  # type: ignore[arg-type]


CLAUSES = ["label = postmortem", "type = page", "type = blogpost", "space = PAY", "id = 103",
           'title ~ "postmortem"', "space != SRE", 'label in ("runbook", "x")',
           'title = "Quote \\" and \\\\ in title"', "not label = runbook"]  # fmt: skip


@st.composite
def bases(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CLAUSES))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from([" AND ", " OR ", " OR NOT ", " NOT "]))
        text += op + draw(st.sampled_from(CLAUSES))
    if draw(st.booleans()):
        text = f"({text})"
    return text + draw(st.sampled_from(["", " ORDER BY created", " order by title desc"]))


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bases(), st.lists(st.sampled_from(["SRE", "PAY", "DATA"]), min_size=1, max_size=2))
def test_space_restriction_always_holds(
    db: sqlite3.Connection, base: str, spaces: list[str]
) -> None:
    """Property: whatever the base query, every page found lies in one of the spaces."""
    found = pages(db, postmortem_cql(base, spaces=spaces))
    space_of = {cid: space for cid, _, space, _, _ in PAGES}
    assert {space_of[cid] for cid in found} <= set(spaces)
    unrestricted = set(pages(db, postmortem_cql(base)))
    assert set(found) == {cid for cid in unrestricted if space_of[cid] in spaces}
