"""The health report as HTML (one self-contained file) and as Confluence storage format.

- `to_html(health)`: one file with inline CSS and inline SVG charts (open vs done over
  time, overdue by owner, age of open items); no JavaScript, no external resource,
  readable as plain HTML and printable (a print style sheet keeps the colours, avoids
  splitting charts and tables across sheets and drops the on-screen chrome).
- `to_storage(health)`: the same content for `followup report --publish`. Storage
  format cannot carry inline SVG, and the `html` macro that could is disabled on
  most sites (always on Cloud), so the published page uses what every Confluence
  renders: tables, status lozenges (`status` macro) for the states and the headline
  figures, and text bars (▇) in the tables instead of charts.

Pure functions: a `Health` in, a string out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from followup.core.health import ConflictRow, GroupRow, Health, ItemHealth, PageRef
from followup.reports.charts import PALETTE, bar_chart, column_chart, line_chart

__all__ = ["headline", "item_badge", "to_html", "to_storage"]

_e = html.escape
BAR_CHAR = "▇"
BAR_WIDTH = 20


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def _days(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g} day" + ("" if value == 1 else "s")


def headline(health: Health) -> list[tuple[str, str, str]]:
    """The headline figures: (label, value, colour) with Confluence's colour names."""
    t = health.totals
    return [
        ("Open", str(t.open), "Blue"),
        ("Done", str(t.done), "Green"),
        ("Overdue", str(t.overdue), "Red" if t.overdue else "Green"),
        ("Without owner", str(t.no_owner), "Yellow" if t.no_owner else "Green"),
        (
            "Owner not found",
            str(t.owner_not_found),
            "Yellow" if t.owner_not_found else "Green",
        ),
        ("Without due date", str(t.no_due), "Yellow" if t.no_due else "Green"),
        (
            "Done on time",
            _pct(health.on_time_rate),
            "Grey"
            if health.on_time_rate is None
            else ("Green" if health.on_time_rate >= 0.8 else "Yellow"),
        ),
        ("Done late", str(len(health.done_late)), "Yellow" if health.done_late else "Green"),
        ("Done before tracking", str(len(health.done_before_tracking)), "Grey"),
        (
            "Unresolved conflicts",
            str(len(health.conflicts)),
            "Yellow" if health.conflicts else "Green",
        ),
        ("Median days to ticket", _days(health.median_days_to_ticket), "Grey"),
        ("Median days to done", _days(health.median_days_to_done), "Grey"),
    ]


def item_badge(item: ItemHealth) -> tuple[str, str]:
    """The lozenge an item shows in the report: (title, Confluence colour)."""
    if item.done:
        return ("DONE", "Green")
    if item.overdue:
        return ("OVERDUE", "Red")
    if item.ticket is None:
        return ("NO TICKET", "Grey")
    if "progress" in item.status.casefold():
        return (item.status.upper(), "Blue")
    return (item.status.upper() or "OPEN", "Grey")


def _summary(health: Health) -> str:
    t = health.totals
    return (
        f"{t.total} action items from {health.pages} postmortems as of "
        f"{health.today.isoformat()}: {t.open} open, {t.done} done, {t.overdue} overdue."
    )


# -- HTML -----------------------------------------------------------------------------

_CSS = """
:root{--text:#172b4d;--muted:#6b778c;--line:#dfe1e6;--bg:#f4f5f7}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:var(--text);margin:0;background:#fff}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px}
.meta{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;
 margin:20px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;border-top-width:4px}
.card .value{font-size:26px;font-weight:700;line-height:1.2}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.c-red{border-top-color:#de350b}.c-green{border-top-color:#00875a}
.c-yellow{border-top-color:#ff991f}.c-blue{border-top-color:#0052cc}
.c-grey{border-top-color:#97a0af}
.charts{display:grid;grid-template-columns:1fr;gap:8px}
figure{margin:0 0 16px;border:1px solid var(--line);border-radius:6px;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}
table{border-collapse:collapse;width:100%;margin:8px 0 16px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.nowrap{white-space:nowrap}
.lozenge{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:700;
 line-height:18px;text-transform:uppercase;white-space:nowrap}
.l-grey{background:#dfe1e6;color:#42526e}.l-red{background:#de350b;color:#fff}
.l-yellow{background:#ff991f;color:#172b4d}.l-green{background:#00875a;color:#fff}
.l-blue{background:#0052cc;color:#fff}
a{color:#0052cc}
.empty{color:var(--muted);font-style:italic}
@media (min-width:900px){.charts.two{grid-template-columns:1fr 1fr}}
@media print{
 @page{size:A4;margin:14mm}
 body{font-size:11px}
 main{max-width:none;padding:0}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .cards{grid-template-columns:repeat(5,1fr)}
 .charts.two{grid-template-columns:1fr 1fr}
 figure,table,tr,.card{break-inside:avoid}
 h2{break-after:avoid}
 a{color:inherit;text-decoration:none}
 .noprint{display:none}
}
"""


