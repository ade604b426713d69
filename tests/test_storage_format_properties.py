"""Properties of the storage-format core on random pages built from a small grammar of
real storage-format pieces: render is idempotent, extract after render shows the
changes, people's content survives, and no input makes extract raise."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followup.core.model import KEEP, Badge, BadgeColour, Extraction, FindingCode, ItemChange, Owner
from followup.core.storage_format import StorageFormatError, extract, render
from followup.core.storage_format.extract import own_elements, read_page, task_body
from followup.core.storage_format.xml import (
    LINK,
    MACRO_TAGS,
    TASK,
    TASK_STATUS,
    Element,
    is_mention,
    macro_name,
    parse,
)

PAGE = "777"
FAST = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# --- the grammar ---------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "Fix",
        "alert",
        "replica",
        "caf&eacute;",
        "R&amp;D",
        "&nbsp;",
        "&mdash;",
        "&lt;script&gt;",
        "]]&gt;",
        "&lt;ac:task&gt;",
        "\U0001f525",
        "na&iuml;ve",
        "&rsquo;s",
        "<strong>bold</strong>",
        "<em>it</em>",
        '<ac:inline-comment-marker ac:ref="c1">marked</ac:inline-comment-marker>',
        "<code>cron</code>",
    ]
)
PHRASE = st.lists(WORDS, min_size=1, max_size=5).map(" ".join)
ACCOUNTS = st.sampled_from(
    [
        'ri:account-id="557058:ana"',
        'ri:userkey="8a7f80"',
        'ri:username="jsmith"',
    ]
)
MENTION = ACCOUNTS.map(lambda a: f"<ac:link><ri:user {a} /></ac:link>")
TIME = st.sampled_from(
    ['<time datetime="2026-08-31" />', '<time datetime="2026-01-02">2 Jan</time>']
)
KEYS = st.sampled_from(["OPS-1", "OPS-2", "NET-3"])


def jira_macro(key: str) -> str:
    return (
        '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        f'<ac:parameter ac:name="key">{key}</ac:parameter></ac:structured-macro>'
    )


def status_macro(title: str, colour: str = "Blue") -> str:
    return (
        '<ac:structured-macro ac:name="status" ac:schema-version="1">'
        f'<ac:parameter ac:name="title">{title}</ac:parameter>'
        f'<ac:parameter ac:name="colour">{colour}</ac:parameter></ac:structured-macro>'
    )


TICKET_REF = st.one_of(
    KEYS.map(jira_macro),
    KEYS.map(
        lambda k: (
            f'<a href="https://x.atlassian.net/browse/{k}" data-card-appearance="inline">'
            f"https://x.atlassian.net/browse/{k}</a>"
        )
    ),
    KEYS.map(lambda k: f'<a href="https://jira.example.com/browse/{k}">{k}</a>'),
)
BADGE_MARKUP = st.sampled_from(["TO DO", "IN PROGRESS", "DONE"]).map(status_macro)

_ids = itertools.count(1)


@st.composite
def task_markup(draw: st.DrawFn, depth: int = 0) -> str:
    extras = [draw(PHRASE)]  # text after the mention, the date or the badge
    if draw(st.booleans()):
        extras.append(draw(MENTION))
    if draw(st.booleans()):
        extras.append(draw(TIME))
    if draw(st.booleans()):
        reference = draw(TICKET_REF)
        if draw(st.booleans()):
            reference += draw(BADGE_MARKUP)
        extras.append(reference)
    if draw(st.booleans()):
        extras.append(draw(PHRASE))
    parts = [draw(PHRASE), *draw(st.permutations(extras))]
    body = " ".join(parts)
    if draw(st.booleans()):
        body = f'<span class="placeholder-inline-tasks">{body}</span>'
    if depth == 0 and draw(st.integers(0, 4)) == 0:
        body += draw(task_list_markup(depth=1))
    state = draw(st.sampled_from(["complete", "incomplete"]))
    ident = f"<ac:task-id>{next(_ids)}</ac:task-id>"
    return (
        f"<ac:task>{ident}<ac:task-status>{state}</ac:task-status>"
        f"<ac:task-body>{body}</ac:task-body></ac:task>"
    )


@st.composite
def task_list_markup(draw: st.DrawFn, depth: int = 0) -> str:
    items = draw(st.lists(task_markup(depth=depth), min_size=1, max_size=3))
    return "<ac:task-list>\n" + "\n".join(items) + "\n</ac:task-list>"


COLUMNS = ("Owner", "Due date", "Status", "Jira ticket", "Priority")
CELL: dict[str, st.SearchStrategy[str]] = {
    "Owner": st.one_of(
        st.sampled_from(["Priya Natarajan", "@marco", "", "TBD", "Dana &amp; co"]), MENTION
    ),
    "Due date": st.one_of(
        st.sampled_from(["2026-08-31", "31 Aug 2026", "03/04/2026", "TBD", ""]), TIME
    ),
    "Status": st.one_of(st.sampled_from(["Done", "Open", ""]), BADGE_MARKUP),
    "Jira ticket": st.one_of(st.sampled_from(["", "OPS-9", "n/a"]), TICKET_REF),
    "Priority": st.sampled_from(["High", "", "P2"]),
}


@st.composite
def table_markup(draw: st.DrawFn) -> str:
    columns = ["Action item", *draw(st.lists(st.sampled_from(COLUMNS), unique=True, max_size=5))]
    if not any(c in columns for c in ("Owner", "Due date")):
        columns.append("Owner")
    header = "<tr>" + "".join(f"<th><p>{c}</p></th>" for c in columns) + "</tr>"
    rows = []
    for n in range(draw(st.integers(1, 3))):
        cells = [f"{draw(PHRASE)} {n}"] + [draw(CELL[c]) for c in columns[1:]]
        wrap = draw(st.booleans())
        rows.append(
            "<tr>" + "".join(f"<td><p>{c}</p></td>" if wrap else f"<td>{c}</td>" for c in cells)
        )
        rows[-1] += "</tr>"
    if draw(st.booleans()):
        return f"<table><thead>{header}</thead><tbody>{''.join(rows)}</tbody></table>"
    return f"<table><tbody>{header}{''.join(rows)}</tbody></table>"


HEADING = st.builds(
    lambda level, title: f"<h{level}>{title}</h{level}>",
    st.integers(1, 3),
    st.sampled_from(["Action items", "Timeline", "Follow-up", "Impact", "Next steps"]),
)
BLOCK = st.one_of(
    PHRASE.map(lambda t: f"<p>{t}</p>"),
    HEADING,
    task_list_markup(),
    table_markup(),
    task_list_markup().map(
        lambda t: (
            '<ac:structured-macro ac:name="expand" ac:schema-version="1">'
            f'<ac:parameter ac:name="title">More</ac:parameter><ac:rich-text-body>{t}'
            "</ac:rich-text-body></ac:structured-macro>"
        )
    ),
    task_list_markup().map(
        lambda t: (
            '<ac:layout><ac:layout-section ac:type="single"><ac:layout-cell>'
            f"{t}</ac:layout-cell></ac:layout-section></ac:layout>"
        )
    ),
    st.just(
        '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[a && b <c> ]]]]>'
        "<![CDATA[> &nbsp;]]></ac:plain-text-body></ac:structured-macro>"
    ),
    st.just("<!-- note & more -->"),
    st.just("<p>" + status_macro("FOLLOW-UP 1/2 DONE", "Green") + "</p>"),
)
PAGES = st.lists(BLOCK, min_size=1, max_size=6).map("\n".join)

BADGES = st.sampled_from(
    [
        None,
        None,
        Badge("TO DO", BadgeColour.GREY),
        Badge("DONE", BadgeColour.GREEN),
        Badge("OVERDUE", BadgeColour.RED),
        Badge("WON'T DO", BadgeColour.GREY),
    ]
)
OWNERS = st.sampled_from(
    [
        None,
        None,
        Owner("account_id", "557058:zed"),
        Owner("userkey", "k-2"),
        Owner("username", "ola"),
        Owner("name", "Ola <Berg> & co"),
    ]
)
DUES = st.sampled_from([None, None, date(2026, 12, 24), date(2027, 1, 31)])


def keep_or(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.just(KEEP), strategy)


CHANGE = st.builds(
    ItemChange,
    ticket=keep_or(st.sampled_from(["OPS-1", "NEW-7", "NEW-8"])),
    badge=keep_or(BADGES),
    done=keep_or(st.booleans()),
    owner=keep_or(OWNERS),
    due=keep_or(DUES),
)
SUMMARY = st.one_of(
    st.just(KEEP), st.none(), st.just(Badge("FOLLOW-UP 2/3 DONE", BadgeColour.BLUE))
)


@st.composite
def page_and_changes(
    draw: st.DrawFn,
) -> tuple[str, dict[str, ItemChange], Badge | object | None]:
    body = draw(PAGES)
    items = extract(body, PAGE).items
    changes = {item.key: draw(CHANGE) for item in items if draw(st.booleans())}
    return body, changes, draw(SUMMARY)


# --- properties ----------------------------------------------------------------------


@FAST
@given(page_and_changes())
def test_generated_pages_are_readable(case: tuple[str, dict[str, ItemChange], object]) -> None:
    """Every page the grammar builds is read without an unparseable-page finding."""
    body, _, _ = case
    codes = {finding.code for finding in extract(body, PAGE).findings}
    assert FindingCode.UNPARSEABLE_PAGE not in codes


@FAST
@given(page_and_changes())
def test_render_is_idempotent(case: tuple[str, dict[str, ItemChange], object]) -> None:
    """A second render with the same changes finds nothing to do: same string back."""
    body, changes, summary = case
    once = render(body, PAGE, changes, summary=summary)  # type: ignore[arg-type]
    assert render(once, PAGE, changes, summary=summary) is once  # type: ignore[arg-type]


@FAST
@given(page_and_changes())
def test_extract_after_render_shows_changes(
    case: tuple[str, dict[str, ItemChange], object],
) -> None:
    """After a render the page shows every change it can represent, and every other
    field of every item is as it was."""
    body, changes, summary = case
    before = extract(body, PAGE)
    out = render(body, PAGE, changes, summary=summary)  # type: ignore[arg-type]
    after = extract(out, PAGE)
    assert [item.key for item in after.items] == [item.key for item in before.items]
    located = {found.key: found for found in read_page(parse(body), PAGE).items}
    for old, new in zip(before.items, after.items, strict=True):
        change = changes.get(old.key, ItemChange())
        info = located[old.key].table
        columns = info.columns if info is not None else {}
        assert new.text == old.text
        ticket = old.ticket if change.ticket is KEEP else change.ticket
        assert new.ticket == ticket
        if change.badge is not KEEP and ticket is not None:
            assert new.badge == change.badge
        elif change.badge is KEEP:
            assert new.badge == old.badge
        if change.done is not KEEP and (old.source == "task" or "status" in columns):
            assert new.done == change.done
        else:
            assert new.done == old.done
        owner_representable = (
            "owner" in columns
            if old.source == "table"
            else not (isinstance(change.owner, Owner) and change.owner.kind == "name")
        )
        if change.owner is not KEEP and owner_representable:
            assert new.owner == change.owner
        else:
            assert new.owner == old.owner
        if change.due is not KEEP and (old.source == "task" or "due" in columns):
            assert new.due == change.due
        else:
            assert new.due == old.due
    if summary is not KEEP:
        assert after.summary_badge == summary


@FAST
@given(page_and_changes())
def test_people_content_preserved(case: tuple[str, dict[str, ItemChange], object]) -> None:
    """Outside our macros and the fields asked to change, the page's tree is unchanged."""
    body, changes, summary = case
    out = render(body, PAGE, changes, summary=summary)  # type: ignore[arg-type]
    assert "xmlns" not in out
    assert people_content(body, changes) == people_content(out, changes)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_extract_never_raises_on_text(body: str) -> None:
    """Any string at all gives an Extraction (an unparseable one gives one finding)."""
    extraction = extract(body, PAGE)
    assert isinstance(extraction, Extraction)
    if any(f.code is FindingCode.UNPARSEABLE_PAGE for f in extraction.findings):
        assert extraction.items == ()


