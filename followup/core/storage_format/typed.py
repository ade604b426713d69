"""Owners, due dates and statuses typed as text: where the value stands in what a
person wrote, so that it can be read like a mention or a `<time>`, and replaced
without touching the words around it.

- In a task: `@name` opening it (one word) or `@Name Surname` closing it is the owner;
  a date introduced by a date word ("by 2026-12-18", "due 18 Dec 2026", "before ...")
  is the due date.
- In an owner cell: the name, without a note after it ("Priya Natarajan (backup:
  Tomasz)", "Ana Ruiz - until May").
- In a due cell: the date opening it, possibly introduced by a date word, without the
  note after it ("2026-12-31 regulator deadline, do not move").
- In a status cell: the status word opening it, without a note set off after it
  ("Done - merged in #123").

Pure: strings in, positions and values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from followup.core.vocabulary import Compiled

# The shapes `dates.parse_due_text` reads (checked again by it: a shape is not a date).
_DATE = (
    r"\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\.?,?\s+\d{4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{4}"
)
_YEAR = re.compile(r"\d{4}")
_DATE_ONLY = re.compile(rf"(?<![\w/.-])({_DATE})(?![\w/-]|\.\d)", re.IGNORECASE)
# Between a date opening a cell and a note after it: a space, a separator, or nothing.
_AFTER_VALUE = r"(?=$|[\s,;:(\[\u2013\u2014-])"
_LEADING_DATE = re.compile(rf"^({_DATE}){_AFTER_VALUE}", re.IGNORECASE)

# A note set off after an owner's name: in brackets, or after a spaced dash or a
# semicolon ("Priya Natarajan (backup: Tomasz)", "Ana Ruiz - until May").
_OWNER_NOTE = re.compile(r"\s+[(\[]|\s[-\u2013\u2014]\s|;\s")
# `@name` opening a task: one word. `@Name Surname` closing it: words after the
# first capitalised (so "@priya" and "@Hrvoje Dakovic" close a task, "@ana tomorrow"
# does not).
_LEADING_OWNER = re.compile(r"^(@[^\W\d][\w.'-]*)(?=\s|$)")
_TRAILING_OWNER = re.compile(r"(?:^|(?<=\s))(@[^\W\d][\w.'-]*(?:\s+[^\W\d_a-z][\w.'-]*){0,2})$")

_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAY_FIRST_NAMED = re.compile(r"^\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]", re.IGNORECASE)
_MONTH_FIRST = re.compile(r"^[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Typed:
    """A value found in a string: the value's characters `[start, end)`, and `lead`
    where the words introducing it start (else `start`)."""

    value: str
    start: int
    end: int
    lead: int


def typed_owner(text: str) -> Typed | None:
    """An owner typed in a task's text: `@name` opening it or `@Name Surname` closing it."""
    if "@" not in text:
        return None
    match = _LEADING_OWNER.match(text) or _TRAILING_OWNER.search(text)
    if match is None:
        return None
    return Typed(match.group(1), match.start(1), match.end(1), match.start(1))


def typed_date(text: str, words: Compiled) -> Typed | None:
    """A due date introduced by a date word anywhere in a task's text ("by 2026-12-18")."""
    if _YEAR.search(text) is None:  # every date shape has one: most tasks have none
        return None
    for intro in words.date_intro.finditer(text):
        match = _DATE_ONLY.match(text, intro.end())
        if match is not None:
            return Typed(match.group(1), match.start(1), match.end(1), intro.start())
    return None


def leading_date(text: str, words: Compiled) -> Typed | None:
    """A date opening a due cell's text (after an optional date word), a note after it."""
    offset = 0
    intro = words.date_intro.match(text)
    if intro is not None:
        offset = intro.end()
    match = _LEADING_DATE.match(text[offset:])
    if match is None:
        return None
    return Typed(match.group(1), offset, offset + match.end(1), 0)


def owner_name(text: str) -> str:
    """An owner cell's name: its text without a note set off after the name; empty
    when the text opens with a note ("(backup: Tomasz)", "- on leave")."""
    if only_a_note(text):
        return ""
    match = _OWNER_NOTE.search(text)
    return text if match is None else text[: match.start()]


_NOTE_OPENERS = frozenset("([-\u2013\u2014;")


def only_a_note(text: str) -> bool:
    """Whether a cell's text opens with a note ("(regulator)", "- on leave"): it
    states no value, and a value followup adds goes after it."""
    return text[:1] in _NOTE_OPENERS and text not in _DASHES


_DASHES = frozenset({"-", "\u2013", "\u2014"})


def leading_status(text: str, words: Compiled) -> Typed | None:
    """The status word a status cell's text is, or opens with before a note set off
    by a separator ("Done - merged"), as typed; None when it names no status."""
    match = words.status_word.match(text)
    if match is None:
        return None
    return Typed(match.group(1), 0, match.end(1), 0)


def format_like(written: str, due: date) -> str:
    """`due` written the way `written` was: "31 Aug 2026" / "31 August 2026", "Aug 31,
    2026", else `YYYY-MM-DD` (a numeric date is never written back: it can read two
    ways). Month names are English, whatever the machine's locale."""
    month = _MONTH_NAMES[due.month - 1]
    if _DAY_FIRST_NAMED.match(written):
        name = month if _long_month(written) else month[:3]
        return f"{due.day} {name} {due.year}"
    if _MONTH_FIRST.match(written):
        name = month if _long_month(written) else month[:3]
        return f"{name} {due.day}, {due.year}"
    return due.isoformat()


_FULL_NAMES = frozenset(name.casefold() for name in _MONTH_NAMES if len(name) > 3)


def _long_month(written: str) -> bool:
    letters = re.search(r"[A-Za-z]{3,9}", written)
    return letters is not None and letters.group(0).casefold() in _FULL_NAMES
