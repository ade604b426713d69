"""The JQL and CQL followup sends, built so that no value can change a query's shape.

Every value goes into a query through `jql_string` or `cql_string`, which make it one
quoted literal, whatever quotes, backslashes, parentheses or keywords it holds. Page
ids and space keys are checked against what Confluence allows before they are used,
so a bad setting fails here, with a message naming it, rather than as a 400 from the
site or as a query that silently matches something else.

Pure: strings in, strings out. No I/O, no clock, no environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

__all__ = [
    "check_page_id",
    "check_space_key",
    "cql_string",
    "jql_string",
    "managed_tickets_jql",
    "page_label",
    "postmortem_cql",
]

_JQL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_PAGE_ID = re.compile(r"[0-9]{1,30}")
_SPACE_KEY = re.compile(r"[A-Za-z0-9]{1,255}")
_PERSONAL_SPACE_KEY = re.compile(r"~[A-Za-z0-9._@:-]{1,254}")
_PROJECT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")
_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)


def _is_jql_control(code: int) -> bool:
    """Jira's `JqlStringSupportImpl.isJqlControl`: characters it writes as `\\uXXXX`."""
    return (
        code <= 0x1F or 0x7F <= code <= 0x9F or 0xFDD0 <= code <= 0xFDEF or 0xFFFE <= code <= 0xFFFF
    )


def _check_text(value: str, what: str) -> None:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError(f"{what} {value!r} is not valid Unicode text (it has a lone surrogate)")


def jql_string(value: str) -> str:
    """`value` as one JQL double-quoted string literal.

    Escapes as Jira's own `encodeAsQuotedString` does: `"` and `\\` get a backslash;
    tab, newline and carriage return become `\\t`, `\\n`, `\\r`; other control
    characters become `\\uXXXX`. Quoting every value also sidesteps JQL's reserved
    words (`and`, `user`, `order`...) and reserved characters (`%`, `@`, `[`...).
    """
    _check_text(value, "JQL value")
    out: list[str] = []
    for ch in value:
        escaped = _JQL_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif _is_jql_control(ord(ch)):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def cql_string(value: str) -> str:
    """`value` as one CQL double-quoted string literal (`"` and `\\` backslash-escaped).

    CQL documents no escape for control characters, so a value holding one (a newline,
    a tab...) is refused with ValueError rather than sent in a form Confluence may read
    differently. Labels, space keys and titles never hold one.
    """
    _check_text(value, "CQL value")
    for ch in value:
        if ord(ch) <= 0x1F or 0x7F <= ord(ch) <= 0x9F:
            raise ValueError(
                f"CQL value {value!r} holds the control character U+{ord(ch):04X},"
                " which CQL cannot quote"
            )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_label(label: str) -> None:
    if not label or len(label) > 255 or any(ch.isspace() for ch in label):
        raise ValueError(
            f"label {label!r} is not a valid Jira label: it must be 1 to 255 characters"
            " with no spaces"
        )
    _check_text(label, "label")


def _page_ids(page_ids: Iterable[str]) -> list[str]:
    """The ids, checked to be Confluence page ids (digits), duplicates dropped, in order."""
    seen: dict[str, None] = {}
    for page_id in page_ids:
        if not isinstance(page_id, str) or not _PAGE_ID.fullmatch(page_id):
            raise ValueError(
                f"page id {page_id!r} is not a Confluence page id: it must be digits only,"
                " as in .../pages/98000001"
            )
        seen[page_id] = None
    return list(seen)


def page_label(label: str, page_id: str) -> str:
    """The per-page label of the tickets of one page: `page_label("followup", "98000001")`
    is `followup-98000001`."""
    _check_label(label)
    (checked,) = _page_ids([page_id])
    result = f"{label}-{checked}"
    _check_label(result)
    return result


