"""The real `jira` and `atlassian-python-api` clients, driven through the calls people's
own scripts make (the catalog, comments, changelogs, issue links, watchers; spaces, page
children, CQL search, comments and attachments), against the demo sandbox on both
flavors, every answer checked against Atlassian's OpenAPI documents as it arrives."""

from __future__ import annotations

from typing import Any

import pytest
from atlassian import ConfluenceServer
from jira import JIRA, JIRAError
from sandbox_support import OpenApiValidator, reset_server

from followup.sandbox.seed import (
    DEMO_ADMIN,
    PAGE_ORDERS_DB,
    PAGE_SRE_INDEX,
    PRIYA,
    SVEN,
)
from followup.sandbox.server import RunningSandbox

pytest_plugins = ["sandbox_support"]

SRE_POSTMORTEM_TITLES = {
    "2026-10-07 orders-db replica lag served stale order history",
    "Post-incident review: expired TLS certificate on the internal API gateway",
    "Postmortem: notification backlog after Kafka broker replacement",
}


@pytest.fixture(params=["cloud", "datacenter"])
def server(
    request: pytest.FixtureRequest,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
) -> RunningSandbox:
    running = sandbox_server if request.param == "cloud" else dc_sandbox_server
    reset_server(running)
    return running


def _jira(server: RunningSandbox, openapi: OpenApiValidator) -> JIRA:
    client = JIRA(
        server=server.url,
        basic_auth=(DEMO_ADMIN.email, DEMO_ADMIN.token or ""),
        max_retries=0,
    )
    openapi.attach(client._session)
    return client


def _confluence(server: RunningSandbox, openapi: OpenApiValidator) -> Any:
    client = ConfluenceServer(  # type: ignore[no-untyped-call]
        url=f"{server.url}/wiki",
        username=DEMO_ADMIN.email,
        password=DEMO_ADMIN.token,
        cloud=server.state.flavor == "cloud",
        backoff_and_retry=False,
    )
    openapi.attach(client.session)
    return client


def test_the_jira_client_reads_the_catalog_and_comments(
    server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """issue types, statuses, priorities and resolutions, each by id as an issue's fields
    point at them; a comment added and read back by id."""
    client = _jira(server, openapi)
    issue = client.issue("OPS-1")
    assert client.issue_type(issue.fields.issuetype.id).name == issue.fields.issuetype.name
    assert {t.name for t in client.issue_types()} >= {"Task", "Bug"}
    assert client.status(issue.fields.status.id).name == "In Progress"
    assert client.priority(issue.fields.priority.id).name == "High"
    assert [s.name for s in client.statuses()] == ["To Do", "In Progress", "Done"]
    assert client.resolution("10001").name == "Won't Do"
    with pytest.raises(JIRAError) as missing:
        client.issue_type("424242")
    assert missing.value.status_code == 404
    added = client.add_comment("OPS-1", "Dashboards are updated.")
    assert client.comment("OPS-1", added.id).body == "Dashboards are updated."
    assert [c.id for c in client.comments("OPS-1")] == [added.id]


def test_the_jira_client_reads_the_changelog_of_its_own_changes(
    server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """An assignment and a transition to Done made through the client are in the
    issue's changelog (expand=changelog), by the admin, with the right values."""
    client = _jira(server, openapi)
    client.assign_issue("OPS-5", PRIYA.account_id if server.state.flavor == "cloud" else PRIYA.name)
    client.transition_issue("OPS-5", "Done")
    histories = client.issue("OPS-5", expand="changelog").changelog.histories
    changes = [(i.field, i.fromString, i.toString) for h in histories for i in h.items]
    assert changes == [
        ("assignee", None, PRIYA.display_name),
        ("resolution", None, "Done"),
        ("status", "To Do", "Done"),
    ]
    assert {h.author.displayName for h in histories} == {DEMO_ADMIN.display_name}


def test_the_jira_client_links_issues_and_manages_watchers(
    server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """create_issue_link / issue_link / delete_issue_link, and watchers / add_watcher /
    remove_watcher, as the client calls them on each flavor."""
    client = _jira(server, openapi)
    assert [t.name for t in client.issue_link_types()] == [
        "Blocks",
        "Cloners",
        "Duplicate",
        "Relates",
    ]
    client.create_issue_link("Relates", "OPS-1", "OPS-4")
    (link,) = client.issue("OPS-4").fields.issuelinks
    assert link.outwardIssue.key == "OPS-1"
    assert client.issue_link(link.id).type.name == "Relates"
    client.delete_issue_link(link.id)
    assert client.issue("OPS-1").fields.issuelinks == []
    client.add_watcher("OPS-4", SVEN.display_name)
    watching = [w.displayName for w in client.watchers("OPS-4").watchers]
    assert SVEN.display_name in watching
    client.remove_watcher("OPS-4", SVEN.display_name)
    assert SVEN.display_name not in [w.displayName for w in client.watchers("OPS-4").watchers]


def test_atlassian_python_api_reads_spaces_page_children_and_searches(
    server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """get_all_spaces, get_space, get_page_child_by_type, get_child_title_list and cql()
    (the generic search) answer as on a real site of the flavor."""
    client = _confluence(server, openapi)
    spaces = client.get_all_spaces()
    assert [s["key"] for s in spaces["results"]] == ["PAY", "SRE"]
    assert client.get_space("SRE")["name"] == "Site Reliability"
    children = client.get_page_child_by_type(PAGE_SRE_INDEX, type="page", start=0, limit=25)
    assert {page["title"] for page in children} == SRE_POSTMORTEM_TITLES
    titles = client.get_child_title_list(PAGE_SRE_INDEX, start=0, limit=25)
    assert set(titles) == SRE_POSTMORTEM_TITLES
    found = client.cql('type = page AND label = "postmortem"', limit=10)
    assert (found["totalSize"], found["size"]) == (6, 6)
    assert found["cqlQuery"] == 'type = page AND label = "postmortem"'
    assert {r["content"]["id"] for r in found["results"]} >= {PAGE_ORDERS_DB}


def test_atlassian_python_api_reads_a_pages_empty_comments_and_attachments(
    server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """get_page_comments and get_attachments_from_content of an existing page are empty
    lists, not an error; the page's web address is the flavor's."""
    client = _confluence(server, openapi)
    assert client.get_page_comments(PAGE_ORDERS_DB)["results"] == []
    assert client.get_attachments_from_content(PAGE_ORDERS_DB)["results"] == []
    webui = client.get_page_by_id(PAGE_ORDERS_DB)["_links"]["webui"]
    expected = "/spaces/" if server.state.flavor == "cloud" else "/display/SRE/"
    assert webui.startswith(expected)
