"""The sandbox's Jira API, driven over real HTTP by the real `jira` client (and plain
`requests` where a shape or status is the point), every JSON answer checked against
Atlassian's OpenAPI document as it arrives."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError
from sandbox_support import (
    ADMIN,
    ALICE,
    BOB,
    GONE,
    READER,
    JiraSite,
    OpenApiValidator,
    require_specs,
)

from followup.sandbox.jira.formats import adf_to_text, text_to_adf
from followup.sandbox.jira.search import SEARCH_REMOVED_MESSAGE

pytest_plugins = ["sandbox_support"]

TASK = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}}


def _fields(**extra: Any) -> dict[str, Any]:
    return {**TASK, "summary": "Add a dashboard", **extra}


def _create(site: JiraSite, version: int = 3, **fields: Any) -> requests.Response:
    return site.session().post(f"{site.url}/rest/api/{version}/issue", json={"fields": fields})


# -- the spec documents -----------------------------------------------------------------


def test_answers_are_checked_against_the_openapi_document(
    jira_site: JiraSite, openapi: OpenApiValidator
) -> None:
    """The Jira document is present (skipped without it, a failure on CI) and the
    validator rejects an answer that breaks it."""
    require_specs()
    jira_site.session().get(f"{jira_site.url}/rest/api/3/myself")
    assert openapi.checked["GET /rest/api/3/myself"] >= 1
    bad = requests.Response()
    bad.status_code = 200
    bad._content = b'{"issues": [], "isLast": true, "total": 0}'
    bad.headers["content-type"] = "application/json"
    bad.url = f"{jira_site.url}/rest/api/3/search/jql"
    bad.request = requests.Request("GET", bad.url).prepare()
    with pytest.raises(AssertionError, match="total"):
        openapi.check(bad)


# -- site, users, projects --------------------------------------------------------------


def test_the_jira_client_connects_and_sees_a_cloud_site(jira_site: JiraSite) -> None:
    """`JIRA(...)` reads serverInfo on construction; the sandbox says Cloud."""
    client = jira_site.jira()
    assert client.deploymentType == "Cloud"
    assert client.myself()["accountId"] == ADMIN.account_id
    fields = {f["id"]: f for f in client.fields()}
    assert {"summary", "duedate", "labels", "assignee", "resolutiondate"} <= set(fields)
    assert "due" in fields["duedate"]["clauseNames"]


def test_server_info_is_readable_anonymously_but_wrong_credentials_are_a_401(
    jira_site: JiraSite,
) -> None:
    """Like Jira Cloud: no credentials may read serverInfo; wrong ones may read nothing."""
    assert requests.get(f"{jira_site.url}/rest/api/2/serverInfo", timeout=5).status_code == 200
    with pytest.raises(JIRAError) as caught:
        JIRA(server=jira_site.url, basic_auth=(ADMIN.email, "wrong"), max_retries=0)
    assert caught.value.status_code == 401
    anonymous = requests.get(f"{jira_site.url}/rest/api/3/myself", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "errorMessages": [
            "You are not authenticated. Authentication required to perform this operation."
        ],
        "errors": {},
    }


def test_a_personal_access_token_works_on_data_center_only(
    jira_site: JiraSite, dc_jira_site: JiraSite
) -> None:
    """Data Center takes a personal access token as `Authorization: Bearer`; Cloud
    refuses an API token sent that way; an inactive user's token is refused."""

    def myself(site: JiraSite, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.get(f"{site.url}/rest/api/2/myself", headers=headers, timeout=5).status_code

    assert myself(dc_jira_site, ADMIN.token or "") == 200
    assert myself(dc_jira_site, "wrong") == 401
    assert myself(dc_jira_site, GONE.token or "") == 401
    assert myself(jira_site, ADMIN.token or "") == 401


def test_users_who_cannot_log_in_get_a_401_and_read_only_users_a_403_on_writes(
    jira_site: JiraSite,
) -> None:
    """An inactive user is refused; a read-only user may read and search but not write."""
    assert jira_site.session(GONE).get(f"{jira_site.url}/rest/api/3/myself").status_code == 401
    reader = jira_site.session(READER)
    assert reader.get(f"{jira_site.url}/rest/api/3/issue/OPS-1").status_code == 200
    search = reader.post(
        f"{jira_site.url}/rest/api/3/search/jql", json={"jql": "project = OPS", "fields": ["id"]}
    )
    assert search.status_code == 200
    refused = reader.post(f"{jira_site.url}/rest/api/3/issue", json={"fields": _fields()})
    assert refused.status_code == 403
    assert refused.json()["errorMessages"]
    assert jira_site.stats()["writes"] == 0


def test_project_with_issue_types_and_a_404_in_jiras_shape(jira_site: JiraSite) -> None:
    """GET project/{key} lists the project's issue types; an unknown key is a 404 body."""
    project = jira_site.jira().project("OPS")
    assert [t.name for t in project.issueTypes] == ["Task", "Bug"]
    assert project.lead.accountId == ADMIN.account_id
    missing = jira_site.session().get(f"{jira_site.url}/rest/api/3/project/NOPE")
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessages": ["No project could be found with key 'NOPE'."],
        "errors": {},
    }