@FAST
@given(PAGES, st.data())
def test_extract_and_render_survive_damaged_markup(body: str, data: st.DataObject) -> None:
    """A generated page cut short or with random characters spliced in never makes
    extract raise, and render either works or raises StorageFormatError."""
    at = data.draw(st.integers(0, len(body)))
    junk = data.draw(st.sampled_from(["", "<", "&", "]]>", "</p>", "<ac:task>", "\x00", '"']))
    damaged = body[:at] + junk + body[at + data.draw(st.integers(0, 5)) :]
    extraction = extract(damaged, PAGE)
    assert isinstance(extraction, Extraction)
    with contextlib.suppress(StorageFormatError):
        render(damaged, PAGE, {}, summary=Badge("FOLLOW-UP 0/0 DONE", BadgeColour.GREY))


def test_megabyte_page() -> None:
    """A page of about 1 MB is read and rendered in well under a second or two."""
    task = (
        "<ac:task><ac:task-id>{n}</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        '<ac:task-body>Do thing {n} &nbsp;<ac:link><ri:user ri:account-id="557058:x"/>'
        '</ac:link> <time datetime="2026-08-31"/></ac:task-body></ac:task>'
    )
    body = "<h2>Action items</h2><ac:task-list>"
    body += "".join(task.format(n=n) for n in range(5000)) + "</ac:task-list>"
    assert len(body) > 1_000_000
    extraction = extract(body, PAGE)
    assert len(extraction.items) == 5000
    changes = {item.key: ItemChange(ticket=f"OPS-{n}") for n, item in enumerate(extraction.items)}
    out = render(body, PAGE, changes)
    assert extract(out, PAGE).items[4999].ticket == "OPS-4999"


