"""The reconciliation report of a sync run: text (a terminal table), JSON, Markdown
and a self-contained HTML page, all rendered from the same `RunResult`.

People are shown by name: the plan carries the display names the run learnt anyway
(owner look-ups, the search's assignees); JSON keeps the ids and adds the names.
Every finding names its page by title and links to it, and to its ticket where it
has one. The HTML form is a summary for a team lead (per page: the items with owner,
due date, status and what changed; the findings; the raw action rows folded away).
Page text is untrusted: the terminal gets it as `rich` `Text` (never markup) stripped
of control characters, Markdown and HTML get it escaped (`followup.reports.escaping`), and
only http(s) addresses are linked.
"""

from __future__ import annotations

import html
import io
import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from followup.core.model import ActionItem, Finding
from followup.core.plan import Action, ItemStory, Op
from followup.core.routing import project_of
from followup.ports import NewTicket
from followup.reports.escaping import markdown_text, terminal_text
from followup.sync.engine import Outcome, PageResult, RunResult

Format = Literal["text", "json", "markdown", "html"]

# Fields whose values are Jira user ids (or an owner as the page wrote it).
_PERSON_FIELDS = frozenset({"assignee", "owner", "page_owner"})
# A mention in a Jira comment: [~accountid:ID] (Cloud) or [~username] (Data Center).
_MENTION = re.compile(r"\[~(?:accountid:)?([^\]]+)\]")


# -- shared -----------------------------------------------------------------------------


