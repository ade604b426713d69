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
- Dates compare at minute precision: `created >= "2026-11-20"` means from midnight
  (UTC); a date with a time (`updated >= "2026/11/20 09:45"`) is read in the caller's
  time zone, as Jira reads it in the user's profile; `duedate` compares calendar
  dates. Relative values (`-7d`, `"4w 2d"`) and functions are resolved against `now`
  (default: the clock).
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
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal

from followup.sandbox.querylang import (
    ABSOLUTE_DATE,
    DATE_FUNCTIONS,
    MAX_PARAMS,
    Empty,
    Func,
    Lexer,
    Messages,
    Operand,
    Parser,
    Single,
    SortKey,
    Token,
    Value,
    ValueList,
    date_function_moment,
    like_all,
    local_to_utc,
    minute,
    naive_utc,
    period,
    search_terms,
)

__all__ = ["KEY_NUMBER", "JqlError", "compile_jql"]


class JqlError(ValueError):
    """A query Jira would reject; `str()` is the message Jira would put in `errorMessages`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _syntax(query: str, pos: int, message: str) -> JqlError:
    line = query.count("\n", 0, pos) + 1
    column = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return JqlError(f"Error in the JQL Query: {message} (line {line}, character {column})")


# -- lexing -------------------------------------------------------------------------

# Jira's lexer: these characters may not appear unquoted (JqlStringSupportImpl).
_RESERVED_CHARS = frozenset("{}*/%+^$#@?;[]")

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


class _JqlLexer(Lexer):
    # Words the grammar itself uses. Everything else reserved is only forbidden as a value.
    keywords = frozenset(
        {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
    )
    word_stop = frozenset("\"'(),=!<>~&|") | _RESERVED_CHARS
    symbols = MappingProxyType({"&&": "and", "||": "or", "!": "not", "&": "and", "|": "or"})
    surrogate_pairs = True
    escapes_in_words = True

    def is_space(self, ch: str) -> bool:
        return ch in " \t\n\r\f\u3000" or (ch.isspace() and not _is_jql_control(ch))

    def ends_word(self, ch: str) -> bool:
        return _is_jql_control(ch)

    def check_word_start(self, i: int) -> None:
        ch = self.text[i]
        if ch in _RESERVED_CHARS:
            raise _syntax(
                self.text,
                i,
                f"The character '{ch}' is a reserved JQL character. You must enclose it"
                f" in a string or use the escape '\\u{ord(ch):04x}' instead.",
            )
        if _is_jql_control(ch):
            raise _syntax(
                self.text,
                i,
                f"The character '\\u{ord(ch):04x}' is not allowed in a query;"
                f" use the escape '\\u{ord(ch):04x}' inside a string instead.",
            )

    def check_in_string(self, i: int) -> None:
        c = self.text[i]
        if _is_jql_control(c):
            raise _syntax(
                self.text,
                i,
                f"The character '\\u{ord(c):04x}' is not allowed in a string;"
                f" use the escape '\\u{ord(c):04x}' instead.",
            )

    def unterminated(self, start: int) -> JqlError:
        text = self.text[start + 1 :]
        return _syntax(self.text, start, f"The quoted string '{text}' has not been completed.")

    def bad_escape(self, i: int) -> JqlError:
        seq = self.text[i : i + 6] if self.text[i + 1 : i + 2] == "u" else self.text[i : i + 2]
        return _syntax(self.text, i, f"The escape sequence '{seq}' is invalid.")


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

# What `ORDER BY key` sorts by after the project; the search indexes it and pages after it.
KEY_NUMBER = "CAST(substr(issues.key, length(issues.project) + 2) AS INTEGER)"
_PRIORITY_RANK = (
    "CASE issues.priority WHEN 'Lowest' THEN 1 WHEN 'Low' THEN 2 WHEN 'Medium' THEN 3"
    " WHEN 'High' THEN 4 WHEN 'Highest' THEN 5 ELSE 0 END"
)
_ALL_TEXT = "(coalesce(issues.summary, '') || char(10) || coalesce(issues.description, ''))"


@dataclass(frozen=True, slots=True)
class _Field:
    kind: _FieldKind
    column: str = ""  # SQL expression (a constant of this module)
    empty_ok: bool = True
    nocase: bool = False
    sort: SortKey | None = None  # None: not sortable


def _sort(*columns: str, desc: bool = False, nulls: bool = False) -> SortKey:
    return SortKey(columns, descending=desc, nulls=nulls)


_KEY = _Field(
    "key", "issues.key", empty_ok=False, sort=SortKey(("issues.project", KEY_NUMBER), unique=True)
)
_DUE = _Field("date", "issues.duedate", sort=_sort("issues.duedate", nulls=True))
_CREATED = _Field(
    "datetime", minute("issues.created"), empty_ok=False, sort=_sort("issues.created", desc=True)
)
_UPDATED = _Field(
    "datetime", minute("issues.updated"), empty_ok=False, sort=_sort("issues.updated", desc=True)
)
_RESOLVED = _Field(
    "datetime",
    minute("issues.resolutiondate"),
    sort=_sort("issues.resolutiondate", desc=True, nulls=True),
)
_ISSUETYPE = _Field(
    "plain", "issues.issuetype", empty_ok=False, nocase=True, sort=_sort("issues.issuetype")
)

_FIELDS: dict[str, _Field] = {
    "project": _Field("project", "issues.project", empty_ok=False, sort=_sort("issues.project")),
    "key": _KEY,
    "issue": _KEY,
    "issuekey": _KEY,
    "id": _KEY,
    "labels": _Field("labels"),
    "status": _Field(
        "plain", "issues.status", empty_ok=False, nocase=True, sort=_sort("issues.status")
    ),
    "statuscategory": _Field(
        "statuscategory",
        "issues.status_category",
        empty_ok=False,
        sort=_sort(
            "CASE issues.status_category WHEN 'new' THEN 1"
            " WHEN 'indeterminate' THEN 2 WHEN 'done' THEN 3 ELSE 0 END",
        ),
    ),
    "issuetype": _ISSUETYPE,
    "type": _ISSUETYPE,
    "priority": _Field(
        "plain", "issues.priority", nocase=True, sort=_sort(_PRIORITY_RANK, desc=True)
    ),
    "assignee": _Field("user", "issues.assignee", sort=_sort("issues.assignee", nulls=True)),
    "reporter": _Field("user", "issues.reporter", sort=_sort("issues.reporter", nulls=True)),
    "resolution": _Field(
        "resolution", "issues.resolution", nocase=True, sort=_sort("issues.resolution", nulls=True)
    ),
    "duedate": _DUE,
    "due": _DUE,
    "created": _CREATED,
    "createddate": _CREATED,
    "updated": _UPDATED,
    "updateddate": _UPDATED,
    "resolutiondate": _RESOLVED,
    "resolved": _RESOLVED,
    "summary": _Field("text", "issues.summary", sort=_sort("issues.summary")),
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
_FUNCTION_NAMES = _USER_FUNCTIONS | DATE_FUNCTIONS

_ISSUE_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,18})")
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
    flavor: str
    current_user: str | None
    now: datetime
    tz: str | None = None
    params: list[object] = field(default_factory=list)


def _placeholders(values: list[object], ctx: _Context) -> str:
    ctx.params.extend(values)
    return ", ".join("?" for _ in values)


def _date_function(func: Func, ctx: _Context) -> datetime:
    if func.name.lower() == "now":
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
        parsed = period(func.args[0])
        if parsed is None:
            raise JqlError(
                f"Duration for function '{func.name}' should have the format"
                f" (+/-)n(w|d|h|m), e.g. -1w or 2d, but was '{func.args[0]}'."
            )
        offset = parsed
    return date_function_moment(func.name, ctx.now, offset)


def _date_atom(item: Single, spec: _Field, name: str, ctx: _Context) -> str:
    if isinstance(item, Func):
        moment = _date_function(item, ctx)
    else:
        assert isinstance(item, Value)
        text = item.value.strip()
        match = ABSOLUTE_DATE.fullmatch(text)
        delta = None if match else period(text)
        try:
            if match:
                year, month, day, hour, minute_ = match.groups()
                moment = datetime(
                    int(year), int(month), int(day), int(hour or 0), int(minute_ or 0)
                )
                if hour is not None and spec.kind == "datetime":
                    moment = local_to_utc(moment, ctx.tz)
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


def _atom(item: Single, spec: _Field, name: str, ctx: _Context) -> _Atom:
    """One operand value, converted to what the column holds."""
    if isinstance(item, Empty):
        return None
    if isinstance(item, Func):
        fname = item.name.lower()
        if fname not in _FUNCTION_NAMES:
            raise JqlError(f"Unable to find JQL function '{item.raw}'.")
        if spec.kind == "user" and fname in _USER_FUNCTIONS:
            if item.args:
                raise JqlError(
                    f"Function '{item.name}' expected '0' arguments but got '{len(item.args)}'."
                )
            return ctx.current_user if ctx.current_user is not None else _NOBODY
        if spec.kind in ("date", "datetime") and fname in DATE_FUNCTIONS:
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
            f" AND {KEY_NUMBER} {op} {_placeholders([number], ctx)})"
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


def _text_sql(column: str, op: str, atoms: list[_Atom], name: str, ctx: _Context) -> str:
    if op in _EMPTY_OPS:
        if op == "is":
            return f"({column} IS NULL OR {column} = '')"
        return f"({column} IS NOT NULL AND {column} != '')"
    (atom,) = atoms
    if atom is None:
        raise JqlError(f"The operator '{op}' does not support searching for EMPTY values.")
    terms = search_terms(str(atom))
    if terms is None:
        raise JqlError(f"The field '{name}' does not support searching for an empty string.")
    matched = like_all(column, terms, ctx.params)
    if op == "~":
        return f"({column} IS NOT NULL AND {matched})"
    return f"({column} IS NOT NULL AND NOT ({matched}))"


def _clause_sql(name: str, op: str, operand: Operand, ctx: _Context) -> str:
    spec = _FIELDS.get(name.lower())
    if spec is None:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    if op not in _OPS_BY_KIND[spec.kind]:
        raise JqlError(f"The operator '{op}' is not supported by the '{name}' field.")
    if op in ("in", "not in"):
        if not isinstance(operand, ValueList):
            raise JqlError(
                f"Operator '{op}' does not support the non-list value '{operand.raw}'"
                f" for field '{name}'."
            )
        items: tuple[Single, ...] = operand.items
    else:
        if isinstance(operand, ValueList):
            raise JqlError(
                f"Operator '{op}' does not support the list value '{operand.raw}'"
                f" for field '{name}'."
            )
        items = (operand,)
    if op in _EMPTY_OPS and not isinstance(operand, Empty):
        raise JqlError(
            f"The operator '{op}' only supports searching for EMPTY values"
            f" ('EMPTY' or 'null'), not '{operand.raw}'."
        )
    has_empty = op in _EMPTY_OPS or any(isinstance(item, Empty) for item in items)
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

_VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN',"
    " 'IS' and 'IS NOT'."
)


class _JqlParser(Parser):
    messages = Messages(
        trailing="Expecting either 'OR' or 'AND' but got '{got}'.",
        trailing_after_order="Expecting either ',' or 'end of query' but got '{got}'.",
        empty=None,
        too_deep="The query nests more than {limit} levels deep.",
        too_many_clauses="The query has more than {limit} clauses.",
        too_many_values="A list may hold at most {limit} values.",
        close="Expecting ')' but got '{got}'.",
        list_separator="Expecting ',' or ')' but got '{got}'.",
        field="Expecting a field name but got '{got}'.",
        operator="Expecting operator but got '{got}'. " + _VALID_OPERATORS,
        not_in="Expecting 'IN' but got '{got}'.",
        value="Expecting either a value, list or function but got '{got}'.",
        argument="Expecting a function argument but got '{got}'.",
        by="Expecting 'BY' but got '{got}'.",
    )
    tie_breaker = "issues.id ASC"

    def __init__(self, query: str, ctx: _Context) -> None:
        super().__init__(_JqlLexer(query).tokens())
        self.query_text = query
        self.ctx = ctx

    def error(self, tok: Token, message: str) -> JqlError:
        return _syntax(self.query_text, tok.pos, message)

    def value(self, tok: Token) -> Single:
        if tok.kind == "kw" and tok.value in ("empty", "null"):
            return Empty(tok.raw)
        if tok.kind == "word" and tok.raw.lower() in _RESERVED_WORDS:
            raise self.error(
                tok,
                f"'{tok.raw}' is a reserved JQL word. You must surround it in quotation"
                " marks to use it in a query.",
            )
        if tok.kind == "kw":
            hint = f" You must surround '{tok.raw}' in quotation marks to use it as a value."
            raise self.error(tok, self.messages.value.format(got=tok.raw) + hint)
        return super().value(tok)

    def compile_clause(self, field: str, op: str, operand: Operand) -> str:
        return _clause_sql(field, op, operand, self.ctx)

    def sort_key(self, tok: Token) -> SortKey:
        if tok.kind not in ("word", "string"):
            raise self.unexpected(tok, self.messages.field)
        spec = _FIELDS.get(tok.value.lower())
        if spec is None:
            raise JqlError(
                f"Field '{tok.value}' does not exist or you do not have permission to view it."
            )
        if spec.sort is None:
            raise JqlError(f"Not able to sort using field '{tok.value}'.")
        return spec.sort


def compile_jql(
    query: str,
    *,
    flavor: str = "cloud",
    current_user: str | None = None,
    now: datetime | None = None,
    tz: str | None = None,
) -> tuple[str, list[object], str]:
    """Compile `query` to `(where, params, order_by)` for `SELECT ... FROM issues`.

    `where` is a boolean SQL expression over `issues` (`"1"` for an empty query),
    `params` its positional parameters, `order_by` an `ORDER BY ...` clause or `""`.
    `current_user` is what `currentUser()` means (the caller's account id; on Data
    Center a username or user key also works); `now` (UTC) anchors relative dates and
    date functions; `tz` is the caller's time zone, in which a date with a time
    (`"2026/12/02 09:45"`) is read, as Jira reads it in the user's profile time zone.
    On Data Center, user clauses read the `users` table.
    Raises `JqlError` with Jira's message for anything Jira would reject.
    """
    if flavor not in ("cloud", "datacenter"):
        raise ValueError(f"unknown flavor {flavor!r}: expected 'cloud' or 'datacenter'")
    ctx = _Context(flavor=flavor, current_user=current_user, now=naive_utc(now), tz=tz)
    where, order = _JqlParser(query, ctx).query()
    if len(ctx.params) > MAX_PARAMS:
        raise JqlError(f"The query has more than {MAX_PARAMS} values.")
    return where, ctx.params, order
