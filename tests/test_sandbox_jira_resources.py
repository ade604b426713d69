"""The sandbox's Jira catalog by id, single comments, the full field set, changelogs,
issue links and watchers, on both flavors over real HTTP, every answer checked against
Atlassian's OpenAPI document as it arrives."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sandbox_support import ADMIN, ALICE, BOB, GONE, JiraSite

pytest_plugins = ["sandbox_support"]


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest, jira_site: JiraSite, dc_jira_site: JiraSite) -> JiraSite:
    return jira_site if request.param == "cloud" else dc_jira_site


def _cloud(site: JiraSite) -> bool:
    return site.server.state.flavor == "cloud"


def _get(site: JiraSite, path: str, **params: Any) -> requests.Response:
    return site.session().get(f"{site.url}/rest/api/2/{path}", params=params)


def _ok(site: JiraSite, path: str, **params: Any) -> Any:
    response = _get(site, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def _user_ref(site: JiraSite, user: Any) -> dict[str, str]:
    return {"accountId": user.account_id} if _cloud(site) else {"name": user.name}


# -- the catalog, by id -----------------------------------------------------------------


def test_every_self_link_in_an_issue_answers(site: JiraSite) -> None:
    """The `self` of each field of an issue (type, status, its category, priority,
    resolution, project, people) is a resource the sandbox answers with the same thing."""
    issue = _ok(site, "issue/OPS-2")
    fields = issue["fields"]
    linked = [
        fields["issuetype"],
        fields["status"],
        fields["status"]["statusCategory"],
        fields["priority"],
        fields["resolution"],
        fields["project"],
        fields["reporter"],
    ]
    session = site.session()
    for value in linked:
        answer = session.get(value["self"])
        assert answer.status_code == 200, value["self"]
        got = answer.json()
        for key in ("id", "name", "key", "accountId"):
            if key in value and key in got:
                assert got[key] == value[key], (value["self"], key)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("issuetype/99999", "The issue type with id '99999' does not exist"),
        ("status/Blocked", "The status with id 'Blocked' does not exist"),
        ("statuscategory/9", "The status category with id '9' does not exist"),
        ("priority/42", "The priority with id '42' does not exist"),
        ("resolution/1", "The resolution with id '1' does not exist"),
    ],
)
def test_an_unknown_catalog_entry_is_a_404_with_jiras_message(
    site: JiraSite, path: str, message: str
) -> None:
    """issuetype, status, statuscategory, priority and resolution by an id that is not."""
    missing = _get(site, path)
    assert missing.status_code == 404
    assert missing.json() == {"errorMessages": [message], "errors": {}}


def test_statuses_are_found_by_name_too(site: JiraSite) -> None:
    """status/{idOrName} takes the name, whatever its case."""
    assert _ok(site, "status/in progress")["id"] == _ok(site, "status/3")["id"] == "3"
    assert _ok(site, "statuscategory/done")["id"] == 3


# -- comments -----------------------------------------------------------------------


def test_a_comment_is_read_by_id_on_its_own_issue_only(site: JiraSite) -> None:
    """issue/{key}/comment/{id} reads one comment; another issue's id is a 404."""
    added = site.session().post(
        f"{site.url}/rest/api/2/issue/OPS-1/comment", json={"body": "Checked the alert."}
    )
    assert added.status_code == 201
    comment_id = added.json()["id"]
    comment = _ok(site, f"issue/OPS-1/comment/{comment_id}")
    assert (comment["id"], comment["body"]) == (comment_id, "Checked the alert.")
    assert comment["author"]["displayName"] == ADMIN.display_name
    elsewhere = _get(site, f"issue/OPS-2/comment/{comment_id}")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["errorMessages"] == [
        f"Can not find a comment for the id: {comment_id}."
    ]


# -- the field set ------------------------------------------------------------------

