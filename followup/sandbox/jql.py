"""The sandbox's JQL: the subset of Jira Query Language that followup and its tests use.

`compile_jql` turns a query into a SQLite boolean expression over the table aliased
`issues` (plus `issue_labels`), its parameters and an ORDER BY clause. Pure: text in,
text and values out. No value from a query ever reaches the SQL text: every value is
a `?` parameter; the SQL text is assembled only from constants in this module.

What it accepts, and how it mirrors Jira:

- Clauses `field op value`, `field in (v1, v2)`, `not in`, `is [not] EMPTY`; `AND`
  (`&&`, `&`), `OR` (`||`, `|`), `NOT` (`!`), parentheses, AND binding tighter than
  OR; `ORDER BY field [ASC|DESC], ...`. Keywords and field names are case-insensitive.
- Values: bare words (`OPS-1`, `-7d`, account ids with a colon), single- or
  double-quoted strings with Jira's escapes (`\\"`, `\\'`, `\\\\`, `\\t`, `\\n`, `\\r`,
  `\\ `, `\\uXXXX`), `EMPTY`/`null`, and the functions `currentUser()`, `now()`,
  `startOfDay()`, `endOfDay()`, `startOfWeek()`, `endOfWeek()`, `startOfMonth()`,
  `endOfMonth()` (the `startOf`/`endOf` ones take an optional offset such as `"-1d"`;
  weeks start on Monday). Jira's reserved characters and reserved words must be quoted.
- Fields: project, key (issue, issuekey, id), labels, status, statusCategory,
  issuetype (type), priority, assignee, reporter, resolution, duedate (due), created
  (createdDate), updated (updatedDate), resolutiondate (resolved), summary,
  description and text.
- `!=` and `not in` never match an empty field, as in Jira: `labels != x` finds issues
  that have labels but not `x`; add `OR labels is EMPTY` for the unlabelled ones.
  `NOT clause` is the exact complement of the clause.
- `~` is a case-insensitive (ASCII) containment test per term: `summary ~ "replica lag"`
  needs both words, `summary ~ "\\"replica lag\\""` the phrase; `*` and `?` are
  wildcards. Jira's stemming and relevance are not emulated.
- Dates compare at minute precision in UTC: `created >= "2026-11-20"` means from
  midnight; `duedate` compares calendar dates. Relative values (`-7d`, `"4w 2d"`) and
  functions are resolved against `now` (default: the clock).
- User fields hold account ids. On Cloud a value is an account id; on Data Center it
  is a username (matched ignoring case), a user key or an account id, resolved through
  the sandbox's `users` table.
- Limits (so that every accepted query runs within SQLite's): 50 levels of nesting,
  300 clauses, 10,000 values in a list, 30,000 values in all.
- Not emulated: history operators (`WAS`, `CHANGED`), custom fields, project names
  (keys only), and checks that need the database (Jira rejects a `key =` naming an
  issue that does not exist; the search endpoint may add that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = ["KEY_NUMBER", "JqlError", "compile_jql"]


class JqlError(ValueError):
    """A query Jira would reject; `str()` is the message Jira would put in `errorMessages`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- lexing -------------------------------------------------------------------------

# Jira's lexer: these characters may not appear unquoted (JqlStringSupportImpl).
_RESERVED_CHARS = frozenset("{}*/%+^$#@?;[]")
# Characters that end a bare word (operators, punctuation, quotes).
_WORD_STOP = frozenset("\"'(),=!<>~&|") | _RESERVED_CHARS

# JqlStringSupportImpl.RESERVED_WORDS: bare values must not be one of these.
_RESERVED_WORDS_TEXT = """
    abort access add after alias all alter and any as asc audit avg before begin between
    boolean break by byte catch cf changed char character check checkpoint collate
    collation column commit connect continue count create current date decimal declare
    decrement default defaults define delete delimiter desc difference distinct divide do
    double drop else empty encoding end equals escape exclusive exec execute exists explain
    false fetch file field first float for from function go goto grant greater group having
    identified if immediate in increment index initial inner inout input insert int integer
    intersect intersection into is isempty isnull join last left less like limit lock long
    max min minus mode modify modulo more multiply next noaudit not notin nowait null number
    object of on option or order outer output power previous prior privileges public raise
    raw remainder rename resource return returns revoke right row rowid rownum rows select
    session set share size sqrt start strict string subtract sum synonym table then to trans
    transaction trigger true uid union unique update user validate values view was when
    whenever where while with
"""
_RESERVED_WORDS = frozenset(_RESERVED_WORDS_TEXT.split())

