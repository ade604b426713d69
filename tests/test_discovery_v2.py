"""Discovery on Confluence Cloud through the v2 API: a plain label query is answered by
`GET /wiki/api/v2/labels/{id}/pages` (bodies included, up to 250 a request, paged by
the `Link` header) with exactly the pages the CQL search finds; anything more than a
label and spaces, a label look-up that fails, and Data Center keep CQL."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import requests
from sandbox_support import OpenApiValidator, reset_server

from followup.adapters import ConfluenceAdapter, RateLimiter, RequestStats, RetryBudget, RetryPolicy
from followup.commands.sites import from_settings
from followup.core.label_query import LabelQuery, label_query
from followup.core.model import Page
from followup.core.queries import postmortem_cql
from followup.sandbox import control
from followup.sandbox.confluence import labels_v2
from followup.sandbox.seed import DEMO_ADMIN, synthetic_dataset
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings

POSTMORTEMS = 'type = page AND label = "postmortem"'
LABEL = "GET /wiki/rest/api/label"
V2_PAGES = "GET /wiki/api/v2/labels/{id}/pages"
V2_SPACES = "GET /wiki/api/v2/spaces"
CQL = "GET /wiki/rest/api/content/search"
SERVER_INFO = "GET /rest/api/2/serverInfo"  # Jira's deployment, which Confluence's follows
PAGES = 300


# -- which queries are plain label queries ---------------------------------------------


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        (postmortem_cql(POSTMORTEMS), LabelQuery("postmortem")),
        ('label = "postmortem"', LabelQuery("postmortem")),
        ("label=PostMortem and TYPE = 'page'", LabelQuery("postmortem")),
        (
            postmortem_cql(POSTMORTEMS, spaces=["OPS", "~jo.smith"]),
            LabelQuery("postmortem", ("OPS", "~jo.smith")),
        ),
        ('space.key = SRE AND (label = "pm")', LabelQuery("pm", ("SRE",))),
        ('label = "x" OR label = "y"', None),
        ('label = "x" AND NOT space = "OPS"', None),
        ('label = "x" ORDER BY created DESC', None),
        ('label = "x" AND lastmodified >= "2026-11-26 10:00"', None),
        ('label in ("x", "y")', None),
        ('label = "x" AND label = "y"', None),
        ('label = "x" AND space = "A" AND space = "B"', None),
        ('label = "x" AND space = currentSpace()', None),
        ('label = "x" AND type = blogpost', None),
        ('label != "x"', None),
        ('label ~ "x"', None),
        ('label = "my:x"', None),
        ('label = "two words"', None),
        ('space = "OPS"', None),
        (postmortem_cql(POSTMORTEMS, page_ids=["98000001"]), None),
        ('(label = "x"', None),
        ('label = "x" AND space = "no spaces"', None),
    ],
)
def test_a_plain_label_query_is_recognised_and_nothing_more(
    cql: str, expected: LabelQuery | None
) -> None:
    assert label_query(cql) == expected


# -- against the sandbox ---------------------------------------------------------------


def _adapter(
    server: RunningSandbox, validator: OpenApiValidator, *, cloud: bool
) -> ConfluenceAdapter:
    confluence = ConfluenceAdapter(
        f"{server.url}/wiki",
        DEMO_ADMIN.email,
        str(DEMO_ADMIN.token),
        cloud=cloud,
        timeout=10,
        limiter=RateLimiter(10_000.0, sleep=lambda s: None),
        retry=RetryPolicy(budget=RetryBudget(30), sleep=lambda s: None),
        stats=RequestStats(),
    )
    confluence.client.session.hooks["response"].append(validator.hook)
    return confluence


def _routes(server: RunningSandbox) -> Counter[str]:
    return Counter(server.stats.snapshot()["by_route"])


def _found(adapter: ConfluenceAdapter, cql: str, server: RunningSandbox) -> list[Page]:
    server.stats.reset()
    return sorted(adapter.find_pages(cql), key=lambda p: int(p.id))


@pytest.fixture(scope="module")
def seeded(sandbox_server: RunningSandbox) -> Any:
    reset_server(sandbox_server, synthetic_dataset(pages=PAGES, items_per_page=1, seed=5))
    yield sandbox_server
    reset_server(sandbox_server)


def test_cloud_label_query_reads_250_pages_a_request_what_cql_reads(
    seeded: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """300 postmortems: the label's id, two v2 requests (250 + 50, bodies included),
    one space look-up; every page exactly as the CQL search gives it (id, title, space,
    version, body, address, creation, author), each once."""
    by_cql = _found(_adapter(seeded, openapi, cloud=False), POSTMORTEMS, seeded)
    assert _routes(seeded) == Counter({CQL: math.ceil(PAGES / 25)})
    by_v2 = _found(_adapter(seeded, openapi, cloud=True), POSTMORTEMS, seeded)
    assert _routes(seeded) == Counter({LABEL: 1, V2_PAGES: math.ceil(PAGES / 250), V2_SPACES: 1})
    assert len(by_v2) == PAGES
    assert by_v2 == by_cql
    assert all(p.body and p.space_key and p.url and p.created and p.author for p in by_v2)


def test_the_page_size_the_server_grants_is_taken(
    seeded: RunningSandbox, openapi: OpenApiValidator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that grants 40 where 250 were asked for: followed through the `Link`
    header to the end, every page once, nothing lost."""
    monkeypatch.setattr(labels_v2, "V2_LIMIT_CAP", 40)
    pages = _found(_adapter(seeded, openapi, cloud=True), POSTMORTEMS, seeded)
    assert len({p.id for p in pages}) == len(pages) == PAGES
    assert _routes(seeded)[V2_PAGES] == math.ceil(PAGES / 40)