UNSET = {
    "subtasks": [],
    "components": [],
    "fixVersions": [],
    "versions": [],
    "attachment": [],
    "issuelinks": [],
    "environment": None,
    "security": None,
    "timeestimate": None,
    "timespent": None,
    "aggregatetimespent": None,
    "progress": {"progress": 0, "total": 0},
    "timetracking": {},
    "workratio": -1,
}


def test_an_issue_has_jiras_full_default_field_set(site: JiraSite) -> None:
    """GET issue returns every system field, empty or null where nothing is set, with
    `watches` and `votes`; the field list names them all; statuscategorychangedate is
    Cloud's."""
    fields = _ok(site, "issue/OPS-3")["fields"]
    for name, value in UNSET.items():
        assert fields[name] == value, name
    assert fields["votes"]["votes"] == 0
    assert fields["worklog"]["worklogs"] == []
    assert fields["watches"]["watchCount"] == 1  # the reporter
    assert ("statuscategorychangedate" in fields) is _cloud(site)
    listed = {f["id"] for f in _ok(site, "field")}
    assert set(UNSET) | {"watches", "votes", "worklog"} <= listed
    navigable = _ok(site, "issue/OPS-3", fields="*navigable")["fields"]
    assert "issuelinks" in navigable
    assert "attachment" not in navigable


# -- changelogs ---------------------------------------------------------------------


def test_the_changelog_records_what_changed_by_whom_and_when(site: JiraSite) -> None:
    """An edit (assignee, due date, summary, labels) and a transition to Done each make
    one history, by the caller, with Jira's from/to values; read by expand=changelog."""
    session = site.session()
    edited = session.put(
        f"{site.url}/rest/api/2/issue/OPS-1",
        json={
            "fields": {
                "assignee": _user_ref(site, ADMIN),
                "duedate": "2024-07-01",
                "summary": "Alert on replica lag",
            },
            "update": {"labels": [{"add": "sre"}]},
        },
    )
    assert edited.status_code == 204, edited.text
    transitions = session.get(f"{site.url}/rest/api/2/issue/OPS-1/transitions").json()
    done = next(t for t in transitions["transitions"] if t["to"]["name"] == "Done")
    moved = session.post(
        f"{site.url}/rest/api/2/issue/OPS-1/transitions", json={"transition": {"id": done["id"]}}
    )
    assert moved.status_code == 204
    issue = _ok(site, "issue/OPS-1", expand="changelog", fields="summary")
    histories = issue["changelog"]["histories"]
    assert issue["changelog"]["total"] == len(histories) == 2
    edit, transition = histories
    assert edit["author"]["displayName"] == ADMIN.display_name
    assert edit["created"][:4].isdigit()
    items = {item["field"]: item for item in edit["items"]}
    assert set(items) == {"assignee", "duedate", "summary", "labels"}
    who = ALICE.account_id if _cloud(site) else ALICE.key
    to = ADMIN.account_id if _cloud(site) else ADMIN.key
    assert (items["assignee"]["from"], items["assignee"]["fromString"]) == (
        who,
        ALICE.display_name,
    )
    assert (items["assignee"]["to"], items["assignee"]["toString"]) == (to, ADMIN.display_name)
    assert (items["duedate"]["from"], items["duedate"]["to"]) == ("2024-06-01", "2024-07-01")
    assert items["duedate"]["toString"] == "2024-07-01 00:00:00.0"
    assert items["summary"]["toString"] == "Alert on replica lag"
    assert items["labels"]["toString"] == "followup followup-1001 sre"
    assert ("fieldId" in items["summary"]) is _cloud(site)
    moved_items = {item["field"]: item for item in transition["items"]}
    assert (moved_items["status"]["fromString"], moved_items["status"]["toString"]) == (
        "To Do",
        "Done",
    )
    assert moved_items["resolution"]["toString"] == "Done"
    unchanged = session.put(
        f"{site.url}/rest/api/2/issue/OPS-1", json={"fields": {"duedate": "2024-07-01"}}
    )
    assert unchanged.status_code == 204
    assert _ok(site, "issue/OPS-1", expand="changelog")["changelog"]["total"] == 2


