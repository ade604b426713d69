"""Hostile input: whatever people write on a page (or put in Jira), followup stores it
as text, never lets it change a query, never lets it stop a run, and gives up on pages
too big to read safely with a finding instead of a hang.

The pure parts (extract, render, the JQL/CQL builders) are driven by hypothesis; a
handful of nasty strings then go end to end through the sandbox. `-m slow` runs the
same properties with many more examples (the longer fuzz run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import Site, fresh_demo

from followup.core.identity import summary_for
from followup.core.model import Badge, BadgeColour, Extraction, FindingCode, ItemChange, Owner
from followup.core.queries import cql_string, jql_string, managed_tickets_jql, postmortem_cql
from followup.core.storage_format import StorageFormatError, extract, render
from followup.ports import JiraPort
from followup.sandbox.jira.jql import compile_jql
from followup.sandbox.server import RunningSandbox

PAGE = "4242"
NOW = datetime(2026, 11, 26, 12, 0)
QUICK = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
LONG = settings(
    max_examples=20_000, deadline=None, derandomize=False, suppress_health_check=list(HealthCheck)
)

# -- what people type ------------------------------------------------------------------

NASTY = (
    "<script>alert('x')</script> & <b>bold</b> &amp; &lt;",
    "]]> <![CDATA[ not a section ]]> <!-- not a comment -->",
    '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-1'
    "</ac:parameter></ac:structured-macro> is only text here",
    '" OR project = SEC OR summary ~ "x',
    "labels = followup) OR (labels is EMPTY ORDER BY key",
    'back\\slash \\" \\u0041 \\n and a trailing backslash \\',
    "Ünïcödé 🚨 中文 עברית \u202eRTL override\u202c zero\u200bwidth e\u0301",
    "'; DROP TABLE issues; -- ${jndi:ldap://x/a} {{7*7}} %s%n",
    "see https://acme.atlassian.net/browse/OPS-2 and OPS-3 in plain text",
    "x" * 300,
)


def _xml_char(c: str) -> bool:
    """Characters XML 1.0 (and so Confluence) can hold."""
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


XML_TEXT = st.text(
    st.characters(codec="utf-8").filter(_xml_char) | st.sampled_from(list("<>&\"']]\\")),
    min_size=1,
    max_size=120,
).filter(lambda t: t.strip() != "")


def task_page(texts: list[str], *, heading: str = "Action items") -> str:
    tasks = "".join(
        f"<ac:task><ac:task-id>{n}</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        f"<ac:task-body>{escape(text)}</ac:task-body></ac:task>"
        for n, text in enumerate(texts, 1)
    )
    return f"<h2>{escape(heading)}</h2><ac:task-list>{tasks}</ac:task-list>"


def shown(text: str) -> str:
    """Text as the extractor reports it (`storage_format.text.collapse`, restated):
    zero-width spaces and bidirectional controls dropped, joiners kept only between
    two characters, whitespace runs one space, trimmed."""
    dropped = "\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    words = text.translate(str.maketrans("", "", dropped)).split()
    return " ".join(w.strip("\u200c\u200d") for w in words if w.strip("\u200c\u200d"))


# -- markup soup ---------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "<h2>Action items</h2>",
        "<ac:task-list>",
        "</ac:task-list>",
        "<ac:task>",
        "</ac:task>",
        "<ac:task-id>1</ac:task-id>",
        "<ac:task-id>x&amp;</ac:task-id>",
        "<ac:task-status>complete</ac:task-status>",
        "<ac:task-status>bogus</ac:task-status>",
        "<ac:task-body>",
        "</ac:task-body>",
        "<table><tbody><tr><th>Action</th><th>Owner</th><th>Due</th><th>Ticket</th></tr>",
        "<tr><td>",
        "</td><td>",
        "</td></tr>",
        "</tbody></table>",
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-1'
        "</ac:parameter></ac:structured-macro>",
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">'
        "&quot; OR 1=1</ac:parameter></ac:structured-macro>",
        '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">DONE'
        '</ac:parameter><ac:parameter ac:name="colour">Purple</ac:parameter>'
        "</ac:structured-macro>",
        '<a href="/browse/OPS-9">OPS-9</a>',
        '<a href="javascript:alert(1)">x</a>',
        '<ac:link><ri:user ri:account-id="557058:a&quot;b" /></ac:link>',
        '<ac:link><ri:user ri:username="o&apos;brien&lt;x&gt;" /></ac:link>',
        "<ac:link><ri:user /></ac:link>",
        '<time datetime="2026-02-30" />',
        '<time datetime="99999-01-01" />',
        '<time datetime="" />',
        "<![CDATA[ ]]> <ac:task> ]]>",
        "<!-- <ac:task> -->",
        "&nbsp;&mdash;&bogus;&#0;&#xD800;&#x1F6A8;",
        "<p>",
        "</p>",
        "<script>alert(1)</script>",
        "]]>",
        "<",
        "&",
        '"',
        "\x00",
        "\ufffe",
        "Fix the thing",
        "🚨",
    ]
)
SOUP = st.lists(FRAGMENTS, max_size=40).map("".join)


def _soup_never_breaks(body: str) -> None:
    extraction = extract(body, PAGE)
    assert isinstance(extraction, Extraction)
    changes = {
        item.key: ItemChange(
            ticket="OPS-7",
            badge=Badge("DONE", BadgeColour.GREEN),
            done=True,
            owner=Owner("account_id", '557058:"<x>'),
            due=date(2026, 12, 24),
        )
        for item in extraction.items
    }
    with contextlib.suppress(StorageFormatError):
        out = render(body, PAGE, changes, summary=Badge("FOLLOW-UP 1/1 DONE", BadgeColour.GREEN))
        again = extract(out, PAGE)
        assert len(again.items) == len(extraction.items)


@QUICK
@given(SOUP)
def test_markup_soup_never_escapes_extract_or_render(body: str) -> None:
    """Any mix of task, table, macro, link, CDATA, comment, entity and junk fragments,
    nested any way: extract returns an Extraction, and render either refuses the body
    with StorageFormatError or gives a body in which the same items are found."""
    _soup_never_breaks(body)


def _text_is_text(text: str) -> None:
    # Words on both sides keep the text from being read as a typed owner ("@name" at a
    # task's start, "@Name Surname" at its end): the property is about markup.
    text = f"Fix {text} now"
    body = task_page([text])
    [item] = extract(body, PAGE).items
    assert item.text == shown(text)
    assert item.ticket is None
    out = render(
        body,
        PAGE,
        {
            item.key: ItemChange(
                ticket="OPS-12",
                badge=Badge("TO DO", BadgeColour.GREY),
                owner=Owner("username", text[:40]),
                due=date(2026, 12, 1),
            )
        },
    )
    [after] = extract(out, PAGE).items
    assert after.text.startswith(shown(text))
    assert after.ticket == "OPS-12"
    assert after.owner == Owner("username", text[:40])


@QUICK
@given(XML_TEXT)
def test_any_text_in_a_task_stays_text_through_extract_and_render(text: str) -> None:
    """Whatever a task says (markup, quotes, backslashes, Unicode) is read back as that
    text, is never taken for a ticket reference, and survives render, as does an owner
    id made of the same characters."""
    _text_is_text(text)


@pytest.mark.parametrize("text", NASTY)
def test_nasty_strings_stay_text_through_extract_and_render(text: str) -> None:
    """The same, for each of the nasty strings used end to end below."""
    _text_is_text(text)


def _builders_never_break(value: str, values: list[str]) -> None:
    for build in (
        lambda: jql_string(value),
        lambda: cql_string(value),
        lambda: managed_tickets_jql(value),
        lambda: managed_tickets_jql("followup", page_ids=values),
        lambda: managed_tickets_jql("followup", project=value),
        lambda: postmortem_cql(value),
        lambda: postmortem_cql('type = page AND label = "postmortem"', spaces=values),
        lambda: postmortem_cql('type = page AND label = "postmortem"', page_ids=values),
    ):
        with contextlib.suppress(ValueError):  # a refused value, named in the message
            assert isinstance(build(), str)
    with contextlib.suppress(ValueError):
        where, params, order = compile_jql(f"labels = {jql_string(value)}", now=NOW)
        assert params == [value]
        assert (where, order) == compile_jql('labels = "x"', now=NOW)[::2]


@QUICK
@given(st.text(max_size=60), st.lists(st.text(max_size=20), max_size=4))
def test_query_builders_refuse_or_quote_but_never_break(value: str, values: list[str]) -> None:
    """Any value given to the JQL and CQL builders is either refused with ValueError
    (naming the setting) or quoted: as a JQL literal it is exactly one parameter of
    an otherwise unchanged query."""
    _builders_never_break(value, values)


@pytest.mark.slow
@LONG
@given(SOUP)
def test_long_fuzz_markup_soup(body: str) -> None:
    """The markup soup property, with thousands of examples."""
    _soup_never_breaks(body)


@pytest.mark.slow
@LONG
@given(XML_TEXT)
def test_long_fuzz_task_text(text: str) -> None:
    """The text-stays-text property, with thousands of examples."""
    _text_is_text(text)


@pytest.mark.slow
@LONG
@given(st.text(max_size=200), st.lists(st.text(max_size=40), max_size=8))
def test_long_fuzz_query_builders(value: str, values: list[str]) -> None:
    """The query builder property, with thousands of examples."""
    _builders_never_break(value, values)


# -- end to end through the sandbox -------------------------------------------------------


def add_page(site: Site, title: str, body: str, *, space: str = "SRE") -> str:
    """A postmortem page made through Confluence's API; its id."""
    r = site.post_json(
        "/wiki/rest/api/content",
        {
            "type": "page",
            "title": title,
            "space": {"key": space},
            "body": {"storage": {"value": body, "representation": "storage"}},
            "metadata": {"labels": [{"name": "postmortem"}]},
        },
    )
    assert r.ok, r.text[:500]
    return str(r.json()["id"])


