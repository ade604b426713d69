"""Badges, tickets, ticks, owners and due dates written back into a page body.

`render` reads the page as `extract` does, applies each item's `ItemChange` to the
elements the item lives in, sets the page summary lozenge, and writes the tree back.
It changes nothing else: a change replaces only the value followup recognised (the
mention, the `<time>`, the status macro, the typed name, date or status word) and
keeps every other character and element of the cell or task; a value mixed with a
person's text so that it cannot be replaced alone (`ActionItem.locked`) is never
written. Item text is always text (never parsed as markup). It is idempotent: a
second render with the same changes finds nothing to do and returns its input
unchanged.

Our macros carry a deterministic `ac:macro-id` (uuid5 of page id, item key and role),
but they are recognised by position too, since Confluence Cloud may drop the id: the
badge is the status macro directly after the item's ticket reference (jira macro or
`/browse/` link), the summary is the "FOLLOW-UP ..." lozenge at the top of a section.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date

from lxml import etree

from followup.core.model import KEEP, Badge, BadgeColour, ItemChange, Owner, _Keep
from followup.core.storage_format.dates import DateOrder
from followup.core.storage_format.extract import (
    NO_VALUE_WORDS,
    Located,
    badge_after,
    before_key_end,
    find_summary,
    own_elements,
    read_badge,
    read_page,
    reread_task,
    row_ticket,
    task_body,
)
from followup.core.storage_format.text import TextSpot, TicketRef, find_literal, read_task_body
from followup.core.storage_format.typed import format_like
from followup.core.storage_format.xml import (
    MACRO_ID,
    MACRO_TAGS,
    PARAMETER,
    TASK,
    TASK_ID,
    TASK_LIST,
    TASK_STATUS,
    TASK_UUID,
    Element,
    insert_after,
    insert_at,
    insert_before,
    macro_id,
    macro_name,
    make_jira,
    make_mention,
    make_status,
    make_time,
    parse,
    remove_keeping_tail,
    replace_keeping_tail,
    serialise,
    set_macro_parameter,
)
from followup.core.vocabulary import DEFAULT_VOCABULARY, Vocabulary

_WRAPPERS = ("p", "div")


def render(
    body: str,
    page_id: str,
    changes: Mapping[str, ItemChange],
    *,
    summary: Badge | _Keep | None = KEEP,
    jira_server: str | None = None,
    jira_server_id: str | None = None,
    date_order: DateOrder = "none",
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> str:
    """The page body with each item's changes applied and the summary lozenge set
    (`None` removes it, `KEEP` leaves it).

    Keys in `changes` that name no item on the page are ignored, and so are changes
    to a field the item has `locked`. With nothing to change the input string itself
    is returned. Raises `StorageFormatError` for a body that cannot be read (`extract`
    reports such a page as `unparseable-page`). `jira_server`/`jira_server_id` fill
    the jira macro's `server`/`serverId`; `date_order` and `vocabulary` must be the
    ones the page was extracted with, so that the same items are found.
    """
    wanted = {key: change for key, change in changes.items() if not change.is_empty()}
    if not wanted and summary is KEEP:
        return body
    root = parse(body)
    reading = read_page(root, page_id, date_order, vocabulary)
    editor = _Editor(page_id, jira_server, jira_server_id, date_order, vocabulary)
    changed = False
    for found in reading.items:
        change = wanted.get(found.key)
        if change is not None:
            changed |= editor.apply(found, change)
    if not isinstance(summary, _Keep):
        changed |= editor.set_summary(root, reading.sections, summary)
    return serialise(root) if changed else body


class _Editor:
    """Applies changes to one parsed page; every method returns whether it changed it."""

    def __init__(
        self,
        page_id: str,
        jira_server: str | None,
        jira_server_id: str | None,
        date_order: DateOrder,
        vocabulary: Vocabulary,
    ):
        self.page_id = page_id
        self.jira_server = jira_server
        self.jira_server_id = jira_server_id
        self.date_order = date_order
        self.vocabulary = vocabulary

    def apply(self, found: Located, change: ItemChange) -> bool:
        if found.source == "task":
            return self._task(found, change)
        return self._row(found, change)

    # --- tasks -----------------------------------------------------------------------

    def _task(self, found: Located, change: ItemChange) -> bool:
        task = found.element
        body = task_body(task)
        if body is None:
            return False
        container = _inline_container(body)
        changed = False
        if not isinstance(change.ticket, _Keep):
            changed |= self._task_ticket(found, body, container, change.ticket)
        if not isinstance(change.badge, _Keep):
            ticket = read_task_body(body).ticket
            changed |= self._badge(found, ticket, change.badge, own_elements(body))
        if not isinstance(change.owner, _Keep):
            changed |= self._task_owner(found, body, container, change.owner)
        if not isinstance(change.due, _Keep):
            changed |= self._task_due(found, body, container, change.due)
        if not isinstance(change.done, _Keep) and change.done != found.done:
            _set_task_status(task, "complete" if change.done else "incomplete")
            changed = True
        return changed

    def _task_ticket(self, found: Located, body: Element, container: Element, key: str) -> bool:
        ref = read_task_body(body).ticket
        if ref is not None and ref.key == key:
            return False
        if ref is not None and ref.element is not None:
            return self._replace_reference(found, ref.element, key)
        _append_inline(container, self._jira(found, key))
        return True

    def _task_owner(
        self, found: Located, body: Element, container: Element, owner: Owner | None
    ) -> bool:
        if owner == found.owner or "owner" in found.item.locked:
            return False
        current = reread_task(found, self.date_order, self.vocabulary) or found
        at = _at(body, current.owner_at)
        if isinstance(at, TextSpot):  # typed: "@priya ..."
            _replace_spot(at, owner)
            return True
        if owner is None:
            if at is None:
                return False
            remove_keeping_tail(at)
            return True
        if owner.kind == "name":
            return False  # a task can only name its owner by @mention
        new = make_mention(owner)
        if at is not None:
            replace_keeping_tail(at, new)
            return True
        anchor = current.due_at if isinstance(current.due_at, etree._Element) else None
        if anchor is None:
            ref = read_task_body(body).ticket
            anchor = ref.element if ref is not None else None
        if anchor is not None:
            insert_before(anchor, new)
        else:
            _append_inline(container, new)
        return True

    def _task_due(
        self, found: Located, body: Element, container: Element, due: date | None
    ) -> bool:
        if due == found.due and (found.due_problem is None or due is None):
            return False  # (no date to write: an unreadable one is not removed either)
        if "due" in found.item.locked:
            return False
        current = reread_task(found, self.date_order, self.vocabulary) or found
        at = _at(body, current.due_at)
        if isinstance(at, TextSpot):  # typed: "... by 2026-12-18"
            _replace_date_spot(at, due)
            return True
        if due is None:
            if at is None:
                return False
            remove_keeping_tail(at)
            return True
        if at is not None:
            _set_time(at, due)
            return True
        new = make_time(due)
        ref = read_task_body(body).ticket
        if ref is not None and ref.element is not None:
            insert_before(ref.element, new)
        else:
            _append_inline(container, new)
        return True

    # --- table rows ------------------------------------------------------------------

    def _row(self, found: Located, change: ItemChange) -> bool:
        row = found.element
        cells = found.cells or {}
        locked = found.item.locked
        changed = False
        if not isinstance(change.ticket, _Keep):
            changed |= self._row_ticket(found, change.ticket)
        if not isinstance(change.badge, _Keep):
            ref = row_ticket(row, cells)
            changed |= self._badge(found, ref, change.badge, _elements(row))
        owner_cell = cells.get("owner")
        if (
            not isinstance(change.owner, _Keep)
            and owner_cell is not None
            and change.owner != found.owner
            and "owner" not in locked
        ):
            changed |= _set_row_owner(owner_cell, _at(owner_cell, found.owner_at), change.owner)
        due_cell = cells.get("due")
        if (
            not isinstance(change.due, _Keep)
            and due_cell is not None
            and (change.due != found.due or (found.due_problem is not None and change.due))
            and "due" not in locked
        ):
            changed |= _set_row_due(due_cell, _at(due_cell, found.due_at), change.due)
        status_cell = cells.get("status")
        if (
            not isinstance(change.done, _Keep)
            and status_cell is not None
            and change.done != found.done
            and "done" not in locked
        ):
            word = _status_word(self.vocabulary, done=change.done)
            at = _at(status_cell, found.status_at)
            changed |= _set_row_done(status_cell, at, change.done, word)
        return changed

    def _row_ticket(self, found: Located, key: str) -> bool:
        row = found.element
        cells = found.cells or {}
        ref = row_ticket(row, cells)
        if ref is not None and ref.key == key:
            return False
        if ref is not None and ref.element is not None:
            return self._replace_reference(found, ref.element, key)
        macro = self._jira(found, key)
        if ref is not None:
            return _replace_text_key(ref, macro)
        ticket_cell = cells.get("ticket")
        if ticket_cell is not None:
            return _fill_cell(ticket_cell, macro)
        action = cells.get("action")
        if action is None:
            return False
        _append_inline(_cell_inline_end(action), macro)
        return True

    # --- shared ----------------------------------------------------------------------

    def _jira(self, found: Located, key: str) -> Element:
        ident = macro_id(self.page_id, found.key, "ticket")
        return make_jira(key, ident, self.jira_server, self.jira_server_id)

    def _replace_reference(self, found: Located, reference: Element, key: str) -> bool:
        """Point an item's ticket reference at `key`: a jira macro gets the new key, a
        `/browse/` link becomes our jira macro (the badge after it stays after it)."""
        if macro_name(reference) == "jira":
            return set_macro_parameter(reference, "key", key)
        replace_keeping_tail(reference, self._jira(found, key))
        return True

    def _badge(
        self,
        found: Located,
        ref: TicketRef | None,
        badge: Badge | None,
        scope: Iterable[Element],
    ) -> bool:
        """Set (or with None remove) the status macro directly after the ticket
        reference. A copy of our badge elsewhere in the item (found by macro id, left
        behind when someone moved the ticket) is removed. Without a ticket reference
        there is nowhere to put a badge, and nothing changes."""
        if ref is None:
            return False
        current = badge_after(ref)
        ident = macro_id(self.page_id, found.key, "badge")
        changed = False
        stale = [
            el
            for el in scope
            if el.tag in MACRO_TAGS and el.get(MACRO_ID) == ident and el is not current
        ]
        for el in stale:
            remove_keeping_tail(el)
            changed = True
        if badge is None:
            if current is not None:
                remove_keeping_tail(current)
                changed = True
            return changed
        if current is not None:
            if read_badge(current) != badge:
                set_macro_parameter(current, "title", badge.title)
                set_macro_parameter(current, "colour", str(badge.colour))
                changed = True
            return changed
        new = make_status(badge, ident)
        if ref.element is not None:
            insert_after(ref.element, new)
        else:
            _insert_after_text_key(ref, new)
        return True

    # --- the page summary ------------------------------------------------------------

    def set_summary(self, root: Element, sections: list[Element], badge: Badge | None) -> bool:
        """Set the summary lozenge once per page: at the top of the first action-item
        section (right after its heading), or at the top of the page when it has no
        such heading. Every other copy (under a later action-item heading, or a second
        one in the same place) is removed."""
        changed = False
        for number, (anchor, found) in enumerate(find_summary(root, sections)):
            current = found[0] if found and badge is not None and number == 0 else None
            for stale in found:
                if stale is not current:
                    _remove_summary(stale)
                    changed = True
            if badge is None or number > 0:
                continue
            if current is not None:
                if read_badge(current) != badge:
                    set_macro_parameter(current, "title", badge.title)
                    set_macro_parameter(current, "colour", str(badge.colour))
                    changed = True
                continue
            paragraph = etree.Element("p")
            ident = macro_id(self.page_id, f"section-{number}", "summary")
            paragraph.append(make_status(badge, ident))
            if anchor is root:
                root.insert(0, paragraph)
            else:
                anchor.addnext(paragraph)
            changed = True
        return changed


def _remove_summary(macro: Element) -> None:
    """Remove a summary lozenge, and its paragraph if nothing else is left in it."""
    paragraph = macro.getparent()
    remove_keeping_tail(macro)
    if paragraph is not None and not len(paragraph) and not (paragraph.text or "").strip():
        remove_keeping_tail(paragraph)


# --- element surgery -----------------------------------------------------------------


def _at(cell: Element, at: Element | TextSpot | str | None) -> Element | TextSpot | None:
    """Where a cell's value stands: a value recorded as its text is found now."""
    return find_literal(cell, at) if isinstance(at, str) else at


