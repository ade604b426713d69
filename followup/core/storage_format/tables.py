"""Action-item tables: which table is one, and which column holds what.

A table is an action-item table when its header row (`<th>` cells, in `<thead>` or as
the first row of `<tbody>`) names an action column and an owner or due column, no
column of a history, timeline or decision table ("Version", "Author", "Time"...), and
(outside an action-item section) not only with words too general to tell ("Date |
Description | Who"). Header words are matched as words ("Due date" is a due column,
"Last update" is not); a plural counts ("Owners", "Action items"). The words are a
`Vocabulary`'s (English by default). The rules and their reasons are in
docs/storage-format.md.

Pure: a tree in, values out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from followup.core.storage_format.text import visible_text
from followup.core.storage_format.xml import Element
from followup.core.vocabulary import Compiled, Role

_CELLS = ("td", "th")
_SECTIONS = ("thead", "tbody", "tfoot")
# A time of day ("03:12", "14:02 UTC", "2026-11-03 14:02"): what a timeline's first
# column holds, and no due date does.
_TIME_OF_DAY = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?![\d])")

__all__ = ["Role", "TableInfo", "cell_positions", "data_row_cells", "read_table", "table_of"]


@dataclass(slots=True)
class TableInfo:
    """A table's header row and the column index of each role it has (`colspan`
    counted). `weak_roles`: the roles whose column is named only by a general word
    ("Date", "Who", "Description"). `non_action`: a column names what history,
    timeline and decision tables have (a version, an author, a time)."""

    header: Element | None
    columns: dict[Role, int] = field(default_factory=dict)
    weak_roles: frozenset[Role] = frozenset()
    non_action: bool = False

    @property
    def weak(self) -> bool:
        """The action column and every owner and due column are named by general words."""
        named = self.columns.keys() & {"action", "owner", "due"}
        return bool(named) and named <= self.weak_roles

    @property
    def is_action_table(self) -> bool:
        """Whether the header alone makes this an action-item table (the heading above
        and the cells' content are judged by the caller)."""
        return (
            not self.non_action
            and "action" in self.columns
            and ("owner" in self.columns or "due" in self.columns)
        )


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


def read_table(table: Element, words: Compiled) -> TableInfo:
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
    found, weak_roles, non_action = (_known_columns if short else _columns)(words, headers)
    return TableInfo(
        header=first,
        columns=dict(found),
        weak_roles=weak_roles,
        non_action=non_action,
    )


def _columns(
    words: Compiled, headers: tuple[tuple[int, str], ...]
) -> tuple[tuple[tuple[Role, int], ...], frozenset[Role], bool]:
    """For a header row's `(position, casefolded text)`s: the column of each role, the
    roles named by weak words, and whether a column is named as a history, timeline or
    decision table's."""
    columns: list[tuple[Role, int]] = []
    weak_roles: set[Role] = set()
    claimed: set[int] = set()
    for role, keywords in words.role_keywords:
        best: tuple[int, int, bool] | None = None
        for position, header in headers:
            if position in claimed:
                continue
            for rank, (pattern, weak) in enumerate(keywords):
                if pattern.search(header):
                    if best is None or (rank, position) < best[:2]:
                        best = (rank, position, weak)
                    break
        if best is not None:
            columns.append((role, best[1]))
            claimed.add(best[1])
            if best[2]:
                weak_roles.add(role)
    non_action = any(words.non_action_column.search(header) for _, header in headers)
    return tuple(columns), frozenset(weak_roles), non_action


# Matching every keyword against every header is most of the cost of reading a table,
# and a space's tables share a handful of header rows: `_columns` of short header rows
# is remembered (immutable values; lru_cache is thread-safe; bounded in entries and,
# by the length limit, in memory; a `Compiled` is hashed by identity).
_CACHED_HEADER_CHARS = 500
_known_columns = functools.lru_cache(maxsize=256)(_columns)


def looks_like_timeline(rows: list[dict[Role, Element]]) -> bool:
    """Whether most of a table's due cells hold a time of day: the table is a
    timeline whose date column was taken for a due column."""
    times = filled = 0
    for cells in rows:
        cell = cells.get("due")
        if cell is None:
            continue
        text = visible_text(cell)
        if text:
            filled += 1
            times += _TIME_OF_DAY.search(text) is not None
    return filled > 0 and times * 2 > filled


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
    """`row_cells`, or None for a header row (every cell a `<th>`). A cell's column
    depends only on the `colspan`s before it in its own row: a row without any maps
    its cells to columns by index (the common case, read without `cell_positions`)."""
    cells = [cell for cell in row if cell.tag in _CELLS]
    if not cells or all(cell.tag == "th" for cell in cells):
        return None if cells else {}
    if any(cell.get("colspan") is not None for cell in cells):
        return row_cells(row, info)
    count = len(cells)
    return {role: cells[column] for role, column in info.columns.items() if column < count}
