"""Action-item tables: which table is one, and which column holds what.

A table is an action-item table when its header row (`<th>` cells, in `<thead>` or as
the first row of `<tbody>`) names an action column and an owner or due column.
Header words are matched as words ("Due date" is a due column, "Last update" is not);
a plural counts ("Owners", "Action items").

Pure: a tree in, values out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

from followup.storage_format.text import visible_text
from followup.storage_format.xml import Element

Role = Literal["action", "owner", "due", "status", "ticket", "priority"]

# Roles are given out in this order, each to the unclaimed column whose header has the
# earliest keyword of the role's list (leftmost on a tie): "Task owner" is an owner
# column, "Issue description" an action column.
_ROLE_KEYWORDS: tuple[tuple[Role, tuple[str, ...]], ...] = (
    ("status", ("status", "state")),
    ("priority", ("priority",)),
    ("owner", ("owner", "assignee", "who")),
    ("due", ("due", "deadline", "date", "by")),
    ("action", ("action", "description", "task", "item")),
    ("ticket", ("ticket", "jira", "issue", "link", "linked")),
)
_KEYWORD_PATTERNS = {
    keyword: re.compile(rf"\b{keyword}(?:s|es)?\b")
    for _, keywords in _ROLE_KEYWORDS
    for keyword in keywords
}
_CELLS = ("td", "th")
_SECTIONS = ("thead", "tbody", "tfoot")


@dataclass(slots=True)
class TableInfo:
    """A table's header row and the column index of each role it has. `spans` is
    False when no cell of the table has a `colspan`: a row's cells are then its
    columns, one each."""

    header: Element | None
    columns: dict[Role, int] = field(default_factory=dict)
    spans: bool = True

    @property
    def is_action_table(self) -> bool:
        return "action" in self.columns and ("owner" in self.columns or "due" in self.columns)


def table_of(row: Element) -> Element | None:
    """The `<table>` a `<tr>` belongs to, or None."""
    parent = row.getparent()
    if parent is not None and parent.tag in _SECTIONS:
        parent = parent.getparent()
    return parent if parent is not None and parent.tag == "table" else None


def _rows(table: Element) -> list[Element]:
    rows: list[Element] = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in _SECTIONS:
            rows.extend(row for row in child if row.tag == "tr")
    return rows


def read_table(table: Element) -> TableInfo:
    """The table's header row and column roles (no roles if it has no header row)."""
    rows = _rows(table)
    if not rows:
        return TableInfo(header=None)
    first = rows[0]
    cells = [cell for cell in first if cell.tag in _CELLS]
    section = first.getparent()
    in_thead = section is not None and section.tag == "thead"
    if not cells or not (in_thead or all(cell.tag == "th" for cell in cells)):
        return TableInfo(header=None)
    headers = tuple(
        (start, visible_text(cell).casefold()) for start, _, cell in cell_positions(first)
    )
    short = sum(len(header) for _, header in headers) <= _CACHED_HEADER_CHARS
    columns = dict((_known_columns if short else _columns)(headers))
    spans = any(cell.get("colspan") is not None for cell in table.iter(*_CELLS))
    return TableInfo(header=first, columns=columns, spans=spans)


def _columns(headers: tuple[tuple[int, str], ...]) -> tuple[tuple[Role, int], ...]:
    """The column of each role for a header row's `(position, casefolded text)`s."""
    columns: list[tuple[Role, int]] = []
    claimed: set[int] = set()
    for role, keywords in _ROLE_KEYWORDS:
        best: tuple[int, int] | None = None
        for position, header in headers:
            if position in claimed:
                continue
            for rank, keyword in enumerate(keywords):
                if _KEYWORD_PATTERNS[keyword].search(header):
                    if best is None or (rank, position) < best:
                        best = (rank, position)
                    break
        if best is not None:
            columns.append((role, best[1]))
            claimed.add(best[1])
    return tuple(columns)


# Matching every keyword against every header is most of the cost of reading a table,
# and a space's tables share a handful of header rows: `_columns` of short header rows
# is remembered (immutable values; lru_cache is thread-safe; bounded in entries and,
# by the length limit, in memory).
_CACHED_HEADER_CHARS = 500
_known_columns = functools.lru_cache(maxsize=256)(_columns)


def cell_positions(row: Element) -> list[tuple[int, int, Element]]:
    """Each cell of a row with the columns it spans, `[start, end)` (`colspan` respected)."""
    out: list[tuple[int, int, Element]] = []
    position = 0
    for cell in row:
        if cell.tag in _CELLS:
            try:
                span = max(1, min(int(cell.get("colspan") or 1), 1000))
            except ValueError:
                span = 1
            out.append((position, position + span, cell))
            position += span
    return out


def row_cells(row: Element, info: TableInfo) -> dict[Role, Element]:
    """The cell of the row under each of the table's role columns."""
    positions = cell_positions(row)
    cells: dict[Role, Element] = {}
    for role, column in info.columns.items():
        for start, end, cell in positions:
            if start <= column < end:
                cells[role] = cell
                break
    return cells


def data_row_cells(row: Element, info: TableInfo) -> dict[Role, Element] | None:
    """`row_cells`, or None for a header row (every cell a `<th>`)."""
    cells = [cell for cell in row if cell.tag in _CELLS]
    if not cells or all(cell.tag == "th" for cell in cells):
        return None if cells else {}
    if info.spans:
        return row_cells(row, info)
    count = len(cells)
    return {role: cells[column] for role, column in info.columns.items() if column < count}