def _set_row_owner(cell: Element, at: Element | TextSpot | None, owner: Owner | None) -> bool:
    """Put the owner where the cell's owner stands (a mention, or a name as text),
    keeping everything else in the cell; an empty cell gets it."""
    if isinstance(at, TextSpot):
        _replace_spot(at, owner)
        return True
    if at is not None:  # a mention
        if owner is None:
            remove_keeping_tail(at)
        elif owner.kind == "name":
            _replace_by_text(at, owner.value)
        else:
            replace_keeping_tail(at, make_mention(owner))
        return True
    if owner is None:
        return False
    return _fill_cell(cell, owner.value if owner.kind == "name" else make_mention(owner))


def _set_row_due(cell: Element, at: Element | TextSpot | None, due: date | None) -> bool:
    """Put the date where the cell's date stands (a `<time>`, or a date typed as
    text, written back the way it was typed), keeping everything else in the cell."""
    if isinstance(at, TextSpot):
        _replace_date_spot(at, due)
        return True
    if at is not None:  # a <time>
        if due is None:
            remove_keeping_tail(at)
        else:
            _set_time(at, due)
        return True
    if due is None:
        return False
    return _fill_cell(cell, make_time(due))


def _status_word(vocabulary: Vocabulary, *, done: bool) -> str:
    """What a status cell says for done / not done: the vocabulary's first done or
    open word, capitalised ("Done", "To do"; "Erledigt", "Offen")."""
    words = vocabulary.done_words if done else vocabulary.open_words
    word = words[0] if words else ("done" if done else "to do")
    return word[:1].upper() + word[1:]


