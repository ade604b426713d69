"""Action items out of a page body: tasks and action-item table rows, their owners,
due dates, done-ness, tickets and badges, and the findings a person should act on.

`read_page` finds the items in a parsed tree and keeps, for each, the element it
lives in: `extract` turns that into an `Extraction`, and the renderer edits the same
elements. The rules are in docs/storage-format.md.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from lxml import etree

from followup.core.graphemes import clip
from followup.core.model import (
    ActionItem,
    Badge,
    BadgeColour,
    Extraction,
    Finding,
    FindingCode,
    ItemField,
    ItemSource,
    Owner,
    Page,
)
from followup.core.storage_format.dates import DateOrder, parse_due_text, parse_iso_date
from followup.core.storage_format.header import incident_text
from followup.core.storage_format.tables import (
    Role,
    TableInfo,
    data_row_cells,
    looks_like_timeline,
    read_table,
    table_of,
)
from followup.core.storage_format.text import (
    TextSpot,
    TicketRef,
    browse_link_key,
    collapse,
    find_literal,
    find_text,
    jira_key,
    read_task_fields,
    ticket_site,
    visible_text,
)
from followup.core.storage_format.typed import (
    leading_date,
    leading_status,
    only_a_note,
    owner_name,
    typed_date,
    typed_owner,
)
from followup.core.storage_format.xml import (
    HEADINGS,
    LINK,
    MACRO_TAGS,
    NAME,
    PARAMETER,
    TASK,
    TASK_BODY,
    TASK_ID,
    TASK_LIST,
    TASK_STATUS,
    TASK_UUID,
    Element,
    StorageFormatError,
    all_text,
    is_mention,
    macro_name,
    macro_parameter,
    mention_owner,
    parse,
)
from followup.core.vocabulary import (
    DEFAULT_VOCABULARY,
    Compiled,
    Vocabulary,
    compiled,
    normalise_word,
)

SUMMARY_PREFIX = "FOLLOW-UP "

# What people write in a cell for "no value yet": no owner, no date. The placeholder
# stands where the value goes, so the renderer replaces it.
NO_VALUE_WORDS = frozenset(
    {"", "-", "\u2013", "\u2014", "?", "tbd", "tba", "n/a", "na", "none", "unassigned", "nobody"}
)
_ALL_READ: frozenset[ItemField] = frozenset()
_DUE_UNREADABLE: frozenset[ItemField] = frozenset({"due"})
_BARE_KEY = re.compile(r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]+-[0-9]+)(?![A-Za-z0-9_-])")
_COLOURS = {colour.value.casefold(): colour for colour in BadgeColour}
_HAS_YEAR = re.compile(r"\d{4}")  # every date shape typed in a task has one


@dataclass(slots=True)
class Located:
    """An item as read (`item`), with the element it lives in (`ac:task` or `tr`)
    and what the renderer and the findings need besides."""

    item: ActionItem
    due_problem: FindingCode | None
    due_text: str
    ticket: TicketRef | None
    element: Element
    table: TableInfo | None = None
    cells: dict[Role, Element] | None = None
    # Where each value stands, for the renderer: the mention (or status macro, or
    # `<time>`) element, or the typed text (a `TextSpot`; in a cell holding nothing
    # but that text, the text itself, found when a change needs it); None where the
    # page shows none (the renderer then adds one, unless the field is locked).
    owner_at: Element | TextSpot | str | None = None
    due_at: Element | TextSpot | str | None = None
    status_at: Element | TextSpot | str | None = None

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def source(self) -> ItemSource:
        return self.item.source

    @property
    def text(self) -> str:
        return self.item.text

    @property
    def owner(self) -> Owner | None:
        return self.item.owner

    @property
    def due(self) -> date | None:
        return self.item.due

    @property
    def done(self) -> bool:
        return self.item.done


@dataclass(slots=True)
class PageReading:
    """Everything `read_page` found: every item in page order (`found`), split into
    the first of each key (`items`) and later ones whose key was taken
    (`duplicates`), and the action-item section headings."""

    found: list[Located]
    items: list[Located]
    duplicates: list[Located]
    sections: list[Element]


# --- the page ------------------------------------------------------------------------


def is_section_heading(heading: Element, words: Compiled | None = None) -> bool:
    """Whether a heading starts an action-item section ("Action items", "Follow-up"...)."""
    words = words or compiled(DEFAULT_VOCABULARY)
    return words.section.search(all_text(heading).casefold()) is not None


def read_page(
    root: Element,
    page_id: str,
    date_order: DateOrder = "none",
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> PageReading:
    """The items of a parsed page, in page order, and its action-item sections."""
    words = compiled(vocabulary)
    sections: list[Element] = []
    level: int | None = None  # the level of the section heading we are under, if any
    located: list[Located] = []
    # Outside any section: items only if the page has none (with the nearest heading
    # above, which may say the content is not action items: a timeline, a history).
    held: list[Element] = []
    held_under: list[Element | None] = []
    heading: Element | None = None  # the nearest heading above
    rows = _TableRows(page_id, date_order, words)
    for el in root.iter(*HEADINGS, TASK, "tr"):
        tag = el.tag
        if tag == "tr" or tag == TASK:
            if level is None:
                held.append(el)
                held_under.append(heading)
            elif (
                found := rows.read(el, True, heading)
                if tag == "tr"
                else _read_task(el, page_id, words, date_order)
            ) is not None:
                located.append(found)
            continue
        heading = el
        this_level = int(str(tag)[1])
        if level is not None and this_level <= level:
            level = None
        if level is None and words.section.search(all_text(el).casefold()) is not None:
            level = this_level
            sections.append(el)
            rows.section = el
    if not sections:  # the whole page counts
        for el, above in zip(held, held_under, strict=True):
            found = (
                rows.read(el, False, above)
                if el.tag == "tr"
                else _read_task(el, page_id, words, date_order)
            )
            if found is not None:
                located.append(found)

    items: list[Located] = []
    duplicates: list[Located] = []
    seen: set[str] = set()
    for found in located:
        (duplicates if found.key in seen else items).append(found)
        seen.add(found.key)
    return PageReading(found=located, items=items, duplicates=duplicates, sections=sections)


class _TableRows:
    """Reads the rows of a page's action-item tables, each table's header once: rows
    are looked up by their parent (`tbody`, `thead` or the table)."""

    __slots__ = ("by_parent", "date_order", "page_id", "section", "tables", "words")

    def __init__(self, page_id: str, date_order: DateOrder, words: Compiled) -> None:
        self.page_id = page_id
        self.date_order = date_order
        self.words = words
        self.section: Element | None = None  # the heading of the section we are in
        # A row's parent, or its table, -> the table's header and columns and whether
        # it holds any task, link, date or macro; None: not an action-item table.
        self.by_parent: dict[Element | None, tuple[TableInfo, bool] | None] = {}
        self.tables: dict[Element, tuple[TableInfo, bool] | None] = {}

    def read(self, row: Element, in_section: bool, heading: Element | None) -> Located | None:
        """The row's item, if it is a data row of an action-item table. `in_section`:
        the row is in an action-item section; `heading`: the nearest heading above (the
        table's first row decides both)."""
        parent = row.getparent()
        try:
            entry = self.by_parent[parent]
        except KeyError:
            entry = self.by_parent[parent] = self._table(row, in_section, heading)
        if entry is None:
            return None
        info, table_marked = entry
        if row is info.header:
            return None
        cells = data_row_cells(row, info)
        if cells is None:
            return None  # another header row
        marked = table_marked and _marked(row)
        return _read_row(row, info, cells, marked, self.page_id, self.date_order, self.words)

    def _under_other(self, heading: Element | None) -> bool:
        if heading is not None and heading is self.section:
            return False  # the action-item section's own heading
        return _names_other_content(heading, self.words)

    def _table(
        self, row: Element, in_section: bool, heading: Element | None
    ) -> tuple[TableInfo, bool] | None:
        table = table_of(row)
        if table is None:
            return None
        if table not in self.tables:
            info = read_table(table, self.words)
            action = (
                info.is_action_table
                and not self._under_other(heading)
                and (in_section or not info.weak)
                and not ("due" in info.weak_roles and looks_like_timeline(_data_rows(table, info)))
            )
            self.tables[table] = (info, _marked(table)) if action else None
        return self.tables[table]


def _names_other_content(heading: Element | None, words: Compiled) -> bool:
    """Whether a heading names content that is not action items (a timeline, a
    revision history, release notes, decisions) and no action-item section."""
    if heading is None:
        return False
    text = all_text(heading).casefold()
    return words.non_action_heading.search(text) is not None and words.section.search(text) is None


def _data_rows(table: Element, info: TableInfo) -> list[dict[Role, Element]]:
    """The cells of each data row of a table, by role."""
    out: list[dict[Role, Element]] = []
    for row in table.iter("tr"):
        if row is not info.header and table_of(row) is table:
            cells = data_row_cells(row, info)
            if cells:
                out.append(cells)
    return out


def find_summary(root: Element, sections: list[Element]) -> list[tuple[Element, list[Element]]]:
    """The summary lozenges at the top of each action-item section (or of the page
    when it has none), as `(heading or root, lozenges)` pairs in page order. The page
    shows one: the first lozenge of the first pair; any other is a stale copy."""
    return [(anchor, summaries_in(anchor)) for anchor in (sections or [root])]


def summaries_in(anchor: Element) -> list[Element]:
    """The summary lozenges ("FOLLOW-UP ..." status macros opening a paragraph) between
    a section heading and the next heading, or between the top of the page (for the
    root) and its first heading. The first is the summary; any others are stale copies."""
    found: list[Element] = []
    candidate = anchor.getnext() if anchor.tag in HEADINGS else (anchor[0] if len(anchor) else None)
    while candidate is not None and candidate.tag not in HEADINGS:
        if candidate.tag == "p" and not (candidate.text or "").strip() and len(candidate):
            first = candidate[0]
            if macro_name(first) == "status" and (
                (macro_parameter(first, "title") or "").strip().upper().startswith(SUMMARY_PREFIX)
            ):
                found.append(first)
        candidate = candidate.getnext()
    return found


# --- tasks ---------------------------------------------------------------------------


def own_elements(el: Element) -> list[Element]:
    """The element's descendants in page order, not entering nested task lists (they
    belong to other items)."""
    if next(el.iter(TASK_LIST), None) is None:  # the common case, walked by lxml itself
        return list(el.iter(etree.Element))[1:]
    out: list[Element] = []
    stack = [iter(el)]
    while stack:
        for child in stack[-1]:
            if not isinstance(child.tag, str):
                continue
            out.append(child)
            if child.tag != TASK_LIST and len(child):
                stack.append(iter(child))
                break
        else:
            stack.pop()
    return out


def task_body(task: Element) -> Element | None:
    """The `ac:task-body` of a task."""
    for child in task:
        if child.tag == TASK_BODY:
            return child
    return None


def first_jira_macro(elements: Iterator[Element]) -> TicketRef | None:
    """The first jira macro naming one issue."""
    for el in elements:
        if el.tag in MACRO_TAGS and (key := jira_key(el)):
            return TicketRef(key, el)
    return None


def first_browse_link(elements: Iterator[Element]) -> TicketRef | None:
    """The first link to `/browse/KEY-N` (an `<a href>` or an `ac:link` to a URL)."""
    for el in elements:
        if el.tag in ("a", LINK) and (key := browse_link_key(el)):
            return TicketRef(key, el)
    return None


def shows_live_status(ref: TicketRef | None) -> bool:
    """Whether a ticket reference shows the ticket's live status by itself: a jira
    macro (Confluence renders key and status lozenge) or a Cloud smart link
    (`data-card-appearance`, rendered as key, summary and status). A plain link or a
    typed key shows only the key."""
    if ref is None or ref.element is None:
        return False
    if macro_name(ref.element) == "jira":
        return True
    return ref.element.tag == "a" and ref.element.get("data-card-appearance") is not None


def badge_after(ref: TicketRef) -> Element | None:
    """The status macro standing directly after a ticket reference (only whitespace
    between): our badge, whatever its macro id."""
    if ref.element is None:
        return _badge_after_text(ref)
    following = ref.element.getnext()
    if following is None or macro_name(following) != "status":
        return None
    tail = ref.element.tail
    return following if not tail or not collapse(tail) else None


def _badge_after_text(ref: TicketRef) -> Element | None:
    if ref.holder is None:
        return None
    for macro in ref.holder.iter(*MACRO_TAGS):
        if macro_name(macro) != "status":
            continue
        previous = macro.getprevious()
        parent = macro.getparent()
        before = (
            previous.tail if previous is not None else parent.text if parent is not None else ""
        ) or ""
        if before_key_end(before, ref.key) is not None:
            return macro
    return None


def before_key_end(text: str, key: str) -> int | None:
    """If `text` ends with `key` (then only whitespace), the offset just after the key."""
    stripped = collapse(text.translate({0xA0: " "}))
    if not stripped.endswith(key):
        return None
    head = stripped[: -len(key)]
    if head and (head[-1].isalnum() or head[-1] in "_-"):
        return None
    return text.rstrip().rfind(key) + len(key)


def read_badge(macro: Element) -> Badge:
    """The badge a status macro shows (title and colour; grey when it names none)."""
    title = colour = None
    for child in macro:  # the first parameter of each name, as `macro_parameter`
        if child.tag == PARAMETER:
            name = child.get(NAME)
            if name == "title":
                if title is None:
                    title = all_text(child) if len(child) else (child.text or "")
            elif name == "colour" and colour is None:
                colour = all_text(child) if len(child) else (child.text or "")
    return _badge(title or "", colour or "")


@functools.lru_cache(maxsize=1024)
def _badge(title: str, colour: str) -> Badge:
    """The badge for a status macro's title and colour as written (a page shows a
    handful of distinct badges: remembered, bounded; Badge is immutable)."""
    return Badge(title.strip(), _COLOURS.get(colour.strip().casefold(), BadgeColour.GREY))


def _read_task(
    task: Element, page_id: str, words: Compiled, date_order: DateOrder
) -> Located | None:
    body: Element | None = None
    task_id = task_uuid = state = ""
    for child in task:
        tag = child.tag
        if tag == TASK_BODY:
            body = child
        elif tag == TASK_ID:
            task_id = (child.text or "").strip()
        elif tag == TASK_UUID:
            task_uuid = (child.text or "").strip()
        elif tag == TASK_STATUS:
            state = (child.text or "").strip()
    if body is None:
        return None
    text, owner, mention, time, ticket = read_task_fields(body)
    due: date | None = None
    problem: FindingCode | None = None
    due_text = ""
    owner_at: Element | TextSpot | None = mention
    due_at: Element | TextSpot | None = time
    locked = _NOTHING_LOCKED
    if time is not None:
        due_text = time.get("datetime") or collapse(all_text(time))
        due = parse_iso_date(due_text)
        if due is None:
            problem = FindingCode.UNPARSEABLE_DUE_DATE
    if text and (
        (owner is None and "@" in text) or (time is None and _HAS_YEAR.search(text) is not None)
    ):
        # Typed instead of inserted: "@priya ...", "... by 2026-12-18". They are read
        # like an owner cell's name and a due cell's text, and are not the item's text.
        text, typed_owner_at, typed_due_at, typed, locked = _typed_in_task(
            body, text, words, owner is None, time is None
        )
        if typed_owner_at is not None or "owner" in locked:
            owner, owner_at = Owner("name", typed[0]), typed_owner_at
        if typed_due_at is not None or "due" in locked:
            due_text, due_at = typed[1], typed_due_at
            due, problem = parse_due_text(due_text, date_order=date_order)
    if not text:
        return None  # an untouched template prompt, or only a mention and a date
    ident = task_id or task_uuid or _text_hash(text)
    badge = badge_after(ticket) if ticket else None
    item = ActionItem(  # positional: one per item, and a frozen class is slow to fill
        f"{page_id}:task:{ident}",
        page_id,
        text,
        owner,
        due,
        state.casefold() == "complete",
        ticket.key if ticket else None,
        "task",
        read_badge(badge) if badge is not None else None,
        None,
        shows_live_status(ticket),
        ticket_site(ticket) if ticket else None,
        _DUE_UNREADABLE if problem is not None else _ALL_READ,
        locked,
    )
    return Located(item, problem, due_text, ticket, task, None, None, owner_at, due_at)


def reread_task(found: Located, date_order: DateOrder, vocabulary: Vocabulary) -> Located | None:
    """A task read again from its element, after an edit: where its values stand now."""
    return _read_task(found.element, found.item.page_id, compiled(vocabulary), date_order)


def _typed_in_task(
    body: Element, text: str, words: Compiled, want_owner: bool, want_due: bool
) -> tuple[str, TextSpot | None, TextSpot | None, tuple[str, str], frozenset[str]]:
    """An owner and a due date typed in a task's text: the text without them, where
    each stands in the body, the values as typed `(owner, due text)`, and the fields
    whose typed value spans formatting (read, but not written: `locked`)."""
    locked: set[str] = set()
    owner_at = due_at = None
    values = ["", ""]
    if want_due and (found := typed_date(text, words)) is not None:
        values[1] = found.value
        intro = text[found.lead : found.start]
        due_at = find_text(body, _phrase_pattern(intro, found.value))
        if due_at is None:
            locked.add("due")
        text = _cut(text, found.lead, found.end)
    if want_owner and (found := typed_owner(text)) is not None:
        values[0] = found.value
        owner_at = find_literal(body, found.value, last=found.start > 0)
        if owner_at is None:
            locked.add("owner")
        text = _cut(text, found.lead, found.end)
    return collapse(text), owner_at, due_at, (values[0], values[1]), frozenset(locked)


def _cut(text: str, start: int, end: int) -> str:
    """`text` without `[start, end)`, the words on either side one space apart (none
    before punctuation)."""
    head, tail = text[:start].rstrip(), text[end:].lstrip()
    if not tail:  # "..., due 18 Dec 2026": no separator left dangling at the end
        return head.rstrip(" ,;:-\u2013\u2014")
    if head and tail[0] not in ",.;:!?)]":
        return f"{head} {tail}"
    return head + tail


def _phrase_pattern(intro: str, value: str) -> re.Pattern[str]:
    """A typed date with the words introducing it, as typed: the date is group 1."""
    lead = r"[\s\u00a0]+".join(re.escape(word) for word in intro.rstrip(": \u00a0").split())
    date_text = r"[\s\u00a0]+".join(re.escape(word) for word in value.split())
    return re.compile(rf"(?<!\w){lead}:?[\s\u00a0]+({date_text})(?![\w/-])")


# --- table rows ----------------------------------------------------------------------


def row_ticket(
    row: Element, cells: dict[Role, Element], *, marked: bool = True
) -> TicketRef | None:
    """A row's ticket: a jira macro anywhere in the row, else a `/browse/` link or a
    bare key in the ticket column, else a `/browse/` link in the action cell (where
    Cloud leaves the jira macro we put there as a smart link). `marked=False` says the
    row holds no macro and no link (`_marked`), so only a bare key is looked for."""
    if marked:
        ref = first_jira_macro(row.iter(*MACRO_TAGS))
        if ref is not None:
            return ref
    ticket_cell = cells.get("ticket")
    if ticket_cell is not None:
        if marked:
            ref = first_browse_link(ticket_cell.iter("a", LINK))
            if ref is not None:
                return ref
        match = _BARE_KEY.search(visible_text(ticket_cell))
        if match:
            return TicketRef(match.group(1), None, ticket_cell)
    action = cells.get("action")
    return first_browse_link(action.iter("a", LINK)) if marked and action is not None else None


def _marked(el: Element) -> bool:
    """Whether a row (or a table) holds any task, link, date or macro. Most rows are
    plain text: one walk of the table, or of the row, then saves a search of each cell
    for each of them."""
    return next(el.iter(TASK, LINK, "time", "a", *MACRO_TAGS), None) is not None


def _read_row(
    row: Element,
    info: TableInfo,
    cells: dict[Role, Element],
    marked: bool,
    page_id: str,
    date_order: DateOrder,
    words: Compiled,
) -> Located | None:
    """The item a data row of an action-item table holds, if any. `marked` says
    whether the row holds a task, link, date or macro (`_marked`)."""
    action = cells.get("action")
    if action is None:
        return None
    if marked and next(action.iter(TASK), None) is not None:
        return None  # its tasks are the items
    ticket = row_ticket(row, cells, marked=marked)
    text = visible_text(action, drop=ticket.element if ticket else None)
    if not text:
        return None
    locked: list[str] = []

    owner: Owner | None = None
    owner_at: Element | TextSpot | str | None = None
    owner_cell = cells.get("owner")
    if owner_cell is not None:
        owner, owner_at, fixed = _cell_owner(owner_cell, marked)
        if fixed:
            locked.append("owner")

    due: date | None = None
    problem: FindingCode | None = None
    due_text = ""
    due_at: Element | TextSpot | str | None = None
    due_cell = cells.get("due")
    if due_cell is not None:
        due, problem, due_text, due_at, fixed = _cell_due(due_cell, marked, date_order, words)
        if fixed:
            locked.append("due")

    status: bool | None = False  # None: the status column says something else
    status_at: Element | TextSpot | str | None = None
    status_cell = cells.get("status")
    if status_cell is not None:
        status, status_at, fixed = _cell_status(status_cell, marked, words)
        if fixed:
            locked.append("done")

    priority_cell = cells.get("priority")
    priority = (visible_text(priority_cell) or None) if priority_cell is not None else None
    team_cell = cells.get("team")
    team = (visible_text(team_cell) or None) if team_cell is not None else None
    badge = badge_after(ticket) if ticket else None
    unreadable = _ALL_READ
    if problem is not None or status is None:
        fields: list[ItemField] = ["due"] if problem is not None else []
        unreadable = frozenset([*fields, "done"] if status is None else fields)
    item = ActionItem(
        f"{page_id}:row:{_text_hash(text)}",
        page_id,
        text,
        owner,
        due,
        bool(status),
        ticket.key if ticket else None,
        "table",
        read_badge(badge) if badge is not None else None,
        priority,
        shows_live_status(ticket),
        ticket_site(ticket) if ticket else None,
        unreadable,
        frozenset(locked) if locked else _NOTHING_LOCKED,
        team,
        # A column the table lacks: the row has no place for that field (nor a checkbox).
        _unstated(owner_cell is None, due_cell is None, status_cell is None),
    )
    return Located(item, problem, due_text, ticket, row, info, cells, owner_at, due_at, status_at)


_NOTHING_LOCKED: frozenset[str] = frozenset()


def _unstated(owner: bool, due: bool, done: bool) -> frozenset[ItemField]:
    """The fields a row has no cell for (`ActionItem.unstated`); one set per case."""
    return _UNSTATED[owner, due, done]


_ROW_FIELDS: tuple[ItemField, ...] = ("owner", "due", "done")
_UNSTATED: dict[tuple[bool, bool, bool], frozenset[ItemField]] = {
    absent: frozenset(name for name, gone in zip(_ROW_FIELDS, absent, strict=True) if gone)
    for absent in itertools.product((False, True), (False, True), (False, True))
}


_WRAPPERS = frozenset({"p", "div", "span"})
_NOTE_OPENERS = frozenset("([-\u2013\u2014;")
# A character that may set off a note beside a value (see `typed.owner_name`).
_NOTE_MARK = re.compile(r"[(\[;\-\u2013\u2014]")


def cell_spot(cell: Element, value: str) -> TextSpot | str | None:
    """Where a value typed in a cell stands. A cell holding one piece of text (bare or
    in a single paragraph) holds it whole: the value itself is returned, to be found
    when a change needs it (`find_literal`), which saves the search on every read.
    Otherwise the `TextSpot`, or None when no single piece of text holds it."""
    count = len(cell)
    if count == 0:
        return value
    if count == 1:
        only = cell[0]
        if (
            only.tag in _WRAPPERS
            and not len(only)
            and (cell.text is None or not cell.text.strip())
            and (only.tail is None or not only.tail.strip())
        ):
            return value
    return find_literal(cell, value)


def _cell_owner(
    cell: Element, marked: bool
) -> tuple[Owner | None, Element | TextSpot | str | None, bool]:
    """An owner cell's owner, where it stands, and whether it is locked: a mention
    (the first), else the name typed, without a note after it ("Priya Natarajan
    (backup: Tomasz)"); a placeholder (TBD...) is no owner, but its place is the
    value's. Locked: the name spans formatting, so it cannot be replaced alone."""
    for link in cell.iter(LINK) if marked else ():
        if is_mention(link) and (owner := mention_owner(link)):
            return owner, link, False
    text = visible_text(cell)
    if not text:
        return None, None, False
    name = owner_name(text) if _NOTE_MARK.search(text) is not None else text
    if not name:  # only a note: the cell names no owner, and a new one goes after it
        return None, None, False
    spot = cell_spot(cell, name)
    owner = Owner("name", name) if name.casefold() not in NO_VALUE_WORDS else None
    return owner, spot, spot is None


def _cell_due(
    cell: Element, marked: bool, date_order: DateOrder, words: Compiled
) -> tuple[date | None, FindingCode | None, str, Element | TextSpot | str | None, bool]:
    """A due cell's date, its finding, its text, where it stands, and whether it is
    locked: a `<time>`, else the date typed (opening the cell, maybe after a date word,
    maybe followed by a note: "2026-12-31 regulator deadline"). Locked: the text is not
    a date followup can find in it ("mid January"), or the date spans formatting."""
    time = next(cell.iter("time"), None) if marked else None
    if time is not None:
        due_text = time.get("datetime") or ""
        due = parse_iso_date(due_text)
        return due, None if due else FindingCode.UNPARSEABLE_DUE_DATE, due_text, time, False
    text = visible_text(cell)
    if not text or (text[0] in _NOTE_OPENERS and only_a_note(text)):
        return None, None, "", None, False
    due, problem = parse_due_text(text, date_order=date_order)
    value = text
    if problem is FindingCode.UNPARSEABLE_DUE_DATE and (found := leading_date(text, words)):
        value = found.value
        due, problem = parse_due_text(value, date_order=date_order)
        text = value if problem is None else text
    if problem is FindingCode.UNPARSEABLE_DUE_DATE:
        if text.casefold() in NO_VALUE_WORDS:  # "TBD": the date goes there
            spot = cell_spot(cell, text)
            return None, problem, text, spot, spot is None
        return None, problem, text, None, True
    spot = cell_spot(cell, value)
    return due, problem, text, spot, spot is None


def _cell_status(
    cell: Element, marked: bool, words: Compiled
) -> tuple[bool | None, Element | TextSpot | str | None, bool]:
    """Whether a status cell says done (True), not done (False: empty, a dash, an
    open word) or something followup cannot read (None: reported, and never taken for
    "not done", so it cannot reopen a ticket); where the status stands; and whether
    it is locked. The status is a status macro's title, else a status word the text
    is or opens with ("Done", "Done - merged in #123"). Locked: the text names no
    status ("Blocked on vendor ticket V-881"), or the word spans formatting."""
    if marked:
        for macro in cell.iter(*MACRO_TAGS):
            if macro_name(macro) == "status":
                title = normalise_word(macro_parameter(macro, "title") or "")
                if title in words.done:
                    return True, macro, False
                return (False if title in words.open else None), macro, False
    text = visible_text(cell)
    if not text or (text[0] in _NOTE_OPENERS and only_a_note(text)):
        return False, None, False
    normal = text.casefold()  # `text` is collapsed already
    if normal in words.done or normal in words.open or normal in _DASHES:
        spot = cell_spot(cell, text)  # the whole text is the status word (or a dash)
        return normal in words.done, spot, spot is None
    word = leading_status(text, words)
    if word is None:
        return None, None, True
    spot = cell_spot(cell, word.value)
    return normalise_word(word.value) in words.done, spot, spot is None


_DASHES = frozenset({"-", "\u2013", "\u2014"})


def _text_hash(text: str) -> str:
    """The 12 hex digits identifying an item by its text, whatever its case and
    spacing (`text` is collapsed already: casefolding adds no whitespace)."""
    return hashlib.sha1(text.casefold().encode(), usedforsecurity=False).hexdigest()[:12]


# --- findings ------------------------------------------------------------------------


def _quote(text: str) -> str:
    return f"“{clip(text, 60)}”"


def _item_findings(page_id: str, found: Located, date_order: DateOrder) -> list[Finding]:
    findings: list[Finding] = []
    if "done" in found.item.unreadable and found.cells is not None:
        status = collapse(visible_text(found.cells["status"])) or "a status lozenge"
        message = (
            f"Action item {_quote(found.text)} has status “{status}”, which followup does "
            "not read as done or open, so its ticket's status is neither changed nor shown "
            "there: write Done or To do in the status column (notes go in the action text)."
        )
        findings.append(Finding(FindingCode.UNKNOWN_STATUS, page_id, found.key, message))
    if found.owner is not None and found.due is not None:
        return findings
    quoted = _quote(found.text)
    columns = found.table.columns if found.table else {}
    if found.owner is None:
        if found.source == "task":
            how = "@mention the person responsible in the task"
        elif "owner" in columns:
            how = "put a name or an @mention in its Owner column"
        else:
            how = "add an Owner column to the table and put a name in it"
        message = f"Action item {quoted} has no owner: {how}."
        findings.append(Finding(FindingCode.MISSING_OWNER, page_id, found.key, message))
    if found.due_problem is FindingCode.AMBIGUOUS_DUE_DATE:
        day_first, _ = parse_due_text(found.due_text, date_order="dmy")
        month_first, _ = parse_due_text(found.due_text, date_order="mdy")
        readings = " or ".join(
            d.strftime("%d %B %Y").lstrip("0") for d in (day_first, month_first) if d
        )
        message = (
            f"Action item {quoted} has due date “{found.due_text}”, which could be {readings}: "
            "write it as YYYY-MM-DD (e.g. 2026-08-31) or insert a date with //."
        )
        findings.append(Finding(FindingCode.AMBIGUOUS_DUE_DATE, page_id, found.key, message))
    elif found.due_problem is FindingCode.UNPARSEABLE_DUE_DATE:
        message = (
            f"Action item {quoted} has due date “{found.due_text}”, which is not a date: "
            "write one such as 2026-08-31 or 31 Aug 2026, or insert a date with //."
        )
        findings.append(Finding(FindingCode.UNPARSEABLE_DUE_DATE, page_id, found.key, message))
    elif found.due is None:
        if found.source == "task":
            how = "type // in the task to insert a date"
        elif "due" in columns:
            how = "put a date such as 2026-08-31 in its Due column"
        else:
            how = "add a Due column to the table and put a date in it"
        message = f"Action item {quoted} has no due date: {how}."
        findings.append(Finding(FindingCode.MISSING_DUE_DATE, page_id, found.key, message))
    return findings


def _duplicate_finding(page_id: str, found: Located) -> Finding:
    if found.source == "task":
        why = "has the same task id as an earlier task (copied markup?)"
        how = "delete one of them, or retype it as a new task"
    else:
        why = "has the same text as an earlier row"
        how = "merge the rows, or reword one so each says what is different"
    message = f"Action item {_quote(found.text)} {why}, so followup tracks only the first: {how}."
    return Finding(FindingCode.DUPLICATE_ITEM, page_id, found.key, message)


def extract(
    body: str,
    page_id: str,
    *,
    date_order: DateOrder = "none",
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    max_items: int | None = None,
) -> Extraction:
    """The action items of a page body and the findings about them.

    Never raises: a body that cannot be read gives no items and an `unparseable-page`
    finding. `date_order` ("dmy"/"mdy") settles numeric dates such as 03/04/2026;
    `vocabulary` holds the words looked for (section headings, column headers, status
    and date words); past `max_items` items the rest are left out with a
    `too-many-items` finding.
    """
    try:
        root = parse(body)
        reading = read_page(root, page_id, date_order, vocabulary)
        summaries = find_summary(root, reading.sections)
        incident = incident_text(root, vocabulary)
    except StorageFormatError as error:
        return _unreadable(page_id, error.message)
    except Exception as error:  # a page we failed to understand must not stop a run
        return _unreadable(page_id, f"followup failed to read it ({type(error).__name__}: {error})")

    located = reading.items
    findings: list[Finding] = []
    if max_items is not None and len(located) > max_items:
        limit = max(max_items, 0)
        message = (
            f"The page has {len(located)} action items; followup tracks only the first "
            f"{limit}: split the postmortem into several pages, or raise the item limit."
        )
        findings.append(Finding(FindingCode.TOO_MANY_ITEMS, page_id, None, message))
        located = located[:limit]
    item_findings: list[Finding] = []
    if located is reading.items and not reading.duplicates:  # every item found is kept
        for found in located:
            item_findings.extend(_item_findings(page_id, found, date_order))
    else:
        kept = {id(found) for found in located}
        duplicated = {id(found) for found in reading.duplicates}
        for found in reading.found:
            if id(found) in kept:
                item_findings.extend(_item_findings(page_id, found, date_order))
            elif id(found) in duplicated:
                item_findings.append(_duplicate_finding(page_id, found))
    findings[:0] = item_findings
    if not reading.items:
        where = "under the action-item heading" if reading.sections else "on the page"
        message = (
            f"No action items found {where}: add a task list (type [] in the editor), or a "
            "table with an Action column and an Owner or Due column, under a heading such "
            "as “Action items”."
        )
        findings.append(Finding(FindingCode.NO_ACTION_ITEMS, page_id, None, message))
    # One summary per page, at the top of the first action-item section: a lozenge
    # anywhere else (a copy under a later heading) is stale, and a write removes it.
    placed = summaries[0][1] if summaries else []
    first_summary = placed[0] if placed else None
    copies = sum(len(found) for _, found in summaries) - (1 if first_summary is not None else 0)
    return Extraction(
        page_id=page_id,
        items=tuple(found.item for found in located),
        findings=tuple(findings),
        summary_badge=read_badge(first_summary) if first_summary is not None else None,
        extra_summaries=copies,
        incident=incident,
    )


def _unreadable(page_id: str, why: str) -> Extraction:
    message = (
        f"The page body could not be read as Confluence storage format ({why}); its action "
        "items were not checked: open the page in the editor and save it again."
    )
    return Extraction(
        page_id=page_id,
        items=(),
        findings=(Finding(FindingCode.UNPARSEABLE_PAGE, page_id, None, message),),
    )


def extract_page(
    page: Page,
    *,
    max_bytes: int,
    date_order: DateOrder = "none",
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    max_items: int | None = None,
) -> Extraction:
    """`extract` of a page's body, unless the body is over `max_bytes` (UTF-8): then
    no items, and findings that say the page was not read and why."""
    size = len(page.body.encode("utf-8"))
    if size > max_bytes:
        return Extraction(
            page.id,
            (),
            (
                Finding(
                    FindingCode.PAGE_TOO_LARGE,
                    page.id,
                    None,
                    f"“{page.title}” is {size:,} bytes, over sync.max_page_bytes "
                    f"({max_bytes:,}); it was not read. Split the page or raise the limit.",
                ),
                Finding(
                    FindingCode.UNPARSEABLE_PAGE,
                    page.id,
                    None,
                    "page skipped: too large to read safely",
                ),
            ),
        )
    return extract(
        page.body, page.id, date_order=date_order, vocabulary=vocabulary, max_items=max_items
    )