def _lozenge(title: str, colour: str) -> str:
    return f'<span class="lozenge l-{colour.lower()}">{_e(title)}</span>'


def _link(text: str, url: str) -> str:
    return f'<a href="{_e(url)}">{_e(text)}</a>' if url else _e(text)


def _ticket_link(key: str | None, jira_url: str | None) -> str:
    if not key:
        return '<span class="empty">none</span>'
    return _link(key, f"{jira_url.rstrip('/')}/browse/{key}" if jira_url else "")


def _group_table(title: str, rows: Sequence[GroupRow], first: str) -> str:
    if not rows:
        return ""
    head = "".join(
        f'<th class="num">{c}</th>'
        for c in ("Open", "Done", "Overdue", "No owner", "No due date", "Total")
    )
    body = "".join(
        f"<tr><td>{_link(r.label, r.url)}</td>"
        + "".join(
            f'<td class="num">{v}</td>'
            for v in (
                r.counts.open,
                r.counts.done,
                r.counts.overdue,
                r.counts.no_owner,
                r.counts.no_due,
                r.counts.total,
            )
        )
        + "</tr>"
        for r in rows
    )
    return f"<h2>{_e(title)}</h2><table><tr><th>{_e(first)}</th>{head}</tr>{body}</table>"


def _items_table(items: Sequence[ItemHealth], jira_url: str | None, *, late: bool) -> str:
    last = "Done (days late)" if late else "Days overdue"
    rows = []
    for i in items:
        extra = (
            f"{i.resolved.isoformat()} ({(i.resolved - i.due).days})"
            if late and i.resolved and i.due
            else str(i.days_overdue or "")
        )
        rows.append(
            f"<tr><td>{_lozenge(*item_badge(i))} {_e(i.text)}</td>"
            f"<td>{_link(i.page.title, i.page.url)}</td>"
            f"<td>{_e(i.owner) if i.owner else '<span class=empty>no owner</span>'}</td>"
            f"<td class='nowrap'>{_ticket_link(i.ticket, jira_url)}</td>"
            f"<td class='nowrap'>{_e(i.due.isoformat()) if i.due else ''}</td>"
            f'<td class="num">{_e(extra)}</td></tr>'
        )
    return (
        "<table><tr><th>Action item</th><th>Postmortem</th><th>Owner</th><th>Ticket</th>"
        f'<th>Due</th><th class="num">{last}</th></tr>' + "".join(rows) + "</table>"
    )


def _conflicts_table(rows: Sequence[ConflictRow], jira_url: str | None) -> str:
    body = "".join(
        f"<tr><td>{_e(c.item.text)}</td><td>{_link(c.item.page.title, c.item.page.url)}</td>"
        f"<td class='nowrap'>{_ticket_link(c.item.ticket, jira_url)}</td>"
        f"<td>{_e(c.field)}</td><td>{_e(c.page)}</td><td>{_e(c.jira)}</td>"
        f"<td>{_e(c.kept)}</td><td class='nowrap'>{_e(c.since)}</td></tr>"
        for c in rows
    )
    return (
        "<table><tr><th>Action item</th><th>Postmortem</th><th>Ticket</th><th>Field</th>"
        "<th>Page said</th><th>Jira said</th><th>Kept</th><th>Found</th></tr>" + body + "</table>"
    )


def _overdue_by_owner(health: Health) -> list[tuple[str, int]]:
    return [(r.label, r.counts.overdue) for r in health.by_owner if r.counts.overdue][:12]