def _set_row_done(cell: Element, at: Element | TextSpot | None, done: bool, word: str) -> bool:
    """Put the status word where the cell's status stands (a status macro's title, or
    the status word typed), keeping everything else in the cell."""
    if isinstance(at, TextSpot):
        at.replace(word)
        return True
    if at is not None:  # a status macro a person put in the status column
        set_macro_parameter(at, "title", word.upper())
        set_macro_parameter(at, "colour", str(BadgeColour.GREEN if done else BadgeColour.GREY))
        return True
    return _fill_cell(cell, word)


def _replace_spot(at: TextSpot, owner: Owner | None) -> None:
    """Replace an owner typed as text by a mention, a name, or (None) nothing."""
    if owner is None:
        at.replace("")
    elif owner.kind == "name":
        at.replace(owner.value)
    else:
        at.replace_by(make_mention(owner))


def _replace_date_spot(at: TextSpot, due: date | None) -> None:
    """Replace a date typed as text by another, written the same way; None removes
    it with the words introducing it ("by ...")."""
    if due is None:
        at.replace("", with_lead=True)
    elif at.value().casefold() in NO_VALUE_WORDS:  # "TBD": a date of Confluence's own
        at.replace_by(make_time(due))
    else:
        at.replace(format_like(at.value(), due))


