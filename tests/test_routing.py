"""Routing: follow-ups land in each team's project with its issue type, components,
labels, custom fields and priority, linked to their incident; bad rules stop `sync`
and `doctor` with exit 2 before any write; a changed rule moves nothing and creates
nothing, and says so (`routed-elsewhere`).

The end-to-end tests run the real sync (settings, adapters over HTTP, engine) against
the sandbox on both flavors and read the result back from Jira, as a person would.
The rules' pure parts (matching, the priority table, the checks against create
metadata) are tested table-driven first.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_support import reset_server
from typer.testing import CliRunner

from followup.cli import app
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.model import ActionItem, FindingCode, Page
from followup.core.routing import CreateField, Route, Routing, Rule, check_route
from followup.errors import ConfigError
from followup.sandbox import control
from followup.sandbox.seed import (
    DEMO_ADMIN,
    DEMO_TODAY,
    PAGE_CARD_AUTH,
    PAGE_ORDERS_DB,
    PAGE_TLS,
    demo_dataset,
)
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings
from followup.sync.engine import RunResult

# -- pure: matching, priorities, create-metadata checks -----------------------------------


def _page(
    space: str = "SRE", labels: tuple[str, ...] = (), ancestors: tuple[str, ...] = ()
) -> Page:
    return Page("1", "A postmortem", space, 1, "", labels=labels, ancestors=ancestors)


def _item(team: str | None = None, priority: str | None = None) -> ActionItem:
    return ActionItem(
        "1:task:1", "1", "Do it", None, None, False, None, "task", team=team, priority=priority
    )


ROUTING = Routing(
    default=Route("OPS", "Task"),
    rules=(
        Rule(Route("SEC", "Task", rule=1), label="security"),
        Rule(Route("PAY", "Story", rule=2), space="pay", team="payments"),
        Rule(Route("PAY", "Task", rule=3), space="PAY"),
        Rule(Route("DB", "Task", rule=4), ancestor="Database postmortems"),
    ),
    priority_map=(("P1", "Highest"), ("Sev-2", "High")),
    due_days={"Highest": 28},
    allowed_priorities={"OPS": frozenset({"Highest", "High", "Medium", "Low"})},
)


@pytest.mark.parametrize(
    ("page", "item", "project", "rule"),
    [
        (_page(), _item(), "OPS", None),
        (_page("PAY", labels=("Security",)), _item(), "SEC", 1),  # first match wins
        (_page("PAY"), _item(team=" Payments "), "PAY", 2),  # every matcher must match
        (_page("PAY"), _item(team="Risk"), "PAY", 3),
        (_page("SRE"), _item(team="Payments"), "OPS", None),
        (_page(ancestors=("Home", "database  POSTMORTEMS")), _item(), "DB", 4),
    ],
)
def test_the_first_matching_rule_routes(
    page: Page, item: ActionItem, project: str, rule: int | None
) -> None:
    route = ROUTING.route(page, item)
    assert (route.project, route.rule) == (project, rule)


@pytest.mark.parametrize(
    ("word", "project", "name", "unmapped"),
    [
        ("P1", "OPS", "Highest", False),
        ("sev 2", "OPS", "High", False),  # spacing and dashes do not matter
        ("medium", "OPS", "Medium", False),  # already a priority of the project
        ("P0", "OPS", None, True),  # neither: a finding, and Jira's default
        ("P0", "PAY", "P0", False),  # PAY's priorities were not read: sent as written
        (None, "OPS", None, False),
    ],
)
def test_priority_words_map_to_jira_priorities(
    word: str | None, project: str, name: str | None, unmapped: bool
) -> None:
    choice = ROUTING.priority(word, project)
    assert (choice.name, choice.unmapped) == (name, unmapped)
    assert ROUTING.due_days_for("highest") == 28
    assert ROUTING.due_days_for("High") is None


SCREEN = [
    CreateField("summary", "Summary", required=True),
    CreateField("labels", "Labels", type="array", items="string"),
    CreateField("components", "Components", type="array", items="component", allowed=("api",)),
    CreateField("priority", "Priority", has_default=True, type="priority", allowed=("High",)),
    CreateField("customfield_1", "Source"),
    CreateField("customfield_2", "Risk", required=True, type="option", allowed=("Low", "High")),
]


@pytest.mark.parametrize(
    ("route", "problems", "fields"),
    [
        (
            Route("X", "Task", ("api",), fields=(("Risk", "high"), ("Source", "pm"))),
            [],
            (("customfield_2", {"value": "High"}), ("customfield_1", "pm")),
        ),
        (
            Route("X", "Task", ("web",), fields=(("customfield_2", "Low"),)),
            [("components", "has no component 'web' (it has: api)")],
            (("customfield_2", {"value": "Low"}),),
        ),
        (
            Route("X", "Task"),
            [("Risk (customfield_2)", "is required and the route gives no value")],
            (),
        ),
        (
            Route("X", "Task", fields=(("Risk", "Extreme"), ("Team", "x"))),
            [
                ("Risk (customfield_2)", "has no value 'Extreme' (it takes: Low, High)"),
                ("Team", "is not a field of this create screen"),
                ("Risk (customfield_2)", "is required and the route gives no value"),
            ],
            (),
        ),
    ],
)
def test_a_route_is_checked_against_the_create_screen(
    route: Route, problems: list[tuple[str, str]], fields: tuple[tuple[str, Any], ...]
) -> None:
    found, resolved = check_route(route, SCREEN)
    assert found == problems
    assert resolved == fields
    found, _ = check_route(
        Route("X", "Task", fields=(("Risk", "Low"),)), SCREEN, priorities=["Urgent"]
    )
    assert found == [("priority", "has no priority 'Urgent' (it has: High)")]


# -- end to end, both flavors ---------------------------------------------------------------

RULES = [
    {
        "label": "security",
        "project": "SEC",
        "components": ["certificates"],
        "fields": {"Risk rating": "High"},
    },
    {
        "space": "PAY",
        "project": "PAY",
        "issue_type": "Story",
        "components": ["payments-api"],
        "labels": ["postmortem"],
        "fields": {"Source": "postmortem", "customfield_10051": "Payments"},
    },
]


@pytest.fixture(params=["cloud", "datacenter"])
def server(
    request: pytest.FixtureRequest,
    sandbox_server: RunningSandbox,
) -> RunningSandbox:
    chosen: RunningSandbox = (
        sandbox_server if request.param == "cloud" else request.getfixturevalue("dc_sandbox_server")
    )
    reset_server(chosen)
    return chosen


def _env(server: RunningSandbox, rules: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    env = control.env_for(server.state, server.url)
    env["FOLLOWUP_ROUTING"] = json.dumps(rules)
    env["FOLLOWUP_PRIORITIES__MAP"] = json.dumps({"P1": "Highest"})
    env["FOLLOWUP_PRIORITIES__DUE_DAYS"] = json.dumps({"Highest": 28})
    env["FOLLOWUP_INCIDENT__LINK_TYPE"] = "Relates"
    env["FOLLOWUP_INCIDENT__PROJECTS"] = "INC"
    env.update(extra)
    return env


def _sync(env: dict[str, str]) -> RunResult:
    settings = load_settings(None, env=env)
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        return build_engine(settings, adapters.jira, adapters.confluence).run(
            today=DEMO_TODAY, dry_run=False
        )
    finally:
        adapters.close()


def _get(server: RunningSandbox, path: str, **params: Any) -> Any:
    r = requests.get(
        f"{server.url}{path}",
        params=params,
        auth=(DEMO_ADMIN.email, DEMO_ADMIN.token or ""),
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


def _send(server: RunningSandbox, method: str, path: str, body: Any) -> None:
    r = requests.request(
        method,
        f"{server.url}{path}",
        json=body,
        auth=(DEMO_ADMIN.email, DEMO_ADMIN.token or ""),
        timeout=10,
    )
    r.raise_for_status()


def _edit_page(server: RunningSandbox, page_id: str, old: str, new: str) -> None:
    page = _get(server, f"/wiki/rest/api/content/{page_id}", expand="body.storage,version")
    body = page["body"]["storage"]["value"]
    assert old in body
    _send(
        server,
        "PUT",
        f"/wiki/rest/api/content/{page_id}",
        {
            "id": page_id,
            "type": "page",
            "title": page["title"],
            "version": {"number": page["version"]["number"] + 1},
            "body": {"storage": {"value": body.replace(old, new, 1), "representation": "storage"}},
        },
    )


def _tickets(server: RunningSandbox) -> dict[str, dict[str, Any]]:
    """Every managed ticket by its item's text start, with all fields."""
    dc = server.state.flavor == "datacenter"
    data = _get(
        server,
        "/rest/api/2/search" if dc else "/rest/api/3/search/jql",
        jql='labels = "followup" ORDER BY key ASC',
        fields="*all",
        properties="followup",
        maxResults=100,
    )
    return {i["key"]: i for i in data["issues"]}


