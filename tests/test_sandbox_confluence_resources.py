"""The sandbox's Confluence spaces, page children, generic CQL search and web addresses,
and the Data Center shapes of its answers, on both flavors over real HTTP against the
demo site, every answer checked against Atlassian's OpenAPI document as it arrives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sandbox_support import OpenApiValidator, reset_server

from followup.sandbox.confluence.web import safe_title_for_url, tiny_id, webui_path
from followup.sandbox.seed import (
    DEMO_ADMIN,
    PAGE_KAFKA,
    PAGE_ORDERS_DB,
    PAGE_SRE_INDEX,
    PAGE_TLS,
    PRIYA,
)
from followup.sandbox.server import RunningSandbox

pytest_plugins = ["sandbox_support"]

SRE_POSTMORTEMS = {  # the demo's SRE postmortems, by id, as children of the SRE index
    PAGE_ORDERS_DB: "2026-10-07 orders-db replica lag served stale order history",
    PAGE_TLS: "Post-incident review: expired TLS certificate on the internal API gateway",
    PAGE_KAFKA: "Postmortem: notification backlog after Kafka broker replacement",
}


@dataclass
class Demo:
    """The demo site on one flavor, with an admin session whose answers are validated."""

    server: RunningSandbox
    validator: OpenApiValidator

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def cloud(self) -> bool:
        return self.server.state.flavor == "cloud"

    def get(self, path: str, **params: Any) -> requests.Response:
        session = self.validator.attach(requests.Session())
        session.auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
        return session.get(f"{self.url}/wiki/rest/api{path}", params=params, timeout=10)

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(params=["cloud", "datacenter"])
def demo(
    request: pytest.FixtureRequest,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
    openapi: OpenApiValidator,
) -> Demo:
    server = sandbox_server if request.param == "cloud" else dc_sandbox_server
    reset_server(server)
    return Demo(server, openapi)


def _follow(demo: Demo, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every answer of a listing, following `_links.next` relative to `_links.base`."""
    answers = [answer]
    while "next" in answers[-1]["_links"]:
        links = answers[-1]["_links"]
        session = demo.validator.attach(requests.Session())
        session.auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
        answers.append(session.get(links["base"] + links["next"], timeout=10).json())
        assert len(answers) < 20
    return answers


# -- spaces ----------------------------------------------------------------------------


def test_spaces_are_listed_and_read_by_key_with_the_flavors_web_address(demo: Demo) -> None:
    """GET space lists the demo's spaces (paged by `_links.next`), space/{key} reads one;
    a space's web address is /spaces/KEY on Cloud and /display/KEY on Data Center."""
    pages = _follow(demo, demo.json("/space", limit=1))
    assert [a["size"] for a in pages] == [1, 1]
    assert [a["results"][0]["key"] for a in pages] == ["PAY", "SRE"]
    assert demo.json("/space", spaceKey="SRE")["results"][0]["name"] == "Site Reliability"
    sre = demo.json("/space/SRE", expand="description.plain")
    assert (sre["key"], sre["type"], sre["status"]) == ("SRE", "global", "current")
    assert sre["description"]["plain"]["representation"] == "plain"
    assert sre["_links"]["webui"] == ("/spaces/SRE" if demo.cloud else "/display/SRE")
    assert sre["_links"]["base"] == f"{demo.url}/wiki"


def test_an_unknown_space_is_a_404_in_confluences_shape(demo: Demo) -> None:
    """space/{key} of a space that does not exist: 404 "No space with key : KEY"."""
    missing = demo.get("/space/NOPE")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No space with key : NOPE"
    assert demo.json("/space", spaceKey="NOPE")["results"] == []


# -- page children ---------------------------------------------------------------------


def test_child_pages_are_in_creation_order_on_cloud_and_alphabetical_on_data_center(
    demo: Demo,
) -> None:
    """child/page lists the pages under a page: Cloud in the order they were added, Data
    Center by title (its order for pages nobody has moved by hand)."""
    children = demo.json(f"/content/{PAGE_SRE_INDEX}/child/page", expand="version")
    ids = [page["id"] for page in children["results"]]
    if demo.cloud:
        assert ids == sorted(SRE_POSTMORTEMS)
    else:
        assert ids == sorted(SRE_POSTMORTEMS, key=lambda i: SRE_POSTMORTEMS[i].casefold())
    assert all(page["version"]["number"] == 1 for page in children["results"])
    assert children["size"] == 3
    first, second = (
        demo.json(f"/content/{PAGE_SRE_INDEX}/child/page", limit=2),
        demo.json(f"/content/{PAGE_SRE_INDEX}/child/page", limit=2, start=2),
    )
    assert [p["id"] for p in first["results"] + second["results"]] == ids
    assert parse_qs(urlsplit(first["_links"]["next"]).query)["start"] == ["2"]
    assert demo.json(f"/content/{PAGE_ORDERS_DB}/child/page")["results"] == []