def _replace_by_text(el: Element, text: str) -> None:
    """Put text where an element stood (its tail kept)."""
    previous, parent = el.getprevious(), el.getparent()
    joined = text + (el.tail or "")
    if previous is not None:
        previous.tail = (previous.tail or "") + joined
    elif parent is not None:
        parent.text = (parent.text or "") + joined
    if parent is not None:
        parent.remove(el)


def _elements(el: Element) -> Iterator[Element]:
    return (child for child in el.iter() if isinstance(child.tag, str))


def _inline_container(body: Element) -> Element:
    """Where a task's inline content lives: the task body, or the one span/paragraph
    wrapping it (Cloud wraps it in `<span class="placeholder-inline-tasks">`)."""
    children = [child for child in body if isinstance(child.tag, str) and child.tag != TASK_LIST]
    if (
        len(children) == 1
        and children[0].tag in ("span", "p")
        and not (body.text or "").strip()
        and not (children[0].tail or "").strip()
    ):
        return children[0]
    return body


def _append_inline(container: Element, new: Element) -> None:
    """Add `new` at the end of the inline content (before any nested task list)."""
    index = next(
        (index for index, child in enumerate(container) if child.tag == TASK_LIST),
        len(container),
    )
    insert_at(container, index, new)


def _set_task_status(task: Element, status: str) -> None:
    for child in task:
        if child.tag == TASK_STATUS:
            for grandchild in list(child):
                child.remove(grandchild)
            child.text = status
            return
    element = etree.Element(TASK_STATUS)
    element.text = status
    index = 0
    for position, child in enumerate(task):
        if child.tag in (TASK_ID, TASK_UUID):
            index = position + 1
    task.insert(index, element)