# Words the grammar itself uses. Everything else reserved is only forbidden as a value.
_KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
)

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}

TokenKind = Literal["word", "string", "op", "kw", "(", ")", ",", "eof"]
_PUNCTUATION: dict[str, TokenKind] = {"(": "(", ")": ")", ",": ","}


def _is_jql_control(ch: str) -> bool:
    """Jira's `isJqlControl`: characters that may appear in a query only escaped."""
    c = ord(ch)
    return (
        c <= 0x09
        or 0x0B <= c <= 0x0C
        or 0x0E <= c <= 0x1F
        or 0x7F <= c <= 0x9F
        or 0xFDD0 <= c <= 0xFDEF
        or 0xFFFE <= c <= 0xFFFF
        or 0xD800 <= c <= 0xDFFF  # lone surrogates cannot be bound as SQLite text
    )


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    value: str  # decoded text; the lower-cased keyword for "kw"
    raw: str  # as written, for messages
    pos: int


def _where(query: str, pos: int) -> str:
    line = query.count("\n", 0, pos) + 1
    column = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {column})"


def _syntax(query: str, pos: int, message: str) -> JqlError:
    return JqlError(f"Error in the JQL Query: {message} {_where(query, pos)}")


def _describe(tok: _Token) -> str:
    return "end of query" if tok.kind == "eof" else tok.raw


def _decode_escape(query: str, i: int) -> tuple[str, int]:
    """Decode the escape starting at `query[i] == '\\'`; return (text, next index)."""
    if i + 1 >= len(query):
        raise _syntax(query, i, "The escape sequence '\\' is invalid.")
    ch = query[i + 1]
    if ch in _ESCAPES:
        return _ESCAPES[ch], i + 2
    if ch == "u":
        digits = query[i + 2 : i + 6]
        if len(digits) == 4 and all(d in "0123456789abcdefABCDEF" for d in digits):
            code = int(digits, 16)
            if 0xD800 <= code <= 0xDBFF:  # a UTF-16 pair written as two escapes
                low = query[i + 6 : i + 12]
                if re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", low):
                    pair = 0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                    return chr(pair), i + 12
            elif not 0xDC00 <= code <= 0xDFFF:
                return chr(code), i + 6
        seq = query[i : i + 6]
        raise _syntax(query, i, f"The escape sequence '{seq}' is invalid.")
    raise _syntax(query, i, f"The escape sequence '\\{ch}' is invalid.")


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch in " \t\n\r\f\u3000" or (ch.isspace() and not _is_jql_control(ch)):
            i += 1
            continue
        start = i
        if ch in "\"'":
            out: list[str] = []
            i += 1
            while True:
                if i >= n:
                    text = query[start + 1 :]
                    raise _syntax(
                        query, start, f"The quoted string '{text}' has not been completed."
                    )
                c = query[i]
                if c == ch:
                    i += 1
                    break
                if c == "\\":
                    decoded, i = _decode_escape(query, i)
                    out.append(decoded)
                    continue
                if _is_jql_control(c):
                    raise _syntax(
                        query,
                        i,
                        f"The character '\\u{ord(c):04x}' is not allowed in a string;"
                        f" use the escape '\\u{ord(c):04x}' instead.",
                    )
                out.append(c)
                i += 1
            tokens.append(_Token("string", "".join(out), query[start:i], start))
            continue
        if ch in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[ch], ch, ch, start))
            i += 1
            continue
        two = query[i : i + 2]
        if two in ("!=", "!~", "<=", ">="):
            tokens.append(_Token("op", two, two, start))
            i += 2
            continue
        if ch in "=<>~":
            tokens.append(_Token("op", ch, ch, start))
            i += 1
            continue
        if ch in "!&|":
            length = 2 if two in ("&&", "||") else 1
            word = {"!": "not", "&": "and", "|": "or"}[ch]
            tokens.append(_Token("kw", word, query[i : i + length], start))
            i += length
            continue
        if ch in _RESERVED_CHARS:
            raise _syntax(
                query,
                i,
                f"The character '{ch}' is a reserved JQL character. You must enclose it"
                f" in a string or use the escape '\\u{ord(ch):04x}' instead.",
            )
        if _is_jql_control(ch):
            raise _syntax(
                query,
                i,
                f"The character '\\u{ord(ch):04x}' is not allowed in a query;"
                f" use the escape '\\u{ord(ch):04x}' inside a string instead.",
            )
        out = []
        while i < n:
            c = query[i]
            if c.isspace() or c in _WORD_STOP or _is_jql_control(c):
                break
            if c == "\\":
                decoded, i = _decode_escape(query, i)
                out.append(decoded)
                continue
            out.append(c)
            i += 1
        raw = query[start:i]
        if raw.lower() in _KEYWORDS:
            tokens.append(_Token("kw", raw.lower(), raw, start))
        else:
            tokens.append(_Token("word", "".join(out), raw, start))
    tokens.append(_Token("eof", "", "", n))
    return tokens