def test_a_page_created_under_a_parent_is_its_child(demo: Demo) -> None:
    """A page created with `ancestors: [{id}]` is listed among the parent's children."""
    session = demo.validator.attach(requests.Session())
    session.auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    created = session.post(
        f"{demo.url}/wiki/rest/api/content",
        json={
            "type": "page",
            "title": "00 Read me first",
            "space": {"key": "SRE"},
            "ancestors": [{"id": PAGE_SRE_INDEX}],
            "body": {"storage": {"value": "<p>new</p>", "representation": "storage"}},
        },
        timeout=10,
    )
    assert created.ok, created.text
    ids = [p["id"] for p in demo.json(f"/content/{PAGE_SRE_INDEX}/child/page")["results"]]
    assert ids[-1 if demo.cloud else 0] == created.json()["id"]


def test_children_say_what_can_be_expanded_and_expand_pages(demo: Demo) -> None:
    """`child` lists the kinds of children as expandable; `expand=page.version` returns
    the child pages with their versions."""
    plain = demo.json(f"/content/{PAGE_SRE_INDEX}/child")
    assert set(plain["_expandable"]) == {"attachment", "comment", "page"}
    assert "page" not in plain
    expanded = demo.json(f"/content/{PAGE_SRE_INDEX}/child", expand="page.version")
    assert set(expanded["_expandable"]) == {"attachment", "comment"}
    assert {p["id"] for p in expanded["page"]["results"]} == set(SRE_POSTMORTEMS)
    assert all("version" in p for p in expanded["page"]["results"])


@pytest.mark.parametrize("kind", ["comment", "attachment"])
def test_comments_and_attachments_of_a_page_are_an_empty_list(demo: Demo, kind: str) -> None:
    """child/comment and child/attachment of an existing page: 200, no results; of a
    page that does not exist: 404 "No content found with id"."""
    empty = demo.json(f"/content/{PAGE_ORDERS_DB}/child/{kind}")
    assert (empty["results"], empty["size"]) == ([], 0)
    missing = demo.get(f"/content/12345/child/{kind}")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No content found with id: ContentId{id=12345}"


# -- the generic search ----------------------------------------------------------------


def test_generic_search_answers_search_results_with_totals(demo: Demo) -> None:
    """GET search: a result per page around its content, with the web address, space and
    an excerpt, and the answer's totalSize, cqlQuery and searchDuration."""
    cql = 'type = page AND label = "postmortem" AND space = SRE'
    answer = demo.json("/search", cql=cql, expand="content.version")
    assert (answer["totalSize"], answer["cqlQuery"], answer["size"]) == (3, cql, 3)
    assert isinstance(answer["searchDuration"], int)
    first = answer["results"][0]
    assert first["content"]["id"] == PAGE_ORDERS_DB
    assert first["content"]["version"]["number"] == 1
    assert first["entityType"] == "content"
    assert first["resultGlobalContainer"]["title"] == "Site Reliability"
    assert first["excerpt"].startswith("This is a blameless review.")
    webui = first["content"]["_links"]["webui"]
    assert first["url"].startswith(webui)
    assert demo.json("/search", cql=cql, excerpt="none")["results"][0]["excerpt"] == ""


def test_generic_search_pages_by_cursor_on_cloud_and_by_start_on_data_center(
    demo: Demo,
) -> None:
    """`_links.next` carries a cursor on Cloud and `start` on Data Center; following it
    finds every page once."""
    answers = _follow(demo, demo.json("/search", cql='label = "postmortem"', limit=4))
    ids = [r["content"]["id"] for a in answers for r in a["results"]]
    assert len(ids) == len(set(ids)) == 6
    query = parse_qs(urlsplit(answers[0]["_links"]["next"]).query)
    assert ("cursor" in query) is demo.cloud
    assert ("start" in query) is not demo.cloud


def test_unparseable_cql_is_a_400_in_the_generic_search_too(demo: Demo) -> None:
    """The generic search parses CQL as the content search does: 400 with the reason."""
    bad = demo.get("/search", cql="label = ")
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Could not parse cql")


