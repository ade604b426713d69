"""The sandbox's Confluence API, driven over real HTTP by the real `atlassian-python-api`
client (and plain `requests` where the library has no call for a path), with every 2xx
JSON answer checked against Atlassian's OpenAPI documents as it arrives."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from atlassian import ConfluenceServer, ConfluenceV2
from lxml import etree
from requests import HTTPError

from followup.sandbox import confluence
from followup.sandbox.confluence.content import SEARCH_LIMIT_CAP, SEARCH_LIMIT_CAP_WITH_BODY
from followup.sandbox.confluence.pages_v2 import V2_LIMIT_CAP
from followup.sandbox.confluence.storage import reserialize_storage
from followup.sandbox.dataset import Dataset, SeedPage, SeedSpace
from followup.sandbox.server import start_in_thread
from followup.sandbox.state import Flavor, SandboxState, User
from followup.sandbox.storage_html import AC_NS, StorageFormatError, parse_storage

if TYPE_CHECKING:
    from sandbox_support import OpenApiValidator

# The validator and its fixture `openapi` (imported lazily, so that pytest rewrites it).
pytest_plugins = ["sandbox_support"]

ALICE = User(
    "557058:alice-0001", "alice", "JIRAUSER10001", "Alice Example", "alice@example.com", "alice-t"
)
BOB = User(
    "557058:bob-0002", "bob", "JIRAUSER10002", "Bob Reader", "bob@example.com", "bob-t",
    read_only=True,
)  # fmt: skip
CAROL = User(
    "557058:carol-0003", "carol", "JIRAUSER10003", "Carol Nolog", "carol@example.com", None
)

POSTMORTEMS = 60  # more than both search caps, and a multiple of neither
TASKS = (
    "<h2>Action items</h2><ac:task-list><ac:task><ac:task-id>1</ac:task-id>"
    "<ac:task-status>incomplete</ac:task-status><ac:task-body>Add an alert "
    '<ac:link><ri:user ri:account-id="557058:carol-0003" /></ac:link> '
    '<time datetime="2024-06-01" /></ac:task-body></ac:task></ac:task-list>'
)


def _dataset() -> Dataset:
    created = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    pages = [
        SeedPage(
            "OPS", f"Postmortem {n:03d}", f"<p>Incident {n}</p>{TASKS}", ALICE.account_id, created
        )
        for n in range(POSTMORTEMS)
    ]
    pages += [
        SeedPage(
            "ENG", f"Design {n}", "<p>plans</p>", ALICE.account_id, created, labels=("design",)
        )
        for n in range(3)
    ]
    return Dataset(
        users=(ALICE, BOB, CAROL),
        spaces=(SeedSpace("OPS", "Operations"), SeedSpace("ENG", "Engineering")),
        pages=tuple(pages),
    )


def _state(flavor: Flavor = "cloud") -> SandboxState:
    state = SandboxState(flavor=flavor)
    confluence.init_schema(state.db)
    confluence.load(state, _dataset())
    return state


# -- response checking: tests/sandbox_support.py's validator on every session -----------


class SpecCheck:
    """A `requests` response hook around sandbox_support's `OpenApiValidator`, minus
    Confluence error answers: the Confluence documents describe no error bodies
    (`content: {}`), so there is nothing to check them against; the tests check their
    shape themselves."""

    def __init__(self, validator: OpenApiValidator) -> None:
        self.validator = validator

    def __call__(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.status_code >= 400 and urlsplit(response.url).path.startswith("/wiki/"):
            return
        self.validator.check(response)

    def attach(self, session: requests.Session) -> None:
        session.hooks["response"].append(self)


@pytest.fixture(scope="module")
def spec_check(openapi: OpenApiValidator) -> SpecCheck:
    return SpecCheck(openapi)


@dataclass
class Site:
    url: str
    state: SandboxState
    spec_check: SpecCheck

    def session(self, user: User = ALICE) -> requests.Session:
        session = requests.Session()
        session.auth = (user.email, user.token or "")
        self.spec_check.attach(session)
        return session

    def v1(self, user: User = ALICE) -> Any:  # the library's annotations are partial
        """The library's classic v1 client (`ConfluenceServer` with `cloud=True`: in
        atlassian-python-api 5, `Confluence(cloud=True)` is a v2-rooted class that has
        no v1 page calls)."""
        client = ConfluenceServer(  # type: ignore[no-untyped-call]
            url=self.url + "/wiki",
            username=user.email,
            password=user.token,
            cloud=True,
            backoff_and_retry=False,
        )
        self.spec_check.attach(client.session)
        return client

    def v2(self) -> Any:
        with warnings.catch_warnings():  # the library warns about its own v1 methods
            warnings.simplefilter("ignore", DeprecationWarning)
            client = ConfluenceV2(
                url=self.url + "/wiki", username=ALICE.email, password=ALICE.token
            )
        self.spec_check.attach(client.session)
        return client

    def page_id(self, title: str) -> int:
        with self.state.lock:
            row = self.state.db.execute("SELECT id FROM content WHERE title = ?", (title,))
            return int(row.fetchone()[0])


@pytest.fixture(scope="module")
def site(spec_check: SpecCheck) -> Iterator[Site]:
    with start_in_thread(_state()) as running:
        yield Site(running.url, running.state, spec_check)


def _text_and_shape(body: str) -> tuple[str, list[str]]:
    root = parse_storage(body)
    return "".join(str(t) for t in root.itertext()), [
        str(el.tag) for el in root.iter() if isinstance(el.tag, str)
    ]


# -- spec documents --------------------------------------------------------------------


def test_specs_are_there_to_check_responses_against() -> None:
    """The OpenAPI documents are present (skipped without them, failed on CI)."""
    from sandbox_support import require_specs

    require_specs()


# -- CQL search ------------------------------------------------------------------------


def _walk(site: Site, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every answer of a search, following `_links.next` relative to `_links.base`."""
    client = site.v1()
    answers = [client.get("rest/api/content/search", params=params)]
    while "next" in answers[-1]["_links"]:
        links = answers[-1]["_links"]
        answers.append(client.get(links["base"] + links["next"], absolute=True))
        assert len(answers) < 20
    return answers


