"""Action items out of storage-format page bodies: the extraction rules, one table each."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from followup.core.graphemes import clip, utf16_length
from followup.core.model import ActionItem, Badge, BadgeColour, Extraction, FindingCode, Owner
from followup.core.storage_format import extract, parse_due_text
from followup.core.vocabulary import Vocabulary, words_pattern
from followup.reports.extraction import format_extraction_text

FIXTURES = Path(__file__).parent / "storage_format"
PAGE = "4242"

G, B, GR = BadgeColour.GREY, BadgeColour.BLUE, BadgeColour.GREEN


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def task(
    ident: str | None, body: str, *, status: str = "incomplete", uuid: str | None = None
) -> str:
    parts = [f"<ac:task-id>{ident}</ac:task-id>" if ident is not None else ""]
    parts.append(f"<ac:task-uuid>{uuid}</ac:task-uuid>" if uuid else "")
    parts.append(f"<ac:task-status>{status}</ac:task-status>")
    return f"<ac:task>{''.join(parts)}<ac:task-body>{body}</ac:task-body></ac:task>"


def tasks(*items: str) -> str:
    return f"<ac:task-list>{''.join(items)}</ac:task-list>"


def mention(account: str = "557058:ana") -> str:
    return f'<ac:link><ri:user ri:account-id="{account}" /></ac:link>'


def jira(key: str) -> str:
    return (
        '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        f'<ac:parameter ac:name="key">{key}</ac:parameter></ac:structured-macro>'
    )


def status(title: str, colour: str = "Grey", macro_id: str | None = None) -> str:
    ident = f' ac:macro-id="{macro_id}"' if macro_id else ""
    return (
        f'<ac:structured-macro ac:name="status" ac:schema-version="1"{ident}>'
        f'<ac:parameter ac:name="title">{title}</ac:parameter>'
        f'<ac:parameter ac:name="colour">{colour}</ac:parameter></ac:structured-macro>'
    )


def table(header: list[str], *rows: list[str], thead: bool = False) -> str:
    head = "<tr>" + "".join(f"<th>{cell}</th>" for cell in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if thead:
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    return f"<table><tbody>{head}{body}</tbody></table>"


def only(extraction: Extraction) -> ActionItem:
    assert len(extraction.items) == 1, extraction
    return extraction.items[0]


def codes(extraction: Extraction) -> list[tuple[str, str | None]]:
    return [(str(finding.code), finding.item) for finding in extraction.findings]


# --- whole fixture pages -------------------------------------------------------------

Row = tuple[str, str, Owner | None, date | None, bool, str | None, Badge | None]

PAGES: list[tuple[str, list[Row]]] = [
    (
        "cloud_tasks.xml",
        [
            ("task:1", "Add alert on replica lag", Owner("account_id", "557058:priya"),
             date(2026, 8, 31), False, "OPS-12", Badge("IN PROGRESS", B)),
            ("task:2", "Raise the connection pool limit", Owner("account_id", "557058:marco"),
             date(2026, 7, 30), True, "OPS-13", Badge("DONE", GR)),
            ("task:3", "Write the runbook for failover", None, None, False, None, None),
            ("task:6", "Load-test the new pool size", None, date(2026, 9, 15), False, None, None),
        ],
    ),
    (
        "datacenter_tasks.xml",
        [
            ("task:11", "Add a dead-letter queue for payment events",
             Owner("userkey", "8a7f808a5e1b0c7b015e1b0d4f2a0001"), date(2026, 10, 1), False,
             None, None),
            ("task:12", "Alert when consumer lag exceeds 5 minutes", Owner("username", "jsmith"),
             date(2026, 8, 15), True, "PAY-7", Badge("DONE", GR)),
            ("task:13", "Document the replay procedure\u2019s limits", Owner("username", "akhan"),
             None, False, None, None),
            ("task:14", "Draft the page", Owner("username", "lwei"), date(2026, 9, 10), False,
             None, None),
            ("task:15", "Review it with the payments team", None, None, True, None, None),
        ],
    ),
    (
        "table_thead.xml",
        [
            ("row:11229c08d40e", "Lower the TTL on internal records",
             Owner("name", "Priya Natarajan"), date(2026, 8, 31), True, "NET-101", None),
            ("row:93703b855926", "Add a second resolver", Owner("name", "@marco"),
             date(2026, 8, 31), False, "NET-102", Badge("IN PROGRESS", B)),
            ("row:4cbb381bdee1", "Monitor resolver health", Owner("account_id", "557058:lwei"),
             date(2026, 8, 31), True, None, None),
            ("row:585e20cdd3b1", "Write the DNS runbook", None, None, False, None, None),
            ("row:814c99e612e8", "Review zone transfer limits", Owner("name", "Sam Okafor"),
             None, False, None, None),
            ("row:fd194fc28d39", "Audit the change process", None, date(2026, 8, 31), False,
             None, None),
            ("row:1c250b478b27", "Test failover quarterly", Owner("name", "Ana Ruiz"),
             date(2026, 8, 31), True, "NET-105", None),
        ],
    ),
    (
        "table_tbody_header.xml",
        [
            ("row:8a2078d838d3", "Rotate the leaked credentials",
             Owner("userkey", "8a7f808a5e1b0c7b015e1b0d4f2a0002"), date(2026, 7, 20), False,
             None, None),
            ("row:fc4bfaac6e57", "Add secret scanning to CI", Owner("username", "dchen"), None,
             False, None, None),
            ("row:75cbd4e0811f", "Move the credentials to the vault", Owner("name", "Dana Chen"),
             None, False, None, None),
            ("row:bca0ba04143e", "Train the team on secret handling", Owner("name", "Ola Berg"),
             None, False, None, None),
        ],
    ),
    (
        "tasks_in_table.xml",
        [
            ("task:21", "Cap retries in the mobile client", Owner("account_id", "557058:ana"),
             date(2026, 9, 30), False, None, None),
            ("task:22", "Add jitter to the backoff", None, None, False, None, None),
            ("row:27d05940646e", "Publish the client retry guidelines", Owner("name", "Ana Ruiz"),
             date(2026, 10, 15), False, None, None),
        ],
    ),
    (
        "expand_layout.xml",
        [
            ("task:31", "Pin the load balancer config", Owner("account_id", "557058:marco"),
             date(2026, 8, 1), False, None, None),
            ("task:32", "Add a canary stage to deploys", Owner("account_id", "557058:lwei"), None,
             False, None, None),
            ("task:33", "Still in the Remediation section: no heading since", None,
             date(2026, 8, 20), False, None, None),
        ],
    ),
    (
        "entities_emoji_cdata.xml",
        [
            ("task:41",
             "Purge the caf\u00e9 cache on deploy \u2014 \u201ccold start\u201d \U0001f525",
             Owner("account_id", "557058:priya"), date(2026, 8, 31), False, None, None),
            ("task:42", "Escape <script> in the status page\u2026",
             Owner("account_id", "557058:marco"), date(2026, 9, 1), False, None, None),
            ("task:43", "Read the Cache design and the notes & caveats",
             Owner("account_id", "557058:ana"), date(2026, 9, 2), False, None, None),
        ],
    ),
    (
        "no_heading.xml",
        [
            ("task:1", "Silence the flapping disk alert", Owner("account_id", "557058:ana"),
             date(2026, 8, 5), False, None, None),
            ("task:2", "Tune the pager routing", Owner("account_id", "557058:marco"),
             date(2026, 8, 6), False, None, None),
        ],
    ),
    (
        "nested_sections.xml",
        [
            ("task:1", "Share the review with the org", Owner("account_id", "557058:ana"),
             date(2026, 8, 1), False, None, None),
            ("task:2", "Fix the flaky health check", Owner("account_id", "557058:marco"),
             date(2026, 8, 2), False, None, None),
            ("task:4", "Schedule the follow-up review", Owner("account_id", "557058:priya"),
             date(2026, 9, 1), False, None, None),
        ],
    ),
    ("no_items.xml", []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), PAGES, ids=[name for name, _ in PAGES])
def test_fixture_page_items(name: str, expected: list[Row]) -> None:
    """Each fixture page yields exactly the items (key, text, owner, due, done, ticket,
    badge) a person reading it would list, in page order."""
    extraction = extract(fixture(name), PAGE)
    got = [
        (
            item.key.removeprefix(f"{PAGE}:"),
            item.text,
            item.owner,
            item.due,
            item.done,
            item.ticket,
            item.badge,
        )
        for item in extraction.items
    ]
    assert got == expected
    assert all(item.page_id == PAGE for item in extraction.items)


FINDINGS: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("cloud_tasks.xml", [
        ("missing-owner", "task:3"), ("missing-due-date", "task:3"),
        ("missing-owner", "task:6"),
    ]),
    ("table_thead.xml", [
        ("missing-owner", "row:585e20cdd3b1"), ("unparseable-due-date", "row:585e20cdd3b1"),
        ("ambiguous-due-date", "row:814c99e612e8"), ("missing-owner", "row:fd194fc28d39"),
    ]),
    ("table_tbody_header.xml", [
        ("unparseable-due-date", "row:fc4bfaac6e57"), ("unparseable-due-date", "row:75cbd4e0811f"),
        ("missing-due-date", "row:bca0ba04143e"),
    ]),
    ("duplicates.xml", [
        ("duplicate-item", "task:1"), ("duplicate-item", "row:6cff6b352c5c"),
    ]),
    ("no_items.xml", [("no-action-items", None)]),
    ("nested_sections.xml", []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), FINDINGS, ids=[name for name, _ in FINDINGS])
def test_fixture_page_findings(name: str, expected: list[tuple[str, str | None]]) -> None:
    """Each fixture page yields exactly the findings (code and item) it deserves, in page
    order, each naming the page."""
    extraction = extract(fixture(name), PAGE)
    got = [
        (code, item.removeprefix(f"{PAGE}:") if item else None) for code, item in codes(extraction)
    ]
    assert got == expected
    assert all(finding.page_id == PAGE for finding in extraction.findings)


# --- rule 1: scope -------------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "Action items",
        "ACTION ITEMS",
        "Postmortem action item list",
        "Follow-up",
        "Follow up tasks",
        "Follow\u2011up",
        "FOLLOW\u2010UP",
        "Follow\u2013up",
        "Action\u00a0items",
        "Next\n  steps",
        "Corrective actions",
        "Remediation",
        "Next steps",
        "<strong>Action</strong> <em>items</em>",
    ],
)
def test_section_heading_words(heading: str) -> None:
    """A heading containing one of the section words (any case, any markup) limits the
    items to its section."""
    body = (
        tasks(task("1", "Before the heading"))
        + f"<h2>{heading}</h2>"
        + tasks(task("2", "Inside the section"))
    )
    assert [item.text for item in extract(body, PAGE).items] == ["Inside the section"]


@pytest.mark.parametrize(
    ("after", "counted"),
    [
        ("<h3>Details</h3>", True),  # a lower heading stays in the section
        ("<h2>Timeline</h2>", False),  # the same level ends it
        ("<h1>Appendix</h1>", False),  # a higher level ends it
        ("<p>More prose</p>", True),
    ],
)
def test_section_ends_at_same_or_higher_heading(after: str, counted: bool) -> None:
    """A section runs to the next heading of the same or a higher level."""
    body = "<h2>Action items</h2>" + after + tasks(task("1", "Late task"))
    assert bool(extract(body, PAGE).items) is counted


def test_whole_page_counts_without_section_heading() -> None:
    """Without an action-item heading every task on the page is an item."""
    body = "<h2>Impact</h2>" + tasks(task("1", "One")) + "<h3>Notes</h3>" + tasks(task("2", "Two"))
    assert [item.text for item in extract(body, PAGE).items] == ["One", "Two"]


def test_nested_matching_sections_count_once() -> None:
    """An "Action items" h3 inside a "Follow-up" h2 counts its tasks once."""
    body = "<h2>Follow-up</h2><h3>Action items</h3>" + tasks(task("1", "Once"))
    assert [item.key for item in extract(body, PAGE).items] == [f"{PAGE}:task:1"]


def test_heading_in_layout_cell_scopes_by_page_order() -> None:
    """A section heading inside a layout cell extends into the next cells, in page order."""
    extraction = extract(fixture("expand_layout.xml"), PAGE)
    assert "Not an item: under Impact" not in [item.text for item in extraction.items]
    assert "Not an item: after an h1" not in [item.text for item in extraction.items]


# --- rule 2: tasks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("Fix it", "Fix it"),
        ("  Fix\n\t it&nbsp;&nbsp;now ", "Fix it now"),
        (f"Fix {mention()} it", "Fix it"),
        ('Fix <time datetime="2026-08-31">31 Aug</time> it', "Fix it"),
        ('Fix <time datetime="2026-08-31" />after the date', "Fix after the date"),
        (f"Fix {jira('OPS-1')} {status('TO DO')} it", "Fix it"),
        ('<ac:placeholder ac:type="mention">Type here</ac:placeholder>Fix', "Fix"),
        ("<strong>Fix</strong> <em>the</em> <code>cron</code>", "Fix the cron"),
        ("Fix" + tasks(task("9", "child")), "Fix"),
        ('<ac:inline-comment-marker ac:ref="r1">Fix</ac:inline-comment-marker> it', "Fix it"),
        ("Fix<br/>it", "Fix it"),
        ("Fix \u200bit", "Fix it"),
        ('<a href="https://x.atlassian.net/browse/OPS-1" data-card-appearance="inline">u</a> Fix',
         "Fix"),
        ('See <a href="https://wiki.example.com/x">the doc</a>', "See the doc"),
    ],
)  # fmt: skip
def test_task_text_cleaning(body: str, text: str) -> None:
    """A task's text is its visible text without mentions, dates, status/jira macros,
    placeholders and nested tasks, with whitespace (and &nbsp;) collapsed."""
    assert extract(tasks(task("1", body)), PAGE).items[0].text == text


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   &nbsp; ",
        '<ac:placeholder ac:type="mention">Type your task here</ac:placeholder>',
        f'{mention()} <time datetime="2026-08-31" />',
        '<span class="placeholder-inline-tasks"> </span>',
        jira("OPS-3"),
    ],
)
def test_empty_task_is_not_an_item(body: str) -> None:
    """A task with no text of its own (template prompt, only a mention and a date) is
    not an item."""
    extraction = extract(tasks(task("1", body)), PAGE)
    assert extraction.items == ()
    assert codes(extraction) == [("no-action-items", None)]


@pytest.mark.parametrize(
    ("user", "owner"),
    [
        ('ri:account-id="557058:abc"', Owner("account_id", "557058:abc")),
        ('ri:userkey="8a7f80"', Owner("userkey", "8a7f80")),
        ('ri:username="jsmith"', Owner("username", "jsmith")),
        ('ri:account-id="557058:abc" ri:userkey="k"', Owner("account_id", "557058:abc")),
    ],
)
def test_task_owner_from_mention(user: str, owner: Owner) -> None:
    """A task's owner is its first mention: account id (Cloud), userkey or username (DC)."""
    body = f"Fix it <ac:link><ri:user {user} /></ac:link>"
    assert only(extract(tasks(task("1", body)), PAGE)).owner == owner