class Names:
    """Jira user ids (and owners as pages write them) shown as display names."""

    def __init__(self, people: Mapping[str, str]) -> None:
        self.people = dict(people)

    def person(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value in self.people:
            return self.people[value]
        kind, _, rest = value.partition(":")
        if kind in ("account_id", "username", "userkey") and rest in self.people:
            return self.people[rest]  # an `Owner.ref`
        return value

    def value(self, name: str | None, value: Any) -> Any:
        """`value` with the people in it named, where field `name` holds people."""
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(name, v) for v in value]
        if name in _PERSON_FIELDS:
            if isinstance(value, dict) and len(value) == 1:  # Owner.to_json()
                return self.person(next(iter(value.values())))
            return self.person(value)
        return value

    def text(self, text: str) -> str:
        """Mentions in a comment or a reason (`[~accountid:ID]`) as @Name."""
        return _MENTION.sub(lambda m: "@" + str(self.person(m.group(1))), text)

    def ids_in(self, action: Action) -> dict[str, str]:
        """The names of the people an action's before/after mention (for JSON)."""
        found: dict[str, str] = {}

        def walk(name: str | None, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(k, v)
            elif isinstance(value, str) and name in _PERSON_FIELDS and self.person(value) != value:
                found[value] = str(self.person(value))

        data = action.to_json()
        for side in ("before", "after"):
            walk(action.field, data[side])
        for ident in _MENTION.findall(action.reason):
            if ident in self.people:
                found[ident] = self.people[ident]
        return found


def people_of(result: RunResult) -> dict[str, str]:
    out: dict[str, str] = {}
    for page in result.pages:
        out.update(page.plan.people)
    return out


def _outcomes(result: RunResult) -> dict[int, Outcome]:
    """The outcome of each planned action, by identity (missing in a dry run)."""
    out: dict[int, Outcome] = {}
    for page in result.pages:
        for o in page.outcomes:
            out[id(o.action)] = o
    return out


def browse_url(jira_url: str | None, key: str | None) -> str:
    """The web address of a ticket, or "" without a site or a key."""
    if not jira_url or not key:
        return ""
    return f"{jira_url.rstrip('/')}/browse/{key}"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def change_text(action: Action, names: Names) -> str:
    """Before → after in a few words, people by name; for the sync base, only what moved."""
    a = action.to_json()
    before = names.value(action.field, a["before"])
    after = names.value(action.field, a["after"])
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


def _status(result: RunResult, o: Outcome | None) -> str:
    status = "planned" if result.dry_run else ("pending" if o is None else "ok")
    if o is not None and not o.ok:
        status = f"skipped: {o.error}" if o.skipped else f"FAILED: {o.error}"
    return status


def _rows(result: RunResult, names: Names) -> list[dict[str, str]]:
    outcomes = _outcomes(result)
    titles = {p.page.id: p.page.title for p in result.pages}
    texts = {i.key: i.text for p in result.pages for i in p.plan.items}
    rows: list[dict[str, str]] = []
    for action in result.actions:
        o = outcomes.get(id(action))
        ticket = action.ticket or (o.ticket if o else None) or ""
        rows.append(
            {
                "op": str(action.op),
                "page_id": action.page_id,
                "page": titles.get(action.page_id, action.page_id),
                "item": _short(texts.get(action.item or "", action.item or "")),
                "project": project_of_action(action, ticket) or "",
                "ticket": ticket,
                "field": action.field or "",
                "change": change_text(action, names),
                "reason": names.text(action.reason),
                "status": _status(result, o),
            }
        )
    return rows


def _pages_by_id(result: RunResult) -> dict[str, PageResult]:
    return {p.page.id: p for p in result.pages}


def _item_text(result: RunResult, finding: Finding) -> str:
    for page in result.pages:
        for item in page.plan.items:
            if item.key == finding.item:
                return item.text
    return finding.item or ""


def _findings_by_page(result: RunResult) -> list[tuple[PageResult | None, list[Finding]]]:
    """The findings grouped by page, in the order of the pages."""
    pages = _pages_by_id(result)
    grouped: dict[str, list[Finding]] = {}
    for finding in result.findings:
        grouped.setdefault(finding.page_id, []).append(finding)
    return [(pages.get(pid), found) for pid, found in grouped.items()]


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


def kind_line(result: RunResult) -> str:
    """Which kind of run it was, and why: a full pass reads every page and ticket,
    an incremental run what changed since the last successful run."""
    kind = "Incremental run" if result.kind == "incremental" else "Full pass"
    line = f"{kind}: {result.kind_reason}." if result.kind_reason else f"{kind}."
    if result.watermark_note:
        line += f" Watermark not written ({result.watermark_note}); the next run reads more."
    return line


def _text(value: str, style: str = "") -> Text:
    """Untrusted text for the terminal: never markup, no control characters."""
    return Text(terminal_text(value), style=style)


# -- JSON -----------------------------------------------------------------------------------


def project_of_action(action: Action, ticket: str | None) -> str | None:
    """The Jira project an action's ticket is (or, for a create, will be) in."""
    if ticket:
        return project_of(ticket)
    if isinstance(action.data, NewTicket) and action.data.project:
        return action.data.project
    return None


def to_json(result: RunResult, *, jira_url: str | None = None) -> dict[str, Any]:
    outcomes = _outcomes(result)
    people = people_of(result)
    names = Names(people)
    pages = _pages_by_id(result)

    def action_json(a: Action) -> dict[str, Any]:
        o = outcomes.get(id(a))
        data = o.to_json() if o else a.to_json()
        if o is None:
            data["outcome"] = "planned" if result.dry_run else "not-run"
        data["project"] = project_of_action(a, a.ticket or (o.ticket if o else None))
        mentioned = names.ids_in(a)
        if mentioned:
            data["names"] = mentioned
        return data

    def finding_json(f: Finding) -> dict[str, Any]:
        data = f.to_json()
        page = pages.get(f.page_id)
        data["page_title"] = page.page.title if page else None
        data["page_url"] = page.page.url if page else None
        data["ticket_url"] = browse_url(jira_url, f.ticket) or None
        return data

    return {
        "run_id": result.run_id,
        "today": result.today.isoformat(),
        "dry_run": result.dry_run,
        "run": {
            "kind": result.kind,
            "reason": result.kind_reason,
            "watermark_not_written": result.watermark_note,
        },
        "summary": result.counts(),
        "actions": [action_json(a) for a in result.actions],
        "findings": [finding_json(f) for f in result.findings],
        "people": people,
        "errors": [
            *result.errors,
            *(f"{p.page.id}: {p.error}" for p in result.pages if p.error),
        ],
    }


# -- text -----------------------------------------------------------------------------------


def to_text(
    result: RunResult, *, width: int = 140, color: bool = False, jira_url: str | None = None
) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=color, color_system="auto" if color else None
    )
    names = Names(people_of(result))
    console.print(_text(_summary_line(result)))
    console.print(_text(kind_line(result)))
    rows = _rows(result, names)
    if rows:
        suffix = " (dry run: nothing was written)" if result.dry_run else ""
        for page in result.pages:
            mine = [r for r in rows if r["page_id"] == page.page.id]
            if not mine:
                continue
            t = Table(title=_text(f"{page.page.title}{suffix}"), title_justify="left")
            cols = ("op", "item", "project", "ticket", "field", "change", "reason", "status")
            for col in cols:
                t.add_column(col, overflow="fold")
            for r in mine:
                t.add_row(*(_text(r[c]) for c in cols))
            console.print(t)
    else:
        console.print(_nothing(result))
    # Findings as lines, not a table: addresses must stay whole to be clicked or copied.
    for where, found in _findings_by_page(result):
        title = f"“{where.page.title}”" if where else found[0].page_id
        console.print(_text(f"Findings on {title}", style="bold"))
        if where and where.page.url:
            console.print(_text(f"  {where.page.url}"), soft_wrap=True)
        for finding in found:
            about = [str(finding.code)]
            if finding.item:
                about.append(_short(_item_text(result, finding)))
            if finding.ticket:
                link = browse_url(jira_url, finding.ticket)
                about.append(f"{finding.ticket} {link}".rstrip())
            console.print(_text("  - " + " · ".join(about)), soft_wrap=True)
            wrapped = textwrap.fill(
                terminal_text(finding.message),
                max(40, width - 6),
                initial_indent=" " * 6,
                subsequent_indent=" " * 6,
            )
            console.print(Text(wrapped), soft_wrap=True)
    for p in result.pages:
        if p.error:
            console.print(_text(f"ERROR {p.page.title} ({p.page.id}): {p.error}"))
    for e in result.errors:
        console.print(_text(f"ERROR {e}"))
    return buf.getvalue()


