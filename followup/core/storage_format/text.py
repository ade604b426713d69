"""The visible text of an action item: what a person reads, without the markup that
carries the item's other fields (mentions, dates, badges, ticket references); the
ticket references themselves; and `read_task_body`, which reads a task body's text,
owner, date and ticket in one walk.

Pure: a tree in, strings and elements out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from followup.core.model import Owner, TicketSite
from followup.core.storage_format.xml import (
    LINK,
    MACRO_TAGS,
    NAME,
    PARAMETER,
    TASK_LIST,
    USER,
    Element,
    ac,
    all_text,
    macro_name,
    mention_owner,
    ri,
    user_owner,
)

# Elements whose content never shows as text (macro parameters, prompts, task
# bookkeeping, the date of an item) or belongs to another item (nested task lists).
_HIDDEN = frozenset(
    {
        ac("parameter"),
        ac("placeholder"),
        ac("task-list"),
        ac("task-id"),
        ac("task-uuid"),
        ac("task-status"),
        ac("adf-attribute"),
        ac("adf-fallback"),
        "time",
    }
)
_HIDDEN_MACROS = frozenset({"status", "jira"})

# Inline elements join their text to their neighbours'; every other element is a
# boundary between words (a paragraph, a cell, a line break).
_INLINE = frozenset(
    {
        "span",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "del",
        "ins",
        "sub",
        "sup",
        "code",
        "a",
        "small",
        "big",
        "font",
        "mark",
        "abbr",
        "cite",
        "q",
        "time",
        LINK,
        ac("link-body"),
        ac("plain-text-link-body"),
        ac("inline-comment-marker"),
        ac("emoticon"),
    }
)
_LINK_BODIES = frozenset({ac("link-body"), ac("plain-text-link-body")})
_LINK_TARGET_NAMES = (ri("content-title"), ri("filename"), ri("value"), ri("space-key"))
_EMOJI_FALLBACK = ac("emoji-fallback")
_BROWSE = re.compile(r"/browse/([A-Za-z][A-Za-z0-9_]*-[0-9]+)(?:[/?#]|$)")
# Characters that show nothing and mean nothing in an item's text: zero-width spaces,
# word joiners, byte-order marks, and the bidirectional embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069), which can make a summary read differently
# from what it says. Dropped everywhere.
_DROPPED = "\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = str.maketrans("", "", _DROPPED)
_HAS_INVISIBLE = re.compile(f"[{_DROPPED}\u200c\u200d]")
# The zero-width joiner and non-joiner are part of the text where they join two
# characters (a family emoji, a Devanagari conjunct, a Persian word): dropped only
# where they stand next to a space or at an end, joining nothing.
_LOOSE_JOINERS = re.compile(r"(?:(?<=\s)|^)[\u200c\u200d]+|[\u200c\u200d]+(?=\s|$)")


_ISSUE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-[0-9]+")
_URL = ri("url")
_URL_VALUE = ri("value")


@dataclass(slots=True)
class TicketRef:
    """Where an item names its ticket: a jira macro, a `/browse/` link, or (in a
    table's ticket column) a bare key in the text of `holder`. (Not frozen: one is
    made for most items, and a frozen class is slow to fill; nothing changes one.)"""

    key: str
    element: Element | None
    holder: Element | None = None


def jira_key(macro: Element) -> str | None:
    """The issue key a jira macro shows (upper case), or None for any other element
    and for a jira macro whose key is not one."""
    if macro_name(macro) != "jira":
        return None
    return _jira_parameter_key(macro)


def _jira_parameter_key(macro: Element) -> str | None:
    """`jira_key` of a macro known to be a jira macro."""
    for child in macro:  # the first `key` parameter, as `macro_parameter`
        if child.tag == PARAMETER and child.get(NAME) == "key":
            key = (child.text or "" if not len(child) else all_text(child)).strip()
            return key.upper() if _ISSUE_KEY.fullmatch(key) else None
    return None


def browse_link_key(el: Element) -> str | None:
    """The issue key of a link to `/browse/KEY-N` (an `<a href>`, or an `ac:link` to
    a URL), or None."""
    if el.tag == "a":
        return browse_key(el.get("href"))
    if el.tag == LINK:
        for child in el:
            if child.tag == _URL:
                return browse_key(child.get(_URL_VALUE))
    return None


def browse_key(href: str | None) -> str | None:
    """The issue key of a Jira `/browse/KEY-N` URL, or None."""
    if not href:
        return None
    match = _BROWSE.search(href)
    return match.group(1).upper() if match else None


def ticket_site(ref: TicketRef) -> TicketSite | None:
    """Which Jira a ticket reference names: a `/browse/` link's base URL, a jira
    macro's `serverId` and `server`; None when it names none (a bare key, a jira
    macro without a server)."""
    el = ref.element
    if el is None:
        return None
    if el.tag == "a" or el.tag == LINK:
        href = el.get("href") if el.tag == "a" else None
        if el.tag == LINK:
            href = next((c.get(_URL_VALUE) for c in el if c.tag == _URL), None)
        match = _BROWSE.search(href or "")
        return _site((href or "")[: match.start()] if match else "", None, None)
    server_id = server = None
    for child in el:  # the first of each parameter, as `macro_parameter`
        if child.tag == PARAMETER:
            name = child.get(NAME)
            if name == "serverId" and server_id is None:
                server_id = all_text(child)
            elif name == "server" and server is None:
                server = all_text(child)
    server_id = (server_id or "").strip() or None
    server = (server or "").strip() or None
    if server_id is None and server is None:
        return None
    return _site(None, server_id, server)


@functools.lru_cache(maxsize=256)
def _site(url: str | None, server_id: str | None, server: str | None) -> TicketSite:
    """A `TicketSite` (immutable; a page names one or two sites, remembered)."""
    return TicketSite(url=url, server_id=server_id, server=server)


def is_smart_browse_link(el: Element) -> bool:
    """Whether the element is a Cloud smart link to a Jira issue (what Cloud turns a
    jira macro into): never part of an item's text."""
    return (
        el.tag == "a"
        and el.get("data-card-appearance") is not None
        and bool(browse_key(el.get("href")))
    )


