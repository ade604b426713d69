"""The words extraction looks for: section headings, column headers, status words and
the words that introduce a typed due date. English by default; a space that writes its
postmortems in another language sets its own (the `[extract]` settings).

A `Vocabulary` is plain data (tuples of strings, hashable); `compiled(vocabulary)`
turns one into the patterns extraction uses, once per distinct vocabulary.

Matching rules, the same for every list:

- case does not matter (casefolded), and any run of whitespace between the words of a
  phrase matches any other;
- a hyphen in a phrase ("follow-up") matches any hyphen or dash people type, or a space;
- a word in a Latin, Greek or Cyrillic (spaced) script matches as a whole word, with an
  English plural allowed (`owner` matches "Owners", not "Ownership"); a phrase in a
  script written without spaces (Japanese, Chinese) matches anywhere in the text.

Pure: values in, values out. It lives outside `followup.core.storage_format` so that the
settings can build one without loading the parser.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Role = Literal["action", "owner", "due", "status", "ticket", "priority", "team"]

# The order roles are given out in (see `tables.read_table`).
ROLES: tuple[Role, ...] = ("status", "priority", "owner", "due", "action", "ticket", "team")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words of one language (or one team's habits) that extraction looks for.

    - `section_headings`: a heading containing one starts an action-item section.
    - `non_action_headings`: a table under a heading containing one (revision history,
      timeline, change log, release notes, decisions) never holds action items.
    - `*_columns`: header words naming each column role, in order of preference.
    - `non_action_columns`: a table with a column named so is never an action-item table.
    - `weak_columns`: header words too general to make a table an action-item table on
      their own outside an action-item section ("Description", "Who", "Date").
    - `done_words` / `open_words`: status cell text meaning done / not done.
    - `date_words`: words introducing a due date typed in a task ("by 2026-12-18").
    """

    section_headings: tuple[str, ...] = (
        "action item",
        "follow-up",
        "corrective action",
        "preventive action",
        "preventative action",
        "remediation",
        "next step",
        "action plan",
        "what we will change",
        "what we'll change",
        "what we will do",
        "improvement",
        "todo",
        "to-do",
    )
    non_action_headings: tuple[str, ...] = (
        "revision history",
        "document history",
        "version history",
        "change history",
        "change log",
        "changelog",
        "timeline",
        "chronology",
        "sequence of events",
        "release notes",
        "release history",
        "decision",
        "page history",
    )
    action_columns: tuple[str, ...] = (
        "action",
        "task",
        "item",
        "to-do",
        "todo",
        "follow-up",
        "remediation",
        "description",
        "what",
    )
    owner_columns: tuple[str, ...] = ("owner", "assignee", "responsible", "assigned to", "who")
    due_columns: tuple[str, ...] = (
        "due",
        "deadline",
        "target date",
        "eta",
        "date",
        "when",
        "by",
    )
    status_columns: tuple[str, ...] = ("status", "state")
    ticket_columns: tuple[str, ...] = ("ticket", "jira", "issue", "bug", "link", "linked")
    priority_columns: tuple[str, ...] = ("priority",)
    team_columns: tuple[str, ...] = ("team", "project", "squad")
    non_action_columns: tuple[str, ...] = (
        "version",
        "revision",
        "author",
        "time",
        "timestamp",
        "event",
        "decision",
        "release",
        "changed by",
        "modified",
        "edited by",
    )
    weak_columns: tuple[str, ...] = ("description", "what", "who", "date", "when", "by")
    done_words: tuple[str, ...] = (
        "done",
        "complete",
        "completed",
        "closed",
        "resolved",
        "fixed",
    )
    open_words: tuple[str, ...] = (
        "to do",
        "todo",
        "open",
        "new",
        "not started",
        "not done",
        "started",
        "in progress",
        "ongoing",
        "pending",
        "planned",
        "blocked",
        "backlog",
        "reopened",
        "overdue",
    )
    date_words: tuple[str, ...] = ("by", "due", "due by", "due on", "due date", "before")
    incident_rows: tuple[str, ...] = ("incident", "incident ticket", "incident key")

    def columns(self, role: Role) -> tuple[str, ...]:
        """The header words of a role, in order of preference."""
        return {
            "action": self.action_columns,
            "owner": self.owner_columns,
            "due": self.due_columns,
            "status": self.status_columns,
            "ticket": self.ticket_columns,
            "priority": self.priority_columns,
            "team": self.team_columns,
        }[role]


DEFAULT_VOCABULARY = Vocabulary()

_HYPHENS = "-\u2010\u2011\u2012\u2013"


def _unspaced(char: str) -> bool:
    """Whether a character belongs to a script written without spaces between words."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def phrase_pattern(phrase: str, *, plural: bool = True) -> str:
    """The regex source matching a phrase per the module's rules (casefolded text)."""
    words = phrase.casefold().split()
    if not words:
        return r"(?!)"
    parts: list[str] = []
    for word in words:
        pieces = re.split(f"[{_HYPHENS}]", word)
        parts.append(rf"(?:[{_HYPHENS}]|\s+)".join(re.escape(piece) for piece in pieces))
    body = r"\s+".join(parts)
    first, last = words[0][0], words[-1][-1]
    start = "" if _unspaced(first) else r"(?<!\w)"
    if _unspaced(last):
        return f"{start}{body}"
    suffix = "(?:s|es)?" if plural and last.isalpha() else ""
    return rf"{start}{body}{suffix}(?!\w)"