# --- comparing people's content ------------------------------------------------------


def people_content(body: str, changes: dict[str, ItemChange]) -> list[tuple[str, ...]]:
    """The page's tree as tokens, without what render may legitimately change: status
    and jira macros and /browse links (ours, or the references and badges we edit),
    paragraphs left empty by that, and the changed fields of the changed items.
    Whitespace is ignored (we add spaces around what we insert)."""
    root = parse(body)
    for found in read_page(root, PAGE).items:
        change = changes.get(found.key)
        if change is None:
            continue
        if found.source == "task":
            task = found.element
            own = task_body(task)
            assert own is not None
            scope = own_elements(own)
            if change.owner is not KEEP:
                _remove(el for el in scope if el.tag == LINK and is_mention(el))
            if change.due is not KEEP:
                _remove(el for el in scope if el.tag == "time")
            if change.done is not KEEP:
                _remove(el for el in task if el.tag == TASK_STATUS)
        else:
            cells = found.cells or {}
            for field, role in (
                ("owner", "owner"),
                ("due", "due"),
                ("done", "status"),
                ("ticket", "ticket"),
            ):
                cell = cells.get(role)  # type: ignore[call-overload]
                if getattr(change, field) is not KEEP and cell is not None:
                    for child in list(cell):
                        cell.remove(child)
                    cell.text = None
    _remove(
        el for el in root.iter() if el.tag in MACRO_TAGS and macro_name(el) in ("status", "jira")
    )
    _remove(el for el in root.iter("a") if "/browse/" in (el.get("href") or ""))
    _remove(el for el in root.iter("p") if not len(el) and not (el.text or "").strip())
    return _tokens(root)


