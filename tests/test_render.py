"""Badges, tickets, ticks, owners and due dates written back into page bodies: golden
files for whole pages, and one test per renderer rule."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest

from followup.core.model import KEEP, Badge, BadgeColour, ItemChange, Owner, _Keep
from followup.core.storage_format import StorageFormatError, extract, render
from followup.core.storage_format.extract import read_page
from followup.core.storage_format.xml import macro_id, parse, serialise

FIXTURES = Path(__file__).parent / "storage_format"
GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("FOLLOWUP_UPDATE_GOLDEN") == "1"
PAGE = "100"

TODO = Badge("TO DO", BadgeColour.GREY)
PROGRESS = Badge("IN PROGRESS", BadgeColour.BLUE)
DONE = Badge("DONE", BadgeColour.GREEN)
OVERDUE = Badge("OVERDUE", BadgeColour.RED)
SUMMARY = Badge("FOLLOW-UP 1/4 DONE", BadgeColour.BLUE)
ANA = Owner("account_id", "557058:ana")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def key(suffix: str) -> str:
    return f"{PAGE}:{suffix}"


Case = tuple[str, str, dict[str, ItemChange], Badge | _Keep | None, dict[str, str]]

CASES: list[Case] = [
    (
        "cloud_add_and_update",
        "cloud_tasks.xml",
        {
            key("task:3"): ItemChange(ticket="OPS-20", badge=TODO, owner=ANA, due=date(2026, 9, 9)),
            key("task:1"): ItemChange(badge=DONE, done=True),
            key("task:2"): ItemChange(badge=PROGRESS, done=False),
            key("task:6"): ItemChange(ticket="OPS-21", badge=OVERDUE),
        },
        SUMMARY,
        {},
    ),
    (
        "cloud_remove",
        "cloud_tasks.xml",
        {
            key("task:1"): ItemChange(badge=None, owner=None, due=None),
            key("task:2"): ItemChange(ticket="OPS-99"),
        },
        KEEP,
        {},
    ),
    (
        "datacenter_nested",
        "datacenter_tasks.xml",
        {
            key("task:13"): ItemChange(
                ticket="PAY-8", badge=TODO, due=date(2026, 9, 30), done=True
            ),
            key("task:14"): ItemChange(ticket="PAY-9", owner=Owner("username", "akhan")),
            key("task:12"): ItemChange(owner=Owner("userkey", "8a7f80")),
            key("task:15"): ItemChange(owner=Owner("username", "lwei")),
        },
        Badge("FOLLOW-UP 1/5 DONE", BadgeColour.YELLOW),
        {"jira_server": "Company JIRA", "jira_server_id": "144880e9-a353-312f-9412-ed028e8166fa"},
    ),
    (
        "table_with_ticket_column",
        "table_thead.xml",
        {
            key("row:11229c08d40e"): ItemChange(badge=DONE),  # after the bare key NET-101
            key("row:93703b855926"): ItemChange(badge=DONE, done=True, owner=ANA),
            key("row:4cbb381bdee1"): ItemChange(ticket="NET-103", badge=TODO, done=False),
            key("row:585e20cdd3b1"): ItemChange(
                ticket="NET-104", owner=Owner("name", "Dana <Chen> & co"), due=date(2026, 10, 1)
            ),
            key("row:1c250b478b27"): ItemChange(ticket="NET-106", due=None),
        },
        KEEP,
        {},
    ),
    (
        "table_without_ticket_column",
        "table_tbody_header.xml",
        {
            key("row:8a2078d838d3"): ItemChange(ticket="SEC-1", badge=OVERDUE, owner=None),
            key("row:fc4bfaac6e57"): ItemChange(due=date(2026, 8, 1), done=True),
            key("row:bca0ba04143e"): ItemChange(owner=Owner("username", "oberg")),
        },
        Badge("FOLLOW-UP 0/4 DONE", BadgeColour.GREY),
        {},
    ),
    (
        "tasks_in_table",
        "tasks_in_table.xml",
        {
            key("task:22"): ItemChange(ticket="MOB-2", badge=TODO, owner=ANA),
            key("row:27d05940646e"): ItemChange(ticket="MOB-3", badge=TODO),
        },
        KEEP,
        {},
    ),
    (
        "entities_and_cdata",
        "entities_emoji_cdata.xml",
        {key("task:42"): ItemChange(ticket="WEB-1", badge=PROGRESS)},
        SUMMARY,
        {},
    ),
    (
        "summary_top_of_page",
        "no_heading.xml",
        {key("task:2"): ItemChange(ticket="PAGE-2", badge=TODO)},
        Badge("FOLLOW-UP 0/2 DONE", BadgeColour.GREY),
        {},
    ),
    (
        "summary_once_per_page",
        "nested_sections.xml",
        {},
        Badge("FOLLOW-UP 0/3 DONE", BadgeColour.GREY),
        {},
    ),
    (
        "layout_and_expand",
        "expand_layout.xml",
        {
            key("task:31"): ItemChange(ticket="LB-1", badge=DONE, done=True),
            key("task:32"): ItemChange(due=date(2026, 8, 15)),
        },
        SUMMARY,
        {},
    ),
]


@pytest.mark.parametrize(
    ("name", "source", "changes", "summary", "options"), CASES, ids=[c[0] for c in CASES]
)
def test_golden(
    name: str,
    source: str,
    changes: dict[str, ItemChange],
    summary: Badge | _Keep | None,
    options: dict[str, str],
) -> None:
    """Rendering a fixture page with the given changes gives the golden output, byte for
    byte (set FOLLOWUP_UPDATE_GOLDEN=1 to rewrite the files after a deliberate change)."""
    out = render(fixture(source), PAGE, changes, summary=summary, **options)
    golden = GOLDEN / f"{name}.xml"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "source", "changes", "summary", "options"), CASES, ids=[c[0] for c in CASES]
)
def test_golden_render_is_idempotent(
    name: str,
    source: str,
    changes: dict[str, ItemChange],
    summary: Badge | _Keep | None,
    options: dict[str, str],
) -> None:
    """Rendering the rendered page again with the same changes returns it unchanged."""
    once = render(fixture(source), PAGE, changes, summary=summary, **options)
    assert render(once, PAGE, changes, summary=summary, **options) is once


@pytest.mark.parametrize(
    ("name", "source", "changes", "summary", "options"), CASES, ids=[c[0] for c in CASES]
)
def test_golden_extract_shows_changes(
    name: str,
    source: str,
    changes: dict[str, ItemChange],
    summary: Badge | _Keep | None,
    options: dict[str, str],
) -> None:
    """Extracting the rendered page shows every change that the page can represent (not
    a field locked by a person's text around it), and leaves every other item as it was."""
    before = {item.key: item for item in extract(fixture(source), PAGE).items}
    tables = {found.key: found.table for found in read_page(parse(fixture(source)), PAGE).items}
    out = render(fixture(source), PAGE, changes, summary=summary, **options)
    after = extract(out, PAGE)
    assert [item.key for item in after.items] == list(before)
    for item in after.items:
        change = changes.get(item.key, ItemChange())
        old = before[item.key]
        table = tables[item.key]
        columns = table.columns if table is not None else {}
        assert item.text == old.text
        assert item.ticket == (old.ticket if change.ticket is KEEP else change.ticket)
        assert item.badge == (old.badge if change.badge is KEEP else change.badge)
        expect_done = old.done if change.done is KEEP or "done" in old.locked else change.done
        if item.source == "table" and "status" not in columns:
            expect_done = old.done
        assert item.done == expect_done
        keep_owner = change.owner is KEEP or "owner" in old.locked
        assert item.owner == (old.owner if keep_owner else change.owner)
        keep_due = change.due is KEEP or "due" in old.locked
        assert item.due == (old.due if keep_due else change.due)
        assert item.locked == old.locked
    if summary is not KEEP:
        assert after.summary_badge == summary


def test_golden_files_have_no_namespace_declarations_or_named_entities() -> None:
    """Rendered pages use the undeclared ac:/ri: prefixes and no named entities beyond
    XML's own."""
    for golden in sorted(GOLDEN.glob("*.xml")):
        text = golden.read_text(encoding="utf-8")
        assert "xmlns" not in text, golden.name
        text = re.sub(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->", "", text, flags=re.DOTALL)
        assert not re.search(r"&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)", text)


# --- no change, same bytes -----------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {key("task:1"): ItemChange()},
        {key("task:404"): ItemChange(ticket="OPS-1")},
        {key("task:1"): ItemChange(ticket="OPS-12", badge=PROGRESS, done=False)},
        {key("task:1"): ItemChange(owner=Owner("account_id", "557058:priya"))},
        {key("task:1"): ItemChange(due=date(2026, 8, 31))},
    ],
)
def test_nothing_to_change_returns_input(changes: dict[str, ItemChange]) -> None:
    """With no changes, unknown keys, or changes the page already shows, render returns
    the input string itself (a sync that changes nothing writes nothing)."""
    body = fixture("cloud_tasks.xml")
    assert render(body, PAGE, changes) is body