# -- the parse tree of an operand -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    value: str
    raw: str


@dataclass(frozen=True, slots=True)
class _Empty:
    raw: str


@dataclass(frozen=True, slots=True)
class _Func:
    name: str
    args: tuple[str, ...]
    raw: str


_Single = _Value | _Empty | _Func


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Single, ...]
    raw: str


_Operand = _Single | _List


# -- fields ---------------------------------------------------------------------------

_FieldKind = Literal[
    "key",
    "project",
    "labels",
    "plain",
    "user",
    "statuscategory",
    "resolution",
    "date",
    "datetime",
    "text",
    "alltext",
]

_EQ_OPS = frozenset({"=", "!=", "in", "not in"})
_EMPTY_OPS = frozenset({"is", "is not"})
_RANGE_OPS = frozenset({"<", "<=", ">", ">="})
_TEXT_OPS = frozenset({"~", "!~"})

_OPS_BY_KIND: dict[_FieldKind, frozenset[str]] = {
    "key": _EQ_OPS | _RANGE_OPS,
    "project": _EQ_OPS | _EMPTY_OPS,
    "labels": _EQ_OPS | _EMPTY_OPS,
    "plain": _EQ_OPS | _EMPTY_OPS,
    "user": _EQ_OPS | _EMPTY_OPS,
    "statuscategory": _EQ_OPS | _EMPTY_OPS,
    "resolution": _EQ_OPS | _EMPTY_OPS,
    "date": _EQ_OPS | _EMPTY_OPS | _RANGE_OPS,
    "datetime": _EQ_OPS | _EMPTY_OPS | _RANGE_OPS,
    "text": _TEXT_OPS | _EMPTY_OPS,
    "alltext": _TEXT_OPS,
}

_KEY_NUMBER = "CAST(substr(issues.key, length(issues.project) + 2) AS INTEGER)"
# What `ORDER BY key` sorts by after the project; jira_api indexes it and pages after it.
KEY_NUMBER = _KEY_NUMBER
_PRIORITY_RANK = (
    "CASE issues.priority WHEN 'Lowest' THEN 1 WHEN 'Low' THEN 2 WHEN 'Medium' THEN 3"
    " WHEN 'High' THEN 4 WHEN 'Highest' THEN 5 ELSE 0 END"
)
_ALL_TEXT = "(coalesce(issues.summary, '') || char(10) || coalesce(issues.description, ''))"


def _minute(column: str) -> str:
    """A stored ISO 8601 UTC timestamp cut to `YYYY-MM-DD HH:MM`, comparable as text."""
    return f"substr(replace({column}, 'T', ' '), 1, 16)"


@dataclass(frozen=True, slots=True)
class _Field:
    kind: _FieldKind
    column: str = ""  # SQL expression (a constant of this module)
    empty_ok: bool = True
    nocase: bool = False
    sort: tuple[str, ...] = ()  # SQL expressions to ORDER BY; () = not sortable
    nullable_sort: bool = False
    default_desc: bool = False


_KEY = _Field("key", "issues.key", empty_ok=False, sort=("issues.project", _KEY_NUMBER))
_DUE = _Field("date", "issues.duedate", sort=("issues.duedate",), nullable_sort=True)
_CREATED = _Field(
    "datetime",
    _minute("issues.created"),
    empty_ok=False,
    sort=("issues.created",),
    default_desc=True,
)
_UPDATED = _Field(
    "datetime",
    _minute("issues.updated"),
    empty_ok=False,
    sort=("issues.updated",),
    default_desc=True,
)
_RESOLVED = _Field(
    "datetime",
    _minute("issues.resolutiondate"),
    sort=("issues.resolutiondate",),
    nullable_sort=True,
    default_desc=True,
)
_ISSUETYPE = _Field(
    "plain", "issues.issuetype", empty_ok=False, nocase=True, sort=("issues.issuetype",)
)