def test_task_owner_is_first_mention() -> None:
    """With two mentions the first is the owner."""
    body = f"Fix it {mention('557058:one')} with {mention('557058:two')}"
    assert only(extract(tasks(task("1", body)), PAGE)).owner == Owner("account_id", "557058:one")


def test_nested_task_mention_belongs_to_nested_task() -> None:
    """A mention and date inside a nested task are not the parent's."""
    child = task("2", f'Child {mention("557058:kid")} <time datetime="2026-01-02" />')
    body = tasks(task("1", "Parent " + tasks(child)))
    parent, nested = extract(body, PAGE).items
    assert (parent.owner, parent.due) == (None, None)
    assert (nested.owner, nested.due) == (Owner("account_id", "557058:kid"), date(2026, 1, 2))


@pytest.mark.parametrize("heading", ["Follow - up", "Follow\u2014up", "Actionitems", "Steps"])
def test_section_heading_near_misses(heading: str) -> None:
    """Headings that only look like the section words (a spaced or em-dashed
    "follow-up", words run together) do not start a section: the whole page counts."""
    body = tasks(task("1", "Before")) + f"<h2>{heading}</h2>" + tasks(task("2", "After"))
    assert [item.text for item in extract(body, PAGE).items] == ["Before", "After"]


def test_marks_inside_status_or_jira_macro_parameters_are_not_the_items() -> None:
    """A status or jira macro holds plain-text parameters: markup inside one (which
    Confluence never writes, and does not show) gives no owner, date or ticket."""
    inside = f'{mention("557058:hidden")}<time datetime="2026-01-02" />' + (
        '<a href="https://jira.example.com/browse/HID-1">x</a>'
    )
    macro = (
        '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">'
        f"{inside}</ac:parameter></ac:structured-macro>"
    )
    item = only(extract(tasks(task("1", f"Fix it {macro} {mention()}")), PAGE))
    assert (item.text, item.owner, item.due, item.ticket) == (
        "Fix it",
        Owner("account_id", "557058:ana"),
        None,
        None,
    )


