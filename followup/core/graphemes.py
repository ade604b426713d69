"""Text cut without breaking what a reader sees as one character.

A user-perceived character (a grapheme cluster: a family emoji joined by zero-width
joiners, a flag's two regional indicators, a letter and its combining accents, an
emoji and its skin tone or variation selector) is kept whole, as Unicode's extended
grapheme clusters define it (UAX #29, through the `regex` module's `\\X`).

Pure: strings in, strings out.
"""

from __future__ import annotations

import regex

_CLUSTER = regex.compile(r"\X")
ELLIPSIS = "…"


def utf16_length(text: str) -> int:
    """The length Jira counts: UTF-16 code units (a character outside the Basic
    Multilingual Plane, such as most emoji, counts two)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def clip(text: str, limit: int, *, utf16: bool = False) -> str:
    """`text` if it fits in `limit` characters (UTF-16 code units with `utf16`), else
    its longest beginning of whole grapheme clusters that fits with an ellipsis after
    it (trailing spaces dropped)."""
    measure = utf16_length if utf16 else len
    if measure(text) <= limit:
        return text
    room = limit - measure(ELLIPSIS)
    if not utf16 and room > 0 and _ascii_boundary(text, room):
        return text[:room].rstrip() + ELLIPSIS
    used = 0
    end = 0
    for match in _CLUSTER.finditer(text):
        size = measure(match.group())
        if used + size > room:
            break
        used += size
        end = match.end()
    return text[:end].rstrip() + ELLIPSIS


def _ascii_boundary(text: str, end: int) -> bool:
    """Whether a cluster boundary is sure at `end` without the cluster walk: between
    two ASCII characters there always is one (except LF after CR), since an ASCII
    character never extends a cluster and none prepends one. The common case."""
    before, after = text[end - 1], text[end : end + 1]
    return before.isascii() and after.isascii() and not (before == "\r" and after == "\n")