_FIELDS: dict[str, _Field] = {
    "project": _Field("project", "issues.project", empty_ok=False, sort=("issues.project",)),
    "key": _KEY,
    "issue": _KEY,
    "issuekey": _KEY,
    "id": _KEY,
    "labels": _Field("labels"),
    "status": _Field(
        "plain", "issues.status", empty_ok=False, nocase=True, sort=("issues.status",)
    ),
    "statuscategory": _Field(
        "statuscategory",
        "issues.status_category",
        empty_ok=False,
        sort=(
            "CASE issues.status_category WHEN 'new' THEN 1"
            " WHEN 'indeterminate' THEN 2 WHEN 'done' THEN 3 ELSE 0 END",
        ),
    ),
    "issuetype": _ISSUETYPE,
    "type": _ISSUETYPE,
    "priority": _Field(
        "plain",
        "issues.priority",
        nocase=True,
        sort=(_PRIORITY_RANK,),
        default_desc=True,
    ),
    "assignee": _Field("user", "issues.assignee", sort=("issues.assignee",), nullable_sort=True),
    "reporter": _Field("user", "issues.reporter", sort=("issues.reporter",), nullable_sort=True),
    "resolution": _Field(
        "resolution",
        "issues.resolution",
        nocase=True,
        sort=("issues.resolution",),
        nullable_sort=True,
    ),
    "duedate": _DUE,
    "due": _DUE,
    "created": _CREATED,
    "createddate": _CREATED,
    "updated": _UPDATED,
    "updateddate": _UPDATED,
    "resolutiondate": _RESOLVED,
    "resolved": _RESOLVED,
    "summary": _Field("text", "issues.summary", sort=("issues.summary",)),
    "description": _Field("text", "issues.description"),
    "text": _Field("alltext", _ALL_TEXT),
}

_STATUS_CATEGORIES = {
    "new": "new",
    "to do": "new",
    "2": "new",
    "indeterminate": "indeterminate",
    "in progress": "indeterminate",
    "4": "indeterminate",
    "done": "done",
    "complete": "done",
    "3": "done",
}

_USER_FUNCTIONS = frozenset({"currentuser"})
_DATE_FUNCTIONS = frozenset(
    {"now", "startofday", "endofday", "startofweek", "endofweek", "startofmonth", "endofmonth"}
)
_FUNCTION_NAMES = _USER_FUNCTIONS | _DATE_FUNCTIONS

_ISSUE_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,18})")
_ABSOLUTE_DATE = re.compile(
    r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2}))?"
)
_PERIOD = re.compile(r"([-+]?)\s*((?:[0-9]{1,6}\s*[wdhmWDHM]\s*)+)")
_PERIOD_PART = re.compile(r"([0-9]+)\s*([wdhmWDHM])")
_DATE_FORMATS = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd',"
    " 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)


class _Nobody:
    """What `currentUser()` stands for in an anonymous search: no one."""


_NOBODY = _Nobody()
_Atom = str | int | tuple[str, int] | _Nobody | None  # None = EMPTY


@dataclass(slots=True)
class _Context:
    query: str
    flavor: str
    current_user: str | None
    now: datetime
    params: list[object] = field(default_factory=list)


def _placeholders(values: list[object], ctx: _Context) -> str:
    ctx.params.extend(values)
    return ", ".join("?" for _ in values)


def _period(text: str) -> timedelta | None:
    match = _PERIOD.fullmatch(text.strip())
    if not match:
        return None
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
    total = timedelta()
    for amount, unit in _PERIOD_PART.findall(match.group(2)):
        total += timedelta(**{units[unit.lower()]: int(amount)})
    return -total if match.group(1) == "-" else total


def _date_function(func: _Func, name: str, ctx: _Context) -> datetime:
    fname = func.name.lower()
    if fname == "now":
        if func.args:
            raise JqlError(f"Function 'now' expected '0' arguments but got '{len(func.args)}'.")
        return ctx.now
    if len(func.args) > 1:
        raise JqlError(
            f"Function '{func.name}' expected between '0' and '1' arguments"
            f" but got '{len(func.args)}'."
        )
    offset = timedelta()
    if func.args:
        parsed = _period(func.args[0])
        if parsed is None:
            raise JqlError(
                f"Duration for function '{func.name}' should have the format"
                f" (+/-)n(w|d|h|m), e.g. -1w or 2d, but was '{func.args[0]}'."
            )
        offset = parsed
    today = datetime(ctx.now.year, ctx.now.month, ctx.now.day)
    if fname in ("startofday", "endofday"):
        start = today
        length = timedelta(days=1)
    elif fname in ("startofweek", "endofweek"):
        start = today - timedelta(days=today.weekday())
        length = timedelta(days=7)
    else:
        start = today.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        length = following - start
    moment = start if fname.startswith("start") else start + length - timedelta(minutes=1)
    return moment + offset