def test_unreadable_body_raises() -> None:
    """Rendering a body that cannot be read raises StorageFormatError (extract reports
    such a page instead)."""
    with pytest.raises(StorageFormatError):
        render("<p>unclosed", PAGE, {}, summary=TODO)


def test_unreadable_body_with_nothing_to_do_is_returned() -> None:
    """With nothing to change, even an unreadable body is returned as it is."""
    assert render("<p>unclosed", PAGE, {}) == "<p>unclosed"


# --- item text and owner names stay text ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        '<ac:structured-macro ac:name="status"/>',
        "<script>alert(1)</script>",
        "]]>",
        "R&D & co",
        "&nbsp;",
    ],
)
def test_text_never_becomes_markup(name: str) -> None:
    """An owner name holding markup is written as text and read back as the same text."""
    body = "<table><tbody><tr><th>Action</th><th>Owner</th></tr><tr><td>Fix</td><td>x</td></tr>"
    body += "</tbody></table>"
    item = extract(body, PAGE).items[0]
    out = render(body, PAGE, {item.key: ItemChange(owner=Owner("name", name))})
    assert extract(out, PAGE).items[0].owner == Owner("name", name)
    assert "<script>" not in out
    assert "<ac:structured-macro" not in out


def test_item_text_with_markup_survives() -> None:
    """Escaped markup in an item's text stays escaped text after a render."""
    body = "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-body>"
    body += "Escape &lt;script&gt; and ]]&gt; &amp; &lt;ac:task&gt;</ac:task-body></ac:task>"
    body += "</ac:task-list>"
    out = render(body, PAGE, {key("task:1"): ItemChange(ticket="OPS-1", badge=TODO)})
    item = extract(out, PAGE).items[0]
    assert item.text == "Escape <script> and ]]> & <ac:task>"
    assert item.ticket == "OPS-1"