def collapse(text: str) -> str:
    """Whitespace (non-breaking spaces included) collapsed to single spaces, trimmed;
    invisible characters dropped (zero-width spaces, bidirectional controls, and
    joiners that join nothing); grapheme clusters kept whole."""
    if not text.isascii() and _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
        if "\u200c" in text or "\u200d" in text:
            text = _LOOSE_JOINERS.sub("", text)
    return " ".join(text.split())


def visible_text(el: Element, *, drop: Element | None = None) -> str:
    """The element's visible text, cleaned: mentions, dates, status and jira macros,
    placeholders, nested task lists and `drop` (the item's ticket link) left out."""
    count = len(el)
    if not count:
        return collapse(el.text or "")
    if count == 1:  # a table cell's single paragraph, the commonest case
        child = el[0]
        if child.tag == "p" and not len(child):
            return collapse(f"{el.text or ''} {child.text or ''} {child.tail or ''}")
    parts: list[str] = []
    _collect(el, parts, drop)
    return collapse("".join(parts))


# --- values typed as text -------------------------------------------------------------


@dataclass(slots=True)
class TextSpot:
    """Where a value typed as text stands: in `el`'s text or tail (`slot`), the
    characters `[start, end)`; `lead` is where the words introducing it start (the
    "by" of "by 2026-12-18"), else `start`. The renderer changes those characters
    and nothing around them."""

    el: Element
    slot: str  # "text" or "tail"
    start: int
    end: int
    lead: int

    def string(self) -> str:
        return (self.el.text if self.slot == "text" else self.el.tail) or ""

    def value(self) -> str:
        return self.string()[self.start : self.end]

    def replace(self, new: str, *, with_lead: bool = False) -> None:
        """Put `new` where the value (with its introducing words) stands."""
        text = self.string()
        start = self.lead if with_lead else self.start
        head, tail = text[:start], text[self.end :]
        if not new:  # removed: no double space left behind
            if head.endswith(" ") and (not tail or tail[0] in " .,;:)"):
                head = head[:-1]
            elif not head.strip() and tail.startswith(" "):
                tail = tail[1:]
        self._set(head + new + tail)

    def replace_by(self, new: Element) -> None:
        """Put an element (a mention, a date) where the value stands."""
        text = self.string()
        head, tail = text[: self.start], text[self.end :]
        new.tail = tail or None
        if self.slot == "text":
            self.el.text = head or None
            self.el.insert(0, new)
        else:
            self.el.tail = head or None
            self.el.addnext(new)

    def _set(self, text: str) -> None:
        if self.slot == "text":
            self.el.text = text or None
        else:
            self.el.tail = text or None


