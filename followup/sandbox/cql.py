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
  minute precision with a bare date meaning midnight (UTC).
- `~` is a case-insensitive (ASCII) containment test per term (`"\\"exact phrase\\""`
  for a phrase; `*` and `?` wildcards). Lucene's stemming and ranking are not emulated.

Every rejected query raises `CqlError` whose message is Confluence's terse
`Could not parse cql : <query>`; `CqlError.detail` says what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

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

_Kind = Literal["word", "string", "op", "kw", "(", ")", ",", "eof"]
_PUNCTUATION: dict[str, _Kind] = {"(": "(", ")": ")", ",": ","}
_WORD_STOP = frozenset("\"'(),=!<>~")
_KEYWORDS = frozenset({"and", "or", "not", "in", "order", "by", "asc", "desc"})
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    value: str
    raw: str
    pos: int


def _describe(tok: _Token) -> str:
    return "end of query" if tok.kind == "eof" else repr(tok.raw)


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "\"'":
            out: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise _Reject(f"unterminated string starting at character {start + 1}")
                c = query[i]
                if c == ch:
                    i += 1
                    break
                if c == "\\":
                    esc = query[i + 1 : i + 2]
                    if esc in _ESCAPES:
                        out.append(_ESCAPES[esc])
                        i += 2
                        continue
                    digits = query[i + 2 : i + 6]
                    if (
                        esc == "u"
                        and re.fullmatch(r"[0-9a-fA-F]{4}", digits)
                        and not 0xD800 <= int(digits, 16) <= 0xDFFF
                    ):
                        out.append(chr(int(digits, 16)))
                        i += 6
                        continue
                    raise _Reject(f"invalid escape '\\{esc}' at character {i + 1}")
                if 0xD800 <= ord(c) <= 0xDFFF or c == "\x00":
                    raise _Reject(f"illegal character at character {i + 1}")
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
        if ch == "!":
            raise _Reject(f"unexpected '!' at character {i + 1}")
        while i < n and not query[i].isspace() and query[i] not in _WORD_STOP:
            if 0xD800 <= ord(query[i]) <= 0xDFFF or query[i] in "\x00\\":
                raise _Reject(f"illegal character at character {i + 1}")
            i += 1
        raw = query[start:i]
        if raw.lower() in _KEYWORDS:
            tokens.append(_Token("kw", raw.lower(), raw, start))
        else:
            tokens.append(_Token("word", raw, raw, start))
    tokens.append(_Token("eof", "", "", n))
    return tokens


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

_SORTS: dict[str, str] = {
    "id": "content.id",
    "content": "content.id",
    "title": "content.title COLLATE NOCASE",
    "type": "content.type",
    "space": "content.space_key",
    "space.key": "content.space_key",
    "created": "content.created",
    "lastmodified": "content.last_modified",
}

_DATE_FUNCTIONS = frozenset(
    {"now", "startofday", "endofday", "startofweek", "endofweek", "startofmonth", "endofmonth"}
)
_ABSOLUTE_DATE = re.compile(
    r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2}))?"
)
_PERIOD = re.compile(r"([-+]?)\s*((?:[0-9]{1,6}\s*[wdhmWDHM]\s*)+)")
_PERIOD_PART = re.compile(r"([0-9]+)\s*([wdhmWDHM])")


@dataclass(frozen=True, slots=True)
class _Value:
    value: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class _Func:
    name: str
    args: tuple[str, ...]


_Single = _Value | _Func


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple[_Single, ...]


@dataclass(slots=True)
class _Context:
    current_user: str | None
    now: datetime
    params: list[object] = field(default_factory=list)

    def bind(self, values: list[object]) -> str:
        self.params.extend(values)
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