def managed_tickets_jql(
    label: str,
    *,
    project: str | None = None,
    page_ids: Sequence[str] = (),
    updated_since: datetime | None = None,
) -> str:
    """The JQL that finds the tickets followup manages, in a stable order for paging.

    `labels = "followup" ORDER BY key ASC`; with `page_ids`, only those pages' tickets
    (`labels in ("followup-123", "followup-456")`); with `project`, only that project's;
    with `updated_since`, only those updated since that minute (`AND updated >=
    "2026/12/02 09:45"`): a wall-clock time, which Jira reads in the time zone of the
    account searching, so the caller gives it in that zone. Seconds are dropped, so
    the minute it names is included whole.
    """
    _check_label(label)
    if page_ids:
        labels = [page_label(label, page_id) for page_id in _page_ids(page_ids)]
        clause = "labels in (" + ", ".join(jql_string(value) for value in labels) + ")"
    else:
        clause = f"labels = {jql_string(label)}"
    if project is not None:
        if not _PROJECT_KEY.fullmatch(project):
            raise ValueError(
                f"project {project!r} is not a Jira project key: letters, digits and"
                " underscores, starting with a letter (such as OPS)"
            )
        clause += f" AND project = {jql_string(project)}"
    if updated_since is not None:
        clause += f" AND updated >= {jql_string(updated_since.strftime('%Y/%m/%d %H:%M'))}"
    return clause + " ORDER BY key ASC"


def _check_space(key: str) -> str:
    if not isinstance(key, str) or not (
        _SPACE_KEY.fullmatch(key) or _PERSONAL_SPACE_KEY.fullmatch(key)
    ):
        raise ValueError(
            f"space {key!r} is not a Confluence space key: letters and digits only"
            " (such as SRE), or ~ and a user name for a personal space"
        )
    return key


def check_space_key(key: str) -> str:
    """`key` when it is a Confluence space key; ValueError saying what one looks like."""
    return _check_space(key)


def check_page_id(page_id: str) -> str:
    """`page_id` when it is a Confluence page id; ValueError saying what one looks like."""
    return _page_ids([page_id])[0]


def _split_order_by(cql: str) -> tuple[str, str]:
    """(`cql` without a trailing ORDER BY, the ORDER BY part or ""), checking that the
    parentheses and quotes of the condition are balanced, so that wrapping it in
    parentheses keeps it one operand."""
    depth = 0
    quote: str | None = None
    order_at = -1
    i = 0
    while i < len(cql):
        ch = cql[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                break
        elif (
            depth == 0
            and order_at < 0
            and (i == 0 or not (cql[i - 1].isalnum() or cql[i - 1] in "._"))
            and _ORDER_BY.match(cql, i)
        ):
            order_at = i
        i += 1
    if quote is not None or depth != 0:
        raise ValueError(
            f"CQL {cql!r} has unbalanced quotes or parentheses; fix the configured query"
        )
    if order_at < 0:
        return cql.strip(), ""
    return cql[:order_at].strip(), cql[order_at:].strip()


def postmortem_cql(
    base_cql: str,
    *,
    spaces: Sequence[str] = (),
    page_ids: Sequence[str] = (),
    modified_since: datetime | None = None,
) -> str:
    """The discovery CQL: `base_cql` restricted to `spaces` and/or `page_ids`, and
    with `modified_since` to the pages modified since that minute.

    `(<base>) AND space in ("OPS","SRE") AND id in (1,2) AND lastmodified >=
    "2026-12-02 09:45"`. A trailing `ORDER BY` of the base stays at the end. Space keys
    and page ids are checked (ValueError otherwise). `modified_since` is a wall-clock
    time, which Confluence reads in the searching account's time zone; its seconds
    are dropped, so the minute it names is included whole.
    """
    condition, order = _split_order_by(base_cql)
    parts = [f"({condition})"] if condition else []
    if spaces:
        keys = list(dict.fromkeys(_check_space(key) for key in spaces))
        parts.append("space in (" + ",".join(cql_string(key) for key in keys) + ")")
    if page_ids:
        parts.append("id in (" + ",".join(_page_ids(page_ids)) + ")")
    if modified_since is not None:
        parts.append(f"lastmodified >= {cql_string(modified_since.strftime('%Y-%m-%d %H:%M'))}")
    if not parts:
        raise ValueError("the postmortem CQL is empty: set a query, spaces or page ids")
    cql = " AND ".join(parts)
    return f"{cql} {order}" if order else cql