def table_page(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><td><p>{escape(action)}</p></td><td><p>{escape(owner)}</p></td>"
        '<td><p><time datetime="2026-12-20" /></p></td></tr>'
        for action, owner in rows
    )
    return (
        "<h2>Action items</h2><table><tbody>"
        "<tr><th><p>Action</p></th><th><p>Owner</p></th><th><p>Due</p></th></tr>"
        f"{cells}</tbody></table>"
    )


class QueryLog:
    """Records every JQL and CQL a run sends (wrapping the ports)."""

    def __init__(self) -> None:
        self.jql: list[str] = []
        self.cql: list[str] = []

    def jira(self, port: JiraPort) -> JiraPort:
        search = port.search_tickets

        def search_tickets(jql: str) -> Any:
            self.jql.append(jql)
            return search(jql)

        port.search_tickets = search_tickets  # type: ignore[method-assign]
        return port

    def confluence(self, port: Any) -> Any:
        find = port.find_pages

        def find_pages(cql: str) -> Any:
            self.cql.append(cql)
            return find(cql)

        port.find_pages = find_pages
        return port


def test_nasty_item_text_is_stored_as_text_in_jira_and_on_the_page(
    sandbox_server: RunningSandbox,
) -> None:
    """Markup, macro markup, `]]>`, quotes, backslashes, JQL operators and Unicode in
    tasks and table rows: each becomes one ticket whose summary is that text, the page
    shows the same text with its ticket and badge (and no markup of its own), every
    query the run sends is built from labels and page ids only, and the next run has
    nothing to do."""
    site = fresh_demo(sandbox_server)
    tasks = add_page(site, 'Nasty <tasks> & "quotes"', task_page(list(NASTY)))
    rows = [(text, owner) for text, owner in zip(NASTY[:4], NASTY[4:8], strict=True)]
    table = add_page(site, "Nasty table", table_page(rows))
    queries = QueryLog()
    result = site.sync(wrap_jira=queries.jira, wrap_confluence=queries.confluence)
    assert not result.failed, [o.error for o in result.failures]

    by_item = {
        t["properties"]["followup"]["item"]: t["fields"]["summary"]
        for t in site.issues('labels = "followup" ORDER BY key ASC')
    }
    expected_texts = {tasks: [shown(t) for t in NASTY], table: [shown(a) for a, _ in rows]}
    for page_id, texts in expected_texts.items():
        body = site.body(page_id)
        assert "<script" not in body
        assert "<![CDATA[ not a section" not in body
        items = extract(body, page_id).items
        assert [i.text for i in items] == texts
        for item in items:
            assert item.ticket is not None
            assert item.ticket_live  # our jira macro, showing the status
            assert by_item[item.key] == summary_for(item)
            if len(item.text) <= 255:
                assert by_item[item.key] == item.text
            else:
                assert by_item[item.key] == item.text[:254] + "…"

    page_ids = {tasks, table, *(p.page.id for p in result.pages)}
    allowed = {"followup", *(f"followup-{p}" for p in page_ids)}
    for jql in queries.jql:
        _, params, _ = compile_jql(jql, now=NOW)
        assert set(params) <= allowed, jql
    assert set(queries.cql) == {postmortem_cql(site.settings.confluence.cql)}
    assert site.sync().actions == []


