"""The visible text of an action item: what a person reads, without the markup that
carries the item's other fields (mentions, dates, badges, ticket references).

Pure: a tree in, a string out.
"""

from __future__ import annotations

import re

from followup.storage_format.xml import (
    LINK,
    MACRO_TAGS,
    Element,
    ac,
    is_mention,
    macro_name,
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
    if _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
    return " ".join(text.split())


def visible_text(el: Element, *, drop: Element | None = None) -> str:
    """The element's visible text, cleaned: mentions, dates, status and jira macros,
    placeholders, nested task lists and `drop` (the item's ticket link) left out."""
    if not len(el):
        return collapse(el.text or "")
    parts: list[str] = []
    _collect(el, parts, drop)
    return collapse("".join(parts))


def _hidden(el: Element, drop: Element | None) -> bool:
    tag = el.tag
    if tag in _HIDDEN or el is drop:
        return True
    if tag in MACRO_TAGS:
        return macro_name(el) in _HIDDEN_MACROS
    if tag == LINK:
        return is_mention(el)
    if tag == "a":
        return is_smart_browse_link(el)
    return False


def _collect(el: Element, parts: list[str], drop: Element | None) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and not _hidden(child, drop):
            if tag in _INLINE:
                if tag == LINK and not any(c.tag in _LINK_BODIES for c in child):
                    parts.append(_link_target(child))
                elif tag == _EMOTICON:
                    fallback = child.get(_EMOJI_FALLBACK) or ""
                    if not fallback.startswith(":"):
                        parts.append(fallback)
                elif len(child):
                    _collect(child, parts, drop)
                elif child.text:
                    parts.append(child.text)
            else:  # a block boundary separates words
                parts.append(" ")
                _collect(child, parts, drop)
                parts.append(" ")
        if child.tail:
            parts.append(child.tail)


def _link_target(link: Element) -> str:
    """What Confluence shows for a link without a body: the page title, file name..."""
    for child in link:
        for name in _LINK_TARGET_NAMES:
            if value := child.get(name):
                return value
    return ""