def text_slots(holder: Element) -> Iterator[tuple[Element, str]]:
    """Every piece of text under `holder` that shows on the page, as (element, "text"
    or "tail"), in page order: not inside hidden elements (macro parameters, dates,
    placeholders, nested task lists), mentions or status and jira macros."""
    yield holder, "text"
    for child in holder:
        tag = child.tag
        if isinstance(tag, str):
            kind = _KINDS.get(tag, _BLOCK)
            shown = kind != _SKIP and not (
                (kind == _MACRO and child.get(NAME) in _HIDDEN_MACROS)
                or (kind == _LINK_KIND and any(grandchild.tag == USER for grandchild in child))
            )
            if shown:
                yield from text_slots(child)
        yield child, "tail"


def find_literal(holder: Element, text: str, *, last: bool = False) -> TextSpot | None:
    """`find_text` of `literal_pattern(text)`: where `text` stands as typed, as a whole
    word. Looked for with `str.find` first, the pattern only when spacing differs."""
    spot: TextSpot | None = None
    word_start, word_end = text[:1].isalnum(), text[-1:].isalnum()
    only = holder[0] if len(holder) == 1 else None
    slots: Iterable[tuple[Element, str]] = (
        ((holder, "text"), (only, "text"), (only, "tail"))
        if only is not None
        and not len(only)
        and isinstance(only.tag, str)
        and _KINDS.get(only.tag, _BLOCK) in (_BLOCK, _INLINE_KIND)
        else text_slots(holder)
    )
    for el, slot in slots:
        string = el.text if slot == "text" else el.tail
        if not string:
            continue
        start = string.find(text)
        while start >= 0:
            end = start + len(text)
            if not (word_start and start and _word_char(string[start - 1])) and not (
                word_end and end < len(string) and _word_char(string[end])
            ):
                spot = TextSpot(el, slot, start, end, start)
                if not last:
                    return spot
            start = string.find(text, start + 1)
    if spot is not None:
        return spot
    return find_text(holder, literal_pattern(text), last=last)


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def literal_pattern(text: str) -> re.Pattern[str]:
    """A pattern finding `text` as typed: any run of spaces (non-breaking ones
    included) between its words, and not as part of a longer word."""
    body = r"[\s\u00a0]+".join(re.escape(word) for word in text.split())
    start = r"(?<!\w)" if text[:1].isalnum() else ""
    end = r"(?!\w)" if text[-1:].isalnum() else ""
    return re.compile(f"{start}({body}){end}")


def find_text(
    holder: Element, pattern: re.Pattern[str], group: int = 1, *, last: bool = False
) -> TextSpot | None:
    """The first (or `last`) match of `pattern` within one piece of `holder`'s shown
    text; its `group` is the value, the whole match its introduction and value. None
    when no single piece of text holds it (it spans formatting, say)."""
    spot: TextSpot | None = None
    for el, slot in text_slots(holder):
        text = el.text if slot == "text" else el.tail
        if not text:
            continue
        for match in pattern.finditer(text):
            spot = TextSpot(el, slot, match.start(group), match.end(group), match.start())
            if not last:
                return spot
    return spot


# How `_collect` treats an element, by tag (anything else is a block).
_SKIP, _INLINE_KIND, _MACRO, _LINK_KIND, _ANCHOR, _EMOTICON_KIND = range(6)
_KINDS: dict[object, int] = {
    **{tag: _INLINE_KIND for tag in _INLINE},
    **{tag: _MACRO for tag in MACRO_TAGS},
    LINK: _LINK_KIND,
    "a": _ANCHOR,
    ac("emoticon"): _EMOTICON_KIND,
    **{tag: _SKIP for tag in _HIDDEN},
    # Comments and processing instructions (lxml gives them these factories as their
    # tag): no text of their own, only their tails.
    etree.Comment: _SKIP,
    etree.ProcessingInstruction: _SKIP,
    etree.Entity: _SKIP,
}
_BLOCK = -1


