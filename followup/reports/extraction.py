"""An extraction as a terminal table, for `followup extract --format text`.

Pure: builds a `rich` renderable; printing it is the caller's business. Every string
from the page goes in as `Text` stripped of control characters, never as markup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from rich.table import Table
from rich.text import Text

from followup.core.model import ActionItem, Extraction, Finding
from followup.reports.escaping import terminal_text


def _text(value: str, style: str = "") -> Text:
    return Text(terminal_text(value), style=style)


def _owner(item: ActionItem, names: Mapping[str, str]) -> str:
    if item.owner is None:
        return ""
    if item.owner.value in names:
        return names[item.owner.value]
    return item.owner.value if item.owner.kind == "name" else f"@{item.owner.value}"


def format_extraction_text(
    extraction: Extraction, *, names: Mapping[str, str] | None = None
) -> Table:
    """One row per item (key, text, owner, due, done, ticket, badge, the codes of its
    findings); findings about the page as a whole in the caption. `names` shows owners
    by display name (a page body names mentions only by id)."""
    by_item: dict[str | None, list[Finding]] = defaultdict(list)
    for finding in extraction.findings:
        by_item[finding.item].append(finding)
    item_keys = {item.key for item in extraction.items}
    page_level = [
        finding
        for key, findings in by_item.items()
        if key is None or key not in item_keys
        for finding in findings
    ]
    title = f"Page {extraction.page_id}: {len(extraction.items)} action item(s)"
    if extraction.summary_badge is not None:
        title += f" [{extraction.summary_badge.title}]"
    table = Table(title=_text(title), title_justify="left", show_lines=False)
    for column in ("Key", "Action", "Owner", "Due", "Done", "Ticket", "Badge", "Findings"):
        table.add_column(column, overflow="fold")
    for item in extraction.items:
        codes = ", ".join(str(finding.code) for finding in by_item.get(item.key, ()))
        table.add_row(
            _text(item.key.partition(":")[2]),
            _text(item.text),
            _text(_owner(item, names or {})),
            _text(item.due.isoformat() if item.due else ""),
            "yes" if item.done else "",
            _text(item.ticket or ""),
            _text(item.badge.title if item.badge else ""),
            _text(codes, style="yellow") if codes else "",
        )
    if page_level:
        table.caption = Text("\n").join(
            _text(f"{finding.code}: {finding.message}") for finding in page_level
        )
        table.caption_justify = "left"
    return table