def _date_atom(item: _Single, spec: _Field, name: str, ctx: _Context) -> str:
    if isinstance(item, _Func):
        moment = _date_function(item, name, ctx)
    else:
        assert isinstance(item, _Value)
        text = item.value.strip()
        match = _ABSOLUTE_DATE.fullmatch(text)
        delta = None if match else _period(text)
        try:
            if match:
                year, month, day, hour, minute = match.groups()
                moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
            elif delta is not None:
                moment = ctx.now + delta
            else:
                raise ValueError(text)
        except (ValueError, OverflowError):
            raise JqlError(
                f"Date value '{item.value}' for field '{name}' is invalid. {_DATE_FORMATS}"
            ) from None
    if spec.kind == "date":
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M")


def _atom(item: _Single, spec: _Field, name: str, ctx: _Context) -> _Atom:
    """One operand value, converted to what the column holds."""
    if isinstance(item, _Empty):
        return None
    if isinstance(item, _Func):
        fname = item.name.lower()
        if fname not in _FUNCTION_NAMES:
            raise JqlError(f"Unable to find JQL function '{item.raw}'.")
        if spec.kind == "user" and fname in _USER_FUNCTIONS:
            if item.args:
                raise JqlError(
                    f"Function '{item.name}' expected '0' arguments but got '{len(item.args)}'."
                )
            return ctx.current_user if ctx.current_user is not None else _NOBODY
        if spec.kind in ("date", "datetime") and fname in _DATE_FUNCTIONS:
            return _date_atom(item, spec, name, ctx)
        raise JqlError(
            f"A value provided by the function '{item.name}' is invalid for the field '{name}'."
        )
    value = item.value
    if spec.kind == "key":
        if value.isdigit() and value.isascii() and len(value) <= 18:
            return int(value)
        match = _ISSUE_KEY.fullmatch(value)
        if not match:
            raise JqlError(f"The issue key '{value}' for field '{name}' is invalid.")
        return (match.group(1).upper(), int(match.group(2)))
    if spec.kind == "project":
        return value.upper()
    if spec.kind == "statuscategory":
        category = _STATUS_CATEGORIES.get(value.lower())
        if category is None:
            raise JqlError(f"The value '{value}' does not exist for the field '{name}'.")
        return category
    if spec.kind == "resolution" and value.lower() == "unresolved":
        return None
    if spec.kind in ("date", "datetime"):
        return _date_atom(item, spec, name, ctx)
    return value


# -- SQL for one clause ---------------------------------------------------------------


def _any_of(parts: list[str]) -> str:
    if not parts:
        return "0"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _scalar_sql(column: str, op: str, atoms: list[_Atom], ctx: _Context, collate: str) -> str:
    """SQL for a single-valued column: always 0 or 1, never NULL."""
    if op in _EMPTY_OPS:
        return f"{column} IS NULL" if op == "is" else f"{column} IS NOT NULL"
    values: list[object] = [a for a in atoms if a is not None and not isinstance(a, _Nobody)]
    has_empty = any(a is None for a in atoms)
    if op in _RANGE_OPS:
        return f"({column} IS NOT NULL AND {column} {op} {_placeholders(values, ctx)})"
    if op in ("=", "in"):
        parts = []
        if values:
            parts.append(
                f"({column} IS NOT NULL AND {column}{collate} IN ({_placeholders(values, ctx)}))"
            )
        if has_empty:
            parts.append(f"{column} IS NULL")
        return _any_of(parts)
    # "!=" / "not in": like Jira, never matches an empty field.
    if not values:
        return f"{column} IS NOT NULL"
    return f"({column} IS NOT NULL AND {column}{collate} NOT IN ({_placeholders(values, ctx)}))"


_ANY_LABEL = "EXISTS (SELECT 1 FROM issue_labels l WHERE l.issue_id = issues.id)"