def _by_page(tickets: dict[str, dict[str, Any]], page_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in tickets.values()
        if (t.get("properties") or {}).get("followup", {}).get("page") == page_id
    ]


def test_follow_ups_land_in_each_teams_project_with_its_fields(server: RunningSandbox) -> None:
    """Pages in two spaces and a labelled page land in three projects, with the rule's
    issue type, components, labels, custom fields and priority; a P1 without a due date
    is due four weeks after the postmortem; the orders-db follow-ups link to INC-2264;
    a second run changes nothing."""
    _send(
        server,
        "POST",
        f"/wiki/rest/api/content/{PAGE_TLS}/label",
        [{"prefix": "global", "name": "security"}],
    )
    p1_row = "Add an issuer-timeout scenario to the quarterly game day"
    _edit_page(server, PAGE_CARD_AUTH, "<p>Low</p>", "<p>P1</p>")
    before = server.stats.snapshot()["writes"]

    first = _sync(_env(server, RULES))
    assert not first.failed, first.failures
    assert server.stats.snapshot()["writes"] > before
    tickets = _tickets(server)

    ops = _by_page(tickets, PAGE_ORDERS_DB)
    assert ops
    assert all(t["key"].startswith("OPS-") for t in ops)
    assert {t["fields"]["issuetype"]["name"] for t in ops} == {"Task"}
    # every follow-up of the orders-db page links to the incident its header names
    for t in ops:
        links = {
            (ln["type"]["name"], (ln.get("inwardIssue") or ln.get("outwardIssue"))["key"])
            for ln in t["fields"]["issuelinks"]
        }
        assert ("Relates", "INC-2264") in links, t["key"]

    sec = _by_page(tickets, PAGE_TLS)
    assert sec
    assert all(t["key"].startswith("SEC-") for t in sec)
    for t in sec:
        assert [c["name"] for c in t["fields"]["components"]] == ["certificates"]
        assert t["fields"]["customfield_10060"]["value"] == "High"

    pay = _by_page(tickets, PAGE_CARD_AUTH)
    assert len(pay) == 5
    assert all(t["key"].startswith("PAY-") for t in pay)
    for t in pay:
        f = t["fields"]
        assert f["issuetype"]["name"] == "Story"
        assert [c["name"] for c in f["components"]] == ["payments-api"]
        assert {"followup", f"followup-{PAGE_CARD_AUTH}", "postmortem"} <= set(f["labels"])
        assert f["customfield_10050"] == "postmortem"
        assert f["customfield_10051"]["value"] == "Payments"
        assert not f["issuelinks"]  # its page names no incident in a header table
    by_summary = {t["fields"]["summary"]: t["fields"] for t in pay}
    assert by_summary[p1_row]["priority"]["name"] == "Highest"
    created = next(p.created for p in demo_dataset().pages if p.id == PAGE_CARD_AUTH)
    assert by_summary[p1_row]["duedate"] == (created.date() + timedelta(days=28)).isoformat()
    assert {f["priority"]["name"] for s, f in by_summary.items() if s != p1_row} == {
        "High",
        "Medium",
    }

    writes = server.stats.snapshot()["writes"]
    again = _sync(_env(server, RULES))
    assert again.actions == [], [a.to_json() for a in again.actions]
    assert server.stats.snapshot()["writes"] == writes