def test_create_metadata_in_both_forms(jira_site: JiraSite) -> None:
    """The old createmeta (with field metadata) and the per-project issue type pages."""
    meta = jira_site.jira().createmeta(projectKeys="OPS", expand="projects.issuetypes.fields")
    (project,) = meta["projects"]
    task = next(t for t in project["issuetypes"] if t["name"] == "Task")
    assert task["fields"]["summary"]["required"] is True
    assert {"duedate", "labels", "assignee"} <= set(task["fields"])
    session = jira_site.session()
    types = session.get(f"{jira_site.url}/rest/api/3/issue/createmeta/OPS/issuetypes").json()
    assert [t["name"] for t in types["issueTypes"]] == ["Task", "Bug"]
    fields = session.get(
        f"{jira_site.url}/rest/api/3/issue/createmeta/OPS/issuetypes/{task['id']}"
    ).json()
    assert "summary" in {f["fieldId"] for f in fields["fields"]}


def test_user_search_and_lookup_by_account_id(jira_site: JiraSite) -> None:
    """Cloud finds users by display-name word or email prefix and reads them by accountId."""
    client = jira_site.jira()
    assert [u.accountId for u in client.search_users(query="alice@")] == [ALICE.account_id]
    assert [u.displayName for u in client.search_users(query="build")] == [BOB.display_name]
    assert client.user(BOB.account_id).displayName == BOB.display_name
    session = jira_site.session()
    assignable = session.get(
        f"{jira_site.url}/rest/api/3/user/assignable/search",
        params={"project": "OPS", "query": "gus"},
    )
    assert assignable.json() == []  # inactive users cannot be assigned
    by_name = session.get(f"{jira_site.url}/rest/api/3/user/search", params={"username": "bob"})
    assert by_name.status_code == 400  # GDPR strict mode: no usernames on Cloud
    missing = session.get(f"{jira_site.url}/rest/api/3/user", params={"accountId": "nope"})
    assert missing.status_code == 404


# -- creating ---------------------------------------------------------------------------


