"""The sandbox's CQL: the subset of Confluence Query Language that followup and its tests use.

`compile_cql` turns a query into a SQLite boolean expression over the table aliased
`content` (plus `content_labels`), its parameters and an ORDER BY clause. Pure: text
in, text and values out; every value is a `?` parameter, never part of the SQL text.

Only content whose `status = 'current'` is searchable on Confluence; that filter is
the caller's (the search endpoint's) to add, not this module's, so that the same
expression can serve a trash or draft view.

What it accepts:

- Clauses `field op value`, `field in (v1, v2)`, `not in`; `AND`, `OR`, `NOT` (prefix,
  or between clauses as in Confluence's `space = DEV NOT label = draft`), parentheses,
  AND binding tighter than OR; `ORDER BY field [ASC|DESC], ...` over id, title, type,
  space, created and lastmodified. Keywords and field names are case-insensitive.
- Values: bare words, double- or single-quoted strings with backslash escapes
  (`\\"`, `\\'`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\uXXXX`); functions `currentUser()`
  (for creator) and `now()`, `startOfDay()`, `endOfDay()`, `startOfWeek()`,
  `endOfWeek()`, `startOfMonth()`, `endOfMonth()` with an optional offset such as
  `"-7d"` (units w, d, h, m).
- Fields: type (page, blogpost, ...), space and space.key, label, title, text, id
  (also content), creator, parent, ancestor, created and lastmodified.
- `=` on a date with no time matches the whole day; the range operators compare at
  minute precision with a bare date meaning midnight (UTC). A date with a time is
  read in the caller's time zone (their profile's), as Confluence reads it.
- `~` is a case-insensitive (ASCII) containment test per term (`"\\"exact phrase\\""`
  for a phrase; `*` and `?` wildcards). Lucene's stemming and ranking are not emulated.

Every rejected query raises `CqlError` whose message is Confluence's terse
`Could not parse cql : <query>`; `CqlError.detail` says what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from followup.sandbox.querylang import (
    ABSOLUTE_DATE,
    DATE_FUNCTIONS,
    MAX_PARAMS,
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

__all__ = ["CqlError", "compile_cql"]


class CqlError(ValueError):
    """A query Confluence would reject. `str()` is Confluence's message; `detail` says why."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class _Reject(Exception):
    """Internal: carries the reason; `compile_cql` turns it into a CqlError."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# -- lexing -------------------------------------------------------------------------


def _illegal(ch: str) -> bool:
    """A lone surrogate (it cannot be bound as SQLite text) or NUL."""
    return 0xD800 <= ord(ch) <= 0xDFFF or ch == "\x00"


class _CqlLexer(Lexer):
    keywords = frozenset({"and", "or", "not", "in", "order", "by", "asc", "desc"})
    word_stop = frozenset("\"'(),=!<>~")

    def check_word_start(self, i: int) -> None:
        if self.text[i] == "!":
            raise _Reject(f"unexpected '!' at character {i + 1}")

    def check_in_word(self, i: int) -> None:
        if _illegal(self.text[i]) or self.text[i] == "\\":
            raise _Reject(f"illegal character at character {i + 1}")

    def check_in_string(self, i: int) -> None:
        if _illegal(self.text[i]):
            raise _Reject(f"illegal character at character {i + 1}")

    def unterminated(self, start: int) -> _Reject:
        return _Reject(f"unterminated string starting at character {start + 1}")

    def bad_escape(self, i: int) -> _Reject:
        return _Reject(f"invalid escape '\\{self.text[i + 1 : i + 2]}' at character {i + 1}")


# -- fields ---------------------------------------------------------------------------

_FieldKind = Literal[
    "type", "space", "label", "title", "text", "id", "user", "parent", "ancestor", "date"
]

_EQ_OPS = frozenset({"=", "!=", "in", "not in"})
_RANGE_OPS = frozenset({"<", "<=", ">", ">="})
_TEXT_OPS = frozenset({"~", "!~"})

_OPS_BY_KIND: dict[_FieldKind, frozenset[str]] = {
    "type": _EQ_OPS,
    "space": _EQ_OPS,
    "label": _EQ_OPS,
    "title": _EQ_OPS | _TEXT_OPS,
    "text": _TEXT_OPS,
    "id": _EQ_OPS,
    "user": _EQ_OPS,
    "parent": _EQ_OPS,
    "ancestor": _EQ_OPS,
    "date": frozenset({"=", "!="}) | _RANGE_OPS,
}


@dataclass(frozen=True, slots=True)
class _Field:
    kind: _FieldKind
    column: str = ""


_SPACE = _Field("space", "content.space_key")
_ID = _Field("id", "content.id")
_FIELDS: dict[str, _Field] = {
    "type": _Field("type", "content.type"),
    "space": _SPACE,
    "space.key": _SPACE,
    "label": _Field("label"),
    "title": _Field("title", "content.title"),
    "text": _Field(
        "text", "(coalesce(content.title, '') || char(10) || coalesce(content.body, ''))"
    ),
    "id": _ID,
    "content": _ID,
    "creator": _Field("user", "content.author"),
    "parent": _Field("parent", "content.parent_id"),
    "ancestor": _Field("ancestor"),
    "created": _Field("date", "content.created"),
    "lastmodified": _Field("date", "content.last_modified"),
}

_BY_ID = SortKey(("content.id",), unique=True)
_SORTS: dict[str, SortKey] = {
    "id": _BY_ID,
    "content": _BY_ID,
    "title": SortKey(("content.title COLLATE NOCASE",)),
    "type": SortKey(("content.type",)),
    "space": SortKey(("content.space_key",)),
    "space.key": SortKey(("content.space_key",)),
    "created": SortKey(("content.created",)),
    "lastmodified": SortKey(("content.last_modified",)),
}


@dataclass(slots=True)
class _Context:
    current_user: str | None
    now: datetime
    tz: str | None = None
    params: list[object] = field(default_factory=list)

    def bind(self, values: list[object]) -> str:
        self.params.extend(values)
        return ", ".join("?" for _ in values)


def _function_moment(func: Func, ctx: _Context) -> datetime:
    if func.name.lower() not in DATE_FUNCTIONS:
        raise _Reject(f"function '{func.name}' is not a date function")
    if len(func.args) > 1:
        raise _Reject(f"function '{func.name}' takes at most one argument")
    offset = timedelta()
    if func.args:
        parsed = period(func.args[0])
        if parsed is None:
            raise _Reject(f"invalid offset {func.args[0]!r} for function '{func.name}'")
        offset = parsed
    return date_function_moment(func.name, ctx.now, offset)


def _date_value(item: Single, ctx: _Context, name: str) -> tuple[str, bool]:
    """(`YYYY-MM-DD HH:MM`, whether a bare date was written)."""
    if isinstance(item, Func):
        return _function_moment(item, ctx).strftime("%Y-%m-%d %H:%M"), False
    assert isinstance(item, Value)
    match = ABSOLUTE_DATE.fullmatch(item.value.strip())
    if not match:
        raise _Reject(f"invalid date {item.value!r} for field '{name}'")
    year, month, day, hour, minute_ = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute_ or 0))
    except ValueError:
        raise _Reject(f"invalid date {item.value!r} for field '{name}'") from None
    if hour is not None:
        moment = local_to_utc(moment, ctx.tz)
    return moment.strftime("%Y-%m-%d %H:%M"), hour is None


def _has_label(values: list[object], ctx: _Context) -> str:
    test = "= ?" if len(values) == 1 else f"IN ({', '.join('?' for _ in values)})"
    ctx.params.extend(values)
    return (
        "EXISTS (SELECT 1 FROM content_labels cl WHERE cl.content_id = content.id"
        f" AND cl.label COLLATE NOCASE {test})"
    )


def _ancestor(values: list[object], ctx: _Context) -> str:
    return (
        "content.id IN (WITH RECURSIVE below(id) AS ("
        f"SELECT d.id FROM content d WHERE d.parent_id IN ({ctx.bind(values)})"
        " UNION SELECT d.id FROM content d JOIN below ON d.parent_id = below.id"
        ") SELECT id FROM below)"
    )


def _clause_sql(name: str, op: str, operand: Operand, ctx: _Context) -> str:
    spec = _FIELDS.get(name.lower())
    if spec is None:
        raise _Reject(f"no field '{name}'")
    if op not in _OPS_BY_KIND[spec.kind]:
        raise _Reject(f"operator '{op}' is not supported by field '{name}'")
    if (op in ("in", "not in")) != isinstance(operand, ValueList):
        raise _Reject(f"operator '{op}' {'needs' if op.endswith('in') else 'takes no'} list")
    items = operand.items if isinstance(operand, ValueList) else (operand,)
    negate = op in ("!=", "not in", "!~")

    if spec.kind == "date":
        ((moment, whole_day),) = [_date_value(item, ctx, name) for item in items]
        column = minute(spec.column)
        if op in _RANGE_OPS:
            return f"({spec.column} IS NOT NULL AND {column} {op} {ctx.bind([moment])})"
        if whole_day:
            test = f"substr({column}, 1, 10) = {ctx.bind([moment[:10]])}"
        else:
            test = f"{column} = {ctx.bind([moment])}"
        matched = f"({spec.column} IS NOT NULL AND {test})"
        return f"(NOT {matched})" if negate else matched

    if spec.kind in ("title", "text") and op in _TEXT_OPS:
        (item,) = items
        if not isinstance(item, Value):
            raise _Reject(f"field '{name}' takes no function")
        terms = search_terms(item.value)
        if terms is None:
            raise _Reject(f"empty text search on field '{name}'")
        matched = f"({spec.column} IS NOT NULL AND {like_all(spec.column, terms, ctx.params)})"
        return f"(NOT {matched})" if negate else matched

    values: list[object] = []
    for item in items:
        if isinstance(item, Func):
            if spec.kind == "user" and item.name.lower() == "currentuser" and not item.args:
                if ctx.current_user is not None:
                    values.append(ctx.current_user)
                continue
            raise _Reject(f"function '{item.name}' is not valid for field '{name}'")
        assert isinstance(item, Value)
        values.append(_scalar(spec.kind, item.value, name))

    if not values:
        matched = "0"
    elif spec.kind == "label":
        matched = _has_label(values, ctx)
    elif spec.kind == "ancestor":
        matched = _ancestor(values, ctx)
    else:
        collate = " COLLATE NOCASE" if spec.kind in ("type", "space", "title") else ""
        matched = f"({spec.column} IS NOT NULL AND {spec.column}{collate} IN ({ctx.bind(values)}))"
    return f"(NOT {matched})" if negate else matched


def _scalar(kind: _FieldKind, value: str, name: str) -> object:
    if kind in ("id", "parent", "ancestor"):
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise _Reject(f"{value!r} is not a content id for field '{name}'")
        return int(value)
    return value


# -- parsing --------------------------------------------------------------------------


class _CqlParser(Parser):
    messages = Messages(
        trailing="unexpected {got}",
        trailing_after_order="unexpected {got}",
        empty="expected a clause",
        too_deep="nested more than {limit} levels deep",
        too_many_clauses="more than {limit} clauses",
        too_many_values="a list of more than {limit} values",
        close="expected ')' but got {got}",
        list_separator="expected ')' but got {got}",
        field="expected a field but got {got}",
        operator="expected an operator but got {got}",
        not_in=None,
        value="expected a value but got {got}",
        argument="expected a function argument but got {got}",
        by="expected BY but got {got}",
    )
    tie_breaker = "content.id ASC"
    infix_not = True  # Confluence's `space = DEV NOT label = draft`

    def __init__(self, query: str, ctx: _Context) -> None:
        super().__init__(_CqlLexer(query).tokens())
        self.ctx = ctx

    def error(self, tok: Token, message: str) -> _Reject:
        return _Reject(message)

    def describe(self, tok: Token) -> str:
        return "end of query" if tok.kind == "eof" else repr(tok.raw)

    def compile_clause(self, field: str, op: str, operand: Operand) -> str:
        return _clause_sql(field, op, operand, self.ctx)

    def sort_key(self, tok: Token) -> SortKey:
        key = _SORTS.get(tok.value.lower()) if tok.kind in ("word", "string") else None
        if key is None:
            raise _Reject(f"cannot order by {self.describe(tok)}")
        return key


def compile_cql(
    query: str,
    *,
    current_user: str | None = None,
    now: datetime | None = None,
    tz: str | None = None,
) -> tuple[str, list[object], str]:
    """Compile `query` to `(where, params, order_by)` for `SELECT ... FROM content`.

    `where` is a boolean SQL expression over `content`, `params` its positional
    parameters, `order_by` an `ORDER BY ...` clause or `""`. The caller adds
    `content.status = 'current'`. `current_user` is the account id `currentUser()`
    stands for; `now` (UTC) anchors the date functions; `tz` is the caller's time
    zone, in which a date with a time (`"2026-12-02 09:45"`) is read, as Confluence
    reads it in the user's configured time zone. Raises `CqlError`.
    """
    ctx = _Context(current_user=current_user, now=naive_utc(now), tz=tz)
    try:
        where, order = _CqlParser(query, ctx).query()
        if len(ctx.params) > MAX_PARAMS:
            raise _Reject(f"more than {MAX_PARAMS} values")
    except _Reject as exc:
        raise CqlError(f"Could not parse cql : {query}", exc.detail) from None
    return where, ctx.params, order