def test_cdata_preserved() -> None:
    """A code macro's CDATA body is written back as CDATA, untouched."""
    out = render(fixture("entities_emoji_cdata.xml"), PAGE, {}, summary=SUMMARY)
    assert '<![CDATA[if [ "$a" -lt 3 ] && echo "&nbsp;<ac:task>"; then exit 1; fi]]>' in out
    assert "<!-- a comment & more -->" in out


# --- our macros: ids and positions ---------------------------------------------------


def _task_page(body: str) -> str:
    return (
        "<h2>Action items</h2><ac:task-list><ac:task><ac:task-id>1</ac:task-id>"
        f"<ac:task-status>incomplete</ac:task-status><ac:task-body>{body}</ac:task-body>"
        "</ac:task></ac:task-list>"
    )


def test_macro_ids_are_deterministic_uuid5() -> None:
    """Our macros carry a uuid5 of page id, item key and role: the same on every run."""
    out = render(_task_page("Fix"), PAGE, {key("task:1"): ItemChange(ticket="OPS-1", badge=TODO)})
    assert macro_id(PAGE, key("task:1"), "ticket") in out
    assert macro_id(PAGE, key("task:1"), "badge") in out
    assert re.search(r'ac:macro-id="[0-9a-f-]{8}-[0-9a-f-]{4}-5', out)


def _cloud_roundtrip(body: str) -> str:
    """What Cloud may hand back: macro ids dropped, jira macros turned into smart links."""
    body = re.sub(r' ac:macro-id="[^"]*"', "", body)
    return re.sub(
        r'<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        r'(?:<ac:parameter ac:name="server[^"]*">[^<]*</ac:parameter>)*'
        r'<ac:parameter ac:name="key">([^<]*)</ac:parameter></ac:structured-macro>',
        r'<a href="https://example.atlassian.net/browse/\1" data-card-appearance="inline">'
        r"https://example.atlassian.net/browse/\1</a>",
        body,
    )