def test_create_issue_with_the_jira_client(jira_site: JiraSite) -> None:
    """A created issue starts in To Do, keys continue per project, and the caller reports it."""
    client = jira_site.jira()
    issue = client.create_issue(
        fields=_fields(
            assignee={"accountId": ALICE.account_id},
            duedate="2024-07-01",
            labels=["followup", "followup-1001"],
            description="Line one\n\nLine two",
        )
    )
    assert issue.key == "OPS-4"
    assert issue.fields.status.name == "To Do"
    assert issue.fields.status.statusCategory.key == "new"
    assert issue.raw["fields"]["assignee"]["accountId"] == ALICE.account_id
    assert issue.fields.reporter.accountId == ADMIN.account_id
    assert issue.fields.duedate == "2024-07-01"
    assert issue.fields.labels == ["followup", "followup-1001"]
    assert issue.fields.priority.name == "Medium"
    assert issue.fields.resolution is None
    assert issue.fields.description == "Line one\n\nLine two"
    assert client.create_issue(fields={**_fields(), "project": {"key": "SEC"}}).key == "SEC-2"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({**TASK}, "summary", "You must specify a summary of the issue."),
        (_fields(summary="x" * 256), "summary", "Summary must be less than 255 characters."),
        (_fields(summary="a\nb"), "summary", "contains newline characters"),
        (_fields(duedate="01/07/2024"), "duedate", "Error parsing date string: 01/07/2024"),
        (_fields(duedate="2024-02-30"), "duedate", "Error parsing date string"),
        (_fields(labels=["has space"]), "labels", "contains spaces which is invalid"),
        (_fields(assignee={"accountId": "557058:nobody"}), "assignee", "does not exist"),
        (_fields(assignee={"accountId": GONE.account_id}), "assignee", "cannot be assigned"),
        (_fields(assignee={"name": "alice"}), "assignee", "accountId"),
        (_fields(priority={"name": "Urgent"}), "priority", "The priority selected is invalid."),
        (_fields(issuetype={"name": "Epic"}), "issuetype", "The issue type selected is invalid."),
        (_fields(project={"key": "NOPE"}), "project", "Specify a valid project ID or key"),
        (_fields(description="plain text"), "description", "Atlassian Document"),
        (_fields(customfield_10020=1), "customfield_10020", "cannot be set"),
        (_fields(status={"name": "Done"}), "status", "cannot be set"),
    ],
)
def test_invalid_creates_are_a_400_naming_the_field(
    jira_site: JiraSite, fields: dict[str, Any], field: str, message: str
) -> None:
    """Jira answers a bad field with `errors: {field: message}` and creates nothing."""
    response = _create(jira_site, 3, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["errorMessages"] == []
    assert message in body["errors"][field]
    assert jira_site.stats()["writes"] == 0


def test_rich_text_is_a_string_on_v2_and_a_document_on_v3(jira_site: JiraSite) -> None:
    """The same description reads as ADF on v3 and as text on v2, whichever wrote it."""
    session = jira_site.session()
    doc = text_to_adf("First paragraph\n\nSecond")
    created = _create(jira_site, 3, **_fields(description=doc)).json()
    v2 = session.get(f"{jira_site.url}/rest/api/2/issue/{created['key']}").json()
    assert v2["fields"]["description"] == "First paragraph\n\nSecond"
    on_v2 = _create(jira_site, 2, **_fields(description="Plain")).json()
    v3 = session.get(f"{jira_site.url}/rest/api/3/issue/{on_v2['key']}").json()
    assert v3["fields"]["description"]["type"] == "doc"
    assert adf_to_text(v3["fields"]["description"]) == "Plain"
    assert _create(jira_site, 2, **_fields(description=doc)).status_code == 400


def test_create_sets_issue_properties_in_the_same_request(jira_site: JiraSite) -> None:
    """Top-level `properties` on create become issue entity properties."""
    body = {"fields": _fields(), "properties": [{"key": "followup", "value": {"item": "x"}}]}
    key = jira_site.session().post(f"{jira_site.url}/rest/api/3/issue", json=body).json()["key"]
    assert jira_site.jira().issue_property(key, "followup").value.item == "x"


def test_bulk_create_reports_the_failing_element_and_creates_the_rest(jira_site: JiraSite) -> None:
    """`create_issues` sees a 201 with the good issues and the bad element's errors."""
    results = jira_site.jira().create_issues(
        [_fields(summary="one"), _fields(summary="two", duedate="tomorrow"), _fields()]
    )
    assert [r["status"] for r in results] == ["Success", "Error", "Success"]
    assert results[1]["error"] == {"duedate": "Error parsing date string: tomorrow"}
    assert [r["issue"].key for r in results if r["issue"]] == ["OPS-4", "OPS-5"]
    assert jira_site.stats()["writes"] == 1


def test_bulk_create_with_every_element_failing_is_a_400_in_the_same_shape(
    jira_site: JiraSite,
) -> None:
    """All elements bad: 400, `issues` empty, one error per element, numbered from 0."""
    response = jira_site.session().post(
        f"{jira_site.url}/rest/api/2/issue/bulk",
        json={"issueUpdates": [{"fields": _fields(summary="")}, {"fields": {**TASK}}]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["issues"] == []
    assert [e["failedElementNumber"] for e in body["errors"]] == [0, 1]
    assert body["errors"][0]["status"] == 400
    assert "summary" in body["errors"][0]["elementErrors"]["errors"]
    client_view = jira_site.jira().create_issues([{**TASK, "summary": ""}])
    assert client_view[0]["status"] == "Error"


def test_bulk_create_refuses_more_than_fifty(jira_site: JiraSite) -> None:
    """More than 50 issue updates is a 400 and creates nothing."""
    updates = [{"fields": _fields(summary=f"n{i}")} for i in range(51)]
    response = jira_site.session().post(
        f"{jira_site.url}/rest/api/3/issue/bulk", json={"issueUpdates": updates}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["issues"] == []
    assert len(body["errors"]) == 51
    assert "at most 50" in body["errors"][50]["elementErrors"]["errorMessages"][0]
    assert jira_site.session().get(f"{jira_site.url}/rest/api/3/issue/OPS-4").status_code == 404


# -- reading and editing ----------------------------------------------------------------


def test_get_issue_with_fields_and_properties_and_a_404_body(jira_site: JiraSite) -> None:
    """`fields=` narrows the answer, `properties=` adds them; a missing issue is Jira's 404."""
    session = jira_site.session()
    issue = session.get(
        f"{jira_site.url}/rest/api/3/issue/ops-1",
        params={"fields": "summary,duedate", "properties": "followup"},
    ).json()
    assert issue["key"] == "OPS-1"
    assert set(issue["fields"]) == {"summary", "duedate"}
    assert issue["properties"] == {"followup": {"item": "1001:task:1", "page": "1001"}}
    missing = session.get(f"{jira_site.url}/rest/api/3/issue/OPS-99")
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        "errors": {},
    }


def test_edit_with_fields_and_label_operations(jira_site: JiraSite) -> None:
    """PUT issue sets fields and applies `update` operations; 204, and `updated` moves."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/issue/OPS-3"
    before = session.get(url).json()["fields"]
    response = session.put(
        url,
        json={
            "fields": {"summary": "Chore, renamed", "duedate": "2024-09-30"},
            "update": {"labels": [{"add": "followup"}, {"add": "followup-1001"}]},
        },
    )
    assert response.status_code == 204
    after = session.get(url).json()["fields"]
    assert after["summary"] == "Chore, renamed"
    assert after["duedate"] == "2024-09-30"
    assert after["labels"] == ["followup", "followup-1001"]
    assert after["updated"] > before["updated"]


def test_an_edit_that_changes_nothing_leaves_updated_alone(jira_site: JiraSite) -> None:
    """Setting the values an issue already has is not a change."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/issue/OPS-1"
    before = session.get(url).json()["fields"]
    session.put(url, json={"fields": {"summary": before["summary"], "duedate": "2024-06-01"}})
    assert session.get(url).json()["fields"]["updated"] == before["updated"]


def test_assignee_and_due_date_are_cleared_with_null(jira_site: JiraSite) -> None:
    """The jira client's `update(assignee=None, duedate=None)` unassigns and clears."""
    client = jira_site.jira()
    issue = client.issue("OPS-1")
    issue.update(fields={"assignee": None, "duedate": None})
    issue = client.issue("OPS-1")
    assert issue.fields.assignee is None
    assert issue.fields.duedate is None


def test_edits_of_fields_not_on_the_edit_screen_are_refused(jira_site: JiraSite) -> None:
    """Status and resolution change only through transitions."""
    response = jira_site.session().put(
        f"{jira_site.url}/rest/api/3/issue/OPS-1", json={"fields": {"resolution": {"name": "Done"}}}
    )
    assert response.status_code == 400
    assert "cannot be set" in response.json()["errors"]["resolution"]


def test_delete_issue(jira_site: JiraSite) -> None:
    """DELETE removes the issue; reading it afterwards is a 404."""
    session = jira_site.session()
    assert session.delete(f"{jira_site.url}/rest/api/3/issue/OPS-3").status_code == 204
    assert session.get(f"{jira_site.url}/rest/api/3/issue/OPS-3").status_code == 404


# -- transitions ------------------------------------------------------------------------


def test_transitions_to_done_set_a_resolution_and_reopening_clears_it(jira_site: JiraSite) -> None:
    """Done sets resolution Done and resolutiondate; back to To Do clears both."""
    client = jira_site.jira()
    available = {t["to"]["name"]: t for t in client.transitions("OPS-1")}
    assert set(available) == {"In Progress", "Done"}
    assert available["Done"]["to"]["statusCategory"]["key"] == "done"
    client.transition_issue("OPS-1", available["In Progress"]["id"])
    assert client.issue("OPS-1").fields.status.statusCategory.key == "indeterminate"
    client.transition_issue("OPS-1", available["Done"]["id"])
    done = client.issue("OPS-1").fields
    assert done.status.name == "Done"
    assert done.resolution is not None
    assert done.resolution.name == "Done"
    assert done.resolutiondate is not None
    reopen = next(t for t in client.transitions("OPS-1") if t["to"]["name"] == "To Do")
    assert reopen["name"] == "Reopen"
    client.transition_issue("OPS-1", reopen["id"])
    reopened = client.issue("OPS-1").fields
    assert reopened.resolution is None
    assert reopened.resolutiondate is None


def test_a_transition_can_choose_the_resolution(jira_site: JiraSite) -> None:
    """`fields.resolution` on the Done transition: e.g. Won't Do."""
    client = jira_site.jira()
    client.transition_issue("OPS-3", "31", fields={"resolution": {"name": "Won't Do"}})
    assert client.issue("OPS-3").raw["fields"]["resolution"]["name"] == "Won't Do"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"transition": {"id": "99"}}, "Transition id '99' is not valid for this issue."),
        ({}, "Missing 'transition' identifier"),
        ({"transition": {"id": "21"}, "fields": {"resolution": {"name": "Done"}}}, "cannot be set"),
        ({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Nah"}}}, "invalid"),
    ],
)
def test_invalid_transitions_are_a_400(
    jira_site: JiraSite, body: dict[str, Any], text: str
) -> None:
    """Unknown ids, no id, and fields that are not on the transition are refused."""
    response = jira_site.session().post(
        f"{jira_site.url}/rest/api/3/issue/OPS-1/transitions", json=body
    )
    assert response.status_code == 400
    answer = response.json()
    assert text in " ".join([*answer["errorMessages"], *answer["errors"].values()])


# -- remote links, properties, comments -------------------------------------------------


def test_remote_link_with_a_global_id_is_an_upsert_that_nulls_omitted_fields(
    jira_site: JiraSite,
) -> None:
    """First POST creates (201); the same globalId again updates the same link (200) and
    what the second request left out is gone."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/issue/OPS-1/remotelink"
    first = session.post(
        url,
        json={
            "globalId": "followup:1001:task:1",
            "relationship": "action item of",
            "application": {"name": "Confluence", "type": "com.atlassian.confluence"},
            "object": {"url": "http://wiki/1001", "title": "Postmortem", "summary": "s"},
        },
    )
    assert first.status_code == 201
    again = session.post(
        url,
        json={
            "globalId": "followup:1001:task:1",
            "object": {"url": "http://wiki/1001", "title": "PM"},
        },
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    (link,) = jira_site.jira().remote_links("OPS-1")
    assert link.raw["object"] == {"url": "http://wiki/1001", "title": "PM"}
    assert "relationship" not in link.raw
    assert link.raw["application"] == {}
    one = session.get(url, params={"globalId": "followup:1001:task:1"}).json()
    assert one["id"] == first.json()["id"]


def test_remote_links_without_a_global_id_always_add(jira_site: JiraSite) -> None:
    """The jira client's add_simple_link twice gives two links."""
    client = jira_site.jira()
    client.add_simple_link("OPS-2", {"url": "http://a", "title": "A"})
    client.add_simple_link("OPS-2", {"url": "http://a", "title": "A"})
    assert len(client.remote_links("OPS-2")) == 2


def test_a_remote_link_needs_url_and_title(jira_site: JiraSite) -> None:
    """A link object without url and title is a 400 naming both."""
    response = jira_site.session().post(
        f"{jira_site.url}/rest/api/3/issue/OPS-1/remotelink", json={"object": {}}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"url", "title"}


def test_issue_properties_create_update_list_and_404(jira_site: JiraSite) -> None:
    """PUT answers 201 then 200; GET reads the JSON back; an absent key is a 404."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/issue/OPS-2/properties/followup"
    assert session.get(url).status_code == 404
    assert session.put(url, json={"item": "a", "base": {"due": None}}).status_code == 201
    assert session.put(url, json={"item": "b"}).status_code == 200
    assert session.get(url).json() == {"key": "followup", "value": {"item": "b"}}
    keys = session.get(f"{jira_site.url}/rest/api/3/issue/OPS-2/properties").json()["keys"]
    assert [k["key"] for k in keys] == ["followup"]
    too_big = session.put(url, json={"blob": "x" * 40000})
    assert too_big.status_code == 400


def test_comments_are_text_on_v2_and_documents_on_v3(jira_site: JiraSite) -> None:
    """add_comment (v2, text) then read on v3 as ADF; a text body on v3 is a 400."""
    jira_site.jira().add_comment("OPS-1", "Ticket linked from the postmortem.")
    session = jira_site.session()
    page = session.get(f"{jira_site.url}/rest/api/3/issue/OPS-1/comment").json()
    assert page["total"] == 1
    assert adf_to_text(page["comments"][0]["body"]) == "Ticket linked from the postmortem."
    assert page["comments"][0]["author"]["accountId"] == ADMIN.account_id
    refused = session.post(f"{jira_site.url}/rest/api/3/issue/OPS-1/comment", json={"body": "x"})
    assert refused.status_code == 400


# -- search -----------------------------------------------------------------------------


def _bulk(site: JiraSite, count: int, **extra: Any) -> None:
    session = site.session()
    for start in range(0, count, 50):
        updates = [
            {"fields": _fields(summary=f"generated {n}", **extra)}
            for n in range(start, min(count, start + 50))
        ]
        response = session.post(f"{site.url}/rest/api/2/issue/bulk", json={"issueUpdates": updates})
        assert response.status_code == 201, response.text


def test_enhanced_search_pages_through_everything_with_next_page_tokens(
    jira_site: JiraSite,
) -> None:
    """120 matching issues: `maxResults=0` walks two pages of at most 100, no duplicates."""
    _bulk(jira_site, 118, labels=["bulk"])
    jira_site.control("POST", "stats/reset")
    found = jira_site.jira().enhanced_search_issues(
        "labels = followup OR labels = bulk", maxResults=0, fields="summary", properties="followup"
    )
    keys = [issue.key for issue in found]
    assert len(keys) == len(set(keys)) == 121
    assert jira_site.stats()["by_route"]["GET /rest/api/2/search/jql"] == 2
    first = next(issue for issue in found if issue.key == "OPS-1")
    assert first.raw["properties"] == {"followup": {"item": "1001:task:1", "page": "1001"}}


def test_search_pages_by_token_until_is_last(jira_site: JiraSite) -> None:
    """Small pages: each answer has isLast and, until the last, a nextPageToken; no total."""
    _bulk(jira_site, 10)
    session = jira_site.session()
    keys: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"jql": "project = OPS", "maxResults": 4, "fields": "summary"}
        if token:
            params["nextPageToken"] = token
        page = session.get(f"{jira_site.url}/rest/api/3/search/jql", params=params).json()
        pages += 1
        assert "total" not in page
        keys += [i["key"] for i in page["issues"]]
        token = page.get("nextPageToken")
        assert page["isLast"] is (token is None)
        if token is None:
            break
    assert pages == 4
    assert keys == [f"OPS-{n}" for n in range(1, 14)]


def test_search_caps_page_size_at_100_and_returns_only_ids_without_fields(
    jira_site: JiraSite,
) -> None:
    """maxResults=500 silently gives 100; without `fields` each issue is just its id."""
    _bulk(jira_site, 110)
    session = jira_site.session()
    page = session.post(
        f"{jira_site.url}/rest/api/3/search/jql", json={"jql": "project = OPS", "maxResults": 500}
    ).json()
    assert len(page["issues"]) == 100
    assert page["isLast"] is False
    assert all(set(issue) == {"id"} for issue in page["issues"])


def test_a_token_from_another_query_is_a_400(jira_site: JiraSite) -> None:
    """nextPageToken belongs to its JQL: reusing it for another query is refused."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/search/jql"
    first: dict[str, str | int] = {"jql": "project = OPS", "maxResults": 1}
    page = session.get(url, params=first).json()
    other = session.get(
        url, params={"jql": "project = SEC", "nextPageToken": page["nextPageToken"]}
    )
    assert other.status_code == 400
    garbage = session.get(url, params={"jql": "project = OPS", "nextPageToken": "%%%"})
    assert garbage.status_code == 400


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("labels = followup", ["OPS-1", "OPS-2", "SEC-1"]),
        ("labels = followup-1001 AND statusCategory != done", ["OPS-1"]),
        ("project = OPS", ["OPS-1", "OPS-2", "OPS-3"]),
        ("key in (OPS-2, SEC-1)", ["OPS-2", "SEC-1"]),
        ("assignee = currentUser()", []),
        ("assignee = '557058:alice-0002' AND duedate <= 2024-06-01", ["OPS-1"]),
    ],
)
def test_search_by_jql(jira_site: JiraSite, jql: str, expected: list[str]) -> None:
    """The JQL followup sends selects the issues Jira would."""
    response = jira_site.session().post(
        f"{jira_site.url}/rest/api/3/search/jql", json={"jql": jql, "fields": ["summary"]}
    )
    assert response.status_code == 200, response.text
    assert sorted(i["key"] for i in response.json()["issues"]) == expected


