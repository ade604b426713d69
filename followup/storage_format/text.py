"""The visible text of an action item: what a person reads, without the markup that
carries the item's other fields (mentions, dates, badges, ticket references).

Pure: a tree in, a string out.
"""

from __future__ import annotations

import re

from followup.storage_format.xml import (
    LINK,
    MACRO_TAGS,
    NAME,
    USER,
    Element,
    ac,
    ri,
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
_EMOTICON = ac("emoticon")
_BROWSE = re.compile(r"/browse/([A-Za-z][A-Za-z0-9_]*-[0-9]+)(?:[/?#]|$)")
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff")
_HAS_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def browse_key(href: str | None) -> str | None:
    """The issue key of a Jira `/browse/KEY-N` URL, or None."""
    if not href:
        return None
    match = _BROWSE.search(href)
    return match.group(1).upper() if match else None


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
    zero-width characters dropped."""
    if not text.isascii() and _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
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


# How `_collect` treats an element, by tag (anything else is a block).
_SKIP, _INLINE_KIND, _MACRO, _LINK_KIND, _ANCHOR, _EMOTICON_KIND = range(6)
_KINDS: dict[str, int] = {
    **{tag: _INLINE_KIND for tag in _INLINE},
    **{tag: _MACRO for tag in MACRO_TAGS},
    LINK: _LINK_KIND,
    "a": _ANCHOR,
    ac("emoticon"): _EMOTICON_KIND,
    **{tag: _SKIP for tag in _HIDDEN},
}
_BLOCK = -1


def _collect(el: Element, parts: list[str], drop: Element | None) -> None:
    """Append the element's visible text (its own text, its children's, their tails)."""
    append = parts.append
    if el.text:
        append(el.text)
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and child is not drop:
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