# -- Markdown -----------------------------------------------------------------------------


def _md_cell(value: str) -> str:
    """Page text as Markdown text: no markup, links, HTML, autolinks or table breaks
    from it (`followup.reports.escaping.markdown_text`)."""
    return markdown_text(value)


def _md_link(text: str, url: str) -> str:
    if not url.startswith(("http://", "https://")):
        return _md_cell(text)
    return f"[{_md_cell(text)}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"


def to_markdown(result: RunResult, *, jira_url: str | None = None) -> str:
    names = Names(people_of(result))
    lines = [
        f"# followup sync {'(dry run) ' if result.dry_run else ''}— {result.today.isoformat()}",
        "",
        _summary_line(result),
        "",
        _md_cell(kind_line(result)),
        "",
    ]
    rows = _rows(result, names)
    if rows:
        cols = ("op", "page", "item", "project", "ticket", "field", "change", "reason", "status")
        lines += ["## Actions", "", "| " + " | ".join(cols) + " |"]
        lines.append("|" + "---|" * len(cols))
        for r in rows:
            cells = [r[k] for k in cols]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines.append("")
    grouped = _findings_by_page(result)
    if grouped:
        lines += ["## Findings", ""]
        for where, found in grouped:
            heading = _md_link(where.page.title, where.page.url) if where else found[0].page_id
            lines += [
                f"### {heading}",
                "",
                "| code | item | ticket | message |",
                "|---|---|---|---|",
            ]
            for f in found:
                ticket = _md_link(f.ticket, browse_url(jira_url, f.ticket)) if f.ticket else ""
                item = _md_cell(_short(_item_text(result, f))) if f.item else ""
                lines.append(
                    f"| {_md_cell(str(f.code))} | {item} | {ticket} | {_md_cell(f.message)} |"
                )
            lines.append("")
    return "\n".join(lines)


# -- HTML: a summary for a team lead ---------------------------------------------------------

_CSS = """
:root{--text:#172b4d;--muted:#6b778c;--line:#dfe1e6;--bg:#f4f5f7}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0;color:var(--text)}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}
h3{font-size:14px;margin:12px 0 4px}
.meta{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:90px}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:12px}
section{border-top:1px solid var(--line);margin-top:8px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}td{font-size:13px}
td.nowrap{white-space:nowrap}
ul.changes{margin:0;padding-left:16px}ul.findings{padding-left:18px}
.lozenge{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:700;
 line-height:18px;text-transform:uppercase;white-space:nowrap}
.l-grey{background:#dfe1e6;color:#42526e}.l-red{background:#de350b;color:#fff}
.l-yellow{background:#ff991f;color:#172b4d}.l-green{background:#00875a;color:#fff}
.l-blue{background:#0052cc;color:#fff}
.failed{color:#bf2600;font-weight:600}.planned{color:#0747a6}.skipped{color:var(--muted)}
code{background:var(--bg);padding:0 3px}
details{margin:6px 0 12px}summary{cursor:pointer;color:var(--muted)}
a{color:#0052cc}
.none{color:var(--muted)}
@media print{details{display:none}a{color:inherit;text-decoration:none}}
"""

_e = html.escape


def _a(text: str, url: str) -> str:
    """A link for a known-good address (http or https); otherwise the text alone."""
    if url.startswith(("http://", "https://")):
        return f'<a href="{_e(url, quote=True)}">{_e(text)}</a>'
    return _e(text)