def test_a_hand_mangled_ticket_property_stops_nothing(sandbox_server: RunningSandbox) -> None:
    """A `followup` issue property someone overwrote with nonsense (a date that is not
    one, a list, wrong types) does not stop the run or duplicate the ticket: the ticket
    is still found by its key on the page, its property is written anew, and the run
    after that has nothing to do."""
    site = fresh_demo(sandbox_server)
    assert not site.sync().failed
    before = site.state()
    keys = [i.ticket for i in extract(site.body("98000004"), "98000004").items]
    garbage: list[Any] = [
        {"item": "98000004:task:1", "page": "98000004", "base": {"due": "yesterday"}},
        {"item": "98000004:task:2", "page": "98000004", "base": {"due": 5}, "reminders": "x"},
        [1, 2, 3],
        {"item": {"nested": True}, "page": None, "base": "nope"},
    ]
    for key, value in zip(keys, garbage, strict=True):
        r = site.put_json(f"/rest/api/2/issue/{key}/properties/followup", value)
        assert r.ok, r.text
    result = site.sync()
    assert not result.failed, [o.error for o in result.failures] + result.errors
    assert site.sync().actions == []
    assert site.state() == before


def test_a_page_over_the_size_limit_is_skipped_with_a_finding(
    sandbox_server: RunningSandbox,
) -> None:
    """A 5 MB page (over sync.max_page_bytes) is not parsed: a page-too-large finding,
    the page untouched, no ticket for it, every other page synced. (How long such a
    run takes is measured by bench/, not asserted here.)"""
    site = fresh_demo(sandbox_server)
    body = task_page(["Rotate the keys", "Fix the alert"]) + "<p>" + "padding " * 650_000 + "</p>"
    assert len(body.encode()) > 5_000_000
    big = add_page(site, "A very long postmortem", body)
    version = site.page(big)["version"]["number"]
    result = site.sync()
    assert not result.failed
    codes = {(f.code, f.page_id) for f in result.findings}
    assert (FindingCode.PAGE_TOO_LARGE, big) in codes
    assert site.page(big)["version"]["number"] == version
    assert not [t for t in site.issues() if f"followup-{big}" in t["fields"]["labels"]]
    assert len(list(site.issues('labels = "followup"'))) == 23