@pytest.mark.parametrize("source", ["cloud_tasks.xml", "table_thead.xml", "datacenter_tasks.xml"])
def test_badges_recognised_by_position_after_cloud_roundtrip(source: str) -> None:
    """After Cloud drops macro ids and turns jira macros into smart links, the page reads
    the same and a re-render with the same changes adds nothing."""
    body = fixture(source)
    items = extract(body, PAGE).items
    changes = {
        item.key: ItemChange(ticket=item.ticket or f"NEW-{n}", badge=OVERDUE, done=True)
        for n, item in enumerate(items)
    }
    once = render(body, PAGE, changes, summary=SUMMARY)
    cloud = _cloud_roundtrip(once)
    assert "macro-id" not in cloud
    assert extract(cloud, PAGE) == extract(once, PAGE)
    assert render(cloud, PAGE, changes, summary=SUMMARY) is cloud


def test_badge_change_on_cloud_page_edits_in_place() -> None:
    """A badge without a macro id, after a smart link, is updated in place, not doubled."""
    body = _cloud_roundtrip(
        render(_task_page("Fix"), PAGE, {key("task:1"): ItemChange(ticket="OPS-1", badge=TODO)})
    )
    out = render(body, PAGE, {key("task:1"): ItemChange(badge=DONE)})
    assert out.count('ac:name="status"') == 1
    assert extract(out, PAGE).items[0].badge == DONE


def test_stale_badge_with_our_id_is_removed() -> None:
    """A badge of ours left elsewhere in the item (someone moved the ticket) is removed
    when the badge is set again, so badges never pile up."""
    ours = macro_id(PAGE, key("task:1"), "badge")
    stale = (
        f'<ac:structured-macro ac:name="status" ac:macro-id="{ours}">'
        '<ac:parameter ac:name="title">TO DO</ac:parameter></ac:structured-macro>'
    )
    jira = (
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-1'
        "</ac:parameter></ac:structured-macro>"
    )
    out = render(
        _task_page(f"Fix {stale} later {jira}"), PAGE, {key("task:1"): ItemChange(badge=DONE)}
    )
    assert out.count('ac:name="status"') == 1
    assert extract(out, PAGE).items[0].badge == DONE
    assert extract(out, PAGE).items[0].text == "Fix later"


def test_badge_without_ticket_changes_nothing() -> None:
    """With no ticket reference there is nowhere for a badge: the page is left as is."""
    body = _task_page("Fix")
    assert render(body, PAGE, {key("task:1"): ItemChange(badge=TODO)}) is body


def test_person_status_after_ticket_is_taken_as_ours() -> None:
    """Any status macro directly after the ticket reference is the badge: it is updated,
    not joined by a second one."""
    body = _task_page(
        'Fix <a href="https://j.example.com/browse/OPS-1">OPS-1</a> '
        '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">blocked'
        "</ac:parameter></ac:structured-macro>"
    )
    out = render(body, PAGE, {key("task:1"): ItemChange(badge=TODO)})
    assert out.count('ac:name="status"') == 1
    assert extract(out, PAGE).items[0].badge == TODO


# --- fields ---------------------------------------------------------------------------


def test_ticket_replaces_link_with_jira_macro() -> None:
    """Changing the ticket of an item referenced by a /browse link puts our jira macro in
    the link's place, and the badge after it stays after it."""
    body = _task_page(
        'Fix <a href="https://x.atlassian.net/browse/OPS-1" data-card-appearance="inline">u</a>'
        '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">TO DO'
        "</ac:parameter></ac:structured-macro> tail"
    )
    out = render(body, PAGE, {key("task:1"): ItemChange(ticket="OPS-2")})
    item = extract(out, PAGE).items[0]
    assert (item.ticket, item.badge, item.text) == ("OPS-2", TODO, "Fix tail")
    assert "browse/OPS-1" not in out


def test_owner_inserted_before_date_and_due_before_ticket() -> None:
    """A new mention goes before the date; a new date goes before the ticket reference."""
    jira = (
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-1'
        "</ac:parameter></ac:structured-macro>"
    )
    out = render(
        _task_page(f'Fix <time datetime="2026-01-01" /> {jira}'),
        PAGE,
        {key("task:1"): ItemChange(owner=ANA)},
    )
    assert out.index("557058:ana") < out.index("<time")
    out = render(_task_page(f"Fix {jira}"), PAGE, {key("task:1"): ItemChange(due=date(2026, 2, 2))})
    assert out.index('datetime="2026-02-02"') < out.index('ac:name="jira"')