def test_nested_task_list_as_sibling() -> None:
    """A task list nested directly in a task list (older editors) gives items too."""
    body = "<ac:task-list>" + task("1", "Outer") + tasks(task("2", "Inner")) + "</ac:task-list>"
    assert [item.text for item in extract(body, PAGE).items] == ["Outer", "Inner"]


@pytest.mark.parametrize(
    ("times", "due"),
    [
        ('<time datetime="2026-08-31" />', date(2026, 8, 31)),
        ('<time datetime="2026-08-31">31 Aug 2026</time>', date(2026, 8, 31)),
        ('<time datetime="2026-08-31" /> <time datetime="2026-12-01" />', date(2026, 8, 31)),
        ('<time datetime="2026-08-31T10:00:00Z" />', date(2026, 8, 31)),
    ],
)
def test_task_due_from_first_time(times: str, due: date) -> None:
    """A task's due date is its first `<time datetime>`."""
    assert only(extract(tasks(task("1", "Fix it " + times)), PAGE)).due == due


def test_task_bad_time_is_unparseable() -> None:
    """A `<time>` whose datetime is not a date gives no due date and an
    unparseable-due-date finding (not missing-due-date)."""
    extraction = extract(tasks(task("1", f'Fix it {mention()} <time datetime="soon" />')), PAGE)
    assert only(extraction).due is None
    assert codes(extraction) == [("unparseable-due-date", f"{PAGE}:task:1")]


@pytest.mark.parametrize(
    ("state", "done"), [("complete", True), ("incomplete", False), ("COMPLETE", True)]
)
def test_task_done_from_status(state: str, done: bool) -> None:
    """A task is done when its `ac:task-status` is complete."""
    assert only(extract(tasks(task("1", "Fix it", status=state)), PAGE)).done is done


@pytest.mark.parametrize(
    ("body", "ticket"),
    [
        (f"Fix {jira('OPS-1')}", "OPS-1"),
        (f"Fix {jira('ops-1')}", "OPS-1"),
        ('Fix <a href="https://x.atlassian.net/browse/OPS-2" data-card-appearance="inline">l</a>',
         "OPS-2"),
        ('Fix <a href="https://jira.example.com/browse/OPS-3?focusedCommentId=1">see</a>', "OPS-3"),
        ('Fix <ac:link><ri:url ri:value="https://jira.example.com/browse/OPS-4" /></ac:link>',
         "OPS-4"),
        (f'Fix <a href="https://x/browse/OPS-5">l</a> {jira("OPS-6")}', "OPS-6"),
        ('Fix <a href="https://x/wiki/spaces/OPS">not a ticket</a>', None),
        ('Fix <ac:structured-macro ac:name="jira"><ac:parameter ac:name="jqlQuery">x</ac:parameter>'
         "</ac:structured-macro>", None),
    ],
)  # fmt: skip
def test_task_ticket(body: str, ticket: str | None) -> None:
    """A task's ticket is its first jira macro's key, else its first /browse/KEY-N link."""
    assert only(extract(tasks(task("1", body)), PAGE)).ticket == ticket


@pytest.mark.parametrize(
    "wrap",
    [
        "{}",
        "<ul><li>{}</li></ul>",
        '<table><tbody><tr><td><div class="content-wrapper">{}</div></td></tr></tbody></table>',
        '<ac:structured-macro ac:name="expand"><ac:rich-text-body>{}</ac:rich-text-body>'
        "</ac:structured-macro>",
        '<ac:structured-macro ac:name="panel"><ac:rich-text-body>{}</ac:rich-text-body>'
        "</ac:structured-macro>",
        "<ac:layout><ac:layout-section><ac:layout-cell>{}</ac:layout-cell></ac:layout-section>"
        "</ac:layout>",
    ],
)
def test_tasks_found_in_containers(wrap: str) -> None:
    """Tasks count wherever they sit: lists, table cells, expand and panel macros, layouts."""
    body = wrap.format(tasks(task("1", "Fix it")))
    assert only(extract(body, PAGE)).text == "Fix it"


# --- rule 3: tables ------------------------------------------------------------------


@pytest.mark.parametrize("thead", [True, False])
def test_table_header_in_thead_or_first_row(thead: bool) -> None:
    """An action-item table's header row may be in `<thead>` or the first `<tbody>` row."""
    body = table(["Action", "Owner"], ["Fix it", "Ana"], thead=thead)
    assert only(extract(body, PAGE)).owner == Owner("name", "Ana")


@pytest.mark.parametrize(
    ("header", "is_action_table"),
    [
        (["Action", "Owner"], True),
        (["Action item", "Due date"], True),
        (["Task", "Assignee"], True),
        (["Description", "Owner"], True),
        (["Item", "Deadline"], True),
        (["Actions", "Owners"], True),
        (["What", "Owner"], True),
        (["Description", "Who"], False),  # only general words, outside a section
        (["What", "Who", "When"], False),  # only general words, outside a section
        (["Problem", "Owner"], False),  # no action column
        (["Action", "Notes"], False),  # no owner or due column
        (["Action", "Last update"], False),  # "update" is not "date"
        (["Problem statement", "Who"], False),  # "statement" is not "state"
    ],
)
def test_action_table_detection(header: list[str], is_action_table: bool) -> None:
    """A table is an action-item table when its header names an action column and an
    owner or due column (as words), not all of them with general words."""
    body = table(header, ["Fix it", "x"])
    assert bool(extract(body, PAGE).items) is is_action_table


def test_table_without_header_row_is_not_action_table() -> None:
    """A table whose first row has no `<th>` cells has no header, so no items."""
    body = "<table><tbody><tr><td>Action</td><td>Owner</td></tr><tr><td>Fix</td><td>A</td></tr>"
    assert extract(body + "</tbody></table>", PAGE).items == ()


@pytest.mark.parametrize(
    ("cell", "owner"),
    [
        ("Priya Natarajan", Owner("name", "Priya Natarajan")),
        ("<p>@priya</p>", Owner("name", "@priya")),
        (mention("557058:p"), Owner("account_id", "557058:p")),
        ('<p>Lead: <ac:link><ri:user ri:username="jdoe" /></ac:link></p>',
         Owner("username", "jdoe")),
        ("", None),
        ("TBD", None),
        ("-", None),
    ],
)  # fmt: skip
def test_table_owner(cell: str, owner: Owner | None) -> None:
    """A row's owner is a mention in the owner column, else the cell's text as a name
    (placeholders such as TBD or '-' mean no owner)."""
    assert only(extract(table(["Action", "Owner"], ["Fix it", cell]), PAGE)).owner == owner


