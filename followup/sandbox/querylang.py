"""What the sandbox's two query languages, JQL (`jira/jql.py`) and CQL
(`confluence/cql.py`), share: the lexer, the parser, and the pieces of SQL and dates
both compile to.

A language subclasses `Lexer` (its keywords, the characters that end a bare word, the
escapes and characters it allows, its messages) and `Parser` (what a clause, a value
and an ORDER BY field mean, and how its syntax errors read). The shared parser does
the rest, compiling as it goes:

    query     := [or_expr] [ORDER BY sort {"," sort}]
    or_expr   := and_expr {OR and_expr}
    and_expr  := unary {AND unary}          (CQL also: unary NOT unary = AND NOT)
    unary     := NOT unary | "(" or_expr ")" | clause
    clause    := field operator operand
    operator  := = != < <= > >= ~ !~ | IN | NOT IN | IS | IS NOT
    operand   := single | "(" single {"," single} ")"
    single    := string | word | word "(" [arg {"," arg}] ")"

AND binds tighter than OR, NOT tighter than both. The limits (`MAX_DEPTH`,
`MAX_CLAUSES`, `MAX_VALUES`, `MAX_PARAMS`) keep every accepted query within
SQLite's expression depth (1000) and parameter count (32766).

Pure: text in, text and values out. A language's clauses bind every value as a `?`
parameter; SQL text is assembled only from constants.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar, Literal

__all__ = [
    "ABSOLUTE_DATE",
    "DATE_FUNCTIONS",
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "MAX_PARAMS",
    "MAX_VALUES",
    "Empty",
    "Func",
    "Lexer",
    "Messages",
    "Operand",
    "Parser",
    "Single",
    "SortKey",
    "Token",
    "TokenKind",
    "Value",
    "ValueList",
    "date_function_moment",
    "decode_escape",
    "like_all",
    "local_to_utc",
    "minute",
    "naive_utc",
    "period",
    "search_terms",
]

MAX_DEPTH = 50
MAX_CLAUSES = 300
MAX_VALUES = 10_000
MAX_PARAMS = 30_000


# -- tokens ---------------------------------------------------------------------------

TokenKind = Literal["word", "string", "op", "kw", "(", ")", ",", "eof"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    value: str  # decoded text; the lower-cased keyword for "kw"
    raw: str  # as written, for messages
    pos: int


_PUNCTUATION: dict[str, TokenKind] = {"(": "(", ")": ")", ",": ","}
_TWO_CHAR_OPS = frozenset({"!=", "!~", "<=", ">="})
_ONE_CHAR_OPS = frozenset("=<>~")

#: Backslash escapes both languages decode in quoted strings (and JQL in bare words).
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_LOW_SURROGATE_ESCAPE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def decode_escape(text: str, i: int, *, surrogate_pairs: bool) -> tuple[str, int] | None:
    """The escape at `text[i] == "\\\\"`: (what it stands for, the index after it), or
    None when it is not a valid one.

    `\\\\uXXXX` names a character. With `surrogate_pairs`, a UTF-16 pair written as two
    escapes (`\\\\ud83d\\\\ude92`) names the one character it encodes; any other
    surrogate is invalid (it could not be bound as SQLite text).
    """
    ch = text[i + 1 : i + 2]
    if ch in ESCAPES:
        return ESCAPES[ch], i + 2
    digits = text[i + 2 : i + 6]
    if ch != "u" or not _HEX4.fullmatch(digits):
        return None
    code = int(digits, 16)
    if not 0xD800 <= code <= 0xDFFF:
        return chr(code), i + 6
    low = text[i + 6 : i + 12]
    if surrogate_pairs and code <= 0xDBFF and _LOW_SURROGATE_ESCAPE.fullmatch(low):
        return chr(0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)), i + 12
    return None


class Lexer:
    """Splits a query into tokens: quoted strings (either quote, backslash escapes),
    `( ) ,`, the comparison operators, keywords (case-insensitive) and bare words.

    A language sets the class attributes and overrides the hooks below them; each
    check raises the language's own error.
    """

    keywords: ClassVar[frozenset[str]]
    word_stop: ClassVar[frozenset[str]]  # characters that end a bare word
    # Symbolic spellings of keywords (`&&` for AND), the longest first.
    symbols: ClassVar[Mapping[str, str]] = MappingProxyType({})
    surrogate_pairs: ClassVar[bool] = False  # see decode_escape
    escapes_in_words: ClassVar[bool] = False  # whether bare words decode escapes too

    def __init__(self, text: str) -> None:
        self.text = text

    def tokens(self) -> list[Token]:
        """Every token of the text, ending with an "eof" token."""
        text, n = self.text, len(self.text)
        tokens: list[Token] = []
        i = 0
        while i < n:
            ch = text[i]
            if self.is_space(ch):
                i += 1
                continue
            two = text[i : i + 2]
            symbol = next((s for s in self.symbols if text.startswith(s, i)), None)
            if ch in "\"'":
                token, i = self._string(i)
            elif ch in _PUNCTUATION:
                token, i = Token(_PUNCTUATION[ch], ch, ch, i), i + 1
            elif two in _TWO_CHAR_OPS:
                token, i = Token("op", two, two, i), i + 2
            elif ch in _ONE_CHAR_OPS:
                token, i = Token("op", ch, ch, i), i + 1
            elif symbol is not None:
                token, i = Token("kw", self.symbols[symbol], symbol, i), i + len(symbol)
            else:
                self.check_word_start(i)
                token, i = self._word(i)
            tokens.append(token)
        tokens.append(Token("eof", "", "", n))
        return tokens

    def _char(self, i: int, *, quoted: bool) -> tuple[str, int]:
        """What the character at `i` (or the escape starting there) stands for in a
        quoted string or a bare word, and the index after it."""
        if self.text[i] == "\\" and (quoted or self.escapes_in_words):
            decoded = decode_escape(self.text, i, surrogate_pairs=self.surrogate_pairs)
            if decoded is None:
                raise self.bad_escape(i)
            return decoded
        if quoted:
            self.check_in_string(i)
        else:
            self.check_in_word(i)
        return self.text[i], i + 1

    def _string(self, start: int) -> tuple[Token, int]:
        text, quote = self.text, self.text[start]
        parts: list[str] = []
        i = start + 1
        while True:
            if i >= len(text):
                raise self.unterminated(start)
            if text[i] == quote:
                return Token("string", "".join(parts), text[start : i + 1], start), i + 1
            part, i = self._char(i, quoted=True)
            parts.append(part)

    def _word(self, start: int) -> tuple[Token, int]:
        text = self.text
        parts: list[str] = []
        i = start
        while i < len(text):
            c = text[i]
            if c.isspace() or c in self.word_stop or self.ends_word(c):
                break
            part, i = self._char(i, quoted=False)
            parts.append(part)
        raw = text[start:i]
        if raw.lower() in self.keywords:
            return Token("kw", raw.lower(), raw, start), i
        return Token("word", "".join(parts), raw, start), i

    # -- what a language decides ------------------------------------------------------

    def is_space(self, ch: str) -> bool:
        return ch.isspace()

    def ends_word(self, ch: str) -> bool:
        """Whether `ch` ends a bare word besides white space and `word_stop`."""
        return False

    def check_word_start(self, i: int) -> None:
        """Raise for a character that can start no token at all."""

    def check_in_word(self, i: int) -> None:
        """Raise for a character a bare word may not hold."""

    def check_in_string(self, i: int) -> None:
        """Raise for a character a quoted string may not hold as it is."""

    def unterminated(self, start: int) -> Exception:
        raise NotImplementedError

    def bad_escape(self, i: int) -> Exception:
        raise NotImplementedError


# -- the parse tree of an operand -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    value: str
    raw: str


@dataclass(frozen=True, slots=True)
class Empty:
    """JQL's `EMPTY` / `null`."""

    raw: str


