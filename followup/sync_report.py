"""The reconciliation report of a sync run: text (a terminal table), JSON, Markdown
and a self-contained HTML page, all rendered from the same `RunResult`."""

from __future__ import annotations

import html
import io
import json
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from followup.engine import Outcome, RunResult
from followup.planner import Action, Op

Format = Literal["text", "json", "markdown", "html"]


def _outcomes(result: RunResult) -> dict[int, Outcome]:
    """The outcome of each planned action, by identity (missing in a dry run)."""
    out: dict[int, Outcome] = {}
    for page in result.pages:
        for o in page.outcomes:
            out[id(o.action)] = o
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def _change(action: Action) -> str:
    """Before → after in a few words; for the sync base, only what moved."""
    a = action.to_json()
    before, after = a["before"], a["after"]
    if action.op is Op.SET_PROPERTY and isinstance(after, dict):
        if not before:
            return "first sync"
        old = before if isinstance(before, dict) else {}
        return ", ".join(f"{k}: {_fmt(old.get(k))} → {_fmt(v)}" for k, v in after.items())
    if action.op is Op.CREATE and isinstance(after, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in after.items() if k != "summary")
    if action.field or before is not None or after is not None:
        return f"{_fmt(before)} → {_fmt(after)}"
    return ""


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rows(result: RunResult) -> list[dict[str, str]]:
    outcomes = _outcomes(result)
    titles = {p.page.id: p.page.title for p in result.pages}
    texts = {i.key: i.text for p in result.pages for i in p.plan.items}
    rows: list[dict[str, str]] = []
    for action in result.actions:
        o = outcomes.get(id(action))
        status = "planned" if result.dry_run else ("pending" if o is None else "ok")
        if o is not None and not o.ok:
            status = f"skipped: {o.error}" if o.skipped else f"FAILED: {o.error}"
        ticket = action.ticket or (o.ticket if o else None) or ""
        rows.append(
            {
                "op": str(action.op),
                "page_id": action.page_id,
                "page": titles.get(action.page_id, action.page_id),
                "item": _short(texts.get(action.item or "", action.item or "")),
                "ticket": ticket,
                "field": action.field or "",
                "change": _change(action),
                "reason": action.reason,
                "status": status,
            }
        )
    return rows


def to_json(result: RunResult) -> dict[str, Any]:
    outcomes = _outcomes(result)

    def action_json(a: Action) -> dict[str, Any]:
        o = outcomes.get(id(a))
        data = o.to_json() if o else a.to_json()
        if o is None:
            data["outcome"] = "planned" if result.dry_run else "not-run"
        return data

    return {
        "run_id": result.run_id,
        "today": result.today.isoformat(),
        "dry_run": result.dry_run,
        "summary": result.counts(),
        "actions": [action_json(a) for a in result.actions],
        "findings": [f.to_json() for f in result.findings],
        "errors": [
            *result.errors,
            *(f"{p.page.id}: {p.error}" for p in result.pages if p.error),
        ],
    }


def _nothing(result: RunResult) -> str:
    """What a report says when it lists no action: in step, unless pages were skipped."""
    leased = result.counts()["leased"]
    if leased:
        return f"Nothing done: {leased} page(s) skipped, another run holds them."
    return "Nothing to do: pages and tickets are in step."


def _summary_line(result: RunResult) -> str:
    c = result.counts()
    mode = "dry run: would make" if result.dry_run else "made"
    return (
        f"{c['pages']} pages, {c['items']} action items; {mode} {c['create']} create(s), "
        f"{c['adopt']} adoption(s), {c['update']} update(s), {c['transition']} "
        f"transition(s), {c['comment']} comment(s), {c['page_writes']} page write(s); "
        f"{c['findings']} finding(s), "
        f"{c['errors']} error(s)"
        + (f"; {c['leased']} page(s) skipped: another run holds them" if c["leased"] else "")
    )