@pytest.mark.parametrize(
    ("cell", "due", "code"),
    [
        ('<time datetime="2026-08-31" />', date(2026, 8, 31), None),
        ("2026-08-31", date(2026, 8, 31), None),
        ("31 Aug 2026", date(2026, 8, 31), None),
        ("Aug 31, 2026", date(2026, 8, 31), None),
        ("August 31, 2026", date(2026, 8, 31), None),
        ("31/08/2026", date(2026, 8, 31), None),
        ("<p>&nbsp;31&nbsp;Aug 2026 </p>", date(2026, 8, 31), None),
        ("03/04/2026", None, "ambiguous-due-date"),
        ("TBD", None, "unparseable-due-date"),
        ("ASAP", None, "unparseable-due-date"),
        ("next sprint", None, "unparseable-due-date"),
        ("31/02/2026", None, "unparseable-due-date"),
        ("", None, "missing-due-date"),
    ],
)
def test_table_due(cell: str, due: date | None, code: str | None) -> None:
    """A row's due date is a `<time>` in the due column or a date in one of the accepted
    forms; anything else gives the finding that says why there is none."""
    extraction = extract(table(["Action", "Owner", "Due"], ["Fix it", "Ana", cell]), PAGE)
    assert only(extraction).due == due
    assert [c for c, _ in codes(extraction)] == ([code] if code else [])


@pytest.mark.parametrize(
    ("order", "due", "code"),
    [
        ("none", None, FindingCode.AMBIGUOUS_DUE_DATE),
        ("dmy", date(2026, 4, 3), None),
        ("mdy", date(2026, 3, 4), None),
    ],
)
def test_date_order_settles_ambiguous_dates(order: str, due: date | None, code: object) -> None:
    """`date_order` settles a numeric date whose numbers could both be months."""
    body = table(["Action", "Owner", "Due"], ["Fix it", "Ana", "03/04/2026"])
    extraction = extract(body, PAGE, date_order=order)  # type: ignore[arg-type]
    assert only(extraction).due == due
    assert [f.code for f in extraction.findings] == ([code] if code else [])


@pytest.mark.parametrize(
    ("cell", "done"),
    [
        ("Done", True),
        ("complete", True),
        ("Completed", True),
        ("CLOSED", True),
        ("Resolved", True),
        ("fixed", True),
        (status("DONE", "Green"), True),
        ("In progress", False),
        ("Not done", False),
        ("", False),
    ],
)
def test_table_done_from_status_column(cell: str, done: bool) -> None:
    """A row is done when its status column says Done/Complete/Closed/Resolved/Fixed, in
    text or in a status macro."""
    assert (
        only(extract(table(["Action", "Owner", "Status"], ["Fix", "A", cell]), PAGE)).done is done
    )


def test_a_row_without_a_status_column_states_no_done_ness() -> None:
    """A row's done-ness is stated only by a status column (a row has no checkbox):
    without one, or with the row's status cell missing, it is `unstated`, not "not done";
    an empty status cell states "not done"; a task always states its done-ness. Our
    badge after the ticket is never read as a status."""
    badge = status("DONE", "Green")
    plain = only(extract(table(["Action", "Owner"], [f"Fix {jira('OPS-1')}{badge}", "A"]), PAGE))
    assert "done" in plain.unstated
    assert not plain.done
    assert plain.badge is not None
    short = only(extract(table(["Action", "Owner", "Status"], ["Fix", "A"]), PAGE))
    assert "done" in short.unstated
    empty = only(extract(table(["Action", "Owner", "Status"], ["Fix", "A", ""]), PAGE))
    assert "done" not in empty.unstated
    assert not empty.done
    assert only(extract(tasks(task("1", "Fix it")), PAGE)).unstated == frozenset()


@pytest.mark.parametrize(
    ("header", "unstated"),
    [
        (["Action", "Owner", "Due", "Status"], set()),
        (["Action", "Owner", "Due"], {"done"}),
        (["Action", "Owner", "Status"], {"due"}),
        (["Action", "Due", "Status"], {"owner"}),
        (["Action", "Owner"], {"due", "done"}),
    ],
)
def test_a_row_states_only_the_fields_its_table_has_columns_for(
    header: list[str], unstated: set[str]
) -> None:
    """An empty cell states "no value"; a missing column states nothing."""
    row = ["Fix", *("" for _ in header[1:])]
    assert only(extract(table(header, row), PAGE)).unstated == unstated


@pytest.mark.parametrize(
    ("header", "row", "ticket"),
    [
        (["Action", "Owner", "Ticket"], ["Fix", "A", "OPS-7"], "OPS-7"),
        (["Action", "Owner", "Jira"], ["Fix", "A", '<a href="https://j/browse/OPS-8">x</a>'],
         "OPS-8"),
        (["Action", "Owner", "Notes"], ["Fix", "A", jira("OPS-9")], "OPS-9"),
        # a bare key outside a ticket column is not a ticket
        (["Action", "Owner", "Notes"], ["Fix", "A", "OPS-10"], None),
        (["Action", "Owner"], ['Fix <a href="https://x.atlassian.net/browse/OPS-11" '
                               'data-card-appearance="inline">u</a>', "A"], "OPS-11"),
        (["Action", "Owner", "Issue"], ["Fix", "A", "none yet"], None),
    ],
)  # fmt: skip
def test_table_ticket(header: list[str], row: list[str], ticket: str | None) -> None:
    """A row's ticket is a jira macro anywhere, else a /browse link or bare key in the
    ticket column, else a /browse link in the action cell."""
    assert only(extract(table(header, row), PAGE)).ticket == ticket


def test_table_priority() -> None:
    """A row's priority is the text of the priority column, None without one."""
    body = table(["Action", "Owner", "Priority"], ["Fix", "A", "<p>P1</p>"], ["Two", "B", ""])
    assert [item.priority for item in extract(body, PAGE).items] == ["P1", None]
    assert only(extract(table(["Action", "Owner"], ["Fix", "A"]), PAGE)).priority is None


def test_table_row_with_empty_action_is_skipped() -> None:
    """A row whose action cell is empty is not an item."""
    assert extract(table(["Action", "Owner"], ["", "Ana"]), PAGE).items == ()


def test_table_colspan_keeps_columns_aligned() -> None:
    """A cell spanning columns shifts the following cells to the right columns."""
    body = (
        "<table><tbody><tr><th>Action</th><th>Notes</th><th>More</th><th>Owner</th></tr>"
        '<tr><td>Fix</td><td colspan="2">wide</td><td>Ana</td></tr></tbody></table>'
    )
    assert only(extract(body, PAGE)).owner == Owner("name", "Ana")


def test_tasks_in_action_cell_are_the_items() -> None:
    """When a row's action cell holds tasks, the tasks are the items, not the row."""
    extraction = extract(fixture("tasks_in_table.xml"), PAGE)
    assert [item.source for item in extraction.items] == ["task", "task", "table"]


# --- rule 4: findings ----------------------------------------------------------------


def test_finding_messages_are_actionable() -> None:
    """Findings name the item by its text and say what to do."""
    extraction = extract(tasks(task("1", "Add alert on replica lag")), PAGE)
    owner, due = extraction.findings
    assert owner.message.startswith("Action item “Add alert on replica lag” has no owner: ")
    assert "@mention" in owner.message
    assert "//" in due.message
    assert (owner.item, owner.page_id) == (f"{PAGE}:task:1", PAGE)