def test_a_page_with_ten_thousand_items_is_capped_with_a_finding(
    sandbox_server: RunningSandbox,
) -> None:
    """10,000 tasks on one page: a too-many-items finding, tickets for the first
    sync.max_items_per_page only, and the next run (with the rest of the items still
    unread) neither re-creates nor reports them as orphans."""
    site = fresh_demo(sandbox_server)
    many = add_page(
        site, "Ten thousand follow-ups", task_page([f"Do thing {n}" for n in range(10_000)])
    )
    result = site.sync(max_items_per_page=500)
    assert not result.failed
    assert (FindingCode.TOO_MANY_ITEMS, many) in {(f.code, f.page_id) for f in result.findings}
    mine = [t for t in site.issues() if f"followup-{many}" in t["fields"]["labels"]]
    assert len(mine) == 500
    items = extract(site.body(many), many).items
    assert sum(1 for i in items if i.ticket) == 500
    again = site.sync(max_items_per_page=500)
    assert again.actions == []


def test_items_past_the_limit_are_never_treated_as_deleted(sandbox_server: RunningSandbox) -> None:
    """Lowering sync.max_items_per_page below what a synced page holds must not make the
    tickets of the unread items look orphaned: with orphans = "close" they would be
    closed. They are left alone and not reported as orphans."""
    site = fresh_demo(sandbox_server)
    page = add_page(site, "Thirty follow-ups", task_page([f"Do thing {n}" for n in range(30)]))
    assert not site.sync().failed
    result = site.sync(max_items_per_page=10, orphans="close")
    assert not result.failed
    codes = [f.code for f in result.findings if f.page_id == page]
    assert FindingCode.TOO_MANY_ITEMS in codes
    assert FindingCode.ORPHANED_TICKET not in codes
    mine = [t for t in site.issues() if f"followup-{page}" in t["fields"]["labels"]]
    assert len(mine) == 30
    assert all(t["fields"]["status"]["name"] == "To Do" for t in mine)


# -- page text in every output: text, Markdown; a bad run never stops the daemon -------------