def _lozenge(state: str) -> str:
    folded = state.casefold()
    if folded == "done":
        colour = "green"
    elif folded == "overdue":
        colour = "red"
    elif "progress" in folded:
        colour = "blue"
    elif folded in ("unknown ticket", "no ticket", "foreign ticket"):
        colour = "yellow"
    else:
        colour = "grey"
    return f'<span class="lozenge l-{colour}">{_e(state)}</span>'


def _what_changed(
    action: Action, outcome: Outcome | None, result: RunResult, names: Names
) -> str | None:
    """One action in words for a reader of the summary; None for bookkeeping."""
    before = names.value(action.field, action.to_json()["before"])
    after = names.value(action.field, action.to_json()["after"])
    would = "would be " if result.dry_run else ""
    text: str | None
    if action.op is Op.CREATE:
        key = outcome.ticket if outcome and outcome.ticket else ""
        where = project_of_action(action, None)
        text = f"ticket {would}created" + (f" in {where}" if where else "")
        text += f": {key}" if key else ""
    elif action.op is Op.ADOPT:
        text = f"linked ticket {would}adopted" if "hand" in action.reason else None
    elif action.op is Op.UPDATE:
        what = {"duedate": "due date", "assignee": "owner"}.get(action.field or "", action.field)
        if action.field == "description":
            text = f"description {would}updated to follow the summary"
        else:
            text = f"{what} {_fmt(before)} → {_fmt(after)} ({would}sent to Jira)"
    elif action.op is Op.TRANSITION:
        verb = "closed" if action.after == "done" else "reopened"
        text = f"ticket {would}{verb} in Jira ({action.reason})"
    elif action.op is Op.SHOW:
        if action.field == "done":
            text = f"task {would}{'ticked' if action.after else 'unticked'} ({action.reason})"
        else:
            what = "due date" if action.field == "due" else "owner"
            text = f"{what} {_fmt(before)} → {_fmt(after)} ({would}taken from Jira)"
    elif action.op is Op.COMMENT:
        text = f"comment {would}posted: {names.text(action.reason)}"
    elif action.op is Op.ISSUE_LINK:
        text = f"{would}linked to the incident ({_fmt(after)})"
    else:
        text = None
    if text is not None and outcome is not None and not outcome.ok:
        label = "skipped" if outcome.skipped else "FAILED"
        text += f" — {label}: {outcome.error}"
    return text


def _owner_cell(item: ActionItem, story: ItemStory | None, names: Names) -> str:
    if story is not None and story.owner:
        return _e(str(names.person(story.owner)))
    if item.owner is not None and story is not None and story.match == "foreign":
        # Not looked up (nothing is done for the item): by name where the run knows the
        # person anyway, never by an account id.
        if item.owner.kind == "name":
            return _e(item.owner.value)
        known = names.person(item.owner.ref)
        if known != item.owner.ref:
            return _e(str(known))
        return '<span class="none">an @mention (not looked up)</span>'
    if item.owner is not None:
        shown = item.owner.value if item.owner.kind == "name" else f"@{item.owner.value}"
        return f'{_e(shown)} <span class="none">(no Jira user)</span>'
    return '<span class="none">nobody</span>'