def _has_label(values: list[object], ctx: _Context) -> str:
    test = "= ?" if len(values) == 1 else f"IN ({', '.join('?' for _ in values)})"
    ctx.params.extend(values)
    return f"EXISTS (SELECT 1 FROM issue_labels l WHERE l.issue_id = issues.id AND l.label {test})"


def _labels_sql(op: str, atoms: list[_Atom], ctx: _Context) -> str:
    if op in _EMPTY_OPS:
        return f"NOT {_ANY_LABEL}" if op == "is" else _ANY_LABEL
    values: list[object] = [a for a in atoms if a is not None]
    has_empty = len(values) != len(atoms)
    if op in ("=", "in"):
        parts = [_has_label(values, ctx)] if values else []
        if has_empty:
            parts.append(f"NOT {_ANY_LABEL}")
        return _any_of(parts)
    if not values:
        return _ANY_LABEL
    return f"({_ANY_LABEL} AND NOT {_has_label(values, ctx)})"


def _key_sql(op: str, atoms: list[_Atom], ctx: _Context) -> str:
    if op in _RANGE_OPS:
        (atom,) = atoms
        if isinstance(atom, int):
            return f"issues.id {op} {_placeholders([atom], ctx)}"
        assert isinstance(atom, tuple)
        project, number = atom
        return (
            f"(issues.project = {_placeholders([project], ctx)}"
            f" AND {_KEY_NUMBER} {op} {_placeholders([number], ctx)})"
        )
    keys: list[object] = [f"{a[0]}-{a[1]}" for a in atoms if isinstance(a, tuple)]
    ids: list[object] = [a for a in atoms if isinstance(a, int)]
    parts = []
    if keys:
        parts.append(f"issues.key IN ({_placeholders(keys, ctx)})")
    if ids:
        parts.append(f"issues.id IN ({_placeholders(ids, ctx)})")
    matched = _any_of(parts)
    return matched if op in ("=", "in") else f"(NOT ({matched}))"


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("*", "%").replace("?", "_") + "%"


def _text_sql(column: str, op: str, atoms: list[_Atom], name: str, ctx: _Context) -> str:
    if op in _EMPTY_OPS:
        if op == "is":
            return f"({column} IS NULL OR {column} = '')"
        return f"({column} IS NOT NULL AND {column} != '')"
    (atom,) = atoms
    if atom is None:
        raise JqlError(f"The operator '{op}' does not support searching for EMPTY values.")
    text = str(atom).strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        terms = [text[1:-1]]
    else:
        terms = text.split()
    if not terms or not any(t.strip("*? ") for t in terms):
        raise JqlError(f"The field '{name}' does not support searching for an empty string.")
    tests = []
    for term in terms:
        ctx.params.append(_like_pattern(term))
        tests.append(f"{column} LIKE ? ESCAPE '\\'")
    matched = " AND ".join(tests)
    if op == "~":
        return f"({column} IS NOT NULL AND {matched})"
    return f"({column} IS NOT NULL AND NOT ({matched}))"


def _clause_sql(name: str, op: str, operand: _Operand, ctx: _Context) -> str:
    spec = _FIELDS.get(name.lower())
    if spec is None:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    if op not in _OPS_BY_KIND[spec.kind]:
        raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
    if op in ("in", "not in"):
        if not isinstance(operand, _List):
            raise JqlError(
                f"Operator '{op}' does not support the non-list value '{operand.raw}'"
                f" for field '{name}'."
            )
        items: tuple[_Single, ...] = operand.items
    else:
        if isinstance(operand, _List):
            raise JqlError(
                f"Operator '{op}' does not support the list value '{operand.raw}'"
                f" for field '{name}'."
            )
        items = (operand,)
    if op in _EMPTY_OPS and not isinstance(operand, _Empty):
        raise JqlError(
            f"The operator '{op}' only supports searching for EMPTY values"
            f" ('EMPTY' or 'null'), not '{operand.raw}'."
        )
    has_empty = op in _EMPTY_OPS or any(isinstance(item, _Empty) for item in items)
    if has_empty and (op in _RANGE_OPS or op in _TEXT_OPS):
        raise JqlError(f"The operator '{op}' does not support searching for EMPTY values.")
    if has_empty and not spec.empty_ok:
        raise JqlError(f"The field '{name}' does not support searching for EMPTY values.")
    atoms = [_atom(item, spec, name, ctx) for item in items]

    if spec.kind == "labels":
        return _labels_sql(op, atoms, ctx)
    if spec.kind == "key":
        return _key_sql(op, atoms, ctx)
    if spec.kind in ("text", "alltext"):
        return _text_sql(spec.column, op, atoms, name, ctx)
    if spec.kind == "user" and ctx.flavor == "datacenter":
        return _datacenter_user_sql(spec.column, op, atoms, ctx)
    return _scalar_sql(spec.column, op, atoms, ctx, " COLLATE NOCASE" if spec.nocase else "")