def test_a_changed_rule_moves_nothing_and_reports_routed_elsewhere(server: RunningSandbox) -> None:
    """After a sync, the rule sending the PAY space to PAY is replaced by one that no
    longer matches its pages (PAY stays one of followup's projects): the Payments
    tickets stay in PAY, no ticket is created for their items in OPS, and each gets a
    routed-elsewhere finding."""
    assert not _sync(_env(server, RULES[1:])).failed
    tickets = _tickets(server)
    in_pay = {k for k in tickets if k.startswith("PAY-")}
    assert len(in_pay) == 10  # the two postmortems of the PAY space
    result = _sync(_env(server, [{"team": "Payments", "project": "PAY"}]))
    assert result.counts()["create"] == 0
    assert _tickets(server).keys() == tickets.keys()
    elsewhere = [f for f in result.findings if f.code is FindingCode.ROUTED_ELSEWHERE]
    assert {f.ticket for f in elsewhere} == in_pay
    assert "the default route ([jira] project OPS)" in elsewhere[0].message
    assert "Move → OPS" in elsewhere[0].message


def test_an_unmapped_priority_is_a_finding_not_a_failed_create(server: RunningSandbox) -> None:
    _edit_page(server, PAGE_CARD_AUTH, "<p>Low</p>", "<p>P0</p>")
    result = _sync(_env(server, RULES[1:]))
    assert not result.failed, result.failures
    unmapped = [f for f in result.findings if f.code is FindingCode.UNMAPPED_PRIORITY]
    assert len(unmapped) == 1
    assert "'P0'" in unmapped[0].message
    pay = _by_page(_tickets(server), PAGE_CARD_AUTH)
    assert len(pay) == 5  # created all the same, with Jira's default priority