def _page_section(
    page: PageResult,
    result: RunResult,
    names: Names,
    findings: Sequence[Finding],
    outcomes: Mapping[int, Outcome],
    jira_url: str | None,
) -> str:
    plan = page.plan
    parts = [
        f"<section><h2>{_a(page.page.title, page.page.url)} "
        f'<span class="meta">{_e(page.page.space_key)}</span></h2>'
    ]
    if page.leased_by is not None:
        # What the plan says would be another run's to do: nothing of it is shown.
        parts.append(
            f'<p class="skipped">Skipped: run {_e(page.leased_by)} holds this page; '
            "nothing was done here.</p>"
        )
    elif plan.items:
        parts.append(
            "<table><tr><th>Action item</th><th>Owner</th><th>Due</th><th>Status</th>"
            "<th>Ticket</th><th>What changed</th></tr>"
        )
        for item in plan.items:
            story = plan.stories.get(item.key)
            due = story.due if story is not None else item.due
            state = story.state if story is not None and story.state else "No ticket"
            foreign = story is not None and story.match == "foreign"
            ticket = (story.ticket if story is not None else None) or item.ticket
            created = [
                o.ticket
                for a in plan.actions
                if a.item == item.key and a.op is Op.CREATE
                for o in [outcomes.get(id(a))]
                if o is not None and o.ticket
            ]
            ticket = ticket or (created[0] if created else None)
            changes = [
                text
                for a in plan.actions
                if a.item == item.key
                and (text := _what_changed(a, outcomes.get(id(a)), result, names))
            ]
            ticket_html = _a(ticket, browse_url(jira_url, ticket)) if ticket else "—"
            if foreign and ticket:
                # As the page wrote it, not linked: it may be another Jira's.
                ticket_html = f"{_e(ticket)} <span class='none'>(not followup's)</span>"
            change_html = (
                '<ul class="changes">' + "".join(f"<li>{_e(c)}</li>" for c in changes) + "</ul>"
                if changes
                else '<span class="none">—</span>'
            )
            parts.append(
                f"<tr><td>{_e(item.text)}</td><td>{_owner_cell(item, story, names)}</td>"
                f'<td class="nowrap">{_e(due.isoformat()) if due else "—"}</td>'
                f"<td>{_lozenge(state)}</td>"
                f'<td class="nowrap">{ticket_html}</td>'
                f"<td>{change_html}</td></tr>"
            )
        parts.append("</table>")
    if findings:
        parts.append("<h3>Findings</h3><ul class='findings'>")
        for f in findings:
            ticket = f" {_a(f.ticket, browse_url(jira_url, f.ticket))}" if f.ticket else ""
            parts.append(f"<li><code>{_e(str(f.code))}</code>{ticket} {_e(f.message)}</li>")
        parts.append("</ul>")
    if page.error:
        parts.append(f'<p class="failed">Error: {_e(page.error)}</p>')
    if plan.actions:
        parts.append(
            f"<details><summary>All {len(plan.actions)} action(s), as planned and run"
            "</summary><table><tr><th>op</th><th>item</th><th>ticket</th><th>field</th>"
            "<th>change</th><th>reason</th><th>status</th></tr>"
        )
        texts = {i.key: i.text for i in plan.items}
        for a in plan.actions:
            o = outcomes.get(id(a))
            status = _status(result, o)
            cls = "failed" if status.startswith("FAILED") else status.split(":")[0]
            ticket = a.ticket or (o.ticket if o else None) or ""
            cells = (
                str(a.op),
                _short(texts.get(a.item or "", a.item or "")),
                ticket,
                a.field or "",
                change_text(a, names),
                names.text(a.reason),
            )
            parts.append(
                "<tr>"
                + "".join(f"<td>{_e(c)}</td>" for c in cells)
                + f'<td class="{_e(cls, quote=True)}">{_e(status)}</td></tr>'
            )
        parts.append("</table></details>")
    parts.append("</section>")
    return "".join(parts)


def to_html(result: RunResult, *, jira_url: str | None = None) -> str:
    names = Names(people_of(result))
    outcomes = _outcomes(result)
    c = result.counts()
    findings: dict[str, list[Finding]] = {}
    for f in result.findings:
        findings.setdefault(f.page_id, []).append(f)
    title = f"followup sync{' (dry run)' if result.dry_run else ''} — {result.today.isoformat()}"
    cards = [
        ("postmortems", c["pages"]),
        ("action items", c["items"]),
        ("tickets created" if not result.dry_run else "to create", c["create"]),
        ("tickets updated" if not result.dry_run else "to update", c["update"]),
        ("transitions", c["transition"]),
        ("page writes", c["page_writes"]),
        ("findings", c["findings"]),
        ("errors", c["errors"]),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{_e(_summary_line(result))}</p>',
        f'<p class="meta kind">{_e(kind_line(result))}</p>',
        '<div class="cards">'
        + "".join(
            f"<div class='card'><b>{n}</b><span>{_e(label)}</span></div>" for label, n in cards
        )
        + "</div>",
    ]
    if not result.actions:
        parts.append(f"<p>{_e(_nothing(result))}</p>")
    for page in result.pages:
        parts.append(
            _page_section(page, result, names, findings.get(page.page.id, []), outcomes, jira_url)
        )
    for e in result.errors:
        parts.append(f'<p class="failed">Error: {_e(e)}</p>')
    parts.append("</main></body></html>")
    return "".join(parts)


def render_report(
    result: RunResult,
    fmt: Format,
    *,
    color: bool = False,
    width: int = 140,
    jira_url: str | None = None,
) -> str:
    if fmt == "json":
        data = to_json(result, jira_url=jira_url)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return to_markdown(result, jira_url=jira_url)
    if fmt == "html":
        return to_html(result, jira_url=jira_url)
    return to_text(result, color=color, width=width, jira_url=jira_url)