def _datacenter_user_sql(column: str, op: str, atoms: list[_Atom], ctx: _Context) -> str:
    """Data Center names people by username (any case) or user key; the sandbox stores
    account ids, so a value matches the users it names in the `users` table."""
    values: list[object] = [a for a in atoms if isinstance(a, str)]
    if op in _EMPTY_OPS or not values:
        return _scalar_sql(column, op, atoms, ctx, "")
    marks = ", ".join("?" for _ in values)
    ctx.params.extend([*values, *values, *values])
    named = (
        f"{column} IN (SELECT u.account_id FROM users u WHERE u.name COLLATE NOCASE IN"
        f" ({marks}) OR u.key IN ({marks}) OR u.account_id IN ({marks}))"
    )
    has_empty = any(a is None for a in atoms)
    if op in ("=", "in"):
        matched = f"({column} IS NOT NULL AND {named})"
        return f"({matched} OR {column} IS NULL)" if has_empty else matched
    return f"({column} IS NOT NULL AND NOT ({named}))"


# -- parsing --------------------------------------------------------------------------

# Limits that keep every accepted query within SQLite's expression depth (1000) and
# parameter count (32766); Jira has comparable limits of its own.
_MAX_DEPTH = 50
_MAX_CLAUSES = 300
_MAX_VALUES = 10_000
_MAX_PARAMS = 30_000

_VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN',"
    " 'IS' and 'IS NOT'."
)