BAD_RULES = [
    (
        {"space": "PAY", "project": "NOPE"},
        "[[routing]] rule 1 (project NOPE): project NOPE does not exist",
    ),
    (
        {"space": "PAY", "project": "PAY", "components": ["payments-web"]},
        "[[routing]] rule 1 (project PAY): components has no component 'payments-web'",
    ),
    (
        {"label": "postmortem", "project": "SEC"},
        "[[routing]] rule 1 (project SEC): Risk rating (customfield_10060) is required",
    ),
]


@pytest.mark.parametrize(
    ("rule", "message"), BAD_RULES, ids=["project", "component", "required-field"]
)
def test_a_bad_rule_stops_doctor_and_sync_with_exit_2_before_any_write(
    server: RunningSandbox, rule: dict[str, Any], message: str
) -> None:
    env = _env(server, [rule])
    runner = CliRunner()
    doctor = runner.invoke(app, ["doctor"], env=env)
    assert doctor.exit_code == 2, doctor.output
    assert message in " ".join(doctor.output.split())
    # (on Data Center the doctor's own probe writes a content property and deletes it)
    before = server.stats.snapshot()["writes"]
    sync = runner.invoke(app, ["sync", "--today", DEMO_TODAY.isoformat()], env=env)
    assert sync.exit_code == 2, sync.output
    assert message in " ".join(sync.output.split())
    assert "Traceback" not in sync.output
    assert server.stats.snapshot()["writes"] == before
    assert _tickets(server) == {}


def test_the_routing_check_reads_create_metadata_once_per_project_and_type(
    sandbox_server: RunningSandbox,
) -> None:
    """The checks cost one request per project and one per project and issue type,
    the same on every run; a good configuration passes them."""
    reset_server(sandbox_server)
    settings = load_settings(None, env=_env(sandbox_server, RULES))
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        from followup.commands.sync import checked_routing

        routing = checked_routing(settings, adapters.jira)
    finally:
        adapters.close()
    assert routing is not None
    assert routing.allowed_priorities["PAY"] >= {"Highest", "High", "Medium"}
    pay = routing.rules[1].route
    assert dict(pay.fields) == {
        "customfield_10050": "postmortem",
        "customfield_10051": {"value": "Payments"},
    }
    by_route = sandbox_server.stats.snapshot()["by_route"]
    types = by_route["GET /rest/api/2/issue/createmeta/{projectIdOrKey}/issuetypes"]
    fields = by_route["GET /rest/api/2/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}"]
    assert (types, fields) == (3, 3)  # OPS, SEC, PAY; and OPS/Task, SEC/Task, PAY/Story


def test_routing_settings_are_checked_when_loaded() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"FOLLOWUP_ROUTING": json.dumps([{"project": "PAY"}])})
    assert (
        "FOLLOWUP_ROUTING / [[routing]] rule 1: a rule needs at least one of space"
        in caught.value.message
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None, env={"FOLLOWUP_ROUTING": json.dumps([{"space": "PAY", "project": "pay x"}])}
        )
    assert "[[routing]] rule 1 project: is not a Jira project key" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"FOLLOWUP_INCIDENT__LINK_TYPE": "Relates"})
    assert "link_type needs projects" in caught.value.message