HOSTILE_TITLE = "Hostile [bold]title[/bold] <b>bold</b> [/]"
HOSTILE_TEXTS = [
    "Close tag [/x] here",
    "[bold red]loud[/] and [link=https://evil.example/x]click here[/link]",
    "<script>alert(1)</script> and <img src=x onerror=alert(1)>",
    "![tracker](https://evil.example/t.png) [a link](https://evil.example/y) www.evil.example",
    "Terminal \u009b31m CSI and \u202eoverride and **bold** `code` | pipe &amp; done",
]
# What a reader must see, character for character, in the text report.
SHOWN_IN_TEXT = [
    "Close tag [/x] here",
    "[bold red]loud[/] and [link=https://evil.example/x]click",
    "<script>alert(1)</script>",
    "under [owners]",  # fixed text of the unknown-owner finding, next to page text
    HOSTILE_TITLE,
]
# Characters that must never reach a terminal (ESC, the one-byte CSI, a bidi override).
UNPRINTABLE = ("\x1b", "\u009b", "\u202e")


def hostile_page(site: Site) -> str:
    body = (
        task_page(HOSTILE_TEXTS)
        + table_page([("Rotate [/] keys", "Bob Nobody")])[len("<h2>Action items</h2>") :]
    )
    return add_page(site, HOSTILE_TITLE, body)


def run_cli(site: Site, *args: str, **env: str) -> tuple[int, str, str]:
    process = site.cli(*args, env=site.cli_env(**env))
    out, err = process.communicate(timeout=180)
    return process.returncode, out, err


def test_page_text_in_the_text_report_is_text_and_the_run_completes(
    sandbox_server: RunningSandbox, tmp_path: Path
) -> None:
    """A page whose text and title look like rich markup, HTML and terminal escape
    sequences: a real `sync --format text` (and the health report) print them as the
    characters they are, with no control characters; the run creates every ticket
    once, exits 0 and is recorded as a successful run."""
    site = fresh_demo(sandbox_server)
    page = hostile_page(site)
    prom = tmp_path / "followup.prom"
    code, out, err = run_cli(
        site,
        "sync",
        "--format",
        "text",
        "--metrics-file",
        str(prom),
        "--today",
        "2026-12-01",
        COLUMNS="400",  # wide enough that no table cell wraps
    )
    assert code == 0, err[-3000:]
    flat = " ".join(out.split())
    for text in SHOWN_IN_TEXT:
        assert " ".join(text.split()) in flat, text
    assert not [c for c in UNPRINTABLE if c in out]
    assert "internal error" not in err
    assert "followup_last_run_success 1.0" in prom.read_text()
    mine = [t for t in site.issues() if f"followup-{page}" in t["fields"]["labels"]]
    assert len(mine) == len(HOSTILE_TEXTS) + 1  # one ticket per item, each once

    code, out, err = run_cli(
        site, "report", "--format", "text", "--today", "2026-12-01", COLUMNS="400"
    )
    assert code == 0, err[-3000:]
    assert " ".join(HOSTILE_TITLE.split()) in " ".join(out.split())
    assert not [c for c in UNPRINTABLE if c in out]


def test_page_text_is_never_terminal_styling_even_in_colour(sandbox_server: RunningSandbox) -> None:
    """Rendered for a colour terminal, markup in page text is shown, not applied: no
    hyperlink escape (OSC 8), and the words keep their brackets."""
    from followup.reports.sync import to_text

    site = fresh_demo(sandbox_server)
    hostile_page(site)
    result = site.sync(dry_run=True)
    coloured = to_text(result, color=True, width=400)
    assert "\x1b]8;" not in coloured  # no terminal hyperlink
    assert "[bold red]loud[/]" in coloured
    assert "Close tag [/x] here" in coloured
    assert "\u009b" not in coloured
    assert "\u202e" not in coloured


def _rendered_markdown(markdown: str) -> Any:
    from lxml import html as lxml_html
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return lxml_html.fromstring(f"<div>{rendered}</div>")


# GitHub turns these into links by themselves in plain Markdown text.
_AUTOLINK = re.compile(r"(?<![\\])(?:https?:|www\.)|[\w.+-]@[\w-]+\.\w")