def test_long_item_text_is_shortened_in_messages() -> None:
    """A long item text is cut short (with an ellipsis) in a finding's message."""
    extraction = extract(tasks(task("1", "word " * 40)), PAGE)
    assert "…”" in extraction.findings[0].message
    assert len(extraction.findings[0].message) < 200


@pytest.mark.parametrize(
    "body",
    [
        "<p>unclosed",
        "<ac:task><ac:task-body>x</ac:task>",
        "<p>a</p></p>",
        "\x00\x01",
        "<p>\ud800</p>",
        "<?xml version='1.0'?><p>x</p>",
        '<!DOCTYPE x [<!ENTITY a "b">]><p>&a;</p>',
        "<" * 100,
        "<div>" * 5000 + "x" + "</div>" * 5000,
    ],
)
def test_unreadable_body_gives_finding_not_exception(body: str) -> None:
    """A body that cannot be read gives no items and one unparseable-page finding."""
    extraction = extract(body, PAGE)
    assert extraction.items == ()
    assert [f.code for f in extraction.findings] == [FindingCode.UNPARSEABLE_PAGE]
    assert "could not be read" in extraction.findings[0].message


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("<p>R&D &copy; &unknownentity; &amp;</p>" + tasks(task("1", "R&D fix")), "R&D fix"),
        ("", None),
        ("plain text, no markup", None),
        ("<x:foo>third-party prefix</x:foo>" + tasks(task("1", "Fix")), "Fix"),
    ],
)
def test_lenient_inputs_are_read(body: str, text: str | None) -> None:
    """Stray ampersands, unknown entities, empty bodies and undeclared third-party
    prefixes are read, not rejected."""
    extraction = extract(body, PAGE)
    assert [item.text for item in extraction.items] == ([text] if text else [])
    assert FindingCode.UNPARSEABLE_PAGE not in [f.code for f in extraction.findings]


@pytest.mark.parametrize(("limit", "kept"), [(None, 3), (3, 3), (2, 2), (0, 0)])
def test_max_items(limit: int | None, kept: int) -> None:
    """Past `max_items` the first items are kept and a too-many-items finding is added."""
    body = tasks(*(task(str(n), f"Fix {n} {mention()}" + ' <time datetime="2026-01-01"/>')
                   for n in range(3)))  # fmt: skip
    extraction = extract(body, PAGE, max_items=limit)
    assert len(extraction.items) == kept
    assert (FindingCode.TOO_MANY_ITEMS in [f.code for f in extraction.findings]) is (kept < 3)


# --- rule 5: keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ident", "uuid", "key"),
    [
        ("7", "abc-uuid", f"{PAGE}:task:7"),
        (None, "abc-uuid", f"{PAGE}:task:abc-uuid"),
        (None, None, f"{PAGE}:task:e016772525dd"),
    ],
)
def test_task_keys(ident: str | None, uuid: str | None, key: str) -> None:
    """A task's key is its task id, else its uuid, else a hash of its normalised text
    (sha1 of "fix it")."""
    assert only(extract(tasks(task(ident, "Fix  IT", uuid=uuid)), PAGE)).key == key


def test_row_key_is_hash_of_normalised_text() -> None:
    """A row's key is the first 12 hex of sha1 of its casefolded, whitespace-collapsed text."""
    import hashlib

    expected = hashlib.sha1(b"fix the thing", usedforsecurity=False).hexdigest()[:12]
    for text in ("Fix the thing", "  FIX   the&nbsp;thing "):
        item = only(extract(table(["Action", "Owner"], [text, "A"]), PAGE))
        assert item.key == f"{PAGE}:row:{expected}"


def test_duplicate_keys_keep_first() -> None:
    """Of two items with the same key the first is kept; the later one is reported."""
    extraction = extract(fixture("duplicates.xml"), PAGE)
    assert [item.text for item in extraction.items] == [
        "Add the missing index",
        "Update the runbook",
    ]
    messages = [f.message for f in extraction.findings if f.code == FindingCode.DUPLICATE_ITEM]
    assert "“Copied task with the same id”" in messages[0]


# --- rule 6: badges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_ticket", "badge"),
    [
        (status("TO DO"), Badge("TO DO", G)),
        (" " + status("IN PROGRESS", "Blue"), Badge("IN PROGRESS", B)),
        ("&nbsp;" + status("DONE", "Green", "some-id"), Badge("DONE", GR)),
        (status("WON'T DO"), Badge("WON'T DO", G)),
        (status("DUPLICATE", "green"), Badge("DUPLICATE", GR)),
        (status("OVERDUE", "Purple"), Badge("OVERDUE", G)),
        (" and " + status("TO DO"), None),
        ("", None),
    ],
)
def test_badge_is_status_directly_after_ticket(after_ticket: str, badge: Badge | None) -> None:
    """The badge is the status macro directly after the ticket reference (whitespace
    only between), read by position, with or without a macro id."""
    for reference in (jira("OPS-1"), '<a href="https://x.atlassian.net/browse/OPS-1">l</a>'):
        item = only(extract(tasks(task("1", f"Fix {reference}{after_ticket}")), PAGE))
        assert item.badge == badge
        assert item.text in ("Fix", "Fix and")


def test_status_without_ticket_is_not_a_badge() -> None:
    """A status macro in a task without a ticket is not a badge (and not text)."""
    item = only(extract(tasks(task("1", f"Fix {status('TO DO')}")), PAGE))
    assert (item.badge, item.text) == (None, "Fix")