def test_search_caps_the_limit_when_bodies_are_expanded_and_cursors_walk_everything_once(
    site: Site,
) -> None:
    """limit=100 with body.storage gets 25 per page; `_links.next` reaches each page once."""
    answers = _walk(
        site,
        {
            "cql": 'type = page AND label = "postmortem"',
            "limit": 100,
            "expand": "body.storage,version,space,metadata.labels",
        },
    )
    assert [a["limit"] for a in answers] == [SEARCH_LIMIT_CAP_WITH_BODY] * 3
    assert [a["size"] for a in answers] == [25, 25, 10]
    assert [a["start"] for a in answers] == [0, 25, 50]
    ids = [r["id"] for a in answers for r in a["results"]]
    assert len(ids) == len(set(ids)) == POSTMORTEMS
    assert ids == sorted(ids, key=int)
    first = answers[0]["results"][0]
    assert "<ac:task-list>" in first["body"]["storage"]["value"]
    assert first["body"]["storage"]["representation"] == "storage"
    assert first["version"]["number"] == 1
    assert first["space"]["key"] == "OPS"
    assert [lb["name"] for lb in first["metadata"]["labels"]["results"]] == ["postmortem"]
    assert first["_links"]["webui"] == f"/spaces/OPS/pages/{first['id']}"
    links = answers[0]["_links"]
    assert links["base"] == site.url + "/wiki"
    assert links["context"] == "/wiki"
    assert links["next"].startswith("/rest/api/content/search?")
    assert parse_qs(urlsplit(links["next"]).query)["limit"] == ["25"]