class _Parser:
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.tokens = _lex(ctx.query)
        self.i = 0
        self.depth = 0
        self.clauses = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "kw" and tok.value == word

    def fail(self, tok: _Token, message: str) -> JqlError:
        return _syntax(self.ctx.query, tok.pos, message)

    def query(self) -> tuple[str, str]:
        where = "1"
        if self.peek().kind != "eof" and not self.at_kw("order"):
            where = self.or_expr()
        order = self.order_by() if self.at_kw("order") else ""
        tok = self.peek()
        if tok.kind != "eof":
            if order:
                raise self.fail(tok, f"Expecting either ',' or 'end of query' but got '{tok.raw}'.")
            raise self.fail(tok, f"Expecting either 'OR' or 'AND' but got '{tok.raw}'.")
        return where, order

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.at_kw("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.at_kw("and"):
            self.advance()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(self.peek(), f"The query nests more than {_MAX_DEPTH} levels deep.")
        try:
            if self.at_kw("not"):
                self.advance()
                return f"(NOT {self.not_expr()})"
            if self.peek().kind == "(":
                self.advance()
                inner = self.or_expr()
                tok = self.advance()
                if tok.kind != ")":
                    raise self.fail(tok, f"Expecting ')' but got '{_describe(tok)}'.")
                return inner
            return self.clause()
        finally:
            self.depth -= 1

    def field_name(self) -> _Token:
        tok = self.advance()
        if tok.kind not in ("word", "string"):
            raise self.fail(tok, f"Expecting a field name but got '{_describe(tok)}'.")
        return tok

    def operator(self) -> str:
        tok = self.advance()
        if tok.kind == "op":
            return tok.value
        if tok.kind == "kw" and tok.value == "in":
            return "in"
        if tok.kind == "kw" and tok.value == "not":
            nxt = self.advance()
            if nxt.kind == "kw" and nxt.value == "in":
                return "not in"
            raise self.fail(nxt, f"Expecting 'IN' but got '{_describe(nxt)}'.")
        if tok.kind == "kw" and tok.value == "is":
            if self.at_kw("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.fail(tok, f"Expecting operator but got '{_describe(tok)}'. {_VALID_OPERATORS}")

    def single(self) -> _Single:
        tok = self.advance()
        if tok.kind == "string":
            return _Value(tok.value, tok.raw)
        if tok.kind == "kw" and tok.value in ("empty", "null"):
            return _Empty(tok.raw)
        if tok.kind == "word":
            if self.peek().kind == "(":
                return self.function(tok)
            if tok.raw.lower() in _RESERVED_WORDS:
                raise self.fail(
                    tok,
                    f"'{tok.raw}' is a reserved JQL word. You must surround it in quotation"
                    " marks to use it in a query.",
                )
            return _Value(tok.value, tok.raw)
        got = _describe(tok)
        hint = ""
        if tok.kind == "kw":
            hint = f" You must surround '{tok.raw}' in quotation marks to use it as a value."
        raise self.fail(tok, f"Expecting either a value, list or function but got '{got}'.{hint}")

    def function(self, name: _Token) -> _Func:
        self.advance()  # "("
        args: list[str] = []
        raws: list[str] = []
        if self.peek().kind != ")":
            while True:
                tok = self.advance()
                if tok.kind not in ("word", "string"):
                    raise self.fail(
                        tok, f"Expecting a function argument but got '{_describe(tok)}'."
                    )
                args.append(tok.value)
                raws.append(tok.raw)
                if self.peek().kind != ",":
                    break
                self.advance()
        tok = self.advance()
        if tok.kind != ")":
            raise self.fail(tok, f"Expecting ')' but got '{_describe(tok)}'.")
        return _Func(name.value, tuple(args), f"{name.raw}({', '.join(raws)})")

    def operand(self) -> _Operand:
        if self.peek().kind != "(":
            return self.single()
        self.advance()
        items = [self.single()]
        while True:
            tok = self.advance()
            if tok.kind == ")":
                break
            if tok.kind != ",":
                raise self.fail(tok, f"Expecting ',' or ')' but got '{_describe(tok)}'.")
            if len(items) >= _MAX_VALUES:
                raise self.fail(tok, f"A list may hold at most {_MAX_VALUES} values.")
            items.append(self.single())
        return _List(tuple(items), "(" + ", ".join(item.raw for item in items) + ")")

    def clause(self) -> str:
        self.clauses += 1
        if self.clauses > _MAX_CLAUSES:
            raise self.fail(self.peek(), f"The query has more than {_MAX_CLAUSES} clauses.")
        name = self.field_name()
        op = self.operator()
        operand = self.operand()
        return _clause_sql(name.value, op, operand, self.ctx)

    def order_by(self) -> str:
        self.advance()  # ORDER
        tok = self.advance()
        if not (tok.kind == "kw" and tok.value == "by"):
            raise self.fail(tok, f"Expecting 'BY' but got '{_describe(tok)}'.")
        terms: list[str] = []
        last_unique = False
        while True:
            name = self.field_name()
            spec = _FIELDS.get(name.value.lower())
            if spec is None:
                raise JqlError(
                    f"Field '{name.value}' does not exist or you do not have permission to view it."
                )
            if not spec.sort:
                raise JqlError(f"Not able to sort using field '{name.value}'.")
            desc = spec.default_desc
            if self.at_kw("asc") or self.at_kw("desc"):
                desc = self.advance().value == "desc"
            direction = "DESC" if desc else "ASC"
            nulls = (" NULLS FIRST" if desc else " NULLS LAST") if spec.nullable_sort else ""
            terms.extend(f"{column} {direction}{nulls}" for column in spec.sort)
            last_unique = spec is _KEY
            if self.peek().kind != ",":
                break
            self.advance()
        if not last_unique:
            terms.append("issues.id ASC")  # a stable order for paging through ties
        return "ORDER BY " + ", ".join(terms)


def compile_jql(
    query: str,
    *,
    flavor: str = "cloud",
    current_user: str | None = None,
    now: datetime | None = None,
) -> tuple[str, list[object], str]:
    """Compile `query` to `(where, params, order_by)` for `SELECT ... FROM issues`.

    `where` is a boolean SQL expression over `issues` (`"1"` for an empty query),
    `params` its positional parameters, `order_by` an `ORDER BY ...` clause or `""`.
    `current_user` is what `currentUser()` means (the caller's account id; on Data
    Center a username or user key also works); `now` (UTC) anchors relative dates and
    date functions. On Data Center, user clauses read the `users` table.
    Raises `JqlError` with Jira's message for anything Jira would reject.
    """
    if flavor not in ("cloud", "datacenter"):
        raise ValueError(f"unknown flavor {flavor!r}: expected 'cloud' or 'datacenter'")
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    ctx = _Context(query=query, flavor=flavor, current_user=current_user, now=now)
    where, order = _Parser(ctx).query()
    if len(ctx.params) > _MAX_PARAMS:
        raise JqlError(f"The query has more than {_MAX_PARAMS} values.")
    return where, ctx.params, order