def _function_moment(func: _Func, ctx: _Context) -> datetime:
    fname = func.name.lower()
    if fname not in _DATE_FUNCTIONS:
        raise _Reject(f"function '{func.name}' is not a date function")
    if len(func.args) > 1:
        raise _Reject(f"function '{func.name}' takes at most one argument")
    offset = timedelta()
    if func.args:
        parsed = _period(func.args[0])
        if parsed is None:
            raise _Reject(f"invalid offset {func.args[0]!r} for function '{func.name}'")
        offset = parsed
    if fname == "now":
        return ctx.now + offset
    today = datetime(ctx.now.year, ctx.now.month, ctx.now.day)
    if fname in ("startofday", "endofday"):
        start, length = today, timedelta(days=1)
    elif fname in ("startofweek", "endofweek"):
        start, length = today - timedelta(days=today.weekday()), timedelta(days=7)
    else:
        start = today.replace(day=1)
        length = (start + timedelta(days=32)).replace(day=1) - start
    moment = start if fname.startswith("start") else start + length - timedelta(minutes=1)
    return moment + offset


def _date_value(item: _Single, ctx: _Context, name: str) -> tuple[str, bool]:
    """(`YYYY-MM-DD HH:MM`, whether a bare date was written)."""
    if isinstance(item, _Func):
        return _function_moment(item, ctx).strftime("%Y-%m-%d %H:%M"), False
    match = _ABSOLUTE_DATE.fullmatch(item.value.strip())
    if not match:
        raise _Reject(f"invalid date {item.value!r} for field '{name}'")
    year, month, day, hour, minute = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
    except ValueError:
        raise _Reject(f"invalid date {item.value!r} for field '{name}'") from None
    return moment.strftime("%Y-%m-%d %H:%M"), hour is None


def _minute(column: str) -> str:
    return f"substr(replace({column}, 'T', ' '), 1, 16)"


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("*", "%").replace("?", "_") + "%"


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


def _clause_sql(name: str, op: str, operand: _Single | _List, ctx: _Context) -> str:
    spec = _FIELDS.get(name.lower())
    if spec is None:
        raise _Reject(f"no field '{name}'")
    if op not in _OPS_BY_KIND[spec.kind]:
        raise _Reject(f"operator '{op}' is not supported by field '{name}'")
    if (op in ("in", "not in")) != isinstance(operand, _List):
        raise _Reject(f"operator '{op}' {'needs' if op.endswith('in') else 'takes no'} list")
    items = operand.items if isinstance(operand, _List) else (operand,)
    negate = op in ("!=", "not in", "!~")

    if spec.kind == "date":
        ((moment, whole_day),) = [_date_value(item, ctx, name) for item in items]
        column = _minute(spec.column)
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
        if isinstance(item, _Func):
            raise _Reject(f"field '{name}' takes no function")
        text = item.value.strip()
        if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
            terms = [text[1:-1]]
        else:
            terms = text.split()
        if not any(t.strip("*? ") for t in terms):
            raise _Reject(f"empty text search on field '{name}'")
        tests = []
        for term in terms:
            ctx.params.append(_like(term))
            tests.append(f"{spec.column} LIKE ? ESCAPE '\\'")
        matched = f"({spec.column} IS NOT NULL AND " + " AND ".join(tests) + ")"
        return f"(NOT {matched})" if negate else matched

    values: list[object] = []
    for item in items:
        if isinstance(item, _Func):
            if spec.kind == "user" and item.name.lower() == "currentuser" and not item.args:
                if ctx.current_user is not None:
                    values.append(ctx.current_user)
                continue
            raise _Reject(f"function '{item.name}' is not valid for field '{name}'")
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

# Limits that keep every accepted query within SQLite's expression depth (1000) and
# parameter count (32766).
_MAX_DEPTH = 50
_MAX_CLAUSES = 300
_MAX_VALUES = 10_000
_MAX_PARAMS = 30_000