def _set_time(time: Element, due: date) -> None:
    time.set("datetime", due.isoformat())
    for child in list(time):
        time.remove(child)
    time.text = None


def _cell_target(cell: Element) -> Element:
    """The element holding a cell's content: the cell, or the single paragraph (or
    Cloud's `div.content-wrapper`) it wraps its content in."""
    target = cell
    while True:
        children = [child for child in target if isinstance(child.tag, str)]
        if (
            len(children) == 1
            and children[0].tag in _WRAPPERS
            and not (target.text or "").strip()
            and not (children[0].tail or "").strip()
        ):
            target = children[0]
        else:
            return target


def _cell_inline_end(cell: Element) -> Element:
    """Where to append to a cell's text: its last paragraph if it has paragraphs."""
    target = _cell_target(cell)
    children = [child for child in target if isinstance(child.tag, str)]
    if children and children[-1].tag == "p":
        return children[-1]
    return target


def _fill_cell(cell: Element, content: Element | str) -> bool:
    """Add a value to a cell that shows none: at the end of its text (its paragraph
    wrapper kept), so that nothing a person wrote in it is lost. A cell holding tasks
    is left alone: those tasks are items a person wrote."""
    if next(cell.iter(TASK), None) is not None:
        return False
    target = _cell_inline_end(cell)
    if isinstance(content, str):
        last = target[-1] if len(target) else None
        if last is not None:
            last.tail = _joined(last.tail, content)
        else:
            target.text = _joined(target.text, content)
        return True
    content.tail = None
    if len(target) or (target.text or "").strip():
        previous = target[-1] if len(target) else None
        if previous is not None:
            previous.tail = _joined(previous.tail, "")
        else:
            target.text = _joined(target.text, "")
    target.append(content)
    return True


def _joined(before: str | None, text: str) -> str:
    """`text` after what a text node holds, a space between when it has words."""
    before = before or ""
    if before.strip() and not before[-1].isspace():
        return f"{before} {text}"
    return before + text


def _text_slots(holder: Element) -> Iterator[tuple[Element, str]]:
    """Every text node under `holder` that shows on the page, as (element, "text" or
    "tail"), in page order; macro parameters are not shown, so not included."""
    yield holder, "text"
    for child in holder:
        if not isinstance(child.tag, str):
            yield child, "tail"
            continue
        if child.tag not in MACRO_TAGS and child.tag != PARAMETER:
            yield from _text_slots(child)
        yield child, "tail"


def _key_slot(ref: TicketRef) -> tuple[Element, str, int, int] | None:
    """Where a bare ticket key stands in its cell: (element, slot, start, end)."""
    if ref.holder is None:
        return None
    for el, slot in _text_slots(ref.holder):
        text = (el.text if slot == "text" else el.tail) or ""
        start = text.find(ref.key)
        while start >= 0:
            end = start + len(ref.key)
            if before_key_end(text[:end], ref.key) is not None and (
                end == len(text) or not (text[end].isalnum() or text[end] in "_-")
            ):
                return el, slot, start, end
            start = text.find(ref.key, start + 1)
    return None


def _split_at(el: Element, slot: str, offset: int, new: Element) -> None:
    """Insert `new` into a text node at `offset`."""
    if slot == "text":
        text = el.text or ""
        el.text = text[:offset]
        new.tail = text[offset:] or None
        el.insert(0, new)
    else:
        text = el.tail or ""
        el.tail = text[:offset]
        new.tail = text[offset:] or None
        el.addnext(new)


def _insert_after_text_key(ref: TicketRef, new: Element) -> None:
    slot = _key_slot(ref)
    if slot is not None:
        el, where, _, end = slot
        _split_at(el, where, end, new)


def _replace_text_key(ref: TicketRef, macro: Element) -> bool:
    """Replace a bare ticket key typed in a cell by a jira macro."""
    slot = _key_slot(ref)
    if slot is None:
        return False
    el, where, start, end = slot
    rest = ((el.text if where == "text" else el.tail) or "")[end:]
    _split_at(el, where, start, macro)
    macro.tail = rest or None
    return True