@dataclass(frozen=True, slots=True)
class Func:
    name: str
    args: tuple[str, ...]
    raw: str


Single = Value | Empty | Func


@dataclass(frozen=True, slots=True)
class ValueList:
    items: tuple[Single, ...]
    raw: str


Operand = Single | ValueList


@dataclass(frozen=True, slots=True)
class SortKey:
    """What ORDER BY a field sorts by: SQL expressions (constants of the language),
    the direction when none is given, whether nulls go last ascending (first
    descending), and whether the key is unique (then no tie-breaker is added)."""

    columns: tuple[str, ...]
    descending: bool = False
    nulls: bool = False
    unique: bool = False


@dataclass(frozen=True, slots=True)
class Messages:
    """How a language words the syntax errors the shared parser finds: format strings,
    where `{got}` is the token found (as `Parser.describe` gives it) and `{limit}` the
    limit exceeded."""

    trailing: str  # a token after a complete query
    trailing_after_order: str  # the same, after ORDER BY
    empty: str | None  # no clause before ORDER BY or the end; None: matches everything
    too_deep: str
    too_many_clauses: str
    too_many_values: str  # in one list
    close: str  # a group, list or call not closed by ")"
    list_separator: str  # neither "," nor ")" after a list item
    field: str  # no field name where a clause (or a JQL sort) starts
    operator: str  # no operator after the field
    not_in: str | None  # NOT followed by no IN (at that token); None: "operator" at the NOT
    value: str
    argument: str  # a function argument that is not a word or a string
    by: str  # ORDER not followed by BY