def test_due_replaces_time_and_its_text() -> None:
    """A new due date replaces the `<time>`'s datetime and drops its stale inner text."""
    body = _task_page('Fix <time datetime="2026-08-31">31 Aug 2026</time> now')
    out = render(body, PAGE, {key("task:1"): ItemChange(due=date(2026, 9, 1))})
    assert '<time datetime="2026-09-01"/> now' in out
    assert "31 Aug" not in out


def test_name_owner_cannot_go_into_task() -> None:
    """A task names its owner only by mention: a name-only owner changes nothing."""
    body = _task_page("Fix")
    assert render(body, PAGE, {key("task:1"): ItemChange(owner=Owner("name", "Ana"))}) is body


def test_missing_task_status_is_added() -> None:
    """Ticking a task without `ac:task-status` adds one after its id."""
    body = "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-body>Fix</ac:task-body>"
    body += "</ac:task></ac:task-list>"
    out = render(body, PAGE, {key("task:1"): ItemChange(done=True)})
    assert "<ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status>" in out


@pytest.mark.parametrize(
    ("change", "cell"),
    [
        (ItemChange(done=True), "<td>Done</td>"),
        (ItemChange(done=False), "<td><p>To do</p></td>"),
        (ItemChange(due=date(2026, 1, 2)), "<td>2026-01-02</td>"),
        (ItemChange(due=None), "<td/>"),
        (ItemChange(owner=Owner("userkey", "k1")), '<ri:user ri:userkey="k1"/>'),
        (ItemChange(owner=None), "<td/>"),
    ],
)
def test_row_cells_set(change: ItemChange, cell: str) -> None:
    """A row's status, due and owner cells get the new value in place of the old one
    (a typed date stays typed, a paragraph wrapper stays), or lose it for None."""
    done_cell = "<p>Closed</p>" if change.done is False else ""
    body = (
        "<table><tbody><tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>"
        f"<tr><td>Fix</td><td>Ana</td><td>2026-08-31</td><td>{done_cell}</td></tr>"
        "</tbody></table>"
    )
    item = extract(body, PAGE).items[0]
    out = render(body, PAGE, {item.key: change})
    assert cell in out


def test_row_change_without_column_is_skipped() -> None:
    """A row in a table without a status column cannot be ticked: nothing changes."""
    body = "<table><tbody><tr><th>Action</th><th>Owner</th></tr><tr><td>Fix</td><td>A</td></tr>"
    body += "</tbody></table>"
    item = extract(body, PAGE).items[0]
    assert render(body, PAGE, {item.key: ItemChange(done=True, due=date(2026, 1, 1))}) is body


def test_cell_holding_tasks_is_not_cleared() -> None:
    """A row cell that holds tasks is never overwritten: those tasks are a person's."""
    body = (
        "<table><tbody><tr><th>Action</th><th>Owner</th></tr><tr><td>Fix</td><td>"
        "<ac:task-list><ac:task><ac:task-id>9</ac:task-id><ac:task-body>Ping Ana"
        "</ac:task-body></ac:task></ac:task-list></td></tr></tbody></table>"
    )
    row = next(item for item in extract(body, PAGE).items if item.source == "table")
    out = render(body, PAGE, {row.key: ItemChange(owner=ANA)})
    assert "Ping Ana" in out


# --- the summary -------------------------------------------------------------------------


def test_summary_replaced_and_removed() -> None:
    """The summary lozenge is replaced in place, and removed with its paragraph by None."""
    body = fixture("cloud_tasks.xml")
    once = render(body, PAGE, {}, summary=SUMMARY)
    twice = render(once, PAGE, {}, summary=Badge("FOLLOW-UP 4/4 DONE", BadgeColour.GREEN))
    assert twice.count("FOLLOW-UP") == 1
    assert extract(twice, PAGE).summary_badge == Badge("FOLLOW-UP 4/4 DONE", BadgeColour.GREEN)
    removed = render(twice, PAGE, {}, summary=None)
    assert "FOLLOW-UP" not in removed
    assert extract(removed, PAGE).summary_badge is None
    assert removed == serialise(parse(body))