def test_created_dates_are_the_seeds() -> None:
    """The due date above is counted from the page's creation, as the seed sets it."""
    created = next(p.created for p in demo_dataset().pages if p.id == PAGE_CARD_AUTH)
    assert created == datetime(2026, 10, 23, 10, 0, tzinfo=UTC)
    assert created.date() + timedelta(days=28) == date(2026, 11, 20)


def test_reports_show_each_tickets_project_and_group_by_project(
    sandbox_server: RunningSandbox, tmp_path: Path
) -> None:
    """A dry run's report names the project each ticket would be created in; after a
    run, the health report groups the items by their tickets' projects."""
    from followup.reports.sync import to_html, to_json, to_markdown

    reset_server(sandbox_server)
    env = _env(sandbox_server, RULES[1:])
    settings = load_settings(None, env=env)
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        planned = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=DEMO_TODAY, dry_run=True
        )
    finally:
        adapters.close()
    creates = [a for a in to_json(planned)["actions"] if a["op"] == "create"]
    projects = {a["page"]: a["project"] for a in creates}
    assert projects[PAGE_CARD_AUTH] == "PAY"
    assert projects[PAGE_ORDERS_DB] == "OPS"
    assert "| op | page | item | project | ticket |" in to_markdown(planned)
    assert "ticket would be created in PAY" in to_html(planned)

    assert not _sync(env).failed
    out = tmp_path / "health.json"
    args = ["report", "--today", DEMO_TODAY.isoformat(), "--output", str(out)]
    report = CliRunner().invoke(app, [*args, "--format", "json"], env=env)
    assert report.exit_code == 0, report.output
    by_project = {g["label"]: g for g in json.loads(out.read_text())["by_project"]}
    assert set(by_project) == {"OPS", "PAY"}
    assert by_project["PAY"]["total"] == 10
    report = CliRunner().invoke(app, [*args, "--format", "markdown"], env=env)
    assert report.exit_code == 0, report.output
    assert "By project" in out.read_text()


def test_rules_match_ancestors_read_with_the_page(server: RunningSandbox) -> None:
    """A rule on a parent page ("Postmortems", the SRE space's index) routes every
    postmortem under it; the pages are read with their ancestors for it."""
    rules = [{"ancestor": "postmortems", "project": "SEC", "fields": {"Risk rating": "Low"}}]
    assert not _sync(_env(server, rules)).failed
    tickets = _tickets(server)
    # (OPS-1, linked on the page by hand, is adopted where it is)
    under = [t for t in _by_page(tickets, PAGE_ORDERS_DB) if t["key"] != "OPS-1"]
    assert len(under) == 4
    assert all(t["key"].startswith("SEC-") for t in under)
    assert all(t["fields"]["customfield_10060"]["value"] == "Low" for t in under)
    assert all(t["key"].startswith("OPS-") for t in _by_page(tickets, PAGE_CARD_AUTH))


def test_the_doctor_passes_good_rules(sandbox_server: RunningSandbox) -> None:
    reset_server(sandbox_server)
    result = CliRunner().invoke(app, ["doctor"], env=_env(sandbox_server, RULES))
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "routing:" in ln)
    assert line.startswith("[ok]")
    assert "2 rule(s) and the default route: OPS, PAY, SEC" in line


HEADER = (
    "<table><tbody><tr><th><p>Incident</p></th><th><p>{cell}</p></th></tr>"
    "<tr><td><p>Severity</p></td><td><p>SEV-2</p></td></tr></tbody></table>"
    "<h2>Action items</h2><table><tbody><tr><th>Action</th><th>Owner</th><th>Team</th></tr>"
    "<tr><td>Rotate the keys</td><td>Priya</td><td>Payments</td></tr></tbody></table>"
)
_MACRO = (
    '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">INC-7</ac:parameter>'
    "</ac:structured-macro>"
)