def test_bad_and_unbounded_jql_are_400s_with_jiras_messages(jira_site: JiraSite) -> None:
    """A parse error and an unbounded query both answer errorMessages + warningMessages."""
    session = jira_site.session()
    url = f"{jira_site.url}/rest/api/3/search/jql"
    bad = session.get(url, params={"jql": "labels = = x"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"errorMessages", "warningMessages"}
    unbounded = session.get(url, params={"jql": "order by created"})
    assert unbounded.status_code == 400
    assert "Unbounded" in unbounded.json()["errorMessages"][0]


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_old_search_is_gone_on_cloud(jira_site: JiraSite, version: int, method: str) -> None:
    """Cloud removed /rest/api/{2,3}/search: 410 with Atlassian's migration message."""
    response = jira_site.session().request(
        method, f"{jira_site.url}/rest/api/{version}/search", params={"jql": "project = OPS"}
    )
    assert response.status_code == 410
    assert response.json() == {"errorMessages": [SEARCH_REMOVED_MESSAGE], "errors": {}}


# -- Data Center ------------------------------------------------------------------------


def test_data_center_basics(dc_jira_site: JiraSite) -> None:
    """serverInfo says Server; users are names; /rest/api/2/search pages with total;
    the Cloud-only APIs are not there."""
    client = dc_jira_site.jira()
    assert client.deploymentType == "Server"
    me = client.myself()
    assert me["name"] == ADMIN.name
    assert "accountId" not in me
    found = client.search_issues("project = OPS", maxResults=2, fields="summary,assignee")
    assert found.total == 3
    assert [i.key for i in found] == ["OPS-1", "OPS-2"]
    assert found[0].raw["fields"]["assignee"]["name"] == ALICE.name
    issue = client.create_issue(fields=_fields(assignee={"name": "bob"}))
    assert issue.raw["fields"]["assignee"]["name"] == BOB.name
    assert client.user(BOB.name).displayName == BOB.display_name
    session = dc_jira_site.session()
    search_jql = session.get(f"{dc_jira_site.url}/rest/api/2/search/jql", params={"jql": "x"})
    assert search_jql.status_code == 404
    assert session.get(f"{dc_jira_site.url}/rest/api/3/myself").status_code == 404
    unknown = _create(dc_jira_site, 2, **_fields(assignee={"name": "nobody"}))
    assert unknown.json()["errors"] == {"assignee": "User 'nobody' does not exist."}


def test_data_center_search_pages_by_start_at(dc_jira_site: JiraSite) -> None:
    """`search_issues(maxResults=0)` walks startAt pages until total."""
    _bulk(dc_jira_site, 7)
    found = dc_jira_site.jira().search_issues("project = OPS", maxResults=0, fields="summary")
    assert len(found) == 10
    page = (
        dc_jira_site.session()
        .get(
            f"{dc_jira_site.url}/rest/api/2/search",
            params={"jql": "project = OPS", "startAt": "8", "maxResults": "5"},
        )
        .json()
    )
    assert (page["startAt"], page["total"], len(page["issues"])) == (8, 10, 2)


# -- paths no resource answers ----------------------------------------------------------

_UNMATCHED = [
    ("GET", "/rest/api/2/nothing-here", 404, {"message", "status-code"}),
    ("GET", "/rest/api/3/issue/OPS-1/nothing-here", 404, {"message", "status-code"}),
    ("DELETE", "/rest/api/2/serverInfo", 405, {"message", "status-code"}),
    ("GET", "/wiki/rest/api/nothing-here", 404, {"statusCode", "data", "message", "reason"}),
    ("PATCH", "/wiki/rest/api/content/98000001", 405, {"statusCode", "data", "message", "reason"}),
    ("GET", "/wiki/api/v2/nothing-here", 404, {"errors"}),
]


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
@pytest.mark.parametrize(("method", "path", "status", "keys"), _UNMATCHED)
def test_paths_and_methods_no_resource_takes_answer_json_in_the_products_shape(
    jira_site: JiraSite,
    dc_jira_site: JiraSite,
    flavor: str,
    method: str,
    path: str,
    status: int,
    keys: set[str],
) -> None:
    """An unknown API path is a 404 and an unsupported method a 405, in the product's
    JSON error shape (Jira: `{"message": "null for uri: <url>", "status-code": 404}`),
    never Starlette's text/plain "Not Found"; the views keep their own answers."""
    site = jira_site if flavor == "cloud" else dc_jira_site
    response = site.session().request(method, site.url + path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == keys
    if status == 404 and "message" in body:
        assert body["message"] == f"null for uri: {site.url}{path}"
    assert requests.get(f"{site.url}/nothing-here", timeout=5).status_code == 404


# -- stats ------------------------------------------------------------------------------


def test_stats_count_requests_by_route_template_and_successful_writes(jira_site: JiraSite) -> None:
    """Reads, a failed create and a search POST are requests, not writes; a create is both."""
    session = jira_site.session()
    session.get(f"{jira_site.url}/rest/api/3/issue/OPS-1")
    session.get(f"{jira_site.url}/rest/api/3/issue/OPS-2")
    _create(jira_site, 3, summary="missing project")
    _create(jira_site, 3, **_fields())
    session.post(f"{jira_site.url}/rest/api/3/search/jql", json={"jql": "project = OPS"})
    stats = jira_site.stats()
    assert stats["by_route"] == {
        "GET /rest/api/3/issue/{issueIdOrKey}": 2,
        "POST /rest/api/3/issue": 2,
        "POST /rest/api/3/search/jql": 1,
    }
    assert stats["requests"] == 5
    assert stats["writes"] == 1
