"""Due dates typed as text in an action-item table, read into calendar dates.

Pure: a string in, a date (or the finding that explains why there is none) out.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from followup.core.model import FindingCode

DateOrder = Literal["none", "dmy", "mdy"]

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("jan", "january"),
        ("feb", "february"),
        ("mar", "march"),
        ("apr", "april"),
        ("may",),
        ("jun", "june"),
        ("jul", "july"),
        ("aug", "august"),
        ("sep", "sept", "september"),
        ("oct", "october"),
        ("nov", "november"),
        ("dec", "december"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _number

_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"

_ISO = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})")
_DAY_MONTH_YEAR = re.compile(rf"{_DAY}\s+{_MONTH},?\s+{_YEAR}", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"{_MONTH}\s+{_DAY},?\s+{_YEAR}", re.IGNORECASE)
_NUMERIC = re.compile(r"(?P<first>\d{1,2})[/.](?P<second>\d{1,2})[/.](?P<year>\d{4})")


def parse_due_text(
    text: str, *, date_order: DateOrder = "none"
) -> tuple[date | None, FindingCode | None]:
    """Read a due date a person typed: `(date, None)`, `(None, None)` for an empty
    cell, or `(None, code)` with `ambiguous-due-date` / `unparseable-due-date`.

    Accepted: `2026-08-31`, `31 Aug 2026`, `Aug 31, 2026`, `August 31, 2026` and
    `31/08/2026`. A numeric date is read day-first when its first number is above 12
    and month-first when only its second is; when both could be a month (`03/04/2026`)
    `date_order` ("dmy" or "mdy") settles it, and with "none" it is ambiguous.
    """
    if len(text) == 10 and (found := _canonical(text)) is not None:
        return found, None
    cleaned = " ".join(text.split()).strip(" .;,")
    if not cleaned:
        return None, None
    if match := _ISO.fullmatch(cleaned):
        return _valid(int(match["year"]), int(match["month"]), int(match["day"]))
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        if match := pattern.fullmatch(cleaned):
            month = _MONTHS.get(match["month"].casefold())
            if month is None:
                return None, FindingCode.UNPARSEABLE_DUE_DATE
            return _valid(int(match["year"]), month, int(match["day"]))
    if match := _NUMERIC.fullmatch(cleaned):
        return _numeric(int(match["first"]), int(match["second"]), int(match["year"]), date_order)
    return None, FindingCode.UNPARSEABLE_DUE_DATE


def parse_iso_date(value: str) -> date | None:
    """The calendar date of a `<time datetime>` value (`2026-08-31`, or a timestamp
    starting with one), or None."""
    if len(value) == 10 and (found := _canonical(value)) is not None:
        return found
    match = _ISO.match(value.strip())
    if match is None:
        return None
    found, _ = _valid(int(match["year"]), int(match["month"]), int(match["day"]))
    return found


def _canonical(value: str) -> date | None:
    """A valid date written exactly `YYYY-MM-DD` (what Confluence writes, and most
    people type), read without a regex; None for anything else."""
    if value[4] != "-" or value[7] != "-" or not value.isascii():
        return None
    year, month, day = value[:4], value[5:7], value[8:]
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _numeric(
    first: int, second: int, year: int, date_order: DateOrder
) -> tuple[date | None, FindingCode | None]:
    if first > 12 or (first == second):
        return _valid(year, second, first)
    if second > 12:
        return _valid(year, first, second)
    if date_order == "dmy":
        return _valid(year, second, first)
    if date_order == "mdy":
        return _valid(year, first, second)
    return None, FindingCode.AMBIGUOUS_DUE_DATE


def _valid(year: int, month: int, day: int) -> tuple[date | None, FindingCode | None]:
    try:
        return date(year, month, day), None
    except ValueError:
        return None, FindingCode.UNPARSEABLE_DUE_DATE
