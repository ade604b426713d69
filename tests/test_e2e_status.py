"""Who leads a ticket's status, end to end against the sandbox, Cloud and Data Center.

A person's edit of done-ness on the page (a task's checkbox, a table's status cell)
wins when they made one; Jira leads otherwise. A table row with no status column has
no place for done-ness at all: what it reads as is no one's statement, so a ticket a
person closed in Jira stays closed however many runs follow.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from reliability_support import Site, transition
from sandbox_support import reset_server

from followup.core.model import ActionItem
from followup.core.storage_format import extract
from followup.sandbox.dataset import Dataset, SeedPage, SeedProject, SeedSpace
from followup.sandbox.seed import DEMO_ADMIN, PRIYA, TOMASZ
from followup.sandbox.server import RunningSandbox
from followup.sandbox.state import User

TODAY = date(2026, 11, 26)
CREATED = datetime(2026, 11, 2, tzinfo=UTC)
PAGE, COLUMNS_PAGE = "98300001", "98300002"

PLAIN = ("Add a canary for checkout", "Shard the orders queue")  # no status column
STATUS = ("Move alerts to the new pager", "Replace the vendor SDK")  # a status column
TASKS = ("Write the failover runbook", "Rehearse the failover")  # a task list


def _mention(user: User, flavor: str) -> str:
    attr = f'ri:account-id="{user.account_id}"' if flavor == "cloud" else f'ri:userkey="{user.key}"'
    return f"<ac:link><ri:user {attr} /></ac:link>"


def _cells(*values: str, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}><p>{v}</p></{tag}>" for v in values) + "</tr>"


def body(flavor: str) -> str:
    priya, tomasz = _mention(PRIYA, flavor), _mention(TOMASZ, flavor)
    tasks = "".join(
        f"<ac:task><ac:task-id>{n}</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        f'<ac:task-body>{text} {priya} <time datetime="2026-12-1{n}" /></ac:task-body></ac:task>'
        for n, text in enumerate(TASKS, start=1)
    )
    return (
        "<h2>Action items</h2><table><tbody>"
        + _cells("Action", "Owner", "Due", tag="th")
        + _cells(PLAIN[0], priya, "2026-12-20")
        + _cells(PLAIN[1], tomasz, "2027-03-04")
        + "</tbody></table><table><tbody>"
        + _cells("Action", "Owner", "Due", "Status", tag="th")
        + _cells(STATUS[0], priya, "2026-12-21", "To do")
        + _cells(STATUS[1], tomasz, "2026-12-22", "To do")
        + "</tbody></table><ac:task-list>"
        + tasks
        + "</ac:task-list>"
    )


def columns_body(flavor: str) -> str:
    """A table without a due column and one without an owner column."""
    return (
        "<h2>Action items</h2><table><tbody>"
        + _cells("Action", "Owner", tag="th")
        + _cells("Rotate the pager secrets", _mention(PRIYA, flavor))
        + "</tbody></table><table><tbody>"
        + _cells("Action", "Due", tag="th")
        + _cells("Retire the old queue", "2026-12-28")
        + "</tbody></table>"
    )


@pytest.fixture(params=["cloud", "datacenter"])
def site(
    request: pytest.FixtureRequest,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
) -> Site:
    server = sandbox_server if request.param == "cloud" else dc_sandbox_server
    reset_server(
        server,
        Dataset(
            users=(DEMO_ADMIN, PRIYA, TOMASZ),
            spaces=(SeedSpace("OPS", "Operations"),),
            pages=(
                SeedPage(
                    "OPS", "Orders backlog", body(request.param), PRIYA.account_id, CREATED, id=PAGE
                ),
                SeedPage(
                    "OPS",
                    "Pager outage",
                    columns_body(request.param),
                    PRIYA.account_id,
                    CREATED,
                    id=COLUMNS_PAGE,
                ),
            ),
            projects=(SeedProject("OPS", "Operations", DEMO_ADMIN.account_id),),
            issues=(),
        ),
    )
    return Site.of(server)


def items(site: Site) -> dict[str, ActionItem]:
    return {i.text: i for i in extract(site.body(PAGE), PAGE).items}


def status(site: Site, key: str) -> str:
    return str(site.get(f"/rest/api/2/issue/{key}")["fields"]["status"]["name"])


def base_done(site: Site, key: str) -> bool:
    return bool(site.get(f"/rest/api/2/issue/{key}/properties/followup")["value"]["base"]["done"])


def synced(site: Site) -> dict[str, str]:
    """Sync once (it must not fail); the ticket of each item."""
    result = site.sync(today=TODAY)
    assert not result.failed, result.failures
    keys = {text: item.ticket for text, item in items(site).items()}
    assert all(keys.values()), keys
    return {text: str(key) for text, key in keys.items()}


def edit(site: Site, *edits: tuple[str, str]) -> None:
    def apply(text: str) -> str:
        for old, new in edits:
            assert old in text, f"{old!r} not on the page"
            text = text.replace(old, new, 1)
        return text

    site.human_edit(PAGE, apply)


def set_status_cell(site: Site, row: str, text: str) -> None:
    """As a person: put `text` into the status cell (the fourth) of the row `row`."""

    def apply(page: str) -> str:
        at = page.index(row)
        start, end = page.rindex("<tr", 0, at), page.index("</tr>", at)
        parts = re.split(r"(?=<td[ >])", page[start:end])
        cell = parts[4]
        parts[4] = f"{cell[: cell.index('>') + 1]}<p>{text}</p></td>"
        return page[:start] + "".join(parts) + page[end:]

    site.human_edit(PAGE, apply)


def test_a_ticket_closed_in_jira_stays_closed_on_a_row_without_a_status_column(
    site: Site,
) -> None:
    """A person closes, in Jira, the tickets of a status-less row, of a row with a status
    column and of a task. Every later run leaves them closed: the status cell and the
    task show it, the status-less row's sync base records it (its badge or jira macro
    shows it), and nothing reads that row as "unticked on the page"."""
    keys = synced(site)
    plain, status_row, task = keys[PLAIN[0]], keys[STATUS[0]], keys[TASKS[0]]
    assert "done" in items(site)[PLAIN[0]].unstated
    assert not items(site)[STATUS[0]].unstated
    assert not items(site)[TASKS[0]].unstated
    for key in (plain, status_row, task):
        transition(site, key, "Done")

    for _ in range(3):
        result = site.sync(today=TODAY)
        assert not result.failed, result.failures
        assert not [a for a in result.actions if a.reason == "unticked on the page"]
        for key in (plain, status_row, task):
            assert status(site, key) == "Done", key
    assert base_done(site, plain)
    on_page = items(site)
    assert on_page[STATUS[0]].done
    assert on_page[TASKS[0]].done
    # The other items were left as they were.
    for text in (PLAIN[1], STATUS[1], TASKS[1]):
        assert status(site, keys[text]) == "To Do"

    writes = site.writes()
    assert site.sync(today=TODAY).actions == []
    assert site.writes() == writes


def test_a_persons_edit_of_done_ness_on_the_page_still_wins(site: Site) -> None:
    """Once the closed tickets show as done on the page, a person unticks the task,
    writes "To do" in one status cell and empties the other: those three reopen. A
    status-less row's ticket reopened in Jira stays open too (Jira leads it both ways),
    and removing the status column reopens nothing."""
    keys = synced(site)
    for key in keys.values():
        transition(site, key, "Done")
    synced(site)
    assert all(items(site)[text].done for text in (*STATUS, *TASKS))

    edit(
        site,
        (
            "<ac:task-id>1</ac:task-id><ac:task-status>complete",
            "<ac:task-id>1</ac:task-id><ac:task-status>incomplete",
        ),
    )
    set_status_cell(site, STATUS[0], "To do")
    set_status_cell(site, STATUS[1], "")
    transition(site, keys[PLAIN[1]], "To Do")
    result = site.sync(today=TODAY)
    assert not result.failed, result.failures
    reopened = {a.ticket for a in result.actions if a.reason == "unticked on the page"}
    assert reopened == {keys[TASKS[0]], keys[STATUS[0]], keys[STATUS[1]]}
    expected = {
        PLAIN[0]: "Done",
        PLAIN[1]: "To Do",
        STATUS[0]: "To Do",
        STATUS[1]: "To Do",
        TASKS[0]: "To Do",
        TASKS[1]: "Done",
    }
    assert {text: status(site, key) for text, key in keys.items()} == expected

    # The status column removed: its rows have no place for done-ness any more, so the
    # closed ticket among them is not reopened, and nothing else moves.
    transition(site, keys[STATUS[1]], "Done")
    synced(site)

    def drop_status_column(page: str) -> str:
        start = page.index("<table>", page.index("</table>"))
        end = page.index("</table>", start)
        table = re.sub(r"<t([hd])><p>(?:(?!</t[hd]>).)*</p></t\1>(?=</tr>)", "", page[start:end])
        return page[:start] + table + page[end:]

    site.human_edit(PAGE, drop_status_column)
    assert all("done" in items(site)[text].unstated for text in STATUS)
    synced(site)
    synced(site)
    expected[STATUS[1]] = "Done"
    assert {text: status(site, key) for text, key in keys.items()} == expected


def test_a_value_set_in_jira_stays_on_a_row_without_its_column(site: Site) -> None:
    """A due date set in Jira on a row whose table has no due column, and an assignee
    set on a row whose table has no owner column, stay in Jira run after run: the
    page states neither, so neither is read as cleared on the page."""
    assert not site.sync(today=TODAY).failed
    on_page = {i.text: i for i in extract(site.body(COLUMNS_PAGE), COLUMNS_PAGE).items}
    dated, owned = (
        on_page["Rotate the pager secrets"].ticket,
        on_page["Retire the old queue"].ticket,
    )
    assert dated
    assert owned
    tomasz = {"accountId": TOMASZ.account_id} if site.flavor == "cloud" else {"name": TOMASZ.name}
    for key, fields in ((dated, {"duedate": "2027-02-01"}), (owned, {"assignee": tomasz})):
        site.put_json(f"/rest/api/2/issue/{key}", {"fields": fields}).raise_for_status()

    for _ in range(2):
        result = site.sync(today=TODAY)
        assert not result.failed, result.failures
    fields = {key: site.get(f"/rest/api/2/issue/{key}")["fields"] for key in (dated, owned)}
    assert fields[dated]["duedate"] == "2027-02-01"
    assignee = fields[owned]["assignee"] or {}
    assert (assignee.get("accountId") or assignee.get("name")) == next(iter(tomasz.values()))
    writes = site.writes()
    assert site.sync(today=TODAY).actions == []
    assert site.writes() == writes