def test_badge_after_bare_key_in_ticket_column() -> None:
    """In a ticket column a status macro right after a typed key is the badge."""
    body = table(["Action", "Owner", "Ticket"], ["Fix", "A", f"OPS-4 {status('TO DO')}"])
    item = only(extract(body, PAGE))
    assert (item.ticket, item.badge) == ("OPS-4", Badge("TO DO", G))


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        ("<h2>Action items</h2><p>" + status("FOLLOW-UP 3/5 DONE", "Blue") + "</p>",
         Badge("FOLLOW-UP 3/5 DONE", B)),
        ("<p>" + status("FOLLOW-UP 0/1 DONE") + "</p>", Badge("FOLLOW-UP 0/1 DONE", G)),
        ("<h2>Action items</h2><p>intro</p><p>" + status("FOLLOW-UP 1/1 DONE", "Green") + "</p>",
         Badge("FOLLOW-UP 1/1 DONE", GR)),
        ("<h2>Action items</h2><p>" + status("IN PROGRESS") + "</p>", None),
        ("<h2>Timeline</h2><p>" + status("FOLLOW-UP 1/1 DONE") + "</p><h2>Action items</h2>",
         None),
        ("<h2>Action items</h2><h3>Sub</h3><p>" + status("FOLLOW-UP 1/1 DONE") + "</p>", None),
    ],
)  # fmt: skip
def test_summary_badge(body: str, summary: Badge | None) -> None:
    """The summary badge is the FOLLOW-UP lozenge at the top of the first action-item
    section (or of the page without one), never part of an item."""
    extraction = extract(body + tasks(task("1", "Fix it")), PAGE)
    assert extraction.summary_badge == summary
    assert [item.text for item in extraction.items] in (["Fix it"], [])


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-08-31", "none", (date(2026, 8, 31), None)),
        ("2026-8-1", "none", (date(2026, 8, 1), None)),
        ("31 Aug 2026", "none", (date(2026, 8, 31), None)),
        ("31 August 2026", "none", (date(2026, 8, 31), None)),
        ("1st Sept 2026", "none", (date(2026, 9, 1), None)),
        ("Aug 31, 2026", "none", (date(2026, 8, 31), None)),
        ("August 31, 2026", "none", (date(2026, 8, 31), None)),
        ("aug 31 2026", "none", (date(2026, 8, 31), None)),
        ("31/08/2026", "none", (date(2026, 8, 31), None)),
        ("08/31/2026", "none", (date(2026, 8, 31), None)),
        ("04/04/2026", "none", (date(2026, 4, 4), None)),
        ("03/04/2026", "none", (None, FindingCode.AMBIGUOUS_DUE_DATE)),
        ("03/04/2026", "dmy", (date(2026, 4, 3), None)),
        ("03/04/2026", "mdy", (date(2026, 3, 4), None)),
        ("31/08/2026", "mdy", (date(2026, 8, 31), None)),
        ("", "none", (None, None)),
        ("  ", "none", (None, None)),
        ("TBD", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
        ("ASAP", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
        ("next sprint", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
        ("2026-02-30", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
        ("31 Foo 2026", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
        ("13/13/2026", "none", (None, FindingCode.UNPARSEABLE_DUE_DATE)),
    ],
)
def test_parse_due_text(text: str, order: str, expected: tuple[object, object]) -> None:
    """Due dates typed as text are read in the accepted forms, numeric ones day-first
    only when that is the only reading (or `date_order` says so)."""
    assert parse_due_text(text, date_order=order) == expected  # type: ignore[arg-type]


# --- the text view -------------------------------------------------------------------


def test_format_extraction_text_lists_items_and_findings() -> None:
    """The text view shows each item with its findings, and page-level findings."""
    console = Console(width=200, record=True, color_system=None)
    console.print(format_extraction_text(extract(fixture("cloud_tasks.xml"), PAGE)))
    out = console.export_text()
    assert "Add alert on replica lag" in out
    assert "OPS-12" in out
    assert "IN PROGRESS" in out
    assert "missing-owner" in out
    console = Console(width=200, record=True, color_system=None)
    console.print(format_extraction_text(extract(fixture("no_items.xml"), PAGE)))
    assert "no-action-items" in console.export_text()


# --- reading the markup --------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("caf&eacute; &mdash; &rsquo;", "café — ’"),
        ("&AMP; &LT;tag&GT; &amp;amp;", "& <tag> &amp;"),
        ("&amp;nbsp; stays typed", "&nbsp; stays typed"),
        ("&NotEqualTilde;", "\u2242\u0338"),
        ("&unknown; &", "&unknown; &"),
        ("R&D, a && b", "R&D, a && b"),
        ("&#x1F525; &#8212;", "\U0001f525 \u2014"),
        ("<![CDATA[&nbsp; <b>]]>", "&nbsp; <b>"),
    ],
)
def test_entities_read_as_characters(markup: str, text: str) -> None:
    """HTML named entities are read as their characters (never inside CDATA); unknown
    ones and stray ampersands as the characters typed."""
    assert only(extract(tasks(task("1", "Fix " + markup)), PAGE)).text == f"Fix {text}"


def test_entity_in_attribute_is_read() -> None:
    """An HTML entity inside an attribute value is read too (here a /browse link)."""
    body = tasks(
        task("1", 'Fix <a href="https://j.example.com/browse/OPS-1?a=1&amp;b&nbsp;">x</a>')
    )
    assert only(extract(body, PAGE)).ticket == "OPS-1"


def test_extract_from_many_threads() -> None:
    """Extracting pages from a thread pool (as the engine does) gives the same results
    as one thread: no parser state is shared."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [fixture(path.name) for path in sorted(FIXTURES.glob("*.xml"))] * 20
    expected = [extract(body, PAGE) for body in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda body: extract(body, PAGE), bodies)) == expected


# --- tables that are not action items -------------------------------------------------

HISTORY_ROWS = (
    ["2026-11-03", "1.0", "First draft", "Ana Ruiz"],
    ["2026-11-05", "1.1", "Added the timeline", "Sam Okafor"],
)
TIMELINE_ROWS = (
    ["2026-11-03 14:02", "Replica lag alert fired", "PagerDuty"],
    ["2026-11-03 14:09", "Ana acknowledged the page", "Ana Ruiz"],
)
ACTION_ROWS = (["Add an alert on replica lag", "Ana Ruiz", "2026-12-18"],)


@pytest.mark.parametrize(
    ("heading", "header", "rows", "items"),
    [
        # Revision history: "Version"/"Author" columns, with or without a heading.
        ("", ["Date", "Version", "Description", "Author"], HISTORY_ROWS, 0),
        ("Revision history", ["Date", "Version", "Description", "Author"], HISTORY_ROWS, 0),
        ("Document history", ["Date", "Description", "Owner"], HISTORY_ROWS, 0),
        # Timelines: a time column, general words only, times of day in the date column.
        ("", ["Date / time", "Description", "Who"], TIMELINE_ROWS, 0),
        ("", ["Date", "Description", "Who"], TIMELINE_ROWS, 0),
        ("", ["Date", "Description", "Owner"], TIMELINE_ROWS, 0),
        ("Timeline", ["Date", "Action", "Owner"], TIMELINE_ROWS, 0),
        ("Sequence of events", ["When", "What", "Who"], TIMELINE_ROWS, 0),
        ("", ["Timestamp", "Event", "Owner"], TIMELINE_ROWS, 0),
        # Change logs, release notes, decisions.
        ("Change log", ["Date", "Change", "Owner"], HISTORY_ROWS, 0),
        ("Release notes", ["Item", "Owner", "Date"], HISTORY_ROWS, 0),
        ("", ["Release", "Description", "Owner", "Date"], HISTORY_ROWS, 0),
        ("Decisions", ["Description", "Owner", "Due"], ACTION_ROWS, 0),
        ("", ["Decision", "Owner", "Date"], ACTION_ROWS, 0),
        # Real action tables, under headings followup knows and under ones it does not.
        ("What we will change", ["Action", "Owner", "Due"], ACTION_ROWS, 1),
        ("Things to fix", ["Action", "Owner", "Due"], ACTION_ROWS, 1),
        ("", ["Description", "Owner", "Due date"], ACTION_ROWS, 1),
        ("Action items", ["What", "Who", "When"], ACTION_ROWS, 1),
        ("Action items", ["Description", "Who", "Date"], ACTION_ROWS, 1),
        ("Preventive actions", ["Task", "Assignee", "Deadline"], ACTION_ROWS, 1),
    ],
)
def test_non_action_tables(
    heading: str, header: list[str], rows: tuple[list[str], ...], items: int
) -> None:
    """History, timeline, change-log, release-note and decision tables never become
    items, with or without a heading naming them; an action table is found under any
    heading."""
    rows = tuple(row[: len(header)] for row in rows)
    title = f"<h2>{heading}</h2>" if heading else ""
    body = f"<h1>Postmortem</h1><p>Intro.</p>{title}{table(header, *rows)}"
    assert len(extract(body, PAGE).items) == items


def test_timeline_next_to_action_table_on_a_page_without_sections() -> None:
    """On a page with no recognised section heading, the timeline stays out and the
    action table under an unknown heading is read."""
    body = (
        "<h2>Timeline</h2>"
        + table(["Date", "Description", "Who"], *TIMELINE_ROWS)
        + "<h2>Things we will fix</h2>"
        + table(["Action", "Owner", "Due"], *ACTION_ROWS)
    )
    assert [item.text for item in extract(body, PAGE).items] == ["Add an alert on replica lag"]


@pytest.mark.parametrize(
    "heading",
    [
        "Action items",
        "Follow-ups",
        "What we will change",
        "What we'll change",
        "Improvements",
        "Preventive actions",
        "Preventative actions",
        "Remediation items",
        "Action plan",
        "Next steps",
        "Corrective actions",
        "To-do",
    ],
)
def test_wider_section_headings(heading: str) -> None:
    """Postmortem templates' section headings start an action-item section: the task
    before it is outside and does not count."""
    body = tasks(task("1", "Before")) + f"<h2>{heading}</h2>" + tasks(task("2", "After"))
    assert [item.text for item in extract(body, PAGE).items] == ["After"]


# --- owners and dates typed in tasks --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text", "owner", "due", "code"),
    [
        ("@priya rotate the keys", "rotate the keys", "@priya", None, "missing-due-date"),
        (
            "Add an alert @Hrvoje Dakovic",
            "Add an alert",
            "@Hrvoje Dakovic",
            None,
            "missing-due-date",
        ),
        ("Add an alert @hrvoje", "Add an alert", "@hrvoje", None, "missing-due-date"),
        ("Ask @ana about it", "Ask @ana about it", None, None, "missing-due-date"),
        ("Talk to @ana tomorrow", "Talk to @ana tomorrow", None, None, "missing-due-date"),
        ("Ship it by 2026-12-18", "Ship it", None, date(2026, 12, 18), None),
        ("Ship it due 18 Dec 2026 to all", "Ship it to all", None, date(2026, 12, 18), None),
        ("Ship it before Dec 18, 2026", "Ship it", None, date(2026, 12, 18), None),
        ("Ship it, due: 2026-12-18", "Ship it", None, date(2026, 12, 18), None),
        ("Ship it by 03/04/2027", "Ship it", None, None, "ambiguous-due-date"),
        ("Ship it by 31/02/2027", "Ship it", None, None, "unparseable-due-date"),
        ("Ship it by Friday", "Ship it by Friday", None, None, "missing-due-date"),
        ("Standby 2026-12-18 rota", "Standby 2026-12-18 rota", None, None, "missing-due-date"),
        (
            "@priya ship it by 2026-12-18",
            "ship it",
            "@priya",
            date(2026, 12, 18),
            None,
        ),
        (
            "Fix the failover by 18 December 2026 @Hrvoje Dakovic",
            "Fix the failover",
            "@Hrvoje Dakovic",
            date(2026, 12, 18),
            None,
        ),
        # A mention and a <time> win over typed text, which then stays text.
        (
            f"{mention()} ship it by 2026-12-18 <time datetime='2026-12-01' />",
            "ship it by 2026-12-18",
            None,
            date(2026, 12, 1),
            None,
        ),
    ],
)
def test_typed_owner_and_due_in_task(
    body: str, text: str, owner: str | None, due: date | None, code: str | None
) -> None:
    """`@name` opening a task or `@Name Surname` closing it is its owner, and a date
    after "by", "due" or "before" its due date, read like table cells (same formats,
    ambiguity and findings), and not part of the item's text."""
    extraction = extract(tasks(task("1", body)), PAGE)
    item = only(extraction)
    assert item.text == text
    if owner is None:
        assert item.owner is None or item.owner.kind == "account_id"
    else:
        assert item.owner == Owner("name", owner)
    assert item.due == due
    due_codes = {c for c, _ in codes(extraction)} - {"missing-owner"}
    assert due_codes == ({code} if code else set())


def test_typed_date_follows_date_order() -> None:
    """A typed numeric date is settled by `date_order`, as in a due cell."""
    body = tasks(task("1", "Ship it by 03/04/2027"))
    assert only(extract(body, PAGE, date_order="dmy")).due == date(2027, 4, 3)
    assert only(extract(body, PAGE, date_order="mdy")).due == date(2027, 3, 4)


def test_typed_value_across_formatting_is_read_but_locked() -> None:
    """A typed date split by formatting is read, but followup cannot replace it alone:
    the item says the field is locked."""
    item = only(extract(tasks(task("1", "Ship it by <strong>2026-12-18</strong>")), PAGE))
    assert (item.text, item.due, item.locked) == ("Ship it", date(2026, 12, 18), {"due"})


# --- values beside people's notes ------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "due", "status", "expected"),
    [
        (
            "Priya Natarajan (backup: Tomasz, pager 555-0100)",
            "2026-12-31 <strong>regulator deadline, do not move</strong>",
            "Blocked on vendor ticket V-881",
            (Owner("name", "Priya Natarajan"), date(2026, 12, 31), False, {"done"}),
        ),
        (
            "Ana Ruiz - until May; then Sam",
            "by 18 Dec 2026 (agreed with legal)",
            "Done - merged in #123",
            (Owner("name", "Ana Ruiz"), date(2026, 12, 18), True, set()),
        ),
        (
            f"{mention()} (cover: Sam)",
            "<time datetime='2026-12-18' /> hard stop",
            "<ac:structured-macro ac:name='status'><ac:parameter ac:name='title'>Done"
            "</ac:parameter></ac:structured-macro> (verified)",
            (Owner("account_id", "557058:ana"), date(2026, 12, 18), True, set()),
        ),
        (
            "<strong>Priya</strong> Natarajan",
            "mid January",
            "In progress",
            (Owner("name", "Priya Natarajan"), None, False, {"owner", "due"}),
        ),
        ("TBD", "TBD", "", (None, None, False, set())),
    ],
)
def test_cells_with_notes(owner: str, due: str, status: str, expected: tuple[object, ...]) -> None:
    """An owner, due or status cell holding a note beside its value gives the value;
    a field whose value cannot be told from the note (or spans formatting) is locked,
    so it is never written."""
    body = table(["Action", "Owner", "Due", "Status"], ["Fix it", owner, due, status])
    item = only(extract(body, PAGE))
    assert (item.owner, item.due, item.done, set(item.locked)) == expected