@pytest.mark.parametrize(
    ("cell", "incident"),
    [
        ("INC-2264", "INC-2264"),
        (_MACRO, "INC-7"),
        ('<a href="https://acme.atlassian.net/browse/INC-9">the outage</a>', "INC-9"),
        ("SEC-1", None),  # not an incident project: never linked
        ("see the channel", None),
    ],
)
def test_the_header_names_the_incident_and_a_team_column_is_read(
    cell: str, incident: str | None
) -> None:
    from followup.core.routing import IncidentLink
    from followup.core.storage_format import extract

    extraction = extract(HEADER.format(cell=cell), "1")
    routing = Routing(
        default=Route("OPS", "Task"), incident=IncidentLink("Relates", frozenset({"INC"}))
    )
    assert routing.incident_key(extraction.incident) == incident
    assert [i.team for i in extraction.items] == ["Payments"]
    assert Routing(default=Route("OPS", "Task")).incident_key(extraction.incident) is None


def test_follow_ups_can_be_made_the_incidents_children(server: RunningSandbox) -> None:
    """With `[incident] parent = true`, each new follow-up of the orders-db page is
    created under INC-2264 (an Epic), and is not linked besides; a rerun changes
    nothing."""
    env = _env(server, [], FOLLOWUP_INCIDENT__PARENT="true")
    del env["FOLLOWUP_INCIDENT__LINK_TYPE"]
    assert not _sync(env).failed
    created = [t for t in _by_page(_tickets(server), PAGE_ORDERS_DB) if t["key"] != "OPS-1"]
    assert len(created) == 4
    for t in created:
        assert t["fields"]["parent"]["key"] == "INC-2264"
        assert not t["fields"]["issuelinks"]
    assert _sync(env).actions == []


# -- the planner's routing decisions, on values ---------------------------------------------


def _plan(
    items: list[ActionItem],
    tickets: list[Any] | None = None,
    *,
    incident: str | None = "INC-7",
    linked: dict[str, Any] | None = None,
) -> Any:
    from followup.core.model import Extraction
    from followup.core.planner import plan_page
    from followup.core.policy import Policy, Scope
    from followup.core.routing import IncidentLink

    routing = Routing(
        default=Route("OPS", "Task"),
        rules=(Rule(Route("PAY", "Task", rule=1), space="PAY"),),
        incident=IncidentLink("Relates", frozenset({"INC"})),
        allowed_priorities={"PAY": frozenset({"High"})},
    )
    policy = Policy(routing=routing, scope=Scope(projects=frozenset({"OPS", "PAY"})))
    page = Page("7", "Postmortem", "PAY", 3, "", created=datetime(2026, 1, 5, tzinfo=UTC))
    extraction = Extraction("7", tuple(items), (), incident=incident)
    return plan_page(
        page,
        extraction,
        tickets or [],
        linked=linked or {},
        owners={},
        today=date(2026, 2, 1),
        policy=policy,
    )


def _ticket(key: str, item_key: str, origin: str = "created", **kw: Any) -> Any:
    from followup.core.model import SyncBase, Ticket, TicketProperty

    base = SyncBase(summary="Do it", assignee=None, due=None, done=False)
    return Ticket(
        key=key,
        id="1",
        summary="Do it",
        assignee=None,
        due=None,
        status="To Do",
        status_category="new",
        labels=("followup", "followup-7"),
        prop=TicketProperty(item=item_key, page="7", base=base, origin=origin),
        **kw,
    )


def _one(key: str = "7:task:1", **kw: Any) -> ActionItem:
    return ActionItem(key, "7", "Do it", None, None, False, None, "task", **kw)


def test_a_new_ticket_is_routed_linked_and_its_priority_word_judged() -> None:
    result = _plan([_one(priority="P9")])
    create = next(a for a in result.actions if a.op == "create")
    assert (create.data.project, create.data.issue_type) == ("PAY", "Task")
    assert create.data.priority is None  # unmapped: Jira's default
    links = [a for a in result.actions if a.op == "issue-link"]
    assert [(a.ticket, a.data.to, a.data.link_type) for a in links] == [(None, "INC-7", "Relates")]
    assert [f.code for f in result.findings] == [FindingCode.UNMAPPED_PRIORITY]