def _collect(el: Element, parts: list[str], drop: Element | None) -> None:
    """Append the element's visible text (its own text, its children's, their tails)."""
    append = parts.append
    if el.text:
        append(el.text)
    for child in el:
        tag = child.tag
        if child is not drop:
            kind = _KINDS.get(tag, _BLOCK)
            if kind == _BLOCK:  # a block boundary separates words
                append(" ")
                _collect(child, parts, drop)
                append(" ")
            elif kind == _INLINE_KIND:
                if len(child):
                    _collect(child, parts, drop)
                elif child.text:
                    append(child.text)
            elif kind == _MACRO:
                if child.get(NAME) not in _HIDDEN_MACROS:  # a macro is a block
                    append(" ")
                    _collect(child, parts, drop)
                    append(" ")
            elif kind == _LINK_KIND:
                tags = [grandchild.tag for grandchild in child]
                if USER in tags:
                    pass  # a mention
                elif any(t in _LINK_BODIES for t in tags):
                    _collect(child, parts, drop)
                else:
                    append(_link_target(child))
            elif kind == _ANCHOR:
                if not is_smart_browse_link(child):
                    if len(child):
                        _collect(child, parts, drop)
                    elif child.text:
                        append(child.text)
            elif kind == _EMOTICON_KIND:
                fallback = child.get(_EMOJI_FALLBACK) or ""
                if not fallback.startswith(":"):
                    append(fallback)
        if child.tail:
            append(child.tail)


def _link_target(link: Element) -> str:
    """What Confluence shows for a link without a body: the page title, file name..."""
    for child in link:
        for name in _LINK_TARGET_NAMES:
            if value := child.get(name):
                return value
    return ""


# --- a task body in one walk ---------------------------------------------------------

_MARK_TAGS = (LINK, "time", "a", *MACRO_TAGS)


@dataclass(slots=True)
class TaskReading:
    """What a task body says, read in one walk: its visible text (without the ticket
    link), its owner (the first mention), its date element (the first `<time>`) and
    its ticket (the first jira macro, else the first `/browse/` link). Nested task
    lists are left out of all of them: their content is other items'."""

    text: str
    owner: Owner | None
    mention: Element | None  # the mention naming the owner
    time: Element | None
    ticket: TicketRef | None


class _Marks:
    """The first of each mark met so far, and where the first `/browse/` link's text
    sits in the collected parts (so it can be left out if it is the ticket)."""

    __slots__ = ("end", "jira", "link", "mention", "owner", "start", "time")

    def __init__(self) -> None:
        self.owner: Owner | None = None
        self.mention: Element | None = None
        self.time: Element | None = None
        self.jira: TicketRef | None = None
        self.link: TicketRef | None = None
        self.start = self.end = -1


def read_task_body(body: Element) -> TaskReading:
    """A task body's text, owner, date and ticket (`TaskReading`): the same as
    `visible_text(body, drop=<ticket link>)` and the first mention, `<time>`, jira
    macro and `/browse/` link among the body's descendants outside nested task lists,
    in one walk of the tree instead of two."""
    return TaskReading(*read_task_fields(body))


def read_task_fields(
    body: Element,
) -> tuple[str, Owner | None, Element | None, Element | None, TicketRef | None]:
    """`read_task_body` as a tuple `(text, owner, mention, time, ticket)`."""
    parts: list[str] = []
    marks = _Marks()
    _walk_task(body, parts, marks)
    jira = marks.jira
    ticket = jira or marks.link
    if jira is None and marks.start >= 0:
        del parts[marks.start : marks.end]  # the ticket link is not part of the text
    return collapse("".join(parts)), marks.owner, marks.mention, marks.time, ticket


def _mark(el: Element, tag: object, marks: _Marks) -> None:
    """Note the element (of a tag in `_MARK_TAGS`) if it is the first of its mark."""
    if tag == LINK:
        if marks.owner is None and any(child.tag == USER for child in el):
            _note_mention(el, marks)
        if marks.link is None and (key := browse_link_key(el)):
            marks.link = TicketRef(key, el)
    elif tag == "time":
        if marks.time is None:
            marks.time = el
    elif tag == "a":
        if marks.link is None and (key := browse_key(el.get("href"))):
            marks.link = TicketRef(key, el)
    elif marks.jira is None and (key := jira_key(el)):  # a macro
        marks.jira = TicketRef(key, el)