# --- the vocabulary: pages in other languages -----------------------------------------

GERMAN = Vocabulary(
    section_headings=("maßnahmen", "folgeaufgaben"),
    non_action_headings=("zeitverlauf", "änderungshistorie", "versionshistorie"),
    action_columns=("maßnahme", "aufgabe", "beschreibung"),
    owner_columns=("verantwortlich", "zuständig", "wer"),
    due_columns=("fällig", "frist", "termin", "datum"),
    status_columns=("status",),
    ticket_columns=("ticket", "jira"),
    non_action_columns=("version", "autor", "uhrzeit", "zeit", "ereignis"),
    weak_columns=("beschreibung", "wer", "datum"),
    done_words=("erledigt", "abgeschlossen", "fertig"),
    open_words=("offen", "in arbeit", "blockiert"),
    date_words=("bis", "bis zum", "fällig", "vor dem"),
)
FRENCH = Vocabulary(
    section_headings=("actions correctives", "plan d'action", "suivi"),
    non_action_headings=("chronologie", "historique"),
    action_columns=("action", "tâche", "description"),
    owner_columns=("responsable", "propriétaire", "qui"),
    due_columns=("échéance", "date limite", "date"),
    status_columns=("statut", "état"),
    non_action_columns=("version", "auteur", "heure", "événement"),
    weak_columns=("description", "qui", "date"),
    done_words=("terminé", "fait", "clos"),
    open_words=("à faire", "en cours", "ouvert"),
    date_words=("avant le", "d'ici le", "pour le"),
)
SPANISH = Vocabulary(
    section_headings=("acciones correctivas", "plan de acción", "seguimiento"),
    non_action_headings=("cronología", "historial"),
    action_columns=("acción", "tarea", "descripción"),
    owner_columns=("responsable", "quién"),
    due_columns=("fecha límite", "vencimiento", "fecha"),
    status_columns=("estado",),
    non_action_columns=("versión", "autor", "hora", "evento"),
    weak_columns=("descripción", "quién", "fecha"),
    done_words=("hecho", "completado", "cerrado"),
    open_words=("pendiente", "en curso", "abierto"),
    date_words=("antes del", "para el", "hasta el"),
)
JAPANESE = Vocabulary(
    section_headings=("アクションアイテム", "再発防止策", "対策"),
    non_action_headings=("タイムライン", "経緯", "改訂履歴"),
    action_columns=("アクション", "対応内容", "タスク"),
    owner_columns=("担当者", "担当"),
    due_columns=("期限", "期日"),
    status_columns=("ステータス", "状態"),
    non_action_columns=("版", "時刻", "作成者"),
    weak_columns=(),
    done_words=("完了", "対応済み", "済"),
    open_words=("未着手", "対応中"),
    date_words=("期限",),
)


