"""An extraction as `followup extract` shows it: a terminal table, or JSON.

Pure: builds `rich` renderables and plain data; printing them is the caller's
business. Every string from the page goes in as `Text` stripped of control
characters, never as markup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.console import RenderableType
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


def extraction_json(extraction: Extraction, names: Mapping[str, str]) -> dict[str, Any]:
    """`followup extract --format json`: the items (with `owner_name` where a display
    name is known) and the findings."""
    items = []
    for item in extraction.items:
        data = item.to_json()
        if item.owner is not None and item.owner.value in names:
            data["owner_name"] = names[item.owner.value]
        items.append(data)
    return {
        "items": items,
        "findings": [
            {"code": str(f.code), "item": f.item, "message": f.message} for f in extraction.findings
        ],
    }


def extraction_text(
    extraction: Extraction, names: Mapping[str, str], *, from_site: bool
) -> list[RenderableType]:
    """`followup extract`: the table, then each item's findings in full (each once), and
    a note when mentions are shown by id because the page came from a file."""
    out: list[RenderableType] = [format_extraction_text(extraction, names=names)]
    # The table shows each item's finding codes, and the findings about the page as a
    # whole under it; the items' findings follow in full, each once.
    keys = {item.key for item in extraction.items}
    for finding in extraction.findings:
        if finding.item is not None and finding.item in keys:
            out.append(_text(f"{finding.code}: {finding.message}"))
    if not extraction.findings:
        out.append("no findings")
    mentions = [i for i in extraction.items if i.owner and i.owner.kind != "name"]
    if not from_site and mentions:
        out.append(
            Text(
                "@mentions are shown by id: a page body names no one; --page ID reads the "
                "page from the site and shows names."
            )
        )
    return out