def words_pattern(phrases: tuple[str, ...], *, plural: bool = True) -> re.Pattern[str]:
    """One pattern matching any of the phrases (never matching when there are none),
    per the module's rules, in casefolded text. The word boundaries are shared by all
    the phrases of a kind rather than repeated in each, so that the regex engine can
    scan for the phrases' letters (a heading is matched in a few microseconds)."""
    plural_words: list[str] = []
    plain_words: list[str] = []
    unspaced: list[str] = []
    for phrase in phrases:
        normal = " ".join(phrase.casefold().split())
        if not normal:
            continue
        source = _phrase_body(normal)
        if any(_unspaced(char) for char in normal):
            unspaced.append(source)
        elif plural and normal[-1].isalpha():
            plural_words.append(source)
        else:
            plain_words.append(source)
    parts = []
    if plural_words:
        parts.append(r"(?<!\w)(?:" + "|".join(plural_words) + r")(?:s|es)?(?!\w)")
    if plain_words:
        parts.append(r"(?<!\w)(?:" + "|".join(plain_words) + r")(?!\w)")
    if unspaced:
        parts.append("(?:" + "|".join(unspaced) + ")")
    return re.compile("|".join(parts) if parts else r"(?!)")


def _phrase_body(normal: str) -> str:
    """A casefolded phrase's words, any whitespace between them, any hyphen (or a
    space) where it has a hyphen."""
    parts: list[str] = []
    for word in normal.split():
        pieces = re.split(f"[{_HYPHENS}]", word)
        parts.append(rf"(?:[{_HYPHENS}]|\s+)".join(re.escape(piece) for piece in pieces))
    return r"\s+".join(parts)


def normalise_word(text: str) -> str:
    """How a cell's text is compared with a list of words: casefolded, spaces collapsed."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True, eq=False)
class Compiled:
    """A vocabulary's patterns and word sets. Compared by identity: one per vocabulary."""

    vocabulary: Vocabulary
    section: re.Pattern[str]
    non_action_heading: re.Pattern[str]
    # Per role, in preference order: (pattern, whether the word is weak).
    role_keywords: tuple[tuple[Role, tuple[tuple[re.Pattern[str], bool], ...]], ...]
    non_action_column: re.Pattern[str]
    done: frozenset[str]
    open: frozenset[str]
    status_word: re.Pattern[str]
    date_intro: re.Pattern[str]


def compiled(vocabulary: Vocabulary) -> Compiled:
    """The patterns of a vocabulary (remembered: a run uses one or two; the one used
    last is found without hashing the vocabulary again)."""
    global _last_compiled
    last = _last_compiled  # one read: another thread may replace it meanwhile
    if last is not None and last[0] is vocabulary:
        return last[1]
    words = _compiled(vocabulary)
    _last_compiled = (vocabulary, words)
    return words


_last_compiled: tuple[Vocabulary, Compiled] | None = None


@functools.lru_cache(maxsize=16)
def _compiled(vocabulary: Vocabulary) -> Compiled:
    weak = frozenset(normalise_word(word) for word in vocabulary.weak_columns)
    role_keywords = tuple(
        (
            role,
            tuple(
                (re.compile(phrase_pattern(word)), normalise_word(word) in weak)
                for word in vocabulary.columns(role)
            ),
        )
        for role in ROLES
    )
    done = frozenset(normalise_word(word) for word in vocabulary.done_words)
    open_ = frozenset(normalise_word(word) for word in vocabulary.open_words)
    # A status cell opening with a status word, then a separator and a note of the
    # person's ("Done - merged in #123"): the word is the value, the rest is theirs.
    status_words = sorted(done | open_, key=len, reverse=True)
    status_word = re.compile(
        "^(" + "|".join(phrase_pattern(word, plural=False) for word in status_words) + ")"
        r"(?=\s*(?:[-\u2013\u2014:;,(\[]|$))"
        if status_words
        else r"(?!)",
        re.IGNORECASE,
    )
    date_words = sorted(vocabulary.date_words, key=len, reverse=True)
    date_intro = re.compile(
        "(?:" + "|".join(phrase_pattern(word, plural=False) for word in date_words) + r"):?\s+"
        if date_words
        else r"(?!)"
    )
    return Compiled(
        vocabulary=vocabulary,
        section=words_pattern(vocabulary.section_headings),
        non_action_heading=words_pattern(vocabulary.non_action_headings),
        role_keywords=role_keywords,
        non_action_column=words_pattern(vocabulary.non_action_columns),
        done=done,
        open=open_,
        status_word=status_word,
        date_intro=date_intro,
    )
