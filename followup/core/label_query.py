"""Whether a CQL query is a plain label query, which Confluence Cloud can answer
without CQL: its v2 API lists a label's pages with their bodies 250 at a time, where
a CQL search with bodies returns 25.

A plain label query is a conjunction (AND only, parentheses allowed) of

    label = "postmortem"                 exactly one label (or `label in ("x")`)
    type = page                          optional, any number of times
    space = "OPS"  /  space in ("OPS","SRE")   optional, at most one such clause
    (`space.key` is `space`)

with nothing else: no OR, NOT, other field, other operator, function, or ORDER BY.
That is what `postmortem_cql` makes of the default query and configured spaces:
`(type = page AND label = "postmortem") AND space in ("OPS","SRE")`. Anything else
is not recognised (None), and the caller keeps CQL: a query is never answered
differently from what CQL would answer.

Pure: a string in, a value out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from followup.core.queries import check_space_key

__all__ = ["LabelQuery", "label_query"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<punct>[(),])
      | (?P<op>!=|!~|>=|<=|[=~<>])
      | (?P<word>[^\s"'(),=!~<>]+)
    )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class LabelQuery:
    """Pages labelled `label` (lower-case, as Confluence stores labels), in `spaces`
    when it is not empty (space keys as written)."""

    label: str
    spaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string", "punct", "op", "word"
    text: str  # a string's value, unquoted and unescaped


class _NotPlain(Exception):
    pass


def _tokens(cql: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(cql):
        if cql[pos:].strip() == "":
            break
        match = _TOKEN.match(cql, pos)
        if match is None or match.end() == pos:
            raise _NotPlain
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "string":
            text = _ESCAPE.sub(r"\1", text[1:-1])
        out.append(_Token(kind, text))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.clauses: list[tuple[str, list[str]]] = []

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _NotPlain
        self.pos += 1
        return token

    def expect(self, kind: str, text: str) -> None:
        token = self.take()
        if token.kind != kind or token.text.lower() != text:
            raise _NotPlain

    def conjunction(self) -> None:
        self.atom()
        while (token := self.peek()) is not None and token.kind == "word":
            if token.text.lower() != "and":
                raise _NotPlain  # OR, NOT, ORDER BY, or anything else
            self.pos += 1
            self.atom()

    def atom(self) -> None:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.pos += 1
            self.conjunction()
            self.expect("punct", ")")
            return
        self.clause()

    def value(self) -> str:
        token = self.take()
        if token.kind == "string":
            return token.text
        if token.kind == "word" and token.text.lower() not in ("and", "or", "not", "in"):
            return token.text
        raise _NotPlain

    def clause(self) -> None:
        field = self.take()
        if field.kind != "word":
            raise _NotPlain
        name = field.text.lower()
        if name == "space.key":
            name = "space"
        if name not in ("label", "type", "space"):
            raise _NotPlain
        operator = self.take()
        if operator.kind == "op" and operator.text == "=":
            values = [self.value()]
        elif operator.kind == "word" and operator.text.lower() == "in":
            self.expect("punct", "(")
            values = [self.value()]
            while (token := self.take()).kind == "punct" and token.text == ",":
                values.append(self.value())
            if token.kind != "punct" or token.text != ")":
                raise _NotPlain
        else:
            raise _NotPlain
        # A value that is a function call (`currentSpace()`) reads as a word and a
        # parenthesis: the next token would be "(", which no grammar rule here takes.
        self.clauses.append((name, values))


def label_query(cql: str) -> LabelQuery | None:
    """The `LabelQuery` that `cql` is, or None when it is anything more (see the
    module docstring)."""
    try:
        parser = _Parser(_tokens(cql))
        parser.conjunction()
        if parser.peek() is not None:
            return None
    except _NotPlain:
        return None
    labels: list[str] = []
    spaces: list[list[str]] = []
    for name, values in parser.clauses:
        if name == "type":
            if any(v.lower() != "page" for v in values):
                return None
        elif name == "label":
            if len(values) != 1:
                return None
            labels.append(values[0])
        else:
            spaces.append(values)
    if len(labels) != 1 or len(spaces) > 1:
        return None
    label = labels[0].strip().lower()
    if not label or any(ch.isspace() or ord(ch) < 0x20 for ch in label) or ":" in label:
        return None  # empty, not a label, or a prefixed one (`my:favourite`)
    keys: tuple[str, ...] = ()
    if spaces:
        try:
            keys = tuple(dict.fromkeys(check_space_key(key) for key in spaces[0]))
        except ValueError:
            return None
    return LabelQuery(label, keys)