def test_summary_none_without_summary_changes_nothing() -> None:
    """Removing a summary the page does not have returns the input."""
    body = fixture("cloud_tasks.xml")
    assert render(body, PAGE, {}, summary=None) is body


# --- people's text around the values ---------------------------------------------------

BOB = Owner("account_id", "557058:bob")
MENTION_ANA = '<ac:link><ri:user ri:account-id="557058:ana"/></ac:link>'
MENTION_BOB = '<ac:link><ri:user ri:account-id="557058:bob"/></ac:link>'
STATUS_DONE = (
    '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">Done'
    '</ac:parameter><ac:parameter ac:name="colour">Green</ac:parameter></ac:structured-macro>'
)


def _row_page(owner: str = "", due: str = "", status: str = "", ticket: str = "") -> str:
    return (
        "<h2>Action items</h2><table><tbody>"
        "<tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th><th>Ticket</th></tr>"
        f"<tr><td>Fix it</td><td>{owner}</td><td>{due}</td><td>{status}</td>"
        f"<td>{ticket}</td></tr></tbody></table>"
    )


def _cells(out: str) -> list[str]:
    row = out.split("<tr>")[2]
    return [m.group(1) or "" for m in re.finditer(r"<td/>|<td>(.*?)</td>", row)]


@pytest.mark.parametrize(
    ("cells", "change", "column", "after"),
    [
        (
            {"owner": "Priya Natarajan (backup: Tomasz, pager 555-0100)"},
            ItemChange(owner=ANA),
            1,
            f"{MENTION_ANA} (backup: Tomasz, pager 555-0100)",
        ),
        (
            {"owner": "Priya Natarajan (backup: Tomasz, pager 555-0100)"},
            ItemChange(owner=None),
            1,
            "(backup: Tomasz, pager 555-0100)",
        ),
        (
            {"owner": f"{MENTION_ANA} (cover: Sam)"},
            ItemChange(owner=BOB),
            1,
            f"{MENTION_BOB} (cover: Sam)",
        ),
        (
            {"owner": f"<p>{MENTION_ANA} <em>(on leave in May)</em></p>"},
            ItemChange(owner=None),
            1,
            "<p> <em>(on leave in May)</em></p>",
        ),
        ({"owner": "TBD"}, ItemChange(owner=ANA), 1, MENTION_ANA),
        (
            {"due": "2026-12-31 <strong>regulator deadline, do not move</strong>"},
            ItemChange(due=date(2027, 1, 15)),
            2,
            "2027-01-15 <strong>regulator deadline, do not move</strong>",
        ),
        (
            {"due": "by 18 Dec 2026 (agreed with legal)"},
            ItemChange(due=date(2027, 1, 5)),
            2,
            "by 5 Jan 2027 (agreed with legal)",
        ),
        (
            {"due": "<p>August 31, 2026, <em>hard stop</em></p>"},
            ItemChange(due=date(2026, 9, 1)),
            2,
            "<p>September 1, 2026, <em>hard stop</em></p>",
        ),
        (
            {"due": '<time datetime="2026-12-18"/> hard stop'},
            ItemChange(due=date(2027, 1, 5)),
            2,
            '<time datetime="2027-01-05"/> hard stop',
        ),
        ({"due": "2026-12-31 (regulator)"}, ItemChange(due=None), 2, "(regulator)"),
        ({"due": "TBD"}, ItemChange(due=date(2027, 1, 5)), 2, '<time datetime="2027-01-05"/>'),
        ({"due": ""}, ItemChange(due=date(2027, 1, 5)), 2, '<time datetime="2027-01-05"/>'),
        (
            {"status": "Done - merged in #123"},
            ItemChange(done=False),
            3,
            "To do - merged in #123",
        ),
        (
            {"status": f"{STATUS_DONE} (verified by Sam)"},
            ItemChange(done=False),
            3,
            '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">TO DO'
            '</ac:parameter><ac:parameter ac:name="colour">Grey</ac:parameter>'
            "</ac:structured-macro> (verified by Sam)",
        ),
        ({"status": "<p>Open</p>"}, ItemChange(done=True), 3, "<p>Done</p>"),
        (
            {"ticket": "waiting for triage"},
            ItemChange(ticket="OPS-9"),
            4,
            'waiting for triage <ac:structured-macro ac:name="jira"',
        ),
    ],
)
def test_change_replaces_only_the_value(
    cells: dict[str, str], change: ItemChange, column: int, after: str
) -> None:
    """A change replaces only the value followup recognised in a cell (mention, typed
    name, `<time>`, typed date written back as typed, status word or macro, a
    placeholder) and keeps every other character and element the person wrote."""
    body = _row_page(**cells)
    [item] = extract(body, PAGE).items
    out = render(body, PAGE, {item.key: change})
    assert _cells(out)[column].startswith(after)
    assert render(out, PAGE, {item.key: change}) == out
    [again] = extract(out, PAGE).items
    assert not again.locked