def test_the_changelog_resource_pages_on_cloud_and_is_missing_on_data_center(
    site: JiraSite,
) -> None:
    """GET issue/{key}/changelog pages the histories on Cloud; Data Center answers 404
    `null for uri` (it has no such resource) and has them under expand=changelog."""
    session = site.session()
    for day in ("2024-07-01", "2024-07-02", "2024-07-03"):
        session.put(f"{site.url}/rest/api/2/issue/OPS-3", json={"fields": {"duedate": day}})
    response = _get(site, "issue/OPS-3/changelog", maxResults=2)
    if not _cloud(site):
        assert response.status_code == 404
        assert response.json()["message"].startswith("null for uri: ")
        return
    first = response.json()
    assert (first["total"], first["isLast"], len(first["values"])) == (3, False, 2)
    rest = session.get(first["nextPage"]).json()
    assert (rest["startAt"], rest["isLast"], len(rest["values"])) == (2, True, 1)
    assert rest["values"][0]["items"][0]["to"] == "2024-07-03"
    searched = session.get(
        f"{site.url}/rest/api/3/search/jql",
        params={"jql": "key = OPS-3", "fields": "summary", "expand": "changelog"},
    ).json()
    assert searched["issues"][0]["changelog"]["total"] == 3


def test_a_new_remote_link_is_in_the_changelog(site: JiraSite) -> None:
    """Adding a remote link records a RemoteIssueLink change; updating it records none."""
    session = site.session()
    link = {"globalId": "page=1", "object": {"url": "https://wiki/p/1", "title": "Postmortem"}}
    session.post(f"{site.url}/rest/api/2/issue/OPS-3/remotelink", json=link)
    session.post(f"{site.url}/rest/api/2/issue/OPS-3/remotelink", json=link)
    (history,) = _ok(site, "issue/OPS-3", expand="changelog")["changelog"]["histories"]
    assert history["items"][0]["field"] == "RemoteIssueLink"
    assert history["items"][0]["toString"] == 'This issue links to "Postmortem (Web Link)"'


# -- issue links --------------------------------------------------------------------


def test_jiras_default_link_types_are_listed_and_read_by_id(site: JiraSite) -> None:
    """issueLinkType lists Blocks, Cloners, Duplicate and Relates; an unknown id is a 404."""
    types = _ok(site, "issueLinkType")["issueLinkTypes"]
    assert [t["name"] for t in types] == ["Blocks", "Cloners", "Duplicate", "Relates"]
    blocks = _ok(site, f"issueLinkType/{types[0]['id']}")
    assert (blocks["inward"], blocks["outward"]) == ("is blocked by", "blocks")
    assert _get(site, "issueLinkType/1").status_code == 404


def test_an_issue_link_is_created_read_shown_on_both_issues_and_deleted(site: JiraSite) -> None:
    """POST issueLink links two issues (once, however often it is asked); each issue's
    issuelinks shows the other; issueLink/{id} reads it; DELETE removes it; both
    changelogs record the link and its removal."""
    session = site.session()
    body = {
        "type": {"name": "Blocks"},
        "inwardIssue": {"key": "OPS-1"},
        "outwardIssue": {"key": "OPS-2"},
    }
    for _ in range(2):
        created = session.post(f"{site.url}/rest/api/2/issueLink", json=body)
        assert created.status_code == 201, created.text
    (on_outward,) = _ok(site, "issue/OPS-2", fields="issuelinks")["fields"]["issuelinks"]
    (on_inward,) = _ok(site, "issue/OPS-1", fields="issuelinks")["fields"]["issuelinks"]
    assert on_outward["outwardIssue"]["key"] == "OPS-1"
    assert on_inward["inwardIssue"]["key"] == "OPS-2"
    assert on_inward["inwardIssue"]["fields"]["status"]["name"] == "Done"
    assert on_outward["id"] == on_inward["id"]
    link = _ok(site, f"issueLink/{on_outward['id']}")
    assert (link["inwardIssue"]["key"], link["outwardIssue"]["key"]) == ("OPS-1", "OPS-2")
    assert link["type"]["name"] == "Blocks"
    assert session.delete(f"{site.url}/rest/api/2/issueLink/{link['id']}").status_code == 204
    assert _ok(site, "issue/OPS-1", fields="issuelinks")["fields"]["issuelinks"] == []
    assert _get(site, f"issueLink/{link['id']}").status_code == 404
    texts = [
        item["toString"] or item["fromString"]
        for history in _ok(site, "issue/OPS-2", expand="changelog")["changelog"]["histories"]
        for item in history["items"]
    ]
    assert texts == ["This issue blocks OPS-1", "This issue blocks OPS-1"]


