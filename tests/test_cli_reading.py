"""What people read, through the command line against the real sandbox: names rather
than account ids, one status per item on the page, findings that say where, the HTML
summary, conflicts that stay visible until resolved, honest first-run health figures,
why an item did what it did (debug logs and `followup explain`), and the tickets
people open (remote link title, description)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from sandbox_support import reset_server
from typer.testing import CliRunner, Result

from followup.cli import app
from followup.core.storage_format import extract
from followup.sandbox import control
from followup.sandbox.seed import DEMO_ADMIN, DEMO_PEOPLE, DEMO_TODAY
from followup.sandbox.server import RunningSandbox

pytestmark = pytest.mark.usefixtures("clean_env", "reset_logging")

TODAY = DEMO_TODAY.isoformat()
ORDERS_DB = "98000001"  # tasks; one ticked before it had a ticket, one overdue
REFUNDS = "98000003"  # an action-item table whose owners are typed names
KAFKA = "98000005"  # "Postmortem: notification backlog after Kafka broker replacement"
ACCOUNT_ID = re.compile(r"\b(?:557058|712020):[0-9a-f-]{8,}|\b[0-9a-f]{24}\b")


@dataclass
class Site:
    server: RunningSandbox
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str, **env: str) -> Result:
        # a wide terminal: names and addresses are not broken across table lines
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "220", **self.env, **env})

    def sync(self, *args: str) -> Result:
        result = self.cli("sync", "--today", TODAY, *args)
        assert result.exit_code == 0, result.output
        return result

    def get(self, path: str, **params: Any) -> Any:
        auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
        r = requests.get(f"{self.url}{path}", params=params, auth=auth, timeout=10)
        r.raise_for_status()
        return r.json()

    def put(self, path: str, body: dict[str, Any]) -> None:
        auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
        r = requests.put(f"{self.url}{path}", json=body, auth=auth, timeout=10)
        r.raise_for_status()

    def body(self, page_id: str) -> str:
        data = self.get(f"/wiki/rest/api/content/{page_id}", expand="body.storage")
        return str(data["body"]["storage"]["value"])

    def edit_page(self, page_id: str, old: str, new: str) -> None:
        page = self.get(f"/wiki/rest/api/content/{page_id}", expand="body.storage,version")
        body = page["body"]["storage"]["value"]
        assert old in body, old
        self.put(
            f"/wiki/rest/api/content/{page_id}",
            {
                "type": "page",
                "title": page["title"],
                "version": {"number": page["version"]["number"] + 1},
                "body": {
                    "storage": {"value": body.replace(old, new, 1), "representation": "storage"}
                },
            },
        )

    def remove_task(self, page_id: str, text: str) -> None:
        body = self.body(page_id)
        tasks = re.findall(r"<ac:task>.*?</ac:task>", body, re.S)
        [task] = [t for t in tasks if text in t]
        self.edit_page(page_id, task, "")

    def ticket_of(self, page_id: str, text_start: str) -> str:
        for item in extract(self.body(page_id), page_id).items:
            if item.text.startswith(text_start):
                assert item.ticket is not None
                return item.ticket
        raise AssertionError(text_start)

    def item_key(self, page_id: str, text_start: str) -> str:
        return next(
            i.key
            for i in extract(self.body(page_id), page_id).items
            if i.text.startswith(text_start)
        )


@pytest.fixture
def site(sandbox_server: RunningSandbox) -> Site:
    reset_server(sandbox_server)
    return Site(sandbox_server, control.env_for(sandbox_server.state, sandbox_server.url))


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


# -- 1. names, not account ids -----------------------------------------------------------------


def test_reports_show_people_by_name_and_json_keeps_the_ids(site: Site, tmp_path: Path) -> None:
    """The sync table, Markdown, HTML and `extract --page` name people; no account id
    shows. JSON keeps each id and adds its name."""
    for fmt in ("text", "markdown", "html"):
        out = tmp_path / f"report.{fmt}"
        site.sync("--dry-run", "--format", fmt, "--output", str(out))
        shown = out.read_text(encoding="utf-8")
        assert not ACCOUNT_ID.search(shown), (fmt, ACCOUNT_ID.search(shown))
        assert "Priya Natarajan" in shown
        assert "Sven Lindqvist" in shown
    data = _json(site.sync("--dry-run", "--format", "json"))
    priya = DEMO_PEOPLE[0]
    creates = [a for a in data["actions"] if a["op"] == "create" and a["after"]["assignee"]]
    assert any(a["after"]["assignee"] == priya.account_id for a in creates)
    assert all(a["names"][a["after"]["assignee"]] for a in creates)
    assert data["people"][priya.account_id] == "Priya Natarajan"
    extracted = site.cli("extract", "--page", ORDERS_DB)
    assert extracted.exit_code == 0, extracted.output
    assert "Priya Natarajan" in extracted.stdout
    assert not ACCOUNT_ID.search(extracted.stdout)
    assert f"{site.url}/wiki/spaces/SRE/pages/{ORDERS_DB}" in extracted.stdout


# -- 2. one status per item on the page ---------------------------------------------------------


def test_the_page_shows_each_item_state_once_and_the_summary_once(site: Site) -> None:
    """After a sync the page view shows, per item, the jira macro's live status and
    nothing repeating it: OVERDUE is added where it applies, the status of a done item
    is not doubled, and the summary lozenge appears once. The macros carry server,
    serverId and showSummary=false, as Confluence writes them."""
    site.sync()
    html = requests.get(f"{site.url}/wiki/spaces/SRE/pages/{ORDERS_DB}", timeout=10).text
    root = etree.HTML(html)
    summaries = root.xpath('//span[contains(@class,"lozenge")][starts-with(text(),"FOLLOW-UP")]')
    assert [s.text for s in summaries] == ["FOLLOW-UP 1/5 DONE"]
    seen: dict[str, list[str]] = {}
    for task in root.xpath('//li[contains(@class,"task")]'):
        body = "".join(task.itertext())
        titles = [z.text for z in task.xpath('.//span[contains(@class,"lozenge")]')]
        seen[body[:30]] = titles
        assert len(titles) == len(set(titles)), titles  # never "DONE DONE"
    assert ["TO DO", "OVERDUE"] in seen.values()  # the status, and what it cannot say
    assert ["DONE"] in seen.values()
    assert ["IN PROGRESS"] in seen.values()
    key = site.ticket_of(ORDERS_DB, "Route order-history reads")
    macros = re.findall(
        r'<ac:structured-macro[^>]*ac:name="jira"[^>]*>(.*?)</ac:structured-macro>',
        site.body(ORDERS_DB),
        re.S,
    )
    [ours] = [m for m in macros if f">{key}<" in m]
    for parameter in (
        '<ac:parameter ac:name="server">System Jira</ac:parameter>',
        '<ac:parameter ac:name="serverId">b2c8e7f4-1a3d-3c59-9e06-7d4f1a2b8c65</ac:parameter>',
        '<ac:parameter ac:name="showSummary">false</ac:parameter>',
    ):
        assert parameter in ours
    assert site.sync().stdout.count("Nothing to do") == 1  # and it is stable


def test_doctor_says_where_the_jira_macro_values_come_from(site: Site) -> None:
    """Unset, `doctor` warns and names the server and serverId the pages already use."""
    result = site.cli(
        "doctor", FOLLOWUP_CONFLUENCE__JIRA_SERVER="", FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID=""
    )
    assert result.exit_code == 0, result.output
    assert "[warn] jira macros: written without server and serverId" in result.stdout
    assert 'jira_server = "System Jira"' in result.stdout


# -- 3. findings say where ------------------------------------------------------------------------


def test_findings_name_their_page_and_link_it_and_their_ticket(site: Site, tmp_path: Path) -> None:
    """Every finding, in every format, names its page by title with its address, and
    links its ticket where it has one (here an orphaned ticket)."""
    site.sync()
    orphan = site.ticket_of(KAFKA, "Find out why the DLQ consumer")
    site.remove_task(KAFKA, "Find out why the DLQ consumer")
    title = "Postmortem: notification backlog after Kafka broker replacement"
    page_url = f"{site.url}/wiki/spaces/SRE/pages/{KAFKA}"
    ticket_url = f"{site.url}/browse/{orphan}"
    for fmt in ("text", "markdown", "html"):
        out = tmp_path / f"findings.{fmt}"
        site.sync("--dry-run", "--format", fmt, "--output", str(out))
        shown = out.read_text(encoding="utf-8")
        assert title in shown.replace("\\:", ":"), fmt
        assert page_url in shown, fmt
        assert ticket_url in shown, fmt
    data = _json(site.sync("--dry-run", "--format", "json"))
    [finding] = [f for f in data["findings"] if f["code"] == "orphaned-ticket"]
    assert (finding["page_title"], finding["page_url"]) == (title, page_url)
    assert (finding["ticket"], finding["ticket_url"]) == (orphan, ticket_url)
    assert all(f["page_title"] and f["page_url"] for f in data["findings"])
    story = site.cli("explain", orphan, "--today", TODAY)
    assert "The page no longer shows an item for this ticket." in story.stdout
    assert "orphaned-ticket" in story.stdout


# -- 4. the HTML summary ---------------------------------------------------------------------------


def test_html_report_is_a_summary_per_page_with_the_raw_rows_folded(
    site: Site, tmp_path: Path
) -> None:
    """`sync --format html`: per page a section with its items (owner names, due dates,
    status, what changed), its findings, and the raw action rows in a <details>; page
    text is escaped."""
    site.edit_page(
        ORDERS_DB,
        "Write a runbook section on promoting a replica by hand",
        "Write a runbook &lt;img src=x onerror=alert(1)&gt; on promoting a replica by hand",
    )
    out = tmp_path / "sync.html"
    site.sync("--format", "html", "--output", str(out))
    text = out.read_text(encoding="utf-8")
    assert "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    root = etree.HTML(text)
    sections = root.xpath("//section")
    assert len(sections) == 6
    orders = next(s for s in sections if "orders-db" in "".join(s.xpath("h2//text()")))
    assert orders.xpath("h2/a/@href") == [f"{site.url}/wiki/spaces/SRE/pages/{ORDERS_DB}"]
    rows = orders.xpath("./table/tr[td]")
    assert len(rows) == 5
    cells = {"".join(r.xpath("td[1]//text()"))[:20]: r for r in rows}
    route = cells["Route order-history "]
    assert "".join(route.xpath("td[2]//text()")) == "Priya Natarajan"
    assert "".join(route.xpath("td[3]//text()")) == "2026-11-13"
    assert "".join(route.xpath("td[4]//text()")) == "Overdue"
    assert "ticket created" in "".join(route.xpath("td[6]//text()"))
    assert route.xpath("td[5]/a/@href")[0].startswith(f"{site.url}/browse/OPS-")
    assert "missing-owner" in "".join(orders.xpath(".//ul[@class='findings']//text()"))
    [raw] = orders.xpath(".//details")
    assert raw.xpath("summary/text()")[0].startswith("All ")
    assert raw.xpath(".//tr[td]")


# -- 5. conflicts stay visible until resolved --------------------------------------------------


def test_a_conflict_stays_in_findings_and_the_report_until_resolved(site: Site) -> None:
    """A conflict found by one run is reported by the runs after it and by `report`,
    until `followup resolve` acknowledges it; an edit of the field also resolves one."""
    site.sync()
    key = site.ticket_of(ORDERS_DB, "Load-test the reporting batch")
    site.put(f"/rest/api/2/issue/{key}", {"fields": {"duedate": "2027-02-20"}})
    site.edit_page(ORDERS_DB, 'datetime="2027-01-15"', 'datetime="2027-01-31"')

    def conflicts() -> list[dict[str, Any]]:
        data = _json(site.sync("--format", "json"))
        return [f for f in data["findings"] if f["code"] == "conflict"]

    [found] = conflicts()
    assert found["ticket"] == key
    for _ in range(2):  # later unattended runs: still there, and they write nothing
        [again] = conflicts()
        assert "nobody has changed it since" in again["message"]
        assert f"followup resolve {key}" in again["message"]
    report = _json(site.cli("report", "--today", TODAY, "--format", "json"))
    assert [(c["ticket"], c["field"]) for c in report["conflicts"]] == [(key, "due date")]
    resolved = site.cli("resolve", key)
    assert resolved.exit_code == 0, resolved.output
    assert "marked resolved" in resolved.stdout
    assert conflicts() == []
    assert _json(site.cli("report", "--today", TODAY, "--format", "json"))["conflicts"] == []

    # a second conflict, resolved by someone editing the field again
    site.put(f"/rest/api/2/issue/{key}", {"fields": {"duedate": "2027-03-01"}})
    site.edit_page(ORDERS_DB, 'datetime="2027-02-20"', 'datetime="2027-03-05"')
    assert len(conflicts()) == 1
    site.edit_page(ORDERS_DB, 'datetime="2027-03-01"', 'datetime="2027-03-05"')
    assert conflicts() == []


# -- 6. the health report on a first run -------------------------------------------------------


def test_first_run_health_is_honest(site: Site) -> None:
    """After a first sync, the item ticked before it had a ticket is done before
    tracking (not late, not timed), and an owner no Jira user matches ("Bob Nobody")
    counts under "owner not found", not as an owner."""
    site.edit_page(REFUNDS, "Amara Okafor", "Bob Nobody")
    site.sync()
    data = _json(site.cli("report", "--today", TODAY, "--format", "json"))
    assert [i["text"] for i in data["done_before_tracking"]] == [
        "Add replica lag to the orders service dashboard"
    ]
    assert data["done_late"] == []
    assert data["median_days_to_done"] is None
    assert data["on_time"]["measured"] == 0
    assert data["totals"]["owner_not_found"] == 1
    labels = [g["label"] for g in data["by_owner"]]
    assert "(owner not found)" in labels
    assert "Bob Nobody" not in labels
    text = site.cli("report", "--today", TODAY).stdout
    assert "Done before tracking" in text
    assert "Owner not found" in text


# -- 7. why an item did what it did -------------------------------------------------------------


def test_debug_logs_and_explain_tell_why(site: Site) -> None:
    """`--log-level debug` logs how each item's ticket was matched and each decision;
    `followup explain` prints one item's story by ticket key or item key."""
    dry = site.cli("--log-level", "debug", "--log-json", "sync", "--dry-run", "--today", TODAY)
    assert dry.exit_code == 0, dry.output
    events = [json.loads(line) for line in dry.stderr.splitlines() if line.startswith("{")]
    matched = {e["item"]: e for e in events if e["event"] == "item-matched"}
    assert matched[f"{ORDERS_DB}:task:1"]["match"] == "page"  # linked by hand: OPS-1
    assert matched[f"{ORDERS_DB}:task:2"]["match"] == "new"
    assert any(e["event"] == "item-decision" for e in events)
    assert any(e["event"] == "action-planned" and e["action"] == "create" for e in events)

    site.sync()
    key = site.ticket_of(ORDERS_DB, "Route order-history reads")
    story = site.cli("explain", key, "--today", TODAY)
    assert story.exit_code == 0, story.output
    for part in (
        "2026-10-07 orders-db replica lag served stale order history",
        "What the page says",
        f"The ticket {key}",
        "The sync base",
        "How the ticket was found",
        f"the page names {key}",
        "Field by field",
        "in step: Priya Natarajan on both sides",
        "nothing to do for this item",
    ):
        assert part in story.stdout, part
    item = site.item_key(ORDERS_DB, "Route order-history reads")
    as_json = _json(site.cli("explain", item, "--format", "json", "--today", TODAY))
    assert as_json["story"]["match"] == "page"
    assert as_json["ticket"]["key"] == key
    unknown = site.cli("explain", "NOPE-404")
    assert unknown.exit_code == 2
    assert "NOPE-404" in unknown.output