@pytest.mark.parametrize(
    ("vocabulary", "page", "expected"),
    [
        (
            GERMAN,
            "<h2>Zeitverlauf</h2>"
            + table(["Uhrzeit", "Ereignis", "Wer"], ["14:02", "Alarm", "Ana"])
            + "<h2>Maßnahmen</h2>"
            + table(
                ["Maßnahme", "Verantwortlich", "Fällig", "Status"],
                ["Alarm für Replikationsverzug", "Ana Ruiz", "2026-12-18", "Erledigt"],
                ["Runbook schreiben", "Sam Okafor", "TBD", "Offen"],
            )
            + tasks(task("1", "@jonas Failover testen bis 2027-01-15")),
            [
                ("Alarm für Replikationsverzug", "Ana Ruiz", date(2026, 12, 18), True),
                ("Runbook schreiben", "Sam Okafor", None, False),
                ("Failover testen", "@jonas", date(2027, 1, 15), False),
            ],
        ),
        (
            FRENCH,
            "<h2>Chronologie</h2>"
            + table(["Heure", "Événement", "Qui"], ["14:02", "Alerte", "Ana"])
            + "<h2>Actions correctives</h2>"
            + table(
                ["Action", "Responsable", "Échéance", "Statut"],
                ["Ajouter une alerte", "Camille Martin", "2026-12-18", "Terminé"],
                ["Écrire le runbook", "Luc Bernard", "2027-01-10", "En cours"],
            )
            + tasks(task("1", "Tester la bascule avant le 2027-02-01 @Camille Martin")),
            [
                ("Ajouter une alerte", "Camille Martin", date(2026, 12, 18), True),
                ("Écrire le runbook", "Luc Bernard", date(2027, 1, 10), False),
                ("Tester la bascule", "@Camille Martin", date(2027, 2, 1), False),
            ],
        ),
        (
            SPANISH,
            "<h2>Cronología</h2>"
            + table(["Hora", "Evento", "Quién"], ["14:02", "Alerta", "Ana"])
            + "<h2>Acciones correctivas</h2>"
            + table(
                ["Acción", "Responsable", "Fecha límite", "Estado"],
                ["Añadir una alerta", "Lucía Gómez", "2026-12-18", "Hecho"],
                ["Escribir el runbook", "Diego Pérez", "2027-01-10", "Pendiente"],
            )
            + tasks(task("1", "@lucia probar la conmutación antes del 2027-02-01")),
            [
                ("Añadir una alerta", "Lucía Gómez", date(2026, 12, 18), True),
                ("Escribir el runbook", "Diego Pérez", date(2027, 1, 10), False),
                ("probar la conmutación", "@lucia", date(2027, 2, 1), False),
            ],
        ),
        (
            JAPANESE,
            "<h2>タイムライン</h2>"
            + table(["時刻", "内容", "担当"], ["14:02", "アラート発報", "佐藤"])
            + "<h2>再発防止策</h2>"
            + table(
                ["対応内容", "担当者", "期限", "ステータス"],
                ["レプリカ遅延のアラート追加", "佐藤 花子", "2026-12-18", "完了"],
                ["手順書の作成", "鈴木 一郎", "2027-01-10", "対応中"],
            ),
            [
                ("レプリカ遅延のアラート追加", "佐藤 花子", date(2026, 12, 18), True),
                ("手順書の作成", "鈴木 一郎", date(2027, 1, 10), False),
            ],
        ),
    ],
    ids=["de", "fr", "es", "ja"],
)
def test_vocabulary_of_other_languages(
    vocabulary: Vocabulary, page: str, expected: list[tuple[str, str, date | None, bool]]
) -> None:
    """With its language's vocabulary, a postmortem written in German, French, Spanish
    or Japanese gives its action items (tables and typed task values) and not its
    timeline."""
    items = extract(page, PAGE, vocabulary=vocabulary).items
    got = [(i.text, i.owner.value if i.owner else "", i.due, i.done) for i in items]
    assert got == expected


def test_english_vocabulary_finds_nothing_in_a_german_table() -> None:
    """The vocabulary is what finds the items: the English default does not read a
    German table (which is why the setting exists)."""
    body = table(["Maßnahme", "Verantwortlich", "Fällig"], ["Runbook", "Ana", "2026-12-18"])
    assert extract(body, PAGE).items == ()
    assert len(extract(body, PAGE, vocabulary=GERMAN).items) == 1


# --- text: grapheme clusters and bidirectional controls ------------------------------


@pytest.mark.parametrize(
    ("typed", "text"),
    [
        ("Tell the 👨\u200d👩\u200d👧\u200d👦 team", "Tell the 👨\u200d👩\u200d👧\u200d👦 team"),
        ("Rotate keys 👍🏽 and 🇩🇪 and ❤\ufe0f", "Rotate keys 👍🏽 and 🇩🇪 and ❤\ufe0f"),
        ("Fix cafe\u0301 menu", "Fix cafe\u0301 menu"),
        (
            "Persian \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "Persian \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("\u200dFix \u200d it\u200d", "Fix it"),
        ("Pay \u202eevil\u202c invoice", "Pay evil invoice"),
        ("Isolate \u2066abc\u2069 \u2067d\u2069 \u2068e\u2069", "Isolate abc d e"),
        ("Zero\u200bwidth \ufeffspace", "Zerowidth space"),
    ],
)
def test_item_text_keeps_clusters_and_drops_bidi_controls(typed: str, text: str) -> None:
    """Item text keeps grapheme clusters whole (zero-width joiners inside emoji and
    words, combining marks, variation selectors, flags, skin tones) and drops
    bidirectional embeddings, overrides and isolates and joiners that join nothing."""
    assert only(extract(tasks(task("1", typed)), PAGE)).text == text


@pytest.mark.parametrize(
    ("phrase", "text", "matches"),
    [
        ("owner", "Owners", True),
        ("owner", "Task owner", True),
        ("owner", "Ownership", False),
        ("action item", "Action   items", True),
        ("follow-up", "Follow up", True),
        ("follow-up", "FOLLOW\u2011UPS", True),
        ("follow-up", "Follow - up", False),
        ("follow-up", "Followup", False),
        ("what we'll change", "What we'll change next", True),
        ("担当者", "担当者名", True),
        ("期限", "対応期限", True),
        ("maßnahmen", "MASSNAHMEN", True),
        ("due", "Overdue", False),
    ],
)
def test_vocabulary_matching_rules(phrase: str, text: str, matches: bool) -> None:
    """A vocabulary word matches any case and spacing, any hyphen or a space for a
    hyphen, a whole word with an English plural in spaced scripts, anywhere in
    scripts written without spaces (casefolding maps ß to ss)."""
    assert (words_pattern((phrase,)).search(text.casefold()) is not None) is matches


@pytest.mark.parametrize(
    ("text", "limit", "utf16", "expected"),
    [
        ("short", 10, False, "short"),
        ("abcdefghij", 5, False, "abcd…"),
        ("ab cdefghij", 4, False, "ab…"),
        ("ab👨\u200d👩\u200d👧\u200d👦cd", 4, False, "ab…"),
        ("abc🇩🇪🇫🇷", 5, False, "abc…"),
        ("abcé\u0301\u0301x", 5, False, "abc…"),
        ("ab👍🏽👍🏽", 5, False, "ab👍🏽…"),
        ("😀😀😀", 5, True, "😀😀…"),
        ("😀😀😀", 6, True, "😀😀😀"),
    ],
)
def test_clip_never_splits_a_grapheme_cluster(
    text: str, limit: int, utf16: bool, expected: str
) -> None:
    """Text cut to a length (code points, or UTF-16 code units as Jira counts) ends
    at a grapheme cluster boundary, with an ellipsis, and fits."""
    out = clip(text, limit, utf16=utf16)
    assert out == expected
    assert (utf16_length(out) if utf16 else len(out)) <= limit
