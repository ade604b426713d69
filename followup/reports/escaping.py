"""Text from pages, and from the sites, made safe for each output it is printed in.

Everything a page says (item text, owner names, titles), and everything Jira or
Confluence answers (display names, summaries, error messages), is untrusted text. It
must read as the text it is in every report, never act as the output's own syntax:

    terminal   no control characters (an ANSI escape sequence could recolour, move
               the cursor, retitle the window or write a hyperlink) and no
               bidirectional overrides (which reorder what is shown). rich markup is
               not a concern here: callers hand `rich` `Text` objects, never markup.
    Markdown   every character that is Markdown or HTML syntax is backslash-escaped,
               so no raw HTML, image, link, emphasis or table cell boundary can come
               from the text; URLs and e-mail addresses are kept from being
               autolinked (GitHub links `www.`, `http://` and `a@b.c` in plain text).
    HTML       `html.escape`, where the HTML reports build their markup.

Pure: values in, values out.
"""

from __future__ import annotations

import re

__all__ = ["markdown_text", "terminal_text"]

# C0 controls, DEL and C1 controls (U+009B is a one-character CSI on some terminals),
# and the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069) that reorder the characters around them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE_CONTROLS = re.compile("[\t\n\r\v\f]+")

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that
# can start syntax: emphasis, code, links and images, raw HTML and entities, table
# cells, headings, strikethrough, math, footnotes; and `:` and `@`, whose escaping
# keeps a URL or an e-mail address from being autolinked.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&$^:@])")
# `www.example.com` is autolinked without a scheme: break the `www.` it starts with.
_WWW = re.compile(r"(?i)\b(www)\.")


def terminal_text(value: str, *, keep_lines: bool = False) -> str:
    """`value` as plain text for a terminal: line breaks and tabs become spaces (kept
    with `keep_lines`), every other control character and bidirectional override is
    dropped."""
    if keep_lines:
        return _UNPRINTABLE_IN_LINES.sub("", value.replace("\r\n", "\n"))
    return _UNPRINTABLE.sub("", _WHITESPACE_CONTROLS.sub(" ", value))


def markdown_text(value: str) -> str:
    """`value` as literal Markdown inline text (also safe inside a GFM table cell):
    it renders as exactly the characters it holds, on one line."""
    text = terminal_text(value)
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _WWW.sub(r"\1\\.", text)