def test_search_without_bodies_caps_at_fifty(site: Site) -> None:
    """Without an expanded body the cap is 50, and the default limit is 25."""
    capped = _walk(site, {"cql": "label = postmortem", "limit": 1000})
    assert [a["limit"] for a in capped] == [SEARCH_LIMIT_CAP, SEARCH_LIMIT_CAP]
    assert [a["size"] for a in capped] == [50, 10]
    assert "body" not in capped[0]["results"][0]
    assert capped[0]["results"][0]["_expandable"]["body"] == ""
    default = site.v1().get("rest/api/content/search", params={"cql": "label = postmortem"})
    assert default["limit"] == 25
    assert default["size"] == 25


def test_search_by_space_and_title(site: Site) -> None:
    """CQL filters on space and title, with the sandbox's CQL compiler."""
    answer = site.v1().get(
        "rest/api/content/search", params={"cql": 'space = ENG AND title = "Design 1"'}
    )
    assert [r["title"] for r in answer["results"]] == ["Design 1"]
    assert "next" not in answer["_links"]


def test_search_with_bad_cql_is_a_400_that_says_so(site: Site) -> None:
    """Unparseable CQL answers Confluence's 400 `Could not parse cql : <query>`."""
    response = site.session().get(
        site.url + "/wiki/rest/api/content/search", params={"cql": "type = = page"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["message"] == "Could not parse cql : type = = page"


def test_a_cursor_that_is_not_ours_is_a_400(site: Site) -> None:
    """A forged cursor is refused, not silently restarted from the beginning."""
    response = site.session().get(
        site.url + "/wiki/rest/api/content/search",
        params={"cql": "label = postmortem", "cursor": "garbage"},
    )
    assert response.status_code == 400


# -- pages -----------------------------------------------------------------------------


def test_get_page_by_id_with_expands(site: Site) -> None:
    """The library's get_page_by_id reads body, version, space and history."""
    page_id = site.page_id("Postmortem 007")
    page = site.v1().get_page_by_id(page_id, expand="body.storage,version,space,history")
    assert page["id"] == str(page_id)
    assert page["title"] == "Postmortem 007"
    assert page["type"] == "page"
    assert page["status"] == "current"
    assert page["space"] == {**page["space"], "key": "OPS", "name": "Operations"}
    assert page["history"]["createdBy"]["accountId"] == ALICE.account_id
    assert page["history"]["createdDate"] == "2024-05-01T09:30:00.000Z"
    assert page["version"]["by"]["displayName"] == "Alice Example"
    assert page["body"]["storage"]["value"].startswith("<p>Incident 7</p>")


def test_find_a_page_by_space_and_title(site: Site) -> None:
    """GET /content?spaceKey&title (the library's get_page_by_title) finds that one page."""
    found = site.v1().get_page_by_title("ENG", "Design 1", expand="version")
    assert [(p["title"], p["version"]["number"]) for p in found["results"]] == [("Design 1", 1)]
    assert site.v1().get_page_by_title("ENG", "No such page")["results"] == []


def test_missing_page_is_a_404_with_confluences_body(site: Site) -> None:
    """An unknown id answers 404 with statusCode, message and reason."""
    response = site.session().get(site.url + "/wiki/rest/api/content/1")
    assert response.status_code == 404
    body = response.json()
    assert body["statusCode"] == 404
    assert body["reason"] == "Not Found"
    assert "1" in body["message"]


def test_create_page_allocates_a_realistic_id_and_version_1(site: Site) -> None:
    """create_page answers the new page; ids come from a large base, like a real site."""
    page = site.v1().create_page("ENG", "Created by test", "<p>hello</p>", representation="storage")
    assert int(page["id"]) >= 98000001
    assert page["version"]["number"] == 1
    assert page["body"]["storage"]["value"] == "<p>hello</p>"
    assert page["space"]["key"] == "ENG"
    assert page["history"]["createdBy"]["accountId"] == ALICE.account_id


def test_create_page_under_a_parent_and_with_labels(site: Site) -> None:
    """ancestors sets the parent; metadata.labels labels the page at creation."""
    parent = site.page_id("Design 0")
    response = site.session().post(
        site.url + "/wiki/rest/api/content",
        json={
            "type": "page",
            "title": "Child with labels",
            "space": {"key": "ENG"},
            "ancestors": [{"id": str(parent)}],
            "body": {"storage": {"value": "<p>x</p>", "representation": "storage"}},
            "metadata": {"labels": [{"prefix": "global", "name": "postmortem-draft"}]},
        },
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [a["id"] for a in page["ancestors"]] == [str(parent)]
    labels = site.v1().get(f"rest/api/content/{page['id']}/label")
    assert [lb["name"] for lb in labels["results"]] == ["postmortem-draft"]


def test_creating_a_second_page_with_the_same_title_in_a_space_is_a_400(site: Site) -> None:
    """Titles are unique per space, as on Confluence."""
    response = site.session().post(
        site.url + "/wiki/rest/api/content",
        json={"type": "page", "title": "Design 2", "space": {"key": "ENG"}},
    )
    assert response.status_code == 400
    assert "A page with this title already exists" in response.json()["message"]


def _put(site: Site, page_id: int, number: int, body: str, **version: Any) -> requests.Response:
    return site.session().put(
        f"{site.url}/wiki/rest/api/content/{page_id}",
        json={
            "id": str(page_id),
            "type": "page",
            "title": f"Page {page_id}",
            "version": {"number": number, **version},
            "body": {"storage": {"value": body, "representation": "storage"}},
        },
    )


def _new_page(site: Site, title: str, body: str = "<p>v1</p>") -> int:
    page = site.v1().create_page("ENG", title, body, representation="storage")
    return int(page["id"])


def test_update_with_the_next_version_keeps_history_message_and_minor_edit(site: Site) -> None:
    """PUT with version current+1 succeeds; history and the version list record it."""
    page_id = _new_page(site, "Updated page")
    response = _put(site, page_id, 2, "<p>v2</p>", minorEdit=True, message="by followup")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["version"]["number"] == 2
    assert page["version"]["minorEdit"] is True
    assert page["version"]["message"] == "by followup"
    assert page["title"] == f"Page {page_id}"
    client = site.v1()
    assert client.history(page_id)["lastUpdated"]["number"] == 2
    versions = client.get(f"rest/api/content/{page_id}/version")
    assert [(v["number"], v["minorEdit"]) for v in versions["results"]] == [(2, True), (1, False)]
    old = client.get_page_by_id(page_id, expand="body.storage", version=1)
    assert old["body"]["storage"]["value"] == "<p>v1</p>"
    assert old["status"] == "historical"


@pytest.mark.parametrize("number", [1, 2, 4])
def test_update_with_a_stale_or_skipped_version_is_a_409_naming_the_current_one(
    site: Site, number: int
) -> None:
    """Any version other than current+1 answers Confluence's exact 409 message."""
    page_id = _new_page(site, f"Conflicted page {number}")
    _put(site, page_id, 2, "<p>v2</p>").raise_for_status()
    response = _put(site, page_id, number, "<p>mine</p>")
    assert response.status_code == 409
    body = response.json()
    assert body["statusCode"] == 409
    assert body["message"] == "Version must be incremented on update. Current version is: 2"
    page = site.v1().get_page_by_id(page_id, expand="body.storage,version")
    assert page["version"]["number"] == 2
    assert page["body"]["storage"]["value"] == "<p>v2</p>"


def test_the_librarys_own_update_page_reads_the_version_itself(site: Site) -> None:
    """atlassian's update_page works here too (it re-reads the version: see DESIGN.md)."""
    page_id = _new_page(site, "Library updated")
    client = site.v1()
    client.update_page(page_id, "Library updated", "<p>v2</p>", minor_edit=True)
    page = client.get_page_by_id(page_id, expand="version,body.storage")
    assert page["version"]["number"] == 2
    assert page["body"]["storage"]["value"] == "<p>v2</p>"


def test_update_without_a_version_is_a_400(site: Site) -> None:
    """A PUT with no version.number is refused, not treated as an overwrite."""
    page_id = _new_page(site, "No version given")
    response = site.session().put(
        f"{site.url}/wiki/rest/api/content/{page_id}",
        json={"type": "page", "title": "No version given", "body": {}},
    )
    assert response.status_code == 400
    assert "version" in response.json()["message"]


# -- re-serialisation ------------------------------------------------------------------

AS_WRITTEN = (
    '<p style="x" class="lead">Owner&nbsp;&mdash; &ldquo;Ann&rdquo; &amp; co</p><p></p>'
    '<ac:structured-macro ac:name="status"><ac:parameter ac:name="title">TO DO'
    '</ac:parameter><ac:parameter ac:name="colour">Grey</ac:parameter>'
    "</ac:structured-macro>"
    '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[if a < b && c]]>'
    "</ac:plain-text-body></ac:structured-macro><br></br>"
)


def test_a_stored_body_is_re_serialised_not_kept_byte_for_byte(site: Site) -> None:
    """Attribute order, entities, empty elements and macro ids change; text does not."""
    page_id = _new_page(site, "Reserialised", AS_WRITTEN)
    stored = site.v1().get_page_by_id(page_id, expand="body.storage")["body"]["storage"]["value"]
    assert stored != AS_WRITTEN
    assert '<p class="lead" style="x">' in stored  # attributes sorted
    assert "&nbsp;" not in stored
    assert "&mdash;" not in stored
    assert "Owner\u00a0\u2014 \u201cAnn\u201d &amp; co" in stored  # characters, &amp; kept
    assert "<p />" in stored  # empty elements self-closed
    assert "<br />" in stored
    assert "<![CDATA[if a < b && c]]>" in stored  # plain-text bodies stay CDATA
    root = parse_storage(stored)
    macros = root.findall(f".//{{{AC_NS}}}structured-macro")
    assert len(macros) == 2
    assert all(len(m.get(f"{{{AC_NS}}}macro-id", "")) == 36 for m in macros)
    assert _text_and_shape(stored) == _text_and_shape(AS_WRITTEN)


def test_re_serialisation_is_stable_and_keeps_existing_macro_ids() -> None:
    """Re-serialising a stored body gives the same bytes; an existing macro-id is kept."""
    once = reserialize_storage(AS_WRITTEN)
    assert reserialize_storage(once) == once
    kept = reserialize_storage(
        '<ac:structured-macro ac:name="jira" ac:macro-id="abc"><ac:parameter ac:name="key">'
        "OPS-1</ac:parameter></ac:structured-macro>"
    )
    assert 'ac:macro-id="abc"' in kept


def test_writing_invalid_storage_format_is_a_400(site: Site) -> None:
    """A body that is not well-formed XHTML answers 400 "Error parsing xhtml: ..."."""
    page_id = _new_page(site, "Will stay valid")
    response = _put(site, page_id, 2, "<p>unclosed <strong>bold</p>")
    assert response.status_code == 400
    assert response.json()["message"].startswith("Error parsing xhtml: ")
    with pytest.raises(StorageFormatError):
        reserialize_storage("<p>&undefinedentity;</p>")


# -- content properties ----------------------------------------------------------------


def test_content_property_create_then_compare_and_swap(site: Site) -> None:
    """Create is version 1; PUT needs version+1; a stale PUT and a duplicate create are 409."""
    page_id = site.page_id("Postmortem 001")
    client = site.v1()
    created = client.set_page_property(page_id, {"key": "followup-lease", "value": {"run": "a"}})
    assert created["version"]["number"] == 1
    assert created["value"] == {"run": "a"}
    duplicate = site.session().post(
        f"{site.url}/wiki/rest/api/content/{page_id}/property",
        json={"key": "followup-lease", "value": {"run": "b"}},
    )
    assert duplicate.status_code == 409
    updated = client.update_page_property(
        page_id, {"key": "followup-lease", "value": {"run": "a2"}, "version": {"number": 2}}
    )
    assert updated["version"]["number"] == 2
    stale = site.session().put(
        f"{site.url}/wiki/rest/api/content/{page_id}/property/followup-lease",
        json={"key": "followup-lease", "value": {"run": "c"}, "version": {"number": 2}},
    )
    assert stale.status_code == 409
    assert stale.json()["message"].endswith("Current version is: 2")
    read = client.get_page_property(page_id, "followup-lease")
    assert (read["value"], read["version"]["number"]) == ({"run": "a2"}, 2)


def test_content_property_put_on_a_missing_key_creates_only_at_version_1(site: Site) -> None:
    """PUT creates a missing key when it says version 1, else 404; DELETE removes it."""
    page_id = site.page_id("Postmortem 002")
    url = f"{site.url}/wiki/rest/api/content/{page_id}/property/fresh"
    session = site.session()
    assert session.put(url, json={"value": 1, "version": {"number": 3}}).status_code == 404
    created = session.put(url, json={"value": ["a"], "version": {"number": 1}})
    assert created.status_code == 200
    assert created.json()["version"]["number"] == 1
    listed = session.get(f"{site.url}/wiki/rest/api/content/{page_id}/property").json()
    assert [p["key"] for p in listed["results"]] == ["fresh"]
    assert session.delete(url).status_code == 204
    assert session.get(url).status_code == 404


def test_properties_of_a_missing_page_are_a_404(site: Site) -> None:
    """No page, no properties."""
    response = site.session().post(
        f"{site.url}/wiki/rest/api/content/1/property", json={"key": "k", "value": {}}
    )
    assert response.status_code == 404


# -- users -----------------------------------------------------------------------------


def test_user_lookup_by_account_id_and_the_current_user(site: Site) -> None:
    """Cloud looks users up by accountId; /user/current is the caller."""
    client = site.v1()
    carol = client.get_user_details_by_accountid(CAROL.account_id)
    assert carol["accountId"] == CAROL.account_id
    assert carol["displayName"] == "Carol Nolog"
    assert carol["type"] == "known"
    assert "username" not in carol
    me = client.get("rest/api/user/current")
    assert me["accountId"] == ALICE.account_id
    with pytest.raises(HTTPError) as missing:
        client.get("rest/api/user", params={"accountId": "nobody"})
    assert missing.value.response.status_code == 404


def test_data_center_looks_users_up_by_key_and_username(spec_check: SpecCheck) -> None:
    """On the datacenter flavor users carry username/userKey, not accountId; no v2 API."""
    with start_in_thread(_state("datacenter")) as running:
        dc = Site(running.url, running.state, spec_check)
        client = dc.v1()
        by_key = client.get("rest/api/user", params={"key": CAROL.key})
        assert by_key["username"] == "carol"
        assert by_key["userKey"] == CAROL.key
        assert "accountId" not in by_key
        assert client.get_user_details_by_username("carol")["userKey"] == CAROL.key
        page = client.get_page_by_id(dc.page_id("Design 0"), expand="version")
        assert page["version"]["by"]["username"] == "alice"
        assert dc.session().get(dc.url + "/wiki/api/v2/pages").status_code == 404


# -- v2 --------------------------------------------------------------------------------


def test_v2_pages_page_through_link_headers(site: Site) -> None:
    """v2 listing: the cursor is in both `Link` and `_links.next`; the library walks it."""
    session = site.session()
    first = session.get(
        site.url + "/wiki/api/v2/pages",
        params={"limit": "10", "body-format": "storage", "title": "Postmortem 003"},
    )
    assert first.status_code == 200
    assert [p["title"] for p in first.json()["results"]] == ["Postmortem 003"]
    listing = session.get(site.url + "/wiki/api/v2/pages", params={"limit": 10})
    body = listing.json()
    next_link = body["_links"]["next"]
    assert next_link.startswith("/wiki/api/v2/pages?")
    assert listing.headers["Link"] == (f'<{next_link}>; rel="next", <{site.url}/wiki>; rel="base"')
    assert "body" not in body["results"][0] or body["results"][0]["body"] == {}
    every = site.v2().get_pages(limit=25, body_format="storage")
    with site.state.lock:
        total = site.state.db.execute("SELECT COUNT(*) FROM content").fetchone()[0]
    assert len(every) == total
    assert len({p["id"] for p in every}) == total
    assert every[0]["body"]["storage"]["representation"] == "storage"
    capped = session.get(site.url + "/wiki/api/v2/pages", params={"limit": 1000}).json()
    assert len(capped["results"]) == min(total, V2_LIMIT_CAP)


def test_v2_get_and_update_a_page_with_the_409_rule(site: Site) -> None:
    """v2 GET/PUT: version current+1 writes (re-serialised); a stale version is 409."""
    page_id = _new_page(site, "Edited through v2")
    session = site.session()
    url = f"{site.url}/wiki/api/v2/pages/{page_id}"
    page = session.get(url, params={"body-format": "storage"}).json()
    assert page["version"]["number"] == 1
    assert page["spaceId"]
    assert page["_links"]["base"] == site.url + "/wiki"

    def put(number: int) -> requests.Response:
        return session.put(
            url,
            json={
                "id": str(page_id),
                "status": "current",
                "title": "Edited through v2",
                "body": {"representation": "storage", "value": "<p a='1'>v&nbsp;2</p>"},
                "version": {"number": number, "message": "v2 edit"},
            },
        )

    done = put(2)
    assert done.status_code == 200, done.text
    assert done.json()["version"]["number"] == 2
    assert done.json()["body"]["storage"]["value"] == '<p a="1">v\u00a02</p>'
    stale = put(2)
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["title"] == (
        "Version must be incremented on update. Current version is: 2"
    )


# -- auth (the app's) ------------------------------------------------------------------


def test_no_or_wrong_credentials_are_a_401_and_read_only_writes_a_403(site: Site) -> None:
    """The app's auth: 401 without valid credentials, 403 for a read-only user's write."""
    url = site.url + "/wiki/rest/api/content/search"
    assert requests.get(url, params={"cql": "label = postmortem"}, timeout=5).status_code == 401
    wrong = requests.get(url, params={"cql": "x"}, auth=(ALICE.email, "nope"), timeout=5)
    assert wrong.status_code == 401
    bob = site.session(BOB)
    assert bob.get(url, params={"cql": "label = postmortem"}).status_code == 200
    write = bob.post(site.url + "/wiki/rest/api/content", json={"type": "page"})
    assert write.status_code == 403


def test_every_checked_response_went_through_the_spec(site: Site, spec_check: SpecCheck) -> None:
    """The response hook really validates: answers are counted, a wrong shape fails."""
    from sandbox_support import require_specs

    require_specs()
    checked = spec_check.validator.checked
    before = sum(checked.values())
    site.session().get(site.url + "/wiki/rest/api/user/current").raise_for_status()
    assert sum(checked.values()) == before + 1
    assert checked["GET /wiki/rest/api/content/search"] > 0
    assert checked["GET /wiki/api/v2/pages"] > 0
    fake = requests.Response()
    fake.status_code = 200
    fake.headers["content-type"] = "application/json"
    fake._content = b'{"results": "not a list", "_links": {}, "size": 0}'
    fake.url = site.url + "/wiki/rest/api/content/search"
    fake.request = requests.Request("GET", fake.url).prepare()
    with pytest.raises(AssertionError, match="does not match confluence-v1"):
        spec_check.validator.check(fake)


def test_reserialised_bodies_parse_as_xml_fragments() -> None:
    """What the sandbox stores is a well-formed fragment by lxml's own reading too."""
    stored = reserialize_storage(AS_WRITTEN)
    assert (
        etree.fromstring(
            f'<r xmlns:ac="{AC_NS}" xmlns:ri="http://atlassian.com/resource/identifier">'
            f"{stored}</r>".encode()
        )
        is not None
    )