# -- 15, 16. the tickets people open -----------------------------------------------------------


def test_remote_link_names_the_postmortem_once(site: Site) -> None:
    """A page titled "Postmortem: ..." gets a link titled as the page; another page's
    title is prefixed with "Postmortem: " once."""
    site.sync()
    kafka = site.ticket_of(KAFKA, "Set max.poll.interval.ms")
    orders = site.ticket_of(ORDERS_DB, "Route order-history reads")
    [link] = site.get(f"/rest/api/2/issue/{kafka}/remotelink")
    assert (
        link["object"]["title"] == "Postmortem: notification backlog after Kafka broker replacement"
    )
    [other] = site.get(f"/rest/api/2/issue/{orders}/remotelink")
    assert other["object"]["title"] == (
        "Postmortem: 2026-10-07 orders-db replica lag served stale order history"
    )


def test_description_follows_the_summary(site: Site) -> None:
    """When an item's text changes on the page, the ticket's summary and the first
    paragraph of its description follow; a first paragraph a person rewrote in Jira is
    kept (and the report says the description was left as it is)."""
    site.sync()
    key = site.ticket_of(ORDERS_DB, "Route order-history reads")
    site.edit_page(ORDERS_DB, "while replica lag is above 10", "while replica lag is over 10")
    site.sync()
    fields = site.get(f"/rest/api/2/issue/{key}", fields="summary,description")["fields"]
    new = "Route order-history reads to the primary while replica lag is over 10 s"
    assert fields["summary"] == new
    assert fields["description"].startswith(new + "\n\n")
    assert "Action item from the postmortem" in fields["description"]

    site.put(f"/rest/api/2/issue/{key}", {"fields": {"description": "My own words.\n\nMore."}})
    site.edit_page(ORDERS_DB, "while replica lag is over 10", "when replica lag exceeds 10")
    data = _json(site.sync("--format", "json"))
    [kept] = [a for a in data["actions"] if a["field"] == "description"]
    assert kept["outcome"] == "skipped"
    assert "description left as it is" in kept["error"]
    assert not [a for a in data["actions"] if a["outcome"] == "failed"]
    fields = site.get(f"/rest/api/2/issue/{key}", fields="summary,description")["fields"]
    assert fields["summary"].endswith("when replica lag exceeds 10 s")
    assert fields["description"] == "My own words.\n\nMore."
