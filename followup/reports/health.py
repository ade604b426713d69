"""The follow-up health report as terminal text, Markdown and JSON; HTML and
Confluence storage format are `followup.reports.health_html`.

Values in, text out: the figures are `followup.core.health.compute_health`'s, every
string from a page or a site goes in as text, never as markup.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from followup.core.health import GroupRow, Health, ItemHealth
from followup.reports.escaping import markdown_text, terminal_text
from followup.reports.health_html import headline, item_badge, to_html

__all__ = ["HealthFormat", "render_health", "to_markdown", "to_text"]

HealthFormat = Literal["text", "json", "markdown", "html"]


def _group_rows(rows: Sequence[GroupRow]) -> list[list[str]]:
    return [
        [
            r.label,
            str(r.counts.open),
            str(r.counts.done),
            str(r.counts.overdue),
            str(r.counts.no_owner),
            str(r.counts.no_due),
            str(r.counts.total),
        ]
        for r in rows
    ]


_GROUP_HEAD = ("open", "done", "overdue", "no owner", "no due", "total")
_ITEM_HEAD = ("status", "action item", "postmortem", "owner", "ticket", "due", "days")


def _item_rows(items: Sequence[ItemHealth], *, late: bool) -> list[list[str]]:
    rows = []
    for i in items:
        days = (
            str((i.resolved - i.due).days)
            if late and i.resolved and i.due
            else str(i.days_overdue or "")
        )
        rows.append(
            [
                item_badge(i)[0],
                i.text,
                i.page.title,
                i.owner or "(no owner)",
                i.ticket or "",
                i.due.isoformat() if i.due else "",
                days,
            ]
        )
    return rows


def _sections(health: Health) -> list[tuple[str, Sequence[str], list[list[str]], str]]:
    """(title, header, rows, text when empty) of every table, in report order. "By
    project" is there when the tickets are in more than one project (routing)."""
    by_project = (
        [("By project", ("project", *_GROUP_HEAD), _group_rows(health.by_project), "")]
        if health.projects > 1
        else []
    )
    return [
        (
            "Headline",
            ("figure", "value"),
            [[label, value] for label, value, _ in headline(health)],
            "",
        ),
        (
            "Oldest overdue items",
            _ITEM_HEAD,
            _item_rows(health.oldest_overdue, late=False),
            "Nothing is overdue.",
        ),
        (
            "Unresolved conflicts",
            ("action item", "postmortem", "ticket", "field", "page said", "Jira said", "kept"),
            [
                [
                    c.item.text,
                    c.item.page.title,
                    c.item.ticket or "",
                    c.field,
                    c.page,
                    c.jira,
                    f"{c.kept} (since {c.since})",
                ]
                for c in health.conflicts
            ],
            "No conflict is waiting for a person.",
        ),
        ("By space", ("space", *_GROUP_HEAD), _group_rows(health.by_space), "No action items."),
        ("By owner", ("owner", *_GROUP_HEAD), _group_rows(health.by_owner), "No action items."),
        (
            "By postmortem",
            ("postmortem", *_GROUP_HEAD),
            _group_rows(health.by_postmortem),
            "No action items.",
        ),
        *by_project,
        (
            "Open items by age",
            ("age since the postmortem", "open"),
            [[label, str(n)] for label, n in health.age_buckets],
            "",
        ),
        (
            "Done late",
            (*_ITEM_HEAD[:-1], "days late"),
            _item_rows(health.done_late, late=True),
            "Nothing was done after its due date.",
        ),
        (
            "Postmortems without action items",
            ("postmortem", "space", "note"),
            [[p.title, p.space, p.note] for p in health.no_action_items],
            "Every postmortem has action items.",
        ),
    ]


def _title(health: Health) -> str:
    t = health.totals
    return (
        f"Follow-up health {health.today.isoformat()}: {t.total} action items from "
        f"{health.pages} postmortems; {t.open} open, {t.done} done, {t.overdue} overdue"
    )


def to_text(health: Health, *, width: int = 140, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=color, color_system="auto" if color else None
    )
    console.print(Text(_title(health)), highlight=False)
    for title, head, rows, empty in _sections(health):
        if not rows:
            console.print(Text(f"{title}: {empty}"), highlight=False)
            continue
        table = Table(title=title, title_justify="left")
        for column in head:
            table.add_column(column, overflow="fold")
        for row in rows:
            # Cells hold page text (titles, items, owner names): never markup.
            table.add_row(*(Text(terminal_text(cell)) for cell in row))
        console.print(table)
    return buf.getvalue()


def _md(value: str) -> str:
    return markdown_text(value)


def to_markdown(health: Health) -> str:
    lines = [f"# Follow-up health — {health.today.isoformat()}", "", _title(health), ""]
    for title, head, rows, empty in _sections(health):
        lines += [f"## {title}", ""]
        if not rows:
            lines += [empty, ""]
            continue
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def render_health(
    health: Health,
    fmt: HealthFormat,
    *,
    jira_url: str | None = None,
    color: bool = False,
    width: int = 140,
) -> str:
    if fmt == "json":
        return json.dumps(health.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return to_markdown(health)
    if fmt == "html":
        return to_html(health, jira_url=jira_url)
    return to_text(health, color=color, width=width)