# -- Data Center shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "safe"),
    [
        ("2026-10-07 orders-db replica lag", True),
        ("Postmortem: Kafka broker replacement", True),
        ("Incident review (INC-2291)", False),  # ends in punctuation
        ("Postmortem — duplicate refunds", False),  # not ASCII
        ("50% of checkouts failed", False),
        ("Q&A", False),
        ("", False),
        ("x" * 150, False),
    ],
)
def test_data_center_addresses_a_page_by_title_only_when_the_title_is_safe(
    title: str, safe: bool
) -> None:
    """The rule Confluence Data Center applies before writing /display/KEY/Title."""
    assert safe_title_for_url(title) is safe
    expected = (
        f"/display/SRE/{title.replace(' ', '+').replace(':', '%3A')}"
        if safe
        else "/pages/viewpage.action?pageId=98000001"
    )
    assert webui_path("datacenter", "SRE", 98000001, title) == expected
    assert webui_path("cloud", "SRE", 98000001, title) == "/spaces/SRE/pages/98000001"


def test_page_answers_use_the_flavors_shapes(demo: Demo) -> None:
    """A page answer: Cloud's /spaces/KEY/pages/ID and position 0; Data Center's
    /display/KEY/Title or viewpage.action?pageId and position "none"; both give the
    context Confluence is served under, and people in their flavor's shape."""
    page = demo.json(f"/content/{PAGE_ORDERS_DB}", expand="history,version")
    links = page["_links"]
    assert (links["base"], links["context"]) == (f"{demo.url}/wiki", "/wiki")
    author = page["history"]["createdBy"]
    if demo.cloud:
        assert links["webui"] == f"/spaces/SRE/pages/{PAGE_ORDERS_DB}"
        assert page["extensions"]["position"] == 0
        assert author["accountId"] == PRIYA.account_id
    else:
        assert links["webui"] == (
            "/display/SRE/2026-10-07+orders-db+replica+lag+served+stale+order+history"
        )
        assert page["extensions"]["position"] == "none"
        assert (author["username"], author["userKey"]) == (PRIYA.name, PRIYA.key)
        assert not {"accountId", "email", "publicName"} & set(author)
        refunds = demo.json("/content/98000003")  # its title has an em dash
        assert refunds["_links"]["webui"] == "/pages/viewpage.action?pageId=98000003"


def test_content_search_on_data_center_has_totals_and_its_own_limits(demo: Demo) -> None:
    """Data Center's content search answers totalSize, cqlQuery and searchDuration, pages
    by `start`, and caps `limit` at 50 with a body, 200 with other expansions and 1000
    without; Cloud's has no totals and caps at 25 and 50."""
    cql = 'type = page AND label = "postmortem"'
    with_body = demo.json("/content/search", cql=cql, limit=500, expand="body.storage")
    with_version = demo.json("/content/search", cql=cql, limit=500, expand="version")
    bare = demo.json("/content/search", cql=cql, limit=5000)
    caps = [a["limit"] for a in (with_body, with_version, bare)]
    if demo.cloud:
        assert caps == [25, 50, 50]
        assert "totalSize" not in bare
    else:
        assert caps == [50, 200, 1000]
        assert (bare["totalSize"], bare["cqlQuery"]) == (6, cql)
        small = demo.json("/content/search", cql=cql, limit=4)
        next_query = parse_qs(urlsplit(small["_links"]["next"]).query)
        assert (next_query["start"], next_query["limit"]) == (["4"], ["4"])


# -- the addresses people follow ---------------------------------------------------------


def test_every_web_address_in_an_answer_leads_to_the_page(demo: Demo) -> None:
    """`_links.webui` and `tinyui` (relative to `_links.base`), a space's webui and the
    bare /wiki lead, by redirect, to the sandbox's views."""
    view = f"/wiki/spaces/SRE/pages/{PAGE_ORDERS_DB}"
    for page_id in (PAGE_ORDERS_DB, "98000003"):
        page = demo.json(f"/content/{page_id}")
        base, links = page["_links"]["base"], page["_links"]
        for link in (links["webui"], links["tinyui"]):
            response = requests.get(base + link, timeout=10)
            assert response.status_code == 200, link
            assert response.url.endswith(page_id) or f"/pages/{page_id}/" in response.url
    assert links["tinyui"] == f"/x/{tiny_id(98000003)}"
    assert requests.get(f"{demo.url}{view}", timeout=10).status_code == 200
    space = demo.json("/space/SRE")
    assert requests.get(f"{demo.url}/wiki{space['_links']['webui']}", timeout=10).ok
    assert requests.get(f"{demo.url}/wiki", timeout=10).ok
    assert requests.get(f"{demo.url}/wiki/display/SRE/No+such+page", timeout=10).status_code == 404