class _Parser:
    def __init__(self, query: str, ctx: _Context) -> None:
        self.ctx = ctx
        self.tokens = _lex(query)
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

    def expect(self, kind: _Kind, what: str) -> _Token:
        tok = self.advance()
        if tok.kind != kind:
            raise _Reject(f"expected {what} but got {_describe(tok)}")
        return tok

    def query(self) -> tuple[str, str]:
        if self.peek().kind == "eof" or self.at_kw("order"):
            raise _Reject("expected a clause")
        where = self.or_expr()
        order = self.order_by() if self.at_kw("order") else ""
        tok = self.peek()
        if tok.kind != "eof":
            raise _Reject(f"unexpected {_describe(tok)}")
        return where, order

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.at_kw("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self.at_kw("and") or self.at_kw("not"):
            if self.advance().value == "not":  # `a NOT b` means `a AND NOT b`
                parts.append(f"(NOT {self.unary()})")
            else:
                parts.append(self.unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def unary(self) -> str:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Reject(f"nested more than {_MAX_DEPTH} levels deep")
        try:
            if self.at_kw("not"):
                self.advance()
                return f"(NOT {self.unary()})"
            if self.peek().kind == "(":
                self.advance()
                inner = self.or_expr()
                self.expect(")", "')'")
                return inner
            return self.clause()
        finally:
            self.depth -= 1

    def clause(self) -> str:
        self.clauses += 1
        if self.clauses > _MAX_CLAUSES:
            raise _Reject(f"more than {_MAX_CLAUSES} clauses")
        name = self.advance()
        if name.kind not in ("word", "string"):
            raise _Reject(f"expected a field but got {_describe(name)}")
        tok = self.advance()
        if tok.kind == "op":
            op = tok.value
        elif tok.kind == "kw" and tok.value == "in":
            op = "in"
        elif tok.kind == "kw" and tok.value == "not" and self.at_kw("in"):
            self.advance()
            op = "not in"
        else:
            raise _Reject(f"expected an operator but got {_describe(tok)}")
        operand: _Single | _List
        if self.peek().kind == "(":
            self.advance()
            items = [self.single()]
            while self.peek().kind == ",":
                self.advance()
                if len(items) >= _MAX_VALUES:
                    raise _Reject(f"a list of more than {_MAX_VALUES} values")
                items.append(self.single())
            self.expect(")", "')'")
            operand = _List(tuple(items))
        else:
            operand = self.single()
        return _clause_sql(name.value, op, operand, self.ctx)

    def single(self) -> _Single:
        tok = self.advance()
        if tok.kind == "string":
            return _Value(tok.value, quoted=True)
        if tok.kind != "word":
            raise _Reject(f"expected a value but got {_describe(tok)}")
        if self.peek().kind != "(":
            return _Value(tok.value, quoted=False)
        self.advance()
        args: list[str] = []
        if self.peek().kind != ")":
            while True:
                arg = self.advance()
                if arg.kind not in ("word", "string"):
                    raise _Reject(f"expected a function argument but got {_describe(arg)}")
                args.append(arg.value)
                if self.peek().kind != ",":
                    break
                self.advance()
        self.expect(")", "')'")
        return _Func(tok.value, tuple(args))

    def order_by(self) -> str:
        self.advance()
        by = self.advance()
        if not (by.kind == "kw" and by.value == "by"):
            raise _Reject(f"expected BY but got {_describe(by)}")
        terms: list[str] = []
        while True:
            name = self.advance()
            column = _SORTS.get(name.value.lower()) if name.kind in ("word", "string") else None
            if column is None:
                raise _Reject(f"cannot order by {_describe(name)}")
            direction = "ASC"
            if self.at_kw("asc") or self.at_kw("desc"):
                direction = self.advance().value.upper()
            terms.append(f"{column} {direction}")
            if self.peek().kind != ",":
                break
            self.advance()
        if terms[-1] not in ("content.id ASC", "content.id DESC"):
            terms.append("content.id ASC")  # a stable order for paging through ties
        return "ORDER BY " + ", ".join(terms)


def compile_cql(
    query: str, *, current_user: str | None = None, now: datetime | None = None
) -> tuple[str, list[object], str]:
    """Compile `query` to `(where, params, order_by)` for `SELECT ... FROM content`.

    `where` is a boolean SQL expression over `content`, `params` its positional
    parameters, `order_by` an `ORDER BY ...` clause or `""`. The caller adds
    `content.status = 'current'`. `current_user` is the account id `currentUser()`
    stands for; `now` (UTC) anchors the date functions. Raises `CqlError`.
    """
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    ctx = _Context(current_user=current_user, now=now)
    try:
        where, order = _Parser(query, ctx).query()
        if len(ctx.params) > _MAX_PARAMS:
            raise _Reject(f"more than {_MAX_PARAMS} values")
    except _Reject as exc:
        raise CqlError(f"Could not parse cql : {query}", exc.detail) from None
    return where, ctx.params, order