def _remove(elements: Iterable[Element]) -> None:
    """Remove elements, keeping the text after each (written here, independently of the
    renderer's own helper, so a bug there cannot hide in the oracle)."""
    for el in list(elements):
        parent = el.getparent()
        assert parent is not None
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + (el.tail or "")
        else:
            parent.text = (parent.text or "") + (el.tail or "")
        parent.remove(el)


def _tokens(root: Element) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []

    def text(value: str | None) -> None:
        squeezed = "".join((value or "").split())
        if not squeezed:
            return
        if out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + squeezed)
        else:
            out.append(("text", squeezed))

    def walk(el: Element) -> None:
        if not isinstance(el.tag, str):
            out.append(("other", repr(el.text)))
        else:
            attrs = " ".join(f"{k!r}={v!r}" for k, v in sorted(el.attrib.items()))
            out.append(("start", el.tag, attrs))
            text(el.text)
            for child in el:
                walk(child)
                text(child.tail)
            out.append(("end", el.tag))

    walk(root)
    return out


# --- people's text around the values survives any change -------------------------------

NOTE_CHARS = st.characters(
    whitelist_categories=("Lu", "Ll", "Lo", "Zs", "Po", "Sm", "So"),
    blacklist_characters="@#\u00a0\u2028\u2029",
)
NOTE = (
    st.text(NOTE_CHARS, min_size=1, max_size=24)
    .map(lambda text: " ".join(text.split()))
    .filter(lambda text: any(char.isalpha() for char in text))
)
OWNER_VALUES = st.sampled_from(
    [
        "Priya Natarajan",
        "TBD",
        '<ac:link><ri:user ri:account-id="557058:ana" /></ac:link>',
        '<ac:link><ri:user ri:username="jsmith" /></ac:link>',
    ]
)
DUE_VALUES = st.sampled_from(
    [
        "2026-12-31",
        "31 Dec 2026",
        "December 31, 2026",
        "by 2026-12-31",
        '<time datetime="2026-12-31" />',
    ]
)
STATUS_VALUES = st.sampled_from(["Done", "Open", "In progress", status_macro("Done", "Green")])
OWNERS = st.sampled_from(
    [None, Owner("account_id", "557058:bob"), Owner("username", "ola"), Owner("name", "Dana")]
)
DUES = st.sampled_from([None, date(2027, 1, 15), date(2026, 2, 28)])


def xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown_text(el: Element) -> str:
    """Everything a cell or task body holds as text, joined: the oracle's view (it does
    not use the renderer's helpers)."""
    return " ".join("".join(el.itertext()).split())


@FAST
@given(
    owner=OWNER_VALUES,
    due=DUE_VALUES,
    status=STATUS_VALUES,
    notes=st.lists(NOTE, min_size=6, max_size=6),
    separators=st.lists(
        st.sampled_from([" (", " - ", "; ", " <em>(", " ["]), min_size=1, max_size=1
    ),
    new_owner=OWNERS,
    new_due=DUES,
    new_done=st.booleans(),
)
def test_notes_in_cells_survive_any_change(
    owner: str,
    due: str,
    status: str,
    notes: list[str],
    separators: list[str],
    new_owner: Owner | None,
    new_due: date | None,
    new_done: bool,
) -> None:
    """Whatever a person writes beside the owner, the due date and the status in a row
    (set off after the value, or in an element of its own), every character of it is
    still in the cell after any change of those values."""
    opener = separators[0]
    closer = {" (": ")", " <em>(": ")</em>", " [": "]"}.get(opener, "")
    owner_note, due_note, status_note, *_ = (xml_text(note) for note in notes)
    cells = [
        f"{owner}{opener}{owner_note}{closer}",
        f"{due} <strong>{due_note}</strong>",
        f"{status} - {status_note}",
    ]
    body = (
        "<h2>Action items</h2><table><tbody>"
        "<tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>"
        f"<tr><td>Fix it</td><td>{cells[0]}</td><td><p>{cells[1]}</p></td>"
        f"<td>{cells[2]}</td></tr></tbody></table>"
    )
    [item] = extract(body, PAGE).items
    change = ItemChange(owner=new_owner, due=new_due, done=new_done)
    out = render(body, PAGE, {item.key: change})
    row = parse(out).findall(".//tr")[1]
    tds = row.findall("td")
    for cell, note in zip(tds[1:], notes[:3], strict=True):
        assert " ".join(note.split()) in shown_text(cell)
    assert render(out, PAGE, {item.key: change}) == out


@FAST
@given(
    notes=st.lists(NOTE, min_size=3, max_size=3),
    typed=st.booleans(),
    new_owner=OWNERS,
    new_due=DUES,
)
def test_text_around_task_values_survives_any_change(
    notes: list[str], typed: bool, new_owner: Owner | None, new_due: date | None
) -> None:
    """Whatever a task says around its owner and due date (typed or inserted), every
    character of it is still in the task after any change of those values."""
    first, middle, last = (xml_text(note) for note in notes)
    if typed:
        text = f"@priya {first} by 2026-12-18, {middle}. {last}"
    else:
        text = (
            f'{first} <ac:link><ri:user ri:account-id="557058:ana" /></ac:link> {middle} '
            f'<time datetime="2026-12-18" /> {last}'
        )
    body = (
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete"
        f"</ac:task-status><ac:task-body>{text}</ac:task-body></ac:task></ac:task-list>"
    )
    [item] = extract(body, PAGE).items
    out = render(body, PAGE, {item.key: ItemChange(owner=new_owner, due=new_due)})
    found = parse(out).find(f".//{TASK}")
    assert found is not None
    task = task_body(found)
    assert task is not None
    for note in notes:
        assert " ".join(note.split()) in shown_text(task)