class Parser:
    """Recursive descent over a token list by precedence climbing, compiling to a SQL
    boolean expression and an ORDER BY clause as it goes (see the module docstring).

    A language provides `messages`, `tie_breaker` (the unique column ORDER BY ends with
    for a stable order to page through), `error`, `compile_clause` and `sort_key`, and
    may override `describe`, `value` and `no_operator`.
    """

    messages: ClassVar[Messages]
    tie_breaker: ClassVar[str]
    infix_not: ClassVar[bool] = False  # whether `a NOT b` means `a AND NOT b`

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.clauses = 0

    # -- what a language decides ------------------------------------------------------

    def error(self, tok: Token, message: str) -> Exception:
        """The language's error for `message`, found at `tok`."""
        raise NotImplementedError

    def compile_clause(self, field: str, op: str, operand: Operand) -> str:
        """SQL for one clause `field op operand`; raises the language's error."""
        raise NotImplementedError

    def sort_key(self, tok: Token) -> SortKey:
        """What ORDER BY the field `tok` names sorts by; raises when it cannot sort."""
        raise NotImplementedError

    def describe(self, tok: Token) -> str:
        return "end of query" if tok.kind == "eof" else tok.raw

    def value(self, tok: Token) -> Single:
        """A single value that is not a function call."""
        if tok.kind in ("string", "word"):
            return Value(tok.value, tok.raw)
        raise self.unexpected(tok, self.messages.value)

    def no_operator(self, tok: Token) -> Exception:
        """The error for `tok` where an operator should be."""
        if tok.kind == "kw" and tok.value == "not" and self.messages.not_in is not None:
            return self.unexpected(self.peek(), self.messages.not_in)
        return self.unexpected(tok, self.messages.operator)

    # -- tokens -----------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "kw" and tok.value == word

    def unexpected(self, tok: Token, template: str) -> Exception:
        return self.error(tok, template.format(got=self.describe(tok)))

    def expect(self, kind: TokenKind, template: str) -> Token:
        tok = self.advance()
        if tok.kind != kind:
            raise self.unexpected(tok, template)
        return tok

    # -- the grammar ------------------------------------------------------------------

    def query(self) -> tuple[str, str]:
        """(where, order by) for the whole query: `"1"` where there is no clause (when
        the language allows that), `""` without ORDER BY."""
        where = "1"
        if self.peek().kind == "eof" or self.at_kw("order"):
            if self.messages.empty is not None:
                raise self.error(self.peek(), self.messages.empty)
        else:
            where = self.or_expr()
        order = self.order_by() if self.at_kw("order") else ""
        tok = self.peek()
        if tok.kind != "eof":
            m = self.messages
            raise self.unexpected(tok, m.trailing_after_order if order else m.trailing)
        return where, order

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.at_kw("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.unary()]
        while self.at_kw("and") or (self.infix_not and self.at_kw("not")):
            if self.advance().value == "not":
                parts.append(f"(NOT {self.unary()})")
            else:
                parts.append(self.unary())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def unary(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(self.peek(), self.messages.too_deep.format(limit=MAX_DEPTH))
        try:
            if self.at_kw("not"):
                self.advance()
                return f"(NOT {self.unary()})"
            if self.peek().kind == "(":
                self.advance()
                inner = self.or_expr()
                self.expect(")", self.messages.close)
                return inner
            return self.clause()
        finally:
            self.depth -= 1

    def clause(self) -> str:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            limit = MAX_CLAUSES
            raise self.error(self.peek(), self.messages.too_many_clauses.format(limit=limit))
        name = self.advance()
        if name.kind not in ("word", "string"):
            raise self.unexpected(name, self.messages.field)
        op = self.operator()
        return self.compile_clause(name.value, op, self.operand())

    def operator(self) -> str:
        tok = self.advance()
        if tok.kind == "op":
            return tok.value
        if tok.kind == "kw" and tok.value == "in":
            return "in"
        if tok.kind == "kw" and tok.value == "not" and self.at_kw("in"):
            self.advance()
            return "not in"
        if tok.kind == "kw" and tok.value == "is":
            if self.at_kw("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.no_operator(tok)

    def operand(self) -> Operand:
        if self.peek().kind != "(":
            return self.single()
        self.advance()
        items = [self.single()]
        while True:
            tok = self.advance()
            if tok.kind == ")":
                break
            if tok.kind != ",":
                raise self.unexpected(tok, self.messages.list_separator)
            if len(items) >= MAX_VALUES:
                raise self.error(tok, self.messages.too_many_values.format(limit=MAX_VALUES))
            items.append(self.single())
        return ValueList(tuple(items), "(" + ", ".join(item.raw for item in items) + ")")

    def single(self) -> Single:
        tok = self.advance()
        if tok.kind == "word" and self.peek().kind == "(":
            return self.function(tok)
        return self.value(tok)

    def function(self, name: Token) -> Func:
        self.advance()  # "("
        args: list[str] = []
        raws: list[str] = []
        if self.peek().kind != ")":
            while True:
                tok = self.advance()
                if tok.kind not in ("word", "string"):
                    raise self.unexpected(tok, self.messages.argument)
                args.append(tok.value)
                raws.append(tok.raw)
                if self.peek().kind != ",":
                    break
                self.advance()
        self.expect(")", self.messages.close)
        return Func(name.value, tuple(args), f"{name.raw}({', '.join(raws)})")

    def order_by(self) -> str:
        self.advance()  # ORDER
        by = self.advance()
        if not (by.kind == "kw" and by.value == "by"):
            raise self.unexpected(by, self.messages.by)
        terms: list[str] = []
        unique = False
        while True:
            key = self.sort_key(self.advance())
            descending = key.descending
            if self.at_kw("asc") or self.at_kw("desc"):
                descending = self.advance().value == "desc"
            direction = "DESC" if descending else "ASC"
            nulls = (" NULLS FIRST" if descending else " NULLS LAST") if key.nulls else ""
            terms.extend(f"{column} {direction}{nulls}" for column in key.columns)
            unique = key.unique
            if self.peek().kind != ",":
                break
            self.advance()
        if not unique:
            terms.append(self.tie_breaker)  # a stable order for paging through ties
        return "ORDER BY " + ", ".join(terms)


# -- SQL pieces -----------------------------------------------------------------------


def minute(column: str) -> str:
    """A stored ISO 8601 UTC timestamp cut to `YYYY-MM-DD HH:MM`, comparable as text."""
    return f"substr(replace({column}, 'T', ' '), 1, 16)"


def search_terms(text: str) -> list[str] | None:
    """The terms of a `~` search: the phrase in `"..."`, else the words; None when no
    term has more than wildcards."""
    text = text.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        terms = [text[1:-1]]
    else:
        terms = text.split()
    return terms if any(t.strip("*? ") for t in terms) else None


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("*", "%").replace("?", "_") + "%"


def like_all(column: str, terms: list[str], params: list[object]) -> str:
    """SQL that holds when `column` contains every term (ASCII case-insensitive, `*`
    and `?` wildcards), binding one pattern per term."""
    tests = []
    for term in terms:
        params.append(_like_pattern(term))
        tests.append(f"{column} LIKE ? ESCAPE '\\'")
    return " AND ".join(tests)


# -- dates ----------------------------------------------------------------------------

ABSOLUTE_DATE = re.compile(
    r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2}))?"
)
DATE_FUNCTIONS = frozenset(
    {"now", "startofday", "endofday", "startofweek", "endofweek", "startofmonth", "endofmonth"}
)
_PERIOD = re.compile(r"([-+]?)\s*((?:[0-9]{1,6}\s*[wdhmWDHM]\s*)+)")
_PERIOD_PART = re.compile(r"([0-9]+)\s*([wdhmWDHM])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def naive_utc(now: datetime | None) -> datetime:
    """`now` (default: the clock) as a naive UTC datetime."""
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


def local_to_utc(moment: datetime, tz: str | None) -> datetime:
    """A wall-clock `moment` written in a query, read in the time zone `tz` (the
    caller's profile, as Jira and Confluence read absolute dates), as naive UTC.
    An unknown or missing zone reads as UTC."""
    if not tz or tz == "UTC":
        return moment
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return moment
    return moment.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def period(text: str) -> timedelta | None:
    """A relative period such as `-7d` or `"4w 2d"` (units w, d, h, m), or None."""
    match = _PERIOD.fullmatch(text.strip())
    if not match:
        return None
    total = timedelta()
    for amount, unit in _PERIOD_PART.findall(match.group(2)):
        total += timedelta(**{_UNITS[unit.lower()]: int(amount)})
    return -total if match.group(1) == "-" else total


def date_function_moment(name: str, now: datetime, offset: timedelta) -> datetime:
    """What a date function in `DATE_FUNCTIONS` stands for at `now`, plus `offset`: a
    `startOf...` the first minute of the day, week (from Monday) or month, an
    `endOf...` its last minute."""
    fname = name.lower()
    if fname == "now":
        return now + offset
    today = datetime(now.year, now.month, now.day)
    if fname in ("startofday", "endofday"):
        start, length = today, timedelta(days=1)
    elif fname in ("startofweek", "endofweek"):
        start, length = today - timedelta(days=today.weekday()), timedelta(days=7)
    else:
        start = today.replace(day=1)
        length = (start + timedelta(days=32)).replace(day=1) - start
    moment = start if fname.startswith("start") else start + length - timedelta(minutes=1)
    return moment + offset