def test_spaces_are_filtered_by_their_ids(
    seeded: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """Two of the four spaces: their ids looked up by key once, the pages asked for
    in those spaces only; the same pages as CQL's `space in (...)`."""
    keys = sorted(
        {p.space_key for p in _found(_adapter(seeded, openapi, cloud=True), POSTMORTEMS, seeded)}
    )
    cql = postmortem_cql(POSTMORTEMS, spaces=keys[:2])
    by_cql = _found(_adapter(seeded, openapi, cloud=False), cql, seeded)
    by_v2 = _found(_adapter(seeded, openapi, cloud=True), cql, seeded)
    assert _routes(seeded) == Counter({LABEL: 1, V2_SPACES: 1, V2_PAGES: 1})
    assert by_v2 == by_cql
    assert {p.space_key for p in by_v2} == set(keys[:2])
    assert len(by_v2) == PAGES // 2


def test_pages_wanted_with_their_labels_and_ancestors_are_read_by_cql(
    seeded: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """Routing on labels or parent pages needs each page's labels and ancestors, which
    the v2 pages do not carry: discovery keeps the CQL search, and the pages have them."""
    wiki = ConfluenceAdapter(
        f"{seeded.url}/wiki",
        DEMO_ADMIN.email,
        str(DEMO_ADMIN.token),
        cloud=True,
        limiter=RateLimiter(10_000.0, sleep=lambda s: None),
        page_metadata=True,
    )
    try:
        pages = _found(wiki, POSTMORTEMS, seeded)
    finally:
        wiki.close()
    assert len(pages) == PAGES
    assert set(_routes(seeded)) == {CQL}
    assert all("postmortem" in p.labels for p in pages)


def test_what_v2_cannot_answer_exactly_is_left_to_cql(
    seeded: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """A key not written as the space's own (CQL may match it regardless of case), a
    label no page carries, a query with OR: CQL answers, with CQL's answer."""
    cloud = _adapter(seeded, openapi, cloud=True)
    key = _found(cloud, POSTMORTEMS, seeded)[0].space_key
    cql = postmortem_cql(POSTMORTEMS, spaces=[key.lower()])
    expected = _found(_adapter(seeded, openapi, cloud=False), cql, seeded)
    assert _found(cloud, cql, seeded) == expected
    assert _routes(seeded)[CQL] >= 1
    assert V2_PAGES not in _routes(seeded)

    assert _found(cloud, 'type = page AND label = "no-such-label"', seeded) == []
    assert _routes(seeded) == Counter({LABEL: 1, CQL: 1})

    either = 'label = "postmortem" OR label = "incident"'
    assert len(_found(cloud, either, seeded)) == PAGES
    assert set(_routes(seeded)) == {CQL}


def test_v2_label_pages_are_cloud_only_and_follow_the_spec(
    seeded: RunningSandbox, dc_sandbox_server: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """The sandbox's label look-up and v2 label pages answer as the documents say:
    `Link` and `_links.next` agree, `limit` is capped at 250; Data Center has no v2."""
    session = openapi.attach(requests.Session())
    session.auth = (DEMO_ADMIN.email, str(DEMO_ADMIN.token))
    label = session.get(
        f"{seeded.url}/wiki/rest/api/label", params={"name": "postmortem"}, timeout=10
    )
    assert label.ok, label.text
    label_id = label.json()["label"]["id"]
    first = session.get(
        f"{seeded.url}/wiki/api/v2/labels/{label_id}/pages",
        params={"body-format": "storage", "limit": 1000},
        timeout=10,
    )
    assert first.ok, first.text
    assert len(first.json()["results"]) == 250
    assert first.links["next"]["url"] == first.json()["_links"]["next"]
    rest = session.get(f"{seeded.url}{first.links['next']['url']}", timeout=10)
    assert len(rest.json()["results"]) == PAGES - 250
    assert "next" not in rest.links
    assert session.get(f"{seeded.url}/wiki/api/v2/labels/1/pages", timeout=10).status_code == 404
    env = control.env_for(dc_sandbox_server.state, dc_sandbox_server.url)
    for path in (f"/wiki/api/v2/labels/{label_id}/pages", "/wiki/rest/api/label?name=postmortem"):
        dc = requests.get(
            f"{dc_sandbox_server.url}{path}",
            auth=(env["FOLLOWUP_CONFLUENCE__EMAIL"], env["FOLLOWUP_CONFLUENCE__TOKEN"]),
            timeout=10,
        )
        assert dc.status_code == 404


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_configured_sites_discover_by_label_on_cloud_and_by_cql_on_data_center(
    flavor: str,
    seeded: RunningSandbox,
    sandbox_server: RunningSandbox,
    dc_sandbox_server: RunningSandbox,
) -> None:
    """Through the settings, as every command opens the sites: Cloud (told by Jira's
    `serverInfo`) uses the v2 API, Data Center (which has none) CQL, 50 pages with
    bodies a request. (After the tests on the seeded site, which this reseeds.)"""
    server = sandbox_server if flavor == "cloud" else dc_sandbox_server
    reset_server(server, synthetic_dataset(pages=60, items_per_page=1, seed=2, flavor=flavor))  # type: ignore[arg-type]
    try:
        settings = load_settings(None, env=control.env_for(server.state, server.url))
        adapters = from_settings(settings, sleep=lambda s: None)
        try:
            pages = list(adapters.confluence.find_pages(postmortem_cql(settings.confluence.cql)))
        finally:
            adapters.close()
        assert len(pages) == 60
        routes = _routes(server)
        if flavor == "cloud":
            assert routes == Counter({SERVER_INFO: 1, LABEL: 1, V2_PAGES: 1, V2_SPACES: 1})
        else:
            assert routes == Counter({SERVER_INFO: 1, CQL: math.ceil(60 / 50)})
    finally:
        reset_server(server)


def test_a_next_link_never_leads_the_credentials_to_another_host() -> None:
    """The `Link` header's next is a path from the site's root; a link naming another
    host keeps only its path and query, on the configured site."""
    wiki = ConfluenceAdapter("https://acme.atlassian.net/wiki", "a@b.c", "t", cloud=True)
    try:
        assert wiki._v2_next_url("/wiki/api/v2/labels/7/pages?cursor=x") == (
            "https://acme.atlassian.net/wiki/api/v2/labels/7/pages?cursor=x"
        )
        assert wiki._v2_next_url("https://evil.example/wiki/api/v2/spaces?cursor=y") == (
            "https://acme.atlassian.net/wiki/api/v2/spaces?cursor=y"
        )
        assert wiki._v2_next_url("/api/v2/spaces?cursor=z") == (
            "https://acme.atlassian.net/wiki/api/v2/spaces?cursor=z"
        )
    finally:
        wiki.close()