@pytest.mark.parametrize("command", [["sync", "--dry-run"], ["report"]], ids=["sync", "report"])
def test_page_text_in_markdown_is_text(sandbox_server: RunningSandbox, command: list[str]) -> None:
    """In a Markdown report, page text renders as exactly its characters: no raw HTML,
    no image, link, emphasis, code or strikethrough comes from it, and no URL in it can
    be autolinked."""
    site = fresh_demo(sandbox_server)
    hostile_page(site)
    code, out, err = run_cli(site, *command, "--format", "markdown", "--today", "2026-12-01")
    assert code == 0, err[-3000:]
    tree = _rendered_markdown(out)
    tags = {element.tag for element in tree.iter()}
    assert tags <= {"div", "h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "a"}
    # The only links are followup's own: to the site's pages and tickets, never one from
    # the page text (which points at evil.example).
    for link in tree.iter("a"):
        assert link.get("href", "").startswith(site.url), link.get("href")
    text = " ".join(tree.text_content().split())
    assert " ".join(HOSTILE_TITLE.split()) in text
    if command[0] == "sync":
        assert "<script>alert(1)</script> and <img src=x onerror=alert(1)>" in text
        assert "![tracker](https://evil.example/t.png) [a link](" in text
    # No autolinkable URL outside followup's own link destinations, `](<https://...>)`.
    prose = re.sub(r"\]\(<[^>]*>\)", "]", out)
    assert not _AUTOLINK.search(prose), _AUTOLINK.search(prose)


def test_an_internal_error_in_a_watched_run_is_a_failed_run_and_the_watch_goes_on(
    sandbox_server: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in one run of `sync --watch` (here: the report cannot be rendered) is
    logged with what went wrong, counted as a failed run in the metrics, and the next
    run goes ahead and succeeds; only a signal ends the watch (exit 0)."""
    from typer.testing import CliRunner

    from followup.cli import app
    from followup.reports import sync as sync_report

    site = fresh_demo(sandbox_server)
    prom = tmp_path / "followup.prom"
    real = sync_report.render_report
    calls = 0

    def render(*args: Any, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the report")
        signal.raise_signal(signal.SIGTERM)  # the second run is fine: stop after it
        return real(*args, **kwargs)

    monkeypatch.setattr("followup.commands.sync.render_report", render)
    monkeypatch.setattr("followup.commands.watch.next_delay", lambda *a: 0.0)
    for name in list(os.environ):
        if name.startswith("FOLLOWUP_"):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(
        app,
        ["--log-json", "sync", "--watch", "--interval", "1h", "--metrics-file", str(prom)],
        env=site.env,
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "watch-run-failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == "internal error: RuntimeError: a bug in the report"
    assert [e["outcome"] for e in events if e["event"] == "sync-summary"] == ["failed", "ok"]
    assert events[-1]["event"] == "watch-stopped"
    metrics = prom.read_text()
    assert 'followup_runs_total{outcome="failed"} 1.0' in metrics
    assert 'followup_runs_total{outcome="ok"} 1.0' in metrics
    assert "followup_last_run_success 1.0" in metrics


def test_an_internal_error_in_one_sync_fails_it_in_the_metrics(
    sandbox_server: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single `sync` that hits a bug exits 1 with `internal error: ...` and is
    recorded as a failed run (never as a success)."""
    from typer.testing import CliRunner

    from followup.cli import app

    site = fresh_demo(sandbox_server)
    prom = tmp_path / "followup.prom"

    def render(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("a bug in the report")

    monkeypatch.setattr("followup.commands.sync.render_report", render)
    for name in list(os.environ):
        if name.startswith("FOLLOWUP_"):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(
        app, ["--log-json", "sync", "--dry-run", "--metrics-file", str(prom)], env=site.env
    )
    assert result.exit_code == 1
    assert "internal error: RuntimeError: a bug in the report" in result.stderr
    metrics = prom.read_text()
    assert 'followup_runs_total{outcome="failed"} 1.0' in metrics
    assert "followup_last_run_success 0.0" in metrics


def test_page_text_in_explain_is_text(sandbox_server: RunningSandbox) -> None:
    """`followup explain` of an item whose text holds markup, a one-byte CSI and a bidi
    override prints the markup as written and no control character."""
    site = fresh_demo(sandbox_server)
    page = hostile_page(site)
    code, out, err = run_cli(site, "explain", f"{page}:task:5", "--today", "2026-12-01")
    assert code == 0, err[-3000:]
    assert "**bold** `code` | pipe" in " ".join(out.split())
    assert " ".join(HOSTILE_TITLE.split()) in " ".join(out.split())
    assert not [c for c in UNPRINTABLE if c in out]