def _pages_list(pages: Sequence[PageRef]) -> str:
    return (
        "<ul>"
        + "".join(
            f"<li>{_link(p.title, p.url)} <span class=meta>({_e(p.space)}"
            f"{', ' + _e(p.created.isoformat()) if p.created else ''})"
            f"{' — ' + _e(p.note) if p.note else ''}</span></li>"
            for p in pages
        )
        + "</ul>"
    )


def to_html(health: Health, *, jira_url: str | None = None, title: str | None = None) -> str:
    """The report as one self-contained HTML file (inline CSS and SVG, no JavaScript)."""
    title = title or f"Follow-up health — {health.today.isoformat()}"
    cards = "".join(
        f'<div class="card c-{colour.lower()}"><div class="value">{_e(value)}</div>'
        f'<div class="label">{_e(label)}</div></div>'
        for label, value, colour in headline(health)
    )
    timeline = line_chart(
        "open-vs-done",
        "Open and done action items, week by week",
        [p.day.strftime("%d %b") for p in health.timeline],
        [
            ("open", PALETTE["open"], [p.open for p in health.timeline]),
            ("done", PALETTE["done"], [p.done for p in health.timeline]),
        ],
    )
    by_owner = bar_chart(
        "overdue-by-owner",
        "Overdue action items by owner",
        _overdue_by_owner(health),
        empty="Nothing is overdue",
    )
    ages = column_chart(
        "age-distribution", "Open action items by age since the postmortem", health.age_buckets
    )
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1><p class='meta'>{_e(_summary(health))}</p>",
        f"<section class='cards' aria-label='Headline figures'>{cards}</section>",
        "<section class='charts'><figure><figcaption>Open vs done over time</figcaption>"
        f"{timeline}</figure></section>",
        "<section class='charts two'>"
        f"<figure><figcaption>Overdue by owner</figcaption>{by_owner}</figure>"
        f"<figure><figcaption>Age of open items</figcaption>{ages}</figure></section>",
        "<h2>Oldest overdue items</h2>",
        _items_table(health.oldest_overdue, jira_url, late=False)
        if health.oldest_overdue
        else "<p class='empty'>Nothing is overdue.</p>",
        "<h2>Unresolved conflicts</h2>",
        _conflicts_table(health.conflicts, jira_url)
        if health.conflicts
        else "<p class='empty'>No conflict is waiting for a person.</p>",
        _group_table("By space", health.by_space, "Space"),
        _group_table("By owner", health.by_owner, "Owner"),
        _group_table("By postmortem", health.by_postmortem, "Postmortem"),
        # Follow-ups routed to several teams' projects: one row per project.
        _group_table("By project", health.by_project, "Project") if health.projects > 1 else "",
        "<h2>Done late</h2>",
        _items_table(health.done_late, jira_url, late=True)
        if health.done_late
        else "<p class='empty'>Nothing was done after its due date.</p>",
        "<h2>Postmortems without action items</h2>",
        _pages_list(health.no_action_items)
        if health.no_action_items
        else "<p class='empty'>Every postmortem has action items.</p>",
        "<p class='meta noprint'>Generated by followup. Figures: docs/reporting.md.</p>",
        "</main></body></html>\n",
    ]
    return "".join(parts)


# -- Confluence storage format ---------------------------------------------------------


def _x(text: str) -> str:
    """Text for storage format (XML): only the entities XML defines."""
    return html.escape(text, quote=False)


def _status(title: str, colour: str) -> str:
    return (
        '<ac:structured-macro ac:name="status">'
        f'<ac:parameter ac:name="title">{_x(title)}</ac:parameter>'
        f'<ac:parameter ac:name="colour">{_x(colour)}</ac:parameter>'
        "</ac:structured-macro>"
    )


def _a(text: str, url: str) -> str:
    return f'<a href="{html.escape(url)}">{_x(text)}</a>' if url else _x(text)


def _bar(value: int, top: int) -> str:
    if value <= 0 or top <= 0:
        return ""
    return BAR_CHAR * max(1, round(BAR_WIDTH * value / top))