def test_an_existing_link_is_not_asked_for_again_and_a_foreign_incident_is_ignored() -> None:
    linked = _ticket("PAY-1", "7:task:1", links=frozenset({("relates", "INC-7")}))
    assert not [a for a in _plan([_one()], [linked]).actions if a.op == "issue-link"]
    unlinked = _ticket("PAY-1", "7:task:1")
    asked = [a for a in _plan([_one()], [unlinked]).actions if a.op == "issue-link"]
    assert [(a.ticket, a.data.to) for a in asked] == [("PAY-1", "INC-7")]
    assert not [
        a for a in _plan([_one()], [unlinked], incident="SEC-3").actions if a.op == "issue-link"
    ]


def test_routed_elsewhere_is_for_tickets_followup_created_only() -> None:
    moved = _plan([_one()], [_ticket("OPS-4", "7:task:1")])
    found = [f for f in moved.findings if f.code is FindingCode.ROUTED_ELSEWHERE]
    assert [(f.ticket, f.item) for f in found] == [("OPS-4", "7:task:1")]
    assert "[[routing]] rule 1 (project PAY)" in found[0].message
    assert not [a for a in moved.actions if a.op == "create"]
    adopted = _plan([_one()], [_ticket("OPS-4", "7:task:1", origin="adopted")])
    assert not [f for f in adopted.findings if f.code is FindingCode.ROUTED_ELSEWHERE]


def test_owners_are_resolved_where_the_pages_tickets_go() -> None:
    """An owner who may be assigned in PAY only is the assignee of a PAY ticket, and
    asked about in PAY (not in the default project)."""
    from followup.core.policy import Policy, Scope
    from followup.ports import JiraUser
    from followup.sync.engine import Engine, EngineConfig
    from followup.testing import FakeConfluence, FakeJira

    class PayOnly(FakeJira):
        def assignable_user(self, user_id: str, project: str) -> JiraUser | None:
            self.asked.append(project)
            return JiraUser(user_id, "Pat Payments") if project == "PAY" else None

    jira = PayOnly(users=[JiraUser("acc-pat", "Pat Payments")])
    jira.asked = []  # type: ignore[attr-defined]
    conf = FakeConfluence()
    body = (
        "<h2>Action items</h2><ac:task-list><ac:task><ac:task-id>1</ac:task-id>"
        "<ac:task-status>incomplete</ac:task-status><ac:task-body>Retry the webhook "
        '<ac:link><ri:user ri:account-id="acc-pat" /></ac:link></ac:task-body></ac:task>'
        "</ac:task-list>"
    )
    conf.add_page(Page("5", "Refunds", "PAY", 1, body, created=datetime(2026, 1, 1, tzinfo=UTC)))
    routing = Routing(
        default=Route("OPS", "Task"), rules=(Rule(Route("PAY", "Task", rule=1), space="PAY"),)
    )
    policy = Policy(routing=routing, scope=Scope(projects=frozenset({"OPS", "PAY"})))
    result = Engine(jira, conf, policy, EngineConfig()).run(today=date(2026, 2, 1), dry_run=False)
    assert not result.failed
    assert [(t.project, t.assignee) for t in jira.tickets.values()] == [("PAY", "acc-pat")]
    assert jira.asked == ["PAY"]  # type: ignore[attr-defined]
    assert not [f for f in result.findings if f.code is FindingCode.UNKNOWN_OWNER]


@pytest.mark.parametrize(
    ("meta", "value", "sent", "problem"),
    [
        (CreateField("customfield_1", "Source"), "pm", "pm", None),
        (CreateField("customfield_1", "Source"), True, None, "takes text (quote the value)"),
        (CreateField("customfield_2", "Points", type="number"), "3", 3.0, None),
        (CreateField("customfield_2", "Points", type="number"), "lots", None, "takes a number"),
        (CreateField("customfield_3", "Tags", type="array", items="string"), ["a"], ["a"], None),
        (
            CreateField("customfield_4", "Areas", type="array", items="option", allowed=("API",)),
            ["api"],
            [{"value": "API"}],
            None,
        ),
        (CreateField("customfield_5", "Due", type="date"), "2026-12-31", "2026-12-31", None),
        (CreateField("customfield_6", "Reviewer", type="user"), "priya", None, "is a user field"),
    ],
)
def test_a_fixed_field_value_takes_the_shape_its_field_takes(
    meta: CreateField, value: Any, sent: Any, problem: str | None
) -> None:
    from followup.core.routing import field_value

    got, why = field_value(meta, value)
    assert got == sent
    assert (why or "").startswith(problem or "")
    assert (why is None) == (problem is None)