def to_text(result: RunResult, *, width: int = 140, color: bool = False) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=color, color_system="auto" if color else None
    )
    console.print(_summary_line(result), highlight=False)
    rows = _rows(result)
    if rows:
        suffix = " (dry run: nothing was written)" if result.dry_run else ""
        for page in result.pages:
            mine = [r for r in rows if r["page_id"] == page.page.id]
            if not mine:
                continue
            t = Table(title=f"{page.page.title}{suffix}", title_justify="left")
            for col in ("op", "item", "ticket", "field", "change", "reason", "status"):
                t.add_column(col, overflow="fold")
            for r in mine:
                t.add_row(
                    r["op"],
                    r["item"],
                    r["ticket"],
                    r["field"],
                    r["change"],
                    r["reason"],
                    r["status"],
                )
            console.print(t)
    else:
        console.print(_nothing(result))
    if result.findings:
        f = Table(title="Findings")
        for col in ("code", "page", "item", "message"):
            f.add_column(col, overflow="fold")
        titles = {p.page.id: p.page.title for p in result.pages}
        for finding in result.findings:
            f.add_row(
                str(finding.code),
                titles.get(finding.page_id, finding.page_id),
                finding.item or "",
                finding.message,
            )
        console.print(f)
    for p in result.pages:
        if p.error:
            console.print(f"ERROR {p.page.title} ({p.page.id}): {p.error}", highlight=False)
    for e in result.errors:
        console.print(f"ERROR {e}", highlight=False)
    return buf.getvalue()


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def to_markdown(result: RunResult) -> str:
    lines = [
        f"# followup sync {'(dry run) ' if result.dry_run else ''}— {result.today.isoformat()}",
        "",
        _summary_line(result),
        "",
    ]
    rows = _rows(result)
    if rows:
        cols = ("op", "page", "item", "ticket", "field", "change", "reason", "status")
        lines += ["## Actions", "", "| " + " | ".join(cols) + " |"]
        lines.append("|" + "---|" * len(cols))
        for r in rows:
            cells = [r[k] for k in cols]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    if result.findings:
        lines += ["## Findings", "", "| code | page | item | message |", "|---|---|---|---|"]
        for f in result.findings:
            cells = [str(f.code), f.page_id, f.item or "", f.message]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#172b4d}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border:1px solid #dfe1e6;padding:.35rem .5rem;text-align:left;vertical-align:top}
td{font-size:.9rem}
th{background:#f4f5f7}
.failed{color:#bf2600;font-weight:600}.ok{color:#006644}.planned{color:#0747a6}
code{background:#f4f5f7;padding:0 .2rem}
"""


def to_html(result: RunResult) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>followup sync {e(result.today.isoformat())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>followup sync{' (dry run)' if result.dry_run else ''} — ",
        f"{e(result.today.isoformat())}</h1>",
        f"<p>{e(_summary_line(result))}</p>",
    ]
    rows = _rows(result)
    if rows:
        parts.append("<h2>Actions</h2><table><tr>")
        cols = ("op", "page", "item", "ticket", "field", "change", "reason", "status")
        parts.append("".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for r in rows:
            cls = "failed" if r["status"].startswith("FAILED") else r["status"]
            parts.append(
                "<tr>"
                + "".join(
                    f"<td class='{e(cls) if c == 'status' else ''}'>{e(r[c])}</td>" for c in cols
                )
                + "</tr>"
            )
        parts.append("</table>")
    else:
        parts.append(f"<p>{_nothing(result)}</p>")
    if result.findings:
        parts.append(
            "<h2>Findings</h2><table><tr><th>code</th><th>page</th><th>item</th><th>message</th></tr>"
        )
        for f in result.findings:
            parts.append(
                f"<tr><td><code>{e(str(f.code))}</code></td><td>{e(f.page_id)}</td>"
                f"<td>{e(f.item or '')}</td><td>{e(f.message)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def render_report(result: RunResult, fmt: Format, *, color: bool = False, width: int = 140) -> str:
    if fmt == "json":
        return json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return to_markdown(result)
    if fmt == "html":
        return to_html(result)
    return to_text(result, color=color, width=width)