def test_a_note_left_after_the_owner_is_removed_names_no_owner() -> None:
    """Once Jira's unassigning removed the name, the note left in the cell is not read
    as a name (it opens with a bracket), and a new owner goes after it."""
    body = _row_page(owner="Priya Natarajan (backup: Tomasz, pager 555-0100)")
    [item] = extract(body, PAGE).items
    out = render(body, PAGE, {item.key: ItemChange(owner=None)})
    [after] = extract(out, PAGE).items
    assert after.owner is None
    out = render(out, PAGE, {item.key: ItemChange(owner=ANA)})
    assert _cells(out)[1] == f"(backup: Tomasz, pager 555-0100) {MENTION_ANA}"


@pytest.mark.parametrize(
    ("cells", "change", "field"),
    [
        ({"status": "Blocked on vendor ticket V-881"}, ItemChange(done=True), "done"),
        ({"owner": "<strong>Priya</strong> Natarajan"}, ItemChange(owner=ANA), "owner"),
        ({"due": "mid January"}, ItemChange(due=date(2027, 1, 15)), "due"),
        ({"due": "<strong>2026</strong>-12-31"}, ItemChange(due=date(2027, 1, 15)), "due"),
    ],
)
def test_value_mixed_with_text_is_never_written(
    cells: dict[str, str], change: ItemChange, field: str
) -> None:
    """A cell whose value cannot be told from the person's text around it is locked:
    the renderer leaves the page exactly as it was."""
    body = _row_page(**cells)
    [item] = extract(body, PAGE).items
    assert field in item.locked
    assert render(body, PAGE, {item.key: change}) is body


@pytest.mark.parametrize(
    ("task_text", "change", "after"),
    [
        (
            "@priya rotate the keys by 2026-12-18, see runbook",
            ItemChange(owner=ANA),
            f"{MENTION_ANA} rotate the keys by 2026-12-18, see runbook",
        ),
        (
            "@priya rotate the keys by 2026-12-18, see runbook",
            ItemChange(due=date(2027, 1, 5), owner=ANA),
            f"{MENTION_ANA} rotate the keys by 2027-01-05, see runbook",
        ),
        (
            "@priya rotate the keys by 2026-12-18, see runbook",
            ItemChange(due=None, owner=None),
            "rotate the keys, see runbook",
        ),
        (
            "Fix the failover due 18 December 2026 (agreed) @Hrvoje Dakovic",
            ItemChange(due=date(2027, 1, 5), owner=ANA),
            f"Fix the failover due 5 January 2027 (agreed) {MENTION_ANA}",
        ),
        (
            "Ask @ana first. Fix the pool @Ana Ruiz",
            ItemChange(owner=BOB),
            f"Ask @ana first. Fix the pool {MENTION_BOB}",
        ),
    ],
)
def test_typed_task_values_replaced_in_place(
    task_text: str, change: ItemChange, after: str
) -> None:
    """An owner or date typed in a task is replaced where it stands (a mention for the
    owner, the date written as it was typed) and nothing around it changes; removing
    one removes it with the words introducing it."""
    body = _task_page(task_text)
    out = render(body, PAGE, {key("task:1"): change})
    assert f"<ac:task-body>{after}</ac:task-body>" in out
    assert render(out, PAGE, {key("task:1"): change}) == out


def test_typed_task_date_across_formatting_is_not_written() -> None:
    """A typed date split by formatting is locked: a due change leaves the page as is."""
    body = _task_page("Ship it by <strong>2026-12-18</strong>")
    assert render(body, PAGE, {key("task:1"): ItemChange(due=date(2027, 1, 5))}) is body
