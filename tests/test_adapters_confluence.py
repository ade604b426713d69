"""ConfluenceAdapter against the real sandbox: the capped CQL search paged through to
the end, page reads and version-checked writes, content properties as
compare-and-swap, Data Center user lookups, and the failures (401, 429, a lost
answer). Answers are checked against the OpenAPI document as they arrive."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import requests
from sandbox_support import OpenApiValidator, reset_server

from followup import errors
from followup.adapters import ConfluenceAdapter, RateLimiter, RequestStats, RetryBudget, RetryPolicy
from followup.sandbox.seed import DEMO_ADMIN, PRIYA, synthetic_dataset
from followup.sandbox.server import RunningSandbox

POSTMORTEMS = 'type = page AND label = "postmortem"'


class Sleeps:
    """An injected sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def adapter(
    server: RunningSandbox,
    sleeps: Sleeps,
    validator: OpenApiValidator,
    *,
    token: str | None = None,
    budget: float = 120.0,
    page_size: int = 50,
) -> ConfluenceAdapter:
    confluence = ConfluenceAdapter(
        f"{server.url}/wiki",
        DEMO_ADMIN.email,
        token if token is not None else str(DEMO_ADMIN.token),
        timeout=10,
        limiter=RateLimiter(1000.0, sleep=sleeps),
        retry=RetryPolicy(budget=RetryBudget(budget), sleep=sleeps),
        stats=RequestStats(),
        page_size=page_size,
    )

    # Only 2xx answers are checked: the v1 document lists Confluence's error statuses
    # without a body, so sandbox_support's validator rejects any JSON error body.
    def check(response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.status_code < 400:
            validator.check(response)

    confluence.client.session.hooks["response"].append(check)
    return confluence


@pytest.fixture
def wiki(sandbox: RunningSandbox, sleeps: Sleeps, openapi: OpenApiValidator) -> ConfluenceAdapter:
    """The adapter on the Cloud sandbox holding the demo site."""
    return adapter(sandbox, sleeps, openapi)


def routes(server: RunningSandbox) -> dict[str, int]:
    stats: dict[str, Any] = requests.get(f"{server.url}/_sandbox/stats", timeout=10).json()
    return dict(stats["by_route"])


def set_faults(server: RunningSandbox, **config: Any) -> None:
    response = requests.put(f"{server.url}/_sandbox/faults", json=config, timeout=10)
    assert response.ok, response.text


def first_postmortem(wiki: ConfluenceAdapter) -> str:
    return next(iter(wiki.find_pages(POSTMORTEMS))).id


# -- search --------------------------------------------------------------------------


def test_cql_search_pages_past_the_server_cap_each_page_once(
    sandbox_server: RunningSandbox, sleeps: Sleeps, openapi: OpenApiValidator
) -> None:
    """60 postmortems, asked for 50 at a time, capped at 25 by the server: three
    requests following `_links.next`, every page exactly once, bodies included."""
    dataset = synthetic_dataset(pages=60, items_per_page=2, seed=11)
    reset_server(sandbox_server, dataset)
    expected = sum("postmortem" in p.labels for p in dataset.pages)
    wiki = adapter(sandbox_server, sleeps, openapi, page_size=50)
    pages = list(wiki.find_pages(POSTMORTEMS))
    assert len(pages) == expected == 60
    assert len({p.id for p in pages}) == expected
    assert all(p.body and p.version == 1 and p.space_key for p in pages)
    assert routes(sandbox_server)["GET /wiki/rest/api/content/search"] == math.ceil(expected / 25)


def test_search_with_no_match_is_one_request(
    wiki: ConfluenceAdapter, sandbox: RunningSandbox
) -> None:
    """Nothing found: one request, no pages."""
    assert list(wiki.find_pages('type = page AND label = "no-such-label"')) == []
    assert routes(sandbox) == {"GET /wiki/rest/api/content/search": 1}


def test_bad_cql_is_a_bad_request_with_the_reason(wiki: ConfluenceAdapter) -> None:
    """Unparseable CQL is a BadRequestError carrying Confluence's message."""
    with pytest.raises(errors.BadRequestError) as raised:
        list(wiki.find_pages("type = = page"))
    assert "cql" in raised.value.message.lower()


# -- pages ---------------------------------------------------------------------------


def test_get_page_maps_every_field(wiki: ConfluenceAdapter, sandbox: RunningSandbox) -> None:
    """A page read has its body, version, space, web URL, creator and creation time."""
    found = next(iter(wiki.find_pages(POSTMORTEMS)))
    page = wiki.get_page(found.id)
    assert page == found
    assert page.body.strip()
    assert page.version >= 1
    assert page.space_key in ("SRE", "PAY")
    assert page.url.startswith(f"{sandbox.url}/wiki/spaces/{page.space_key}/pages/{page.id}")
    assert page.author
    assert page.created is not None
    with pytest.raises(errors.NotFoundError):
        wiki.get_page("1")


def test_update_page_writes_the_next_version_as_a_minor_edit(
    wiki: ConfluenceAdapter, sandbox: RunningSandbox
) -> None:
    """The PUT carries version read + 1; the page comes back at that version, and the
    version is kept as a minor edit with our message."""
    page = wiki.get_page(first_postmortem(wiki))
    body = page.body + "<p>followup was here</p>"
    written = wiki.update_page(page, body, message="followup: badges")
    assert written.version == page.version + 1
    assert "followup was here" in written.body
    again = wiki.get_page(page.id)
    assert again.version == page.version + 1
    assert "followup was here" in again.body
    version = requests.get(
        f"{sandbox.url}/wiki/rest/api/content/{page.id}/version/{written.version}",
        auth=(DEMO_ADMIN.email, str(DEMO_ADMIN.token)),
        timeout=10,
    ).json()
    assert version["minorEdit"] is True
    assert version["message"] == "followup: badges"


def test_stale_version_is_a_conflict_and_the_other_edit_survives(
    wiki: ConfluenceAdapter,
) -> None:
    """A page edited by someone since our read is not overwritten: ConflictError, and
    the other edit is still there."""
    page = wiki.get_page(first_postmortem(wiki))
    wiki.update_page(page, page.body + "<p>a person's edit</p>", message="person")
    with pytest.raises(errors.ConflictError) as raised:
        wiki.update_page(page, page.body + "<p>FOLLOWUP-MARKER</p>", message="followup")
    assert raised.value.status == 409
    assert "version" in raised.value.message.lower()
    now = wiki.get_page(page.id)
    assert "a person's edit" in now.body
    assert "FOLLOWUP-MARKER" not in now.body


def test_lost_answer_on_a_page_write_is_retried_into_a_conflict(
    wiki: ConfluenceAdapter, sandbox: RunningSandbox
) -> None:
    """A page PUT whose answer is lost is repeated (idempotent by version): the repeat
    finds the version taken and reports ConflictError, so the caller re-reads; the
    write itself happened exactly once."""
    page = wiki.get_page(first_postmortem(wiki))
    set_faults(sandbox, drop_write_numbers=[1], drop_mode="close")
    with pytest.raises(errors.ConflictError):
        wiki.update_page(page, page.body + "<p>once</p>", message="followup")
    assert wiki.get_page(page.id).version == page.version + 1
    assert routes(sandbox)["PUT /wiki/rest/api/content/{id}"] == 2
    assert wiki.stats.retries() == 1


# -- properties ----------------------------------------------------------------------


def test_content_properties_are_compare_and_swap(wiki: ConfluenceAdapter) -> None:
    """Create is version 1 and fails when the key exists; update needs current + 1."""
    page_id = first_postmortem(wiki)
    assert wiki.get_property(page_id, "followup-lease") is None
    created = wiki.create_property(page_id, "followup-lease", {"owner": "run-1"})
    assert (created.key, created.value, created.version) == (
        "followup-lease",
        {"owner": "run-1"},
        1,
    )
    with pytest.raises(errors.ConflictError):
        wiki.create_property(page_id, "followup-lease", {"owner": "run-2"})
    updated = wiki.update_property(page_id, "followup-lease", {"owner": "run-1b"}, version=2)
    assert (updated.value, updated.version) == ({"owner": "run-1b"}, 2)
    with pytest.raises(errors.ConflictError):
        wiki.update_property(page_id, "followup-lease", {"owner": "run-2"}, version=2)
    current = wiki.get_property(page_id, "followup-lease")
    assert current is not None
    assert (current.value, current.version) == ({"owner": "run-1b"}, 2)


# -- users ---------------------------------------------------------------------------


def test_data_center_users_by_key_and_username(
    dc_sandbox_server: RunningSandbox, sleeps: Sleeps, openapi: OpenApiValidator
) -> None:
    """On Data Center a mention's userkey or username resolves to the user; an unknown
    one is None."""
    reset_server(dc_sandbox_server)
    wiki = adapter(dc_sandbox_server, sleeps, openapi)
    by_key = wiki.get_user(userkey=PRIYA.key)
    assert by_key is not None
    assert (by_key.username, by_key.userkey, by_key.display_name) == (
        PRIYA.name,
        PRIYA.key,
        PRIYA.display_name,
    )
    assert wiki.get_user(username=PRIYA.name) == by_key
    assert wiki.get_user(username="no.such.person") is None
    pages = list(wiki.find_pages(POSTMORTEMS))
    assert pages
    assert all(p.author and not p.author.startswith("712020:") for p in pages)


# -- failures ------------------------------------------------------------------------


def test_bad_token_is_an_authentication_error_without_the_token(
    sandbox: RunningSandbox, sleeps: Sleeps, openapi: OpenApiValidator
) -> None:
    """401 reaches our tree as AuthenticationError, and no message holds the token."""
    token = "not-the-token-9876543210"
    wiki = adapter(sandbox, sleeps, openapi, token=token)
    with pytest.raises(errors.AuthenticationError) as raised:
        list(wiki.find_pages(POSTMORTEMS))
    error = raised.value
    assert (error.status, error.setup_problem) == (401, True)
    text = error.show() + json.dumps(error.details) + repr(error.args)
    assert token not in text
    assert "Authorization" not in text


def test_429_storm_is_ridden_out_honouring_retry_after(
    sandbox_server: RunningSandbox, sleeps: Sleeps, openapi: OpenApiValidator
) -> None:
    """Under a storm of 429s (Retry-After: 3) the search still returns every page once;
    each retry waited at least 3 s (recorded, not slept) and the limiter slowed down."""
    reset_server(sandbox_server, synthetic_dataset(pages=60, items_per_page=1, seed=5))
    wiki = adapter(sandbox_server, sleeps, openapi, budget=600)
    set_faults(sandbox_server, rate_429=0.5, retry_after_s=3, seed=2)
    pages = list(wiki.find_pages(POSTMORTEMS))
    assert len({p.id for p in pages}) == len(pages) == 60
    retries = wiki.stats.retries("confluence")
    assert retries > 0
    assert wiki.stats.requests("confluence", 429) == retries
    assert len([w for w in sleeps.waits if w >= 3.0]) >= retries
    assert wiki.transport.limiter.rate < 1000.0


def test_503_and_502_on_reads_are_retried(wiki: ConfluenceAdapter, sandbox: RunningSandbox) -> None:
    """Refused reads (502, 503) are repeated until they succeed."""
    page_id = first_postmortem(wiki)
    set_faults(sandbox, rate_5xx=0.6, retry_after_s=1, seed=4)
    for _ in range(5):
        assert wiki.get_page(page_id).id == page_id
    assert wiki.stats.retries() > 0


def test_dropped_connection_on_a_property_create_is_ambiguous(
    wiki: ConfluenceAdapter, sandbox: RunningSandbox
) -> None:
    """A property POST whose answer is lost is not repeated: ConnectivityError."""
    page_id = first_postmortem(wiki)
    set_faults(sandbox, drop_write_numbers=[1], drop_mode="close")
    with pytest.raises(errors.ConnectivityError) as raised:
        wiki.create_property(page_id, "followup-lease", {"owner": "run-1"})
    assert raised.value.ambiguous
    assert routes(sandbox)["POST /wiki/rest/api/content/{id}/property"] == 1


def test_space_exists_asks_for_the_one_space(
    wiki: ConfluenceAdapter, sandbox: RunningSandbox, openapi: OpenApiValidator
) -> None:
    """`space_exists` is one GET of the space, answered in the document's Space shape:
    True for a space of the site, False for a key it does not have (404)."""
    before = openapi.checked["GET /wiki/rest/api/space/SRE"]
    assert wiki.space_exists("SRE") is True
    assert wiki.space_exists("NOPE") is False
    assert routes(sandbox)["GET /wiki/rest/api/space/{spaceKey}"] == 2
    if openapi.enabled:
        assert openapi.checked["GET /wiki/rest/api/space/SRE"] == before + 1