def _walk_task(el: Element, parts: list[str], marks: _Marks) -> None:
    """`_collect` (visible text) and `_mark` (every element not under a task list) in
    one walk of the element's children. Mentions, dates and status and jira macros,
    which most task bodies hold, are read here directly: their children are looked at
    once (and walked further only in the rare case that one has children)."""
    append = parts.append
    if el.text:
        append(el.text)
    for child in el:
        tag = child.tag
        kind = _KINDS.get(tag, _BLOCK)
        if kind == _INLINE_KIND:
            if len(child):
                _walk_task(child, parts, marks)
            elif child.text:
                append(child.text)
        elif kind == _LINK_KIND:
            _walk_link(child, parts, marks)
        elif kind == _MACRO:
            name = child.get(NAME)
            if name in _HIDDEN_MACROS:
                # A status or jira macro holds its parameters' plain text: no
                # mention, date or link inside one shows on the page.
                if name == "jira" and marks.jira is None:
                    key = _jira_parameter_key(child)
                    if key is not None:
                        marks.jira = TicketRef(key, child)
            else:  # a macro is a block
                append(" ")
                _walk_task(child, parts, marks)
                append(" ")
        elif kind == _BLOCK:
            append(" ")
            _walk_task(child, parts, marks)
            append(" ")
        elif kind == _ANCHOR:
            start = len(parts)
            key = browse_key(child.get("href")) if marks.link is None else None
            first_link = key is not None
            if key is not None:
                marks.link = TicketRef(key, child)
            if not is_smart_browse_link(child):
                if len(child):
                    _walk_task(child, parts, marks)
                elif child.text:
                    append(child.text)
            elif len(child):
                _hidden_marks(child, marks)
            if first_link:
                marks.start, marks.end = start, len(parts)
        elif tag == "time":
            if marks.time is None:
                marks.time = child
            if len(child):
                _hidden_marks(child, marks)
        elif tag != TASK_LIST:  # hidden, or an emoticon; a task list is another item's
            if kind == _EMOTICON_KIND:
                fallback = child.get(_EMOJI_FALLBACK) or ""
                if not fallback.startswith(":"):
                    append(fallback)
            if len(child):
                _hidden_marks(child, marks)
        if child.tail:
            append(child.tail)


def _walk_link(link: Element, parts: list[str], marks: _Marks) -> None:
    """An `ac:link` in `_walk_task`: a mention (the owner, no text), a link with a
    body (its text) or without (what Confluence shows for its target); the first to a
    `/browse/` URL may be the ticket, its text noted so it can be left out."""
    user: Element | None = None
    url = has_body = deep = False
    for child in link:
        tag = child.tag
        if tag == USER:
            if user is None:
                user = child
        elif tag == _URL:
            url = True
        elif tag in _LINK_BODIES:
            has_body = True
        if len(child) or tag in _MARK_SET:
            deep = True
    if user is not None and marks.owner is None:
        _note_mention(link, marks, user)
    start = len(parts)
    key = browse_link_key(link) if url and marks.link is None else None
    first_link = key is not None
    if key is not None:
        marks.link = TicketRef(key, link)
    if user is not None:  # a mention shows no text of ours
        if deep:
            _hidden_marks(link, marks)
    elif has_body:
        _walk_task(link, parts, marks)
    else:
        parts.append(_link_target(link))
        if deep:
            _hidden_marks(link, marks)
    if first_link:
        marks.start, marks.end = start, len(parts)


def _note_mention(link: Element, marks: _Marks, user: Element | None = None) -> None:
    """The owner a mention names, if it names one (and it is the first to). `user`,
    its first `ri:user` when the caller has it, is read first and usually names it."""
    owner = (user_owner(user) if user is not None else None) or mention_owner(link)
    if owner is not None:
        marks.owner, marks.mention = owner, link


_MARK_SET = frozenset(_MARK_TAGS)


def _hidden_marks(el: Element, marks: _Marks) -> None:
    """`_mark` for the descendants of an element whose text does not show, outside
    nested task lists."""
    for child in el:
        tag = child.tag
        if tag in _MARK_SET:
            _mark(child, tag, marks)
            if tag in MACRO_TAGS and child.get(NAME) in _HIDDEN_MACROS:
                continue  # its parameters' plain text, as in `_walk_task`
        if tag != TASK_LIST and len(child):
            _hidden_marks(child, marks)