def _cells(*cells: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _s_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return (
        "<table><tbody>"
        + _cells(*(_x(h) for h in header), header=True)
        + "".join(_cells(*r) for r in rows)
        + "</tbody></table>"
    )


def _s_groups(title: str, rows: Sequence[GroupRow], first: str) -> str:
    if not rows:
        return ""
    top = max(r.counts.overdue for r in rows)
    return f"<h2>{_x(title)}</h2>" + _s_table(
        (first, "Open", "Done", "Overdue", "", "No owner", "No due date"),
        [
            (
                _a(r.label, r.url),
                str(r.counts.open),
                str(r.counts.done),
                str(r.counts.overdue),
                _x(_bar(r.counts.overdue, top)),
                str(r.counts.no_owner),
                str(r.counts.no_due),
            )
            for r in rows
        ],
    )


def _s_items(items: Sequence[ItemHealth], jira_url: str | None, *, late: bool) -> str:
    rows = []
    for i in items:
        url = f"{jira_url.rstrip('/')}/browse/{i.ticket}" if jira_url and i.ticket else ""
        last = (
            f"{i.resolved.isoformat()} ({(i.resolved - i.due).days})"
            if late and i.resolved and i.due
            else str(i.days_overdue or "")
        )
        rows.append(
            (
                _status(*item_badge(i)) + " " + _x(i.text),
                _a(i.page.title, i.page.url),
                _x(i.owner or "no owner"),
                _a(i.ticket, url) if i.ticket else "",
                _x(i.due.isoformat()) if i.due else "",
                _x(last),
            )
        )
    return _s_table(
        (
            "Action item",
            "Postmortem",
            "Owner",
            "Ticket",
            "Due",
            "Done (days late)" if late else "Days overdue",
        ),
        rows,
    )


def to_storage(health: Health, *, jira_url: str | None = None) -> str:
    """The report in Confluence storage format: tables and status lozenges, no SVG."""
    figures = "".join(
        f"<td>{_status(value, colour)}<br />{_x(label)}</td>"
        for label, value, colour in headline(health)
    )
    timeline_top = max((p.open + p.done for p in health.timeline), default=0)
    timeline = _s_table(
        ("Week ending", "Open", "", "Done", ""),
        [
            (
                _x(p.day.isoformat()),
                str(p.open),
                _x(_bar(p.open, timeline_top)),
                str(p.done),
                _x(_bar(p.done, timeline_top)),
            )
            for p in health.timeline
        ],
    )
    age_top = max((n for _, n in health.age_buckets), default=0)
    ages = _s_table(
        ("Age since the postmortem", "Open items", ""),
        [(_x(label), str(n), _x(_bar(n, age_top))) for label, n in health.age_buckets],
    )
    parts = [
        f"<p>{_x(_summary(health))}</p>",
        f"<table><tbody><tr>{figures}</tr></tbody></table>",
        "<h2>Oldest overdue items</h2>",
        _s_items(health.oldest_overdue, jira_url, late=False)
        if health.oldest_overdue
        else "<p>Nothing is overdue.</p>",
        "<h2>Unresolved conflicts</h2>",
        _s_table(
            ("Action item", "Postmortem", "Ticket", "Field", "Page said", "Jira said", "Kept"),
            [
                (
                    _x(c.item.text),
                    _a(c.item.page.title, c.item.page.url),
                    _a(c.item.ticket or "", f"{jira_url.rstrip('/')}/browse/{c.item.ticket}")
                    if jira_url and c.item.ticket
                    else _x(c.item.ticket or ""),
                    _x(c.field),
                    _x(c.page),
                    _x(c.jira),
                    _x(f"{c.kept} (since {c.since})"),
                )
                for c in health.conflicts
            ],
        )
        if health.conflicts
        else "<p>No conflict is waiting for a person.</p>",
        "<h2>Open vs done over time</h2>",
        timeline,
        "<h2>Age of open items</h2>",
        ages,
        _s_groups("By space", health.by_space, "Space"),
        _s_groups("By owner", health.by_owner, "Owner"),
        _s_groups("By postmortem", health.by_postmortem, "Postmortem"),
        _s_groups("By project", health.by_project, "Project") if health.projects > 1 else "",
        "<h2>Done late</h2>",
        _s_items(health.done_late, jira_url, late=True)
        if health.done_late
        else "<p>Nothing was done after its due date.</p>",
        "<h2>Postmortems without action items</h2>",
        (
            "<ul>"
            + "".join(
                f"<li>{_a(p.title, p.url)} ({_x(p.space)})"
                f"{' — ' + _x(p.note) if p.note else ''}</li>"
                for p in health.no_action_items
            )
            + "</ul>"
        )
        if health.no_action_items
        else "<p>Every postmortem has action items.</p>",
    ]
    return "".join(parts)