def _link(kind: str, inward: str | None, outward: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": {"name": kind}, "outwardIssue": {"key": outward}}
    if inward is not None:
        body["inwardIssue"] = {"key": inward}
    return body


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_link("Causes", "OPS-1", "OPS-2"), 404),
        (_link("Blocks", "OPS-99", "OPS-2"), 404),
        (_link("Blocks", None, "OPS-2"), 400),
    ],
)
def test_a_link_of_an_unknown_type_or_issue_is_refused(
    site: JiraSite, body: dict[str, Any], status: int
) -> None:
    """An unknown link type or issue is a 404, a missing issue a 400; nothing is linked."""
    refused = site.session().post(f"{site.url}/rest/api/2/issueLink", json=body)
    assert refused.status_code == status
    assert refused.json()["errorMessages"] or refused.json()["errors"]
    assert _ok(site, "issue/OPS-2", fields="issuelinks")["fields"]["issuelinks"] == []


# -- watchers -----------------------------------------------------------------------


def test_watchers_are_the_reporter_then_whoever_is_added(site: JiraSite) -> None:
    """A new issue is watched by its reporter; POST watchers adds the user the body names
    (account id on Cloud, username on Data Center), DELETE removes them; `watches` on the
    issue follows."""
    session = site.session()
    created = session.post(
        f"{site.url}/rest/api/2/issue",
        json={"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x"}},
    ).json()
    key = created["key"]
    first = _ok(site, f"issue/{key}/watchers")
    assert (first["watchCount"], first["isWatching"]) == (1, True)
    alice = ALICE.account_id if _cloud(site) else ALICE.name
    added = session.post(f"{site.url}/rest/api/2/issue/{key}/watchers", json=alice)
    assert added.status_code == 204
    names = [w["displayName"] for w in _ok(site, f"issue/{key}/watchers")["watchers"]]
    assert names == [ADMIN.display_name, ALICE.display_name]
    assert _ok(site, f"issue/{key}", fields="watches")["fields"]["watches"]["watchCount"] == 2
    param = {"accountId": ADMIN.account_id} if _cloud(site) else {"username": ADMIN.name}
    removed = session.delete(f"{site.url}/rest/api/2/issue/{key}/watchers", params=param)
    assert removed.status_code == 204
    after = _ok(site, f"issue/{key}/watchers")
    assert (after["watchCount"], after["isWatching"]) == (1, False)


def test_watchers_refuse_unknown_and_inactive_users(site: JiraSite) -> None:
    """Naming nobody is a 404, an inactive user a 400; on Cloud a username is refused."""
    session = site.session()
    url = f"{site.url}/rest/api/2/issue/OPS-1/watchers"
    assert session.post(url, json="nobody-at-all").status_code == 404
    gone = GONE.account_id if _cloud(site) else GONE.name
    assert session.post(url, json=gone).status_code == 400
    bob = session.delete(url, params={"username": BOB.name})
    assert bob.status_code == (400 if _cloud(site) else 204)
