"""JiraAdapter against the real sandbox (Cloud, and Data Center where they differ):
paging, bulk creates, writes, transitions, users, and what happens when the site
rate-limits, fails, or loses a response. Every answer is checked against the OpenAPI
document as it arrives (the `openapi` validator hooked on the adapter's session)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sandbox_support import ADMIN, ALICE, BOB, GONE, JiraSite, OpenApiValidator

from followup import errors
from followup.adapters import JiraAdapter, RateLimiter, RequestStats, RetryBudget, RetryPolicy
from followup.core.model import SyncBase, TicketProperty
from followup.ports import FieldUpdate, NewTicket
from followup.sandbox.state import User


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
    site: JiraSite,
    sleeps: Sleeps,
    *,
    user: User = ADMIN,
    token: str | None = None,
    budget: float = 120.0,
    page_size: int = 100,
) -> JiraAdapter:
    jira = JiraAdapter(
        site.url,
        user.email,
        token if token is not None else (user.token or ""),
        project="OPS",
        timeout=10,
        limiter=RateLimiter(1000.0, sleep=sleeps),
        retry=RetryPolicy(budget=RetryBudget(budget), sleep=sleeps),
        stats=RequestStats(),
        page_size=page_size,
    )
    site.validator.attach(jira.client._session)
    return jira


@pytest.fixture(params=["cloud", "datacenter"])
def any_site(request: pytest.FixtureRequest) -> JiraSite:
    """The Cloud and the Data Center sandbox, each holding the mini dataset."""
    name = "jira_site" if request.param == "cloud" else "dc_jira_site"
    site: JiraSite = request.getfixturevalue(name)
    return site


def user_id(site: JiraSite, user: User) -> str:
    return user.account_id if site.server.state.flavor == "cloud" else user.name


def new_ticket(n: int, *, label: str = "bulk", **overrides: Any) -> NewTicket:
    fields: dict[str, Any] = {
        "ref": f"2001:task:{n}",
        "summary": f"Action item {n}",
        "description": f"From the postmortem, item {n}",
        "labels": ("followup", "followup-2001", label),
        "due": date(2025, 1, 1 + n % 28),
        "assignee": None,
        "priority": None,
        "prop": TicketProperty(item=f"2001:task:{n}", page="2001", base=None),
        "link_url": "https://example.test/wiki/pages/2001",
        "link_title": "Postmortem 2001",
    }
    fields.update(overrides)
    return NewTicket(**fields)


def route_count(site: JiraSite, route: str) -> int:
    return int(site.stats()["by_route"].get(route, 0))


# -- reads ---------------------------------------------------------------------------


def test_deployment_comes_from_server_info(any_site: JiraSite, sleeps: Sleeps) -> None:
    """serverInfo's deploymentType tells Cloud from Data Center, asked once."""
    jira = adapter(any_site, sleeps)
    expected = "cloud" if any_site.server.state.flavor == "cloud" else "datacenter"
    assert jira.deployment == expected
    assert jira.deployment == expected
    assert route_count(any_site, "GET /rest/api/2/serverInfo") == 1


def test_get_ticket_maps_every_field(any_site: JiraSite, sleeps: Sleeps) -> None:
    """A ticket carries summary, assignee (accountId or name), due date, status and
    its category, labels and the followup property; an unknown key is None."""
    jira = adapter(any_site, sleeps)
    ticket = jira.get_ticket("OPS-1")
    assert ticket is not None
    assert ticket.key == "OPS-1"
    assert ticket.summary == "Add an alert on replica lag"
    assert ticket.assignee == user_id(any_site, ALICE)
    assert ticket.assignee_display == ALICE.display_name
    assert ticket.due == date(2024, 6, 1)
    assert (ticket.status, ticket.status_category, ticket.done) == ("To Do", "new", False)
    assert ticket.labels == ("followup", "followup-1001")
    assert ticket.prop == TicketProperty(item="1001:task:1", page="1001", base=None)
    assert ticket.created is not None
    done = jira.get_ticket("OPS-2")
    assert done is not None
    assert (done.status_category, done.resolution) == ("done", "Done")
    assert done.resolved is not None
    assert jira.get_ticket("OPS-999") is None


def test_search_pages_past_one_page_each_ticket_once(any_site: JiraSite, sleeps: Sleeps) -> None:
    """130 tickets come back from a paged search, each once, in two requests, with
    their property; the Cloud search is /rest/api/3/search/jql, DC /rest/api/2/search."""
    jira = adapter(any_site, sleeps)
    created = jira.create_tickets([new_ticket(n) for n in range(130)])
    assert all(r.key for r in created)
    found = list(jira.search_tickets("labels = bulk ORDER BY key"))
    assert len(found) == 130
    assert len({t.key for t in found}) == 130
    assert {t.prop.item for t in found if t.prop} == {f"2001:task:{n}" for n in range(130)}
    route = (
        "GET /rest/api/3/search/jql"
        if any_site.server.state.flavor == "cloud"
        else "GET /rest/api/2/search"
    )
    assert route_count(any_site, route) == 2


def test_search_does_not_trust_the_page_size(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """Asking for 150 a page, the Cloud server gives at most 100: the adapter follows
    the token until isLast and loses nothing."""
    jira = adapter(jira_site, sleeps, page_size=150)
    jira.create_tickets([new_ticket(n) for n in range(120)])
    jira_site.server.stats.reset()
    assert len(list(jira.search_tickets("labels = bulk"))) == 120
    assert route_count(jira_site, "GET /rest/api/3/search/jql") == 2


def test_a_long_jql_is_posted(any_site: JiraSite, sleeps: Sleeps) -> None:
    """A JQL too long for a URL (a batch of page labels) goes in a POST body, paged
    the same way."""
    jira = adapter(any_site, sleeps, page_size=10)
    jira.create_tickets([new_ticket(n) for n in range(25)])
    labels = ", ".join(["bulk", *(f"followup-{n}" for n in range(100000, 100300))])
    jql = f"labels in ({labels})"
    assert len(jql) > 1500
    assert len({t.key for t in jira.search_tickets(jql)}) == 25
    route = (
        "POST /rest/api/3/search/jql"
        if any_site.server.state.flavor == "cloud"
        else "POST /rest/api/2/search"
    )
    assert route_count(any_site, route) == 3


def test_search_of_nothing_is_one_request(any_site: JiraSite, sleeps: Sleeps) -> None:
    """An empty result ends the loop at once."""
    jira = adapter(any_site, sleeps)
    jira.deployment  # noqa: B018 - serverInfo first, so only the search is counted below
    any_site.server.stats.reset()
    assert list(jira.search_tickets("labels = nothing-has-this")) == []
    assert any_site.stats()["requests"] == 1


# -- creates -------------------------------------------------------------------------


def test_bulk_create_chunks_by_50_and_reports_each_element(
    any_site: JiraSite, sleeps: Sleeps
) -> None:
    """61 creates go as 2 requests; a failing element (an unknown priority, a summary
    with a bad due date) gets its error, matched by its position within its chunk; the
    others get their keys, the property and the assignee."""
    jira = adapter(any_site, sleeps)
    tickets = [new_ticket(n, assignee=user_id(any_site, ALICE)) for n in range(61)]
    tickets[3] = new_ticket(3, priority="Not A Priority")
    tickets[55] = new_ticket(55, labels=("has space",))
    results = jira.create_tickets(tickets)
    assert [r.ref for r in results] == [t.ref for t in tickets]
    assert results[3].key is None
    assert results[3].error is not None
    assert "priority" in results[3].error.lower()
    assert results[55].key is None
    assert results[55].error is not None
    assert "label" in results[55].error.lower()
    ok = [r for i, r in enumerate(results) if i not in (3, 55)]
    assert all(r.key and r.error is None for r in ok)
    assert route_count(any_site, "POST /rest/api/2/issue/bulk") == 2
    first = jira.get_ticket(str(results[0].key))
    assert first is not None
    assert first.assignee == user_id(any_site, ALICE)
    assert first.prop == tickets[0].prop
    assert first.due == tickets[0].due
    assert set(first.labels) == {"bulk", "followup", "followup-2001"}


def test_a_chunk_that_fails_entirely_gives_errors_not_an_exception(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """When every element of a chunk fails, Jira answers 400 in the bulk shape: each
    element gets its own error."""
    jira = adapter(jira_site, sleeps)
    results = jira.create_tickets([new_ticket(1, priority="Nope"), new_ticket(2, priority="Nah")])
    assert [r.key for r in results] == [None, None]
    assert all(r.error and "priority" in r.error.lower() for r in results)


def test_summary_is_one_line_and_cut_to_255(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """A long or multi-line action text still makes a valid summary."""
    jira = adapter(jira_site, sleeps)
    [result] = jira.create_tickets([new_ticket(1, summary="line one\nline two " + "x" * 400)])
    assert result.key
    ticket = jira.get_ticket(result.key)
    assert ticket is not None
    assert ticket.summary.startswith("line one line two x")
    assert len(ticket.summary) == 255


def test_dropped_create_response_is_ambiguous_and_not_retried(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """The server creates the issues but the connection drops before the answer: the
    adapter raises the ambiguous ConnectivityError after exactly one create request,
    and the issues are there for the engine's re-search to find."""
    jira = adapter(jira_site, sleeps)
    jira.deployment  # noqa: B018
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="close")
    with pytest.raises(errors.ConnectivityError) as raised:
        jira.create_tickets([new_ticket(n) for n in range(3)])
    assert raised.value.ambiguous
    assert route_count(jira_site, "POST /rest/api/2/issue/bulk") == 1
    assert jira.stats.retries() == 0
    jira_site.set_faults()
    assert len(list(jira.search_tickets("labels = bulk"))) == 3


def test_a_502_after_an_earlier_chunk_keeps_what_was_created(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """A 502 on the second chunk raises the ambiguous ServerError at once; the first
    chunk's keys travel in the error's details."""
    jira = adapter(jira_site, sleeps)
    jira.deployment  # noqa: B018
    jira_site.set_faults(drop_write_numbers=[2], drop_mode="502")
    with pytest.raises(errors.ServerError) as raised:
        jira.create_tickets([new_ticket(n) for n in range(60)])
    assert raised.value.ambiguous
    assert len(raised.value.details["created"]) == 50
    assert route_count(jira_site, "POST /rest/api/2/issue/bulk") == 2


# -- writes --------------------------------------------------------------------------


def test_update_ticket_sets_fields_and_adds_labels(any_site: JiraSite, sleeps: Sleeps) -> None:
    """Summary, assignee and due date are set; labels are added, not replaced; None
    clears assignee and due date."""
    jira = adapter(any_site, sleeps)
    bob_or_admin = user_id(any_site, ADMIN)
    jira.update_ticket(
        "OPS-1",
        FieldUpdate(
            fields={
                "summary": "Alert on lag",
                "assignee": bob_or_admin,
                "duedate": date(2025, 2, 3),
            },
            add_labels=("followup-9",),
        ),
    )
    ticket = jira.get_ticket("OPS-1")
    assert ticket is not None
    assert (ticket.summary, ticket.assignee, ticket.due) == (
        "Alert on lag",
        bob_or_admin,
        date(2025, 2, 3),
    )
    assert set(ticket.labels) == {"followup", "followup-1001", "followup-9"}
    jira.update_ticket("OPS-1", FieldUpdate(fields={"assignee": None, "duedate": None}))
    ticket = jira.get_ticket("OPS-1")
    assert ticket is not None
    assert (ticket.assignee, ticket.due) == (None, None)


def test_update_with_nothing_sends_nothing(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """An empty FieldUpdate makes no request."""
    jira = adapter(jira_site, sleeps, budget=0)
    jira.update_ticket("OPS-1", FieldUpdate())
    assert jira_site.stats()["requests"] == 0


def test_update_refuses_an_unknown_field(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """A field the adapter does not know is a programming error, not a request."""
    with pytest.raises(ValueError, match="status"):
        adapter(jira_site, sleeps).update_ticket("OPS-1", FieldUpdate(fields={"status": "Done"}))


def test_transition_by_target_status_then_verified(any_site: JiraSite, sleeps: Sleeps) -> None:
    """A transition is chosen by its name or its target status, case-insensitively,
    and the status it leads to is returned; asking again when already there changes
    nothing."""
    jira = adapter(any_site, sleeps)
    assert jira.transition("OPS-1", ["in progress"]) == "In Progress"
    assert jira.transition("OPS-1", ["Closed", "done"]) == "Done"
    ticket = jira.get_ticket("OPS-1")
    assert ticket is not None
    assert (ticket.done, ticket.resolution) == (True, "Done")
    before = route_count(any_site, "POST /rest/api/2/issue/{issueIdOrKey}/transitions")
    assert jira.transition("OPS-1", ["Done"]) == "Done"
    assert route_count(any_site, "POST /rest/api/2/issue/{issueIdOrKey}/transitions") == before


def test_transition_names_preference_order(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """With several matches, the first of `names` wins, not the workflow's order."""
    jira = adapter(jira_site, sleeps)
    assert jira.transition("OPS-1", ["Done", "In Progress"]) == "Done"


def test_transition_with_no_match_lists_what_is_available(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """No matching transition is a PlanError naming the ones the workflow offers."""
    jira = adapter(jira_site, sleeps)
    with pytest.raises(errors.PlanError) as raised:
        jira.transition("OPS-1", ["Ship It"])
    assert "Ship It" in raised.value.message
    assert "In Progress" in raised.value.message
    assert "Done" in raised.value.message


def test_transition_whose_answer_is_lost_is_verified_not_repeated(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """The transition POST commits but its answer is lost: the adapter reads the
    status, finds the ticket moved, and reports success after one POST."""
    jira = adapter(jira_site, sleeps)
    jira.deployment  # noqa: B018
    jira_site.set_faults(drop_write_numbers=[1], drop_mode="close")
    assert jira.transition("OPS-1", ["Done"]) == "Done"
    assert route_count(jira_site, "POST /rest/api/2/issue/{issueIdOrKey}/transitions") == 1


def test_set_property_round_trips(any_site: JiraSite, sleeps: Sleeps) -> None:
    """The followup property written is the one a read returns."""
    jira = adapter(any_site, sleeps)
    prop = TicketProperty(
        item="1001:task:1",
        page="1001",
        base=SyncBase(summary="Add an alert", assignee=None, due=date(2024, 6, 1), done=False),
        reminders={"last": "2024-06-02", "count": 1},
    )
    jira.set_property("OPS-3", prop)
    ticket = jira.get_ticket("OPS-3")
    assert ticket is not None
    assert ticket.prop == prop


def test_remote_link_upserted_twice_is_one_link(any_site: JiraSite, sleeps: Sleeps) -> None:
    """Two upserts with the same globalId leave one link, with the latest title."""
    jira = adapter(any_site, sleeps)
    for title in ("Postmortem", "Postmortem (renamed)"):
        jira.upsert_remote_link(
            "OPS-1",
            global_id="followup:page:1001",
            url="https://example.test/wiki/spaces/SRE/pages/1001",
            title=title,
        )
    links = any_site.session().get(f"{any_site.url}/rest/api/2/issue/OPS-1/remotelink").json()
    assert len(links) == 1
    assert links[0]["globalId"] == "followup:page:1001"
    assert links[0]["object"]["title"] == "Postmortem (renamed)"
    assert links[0]["object"]["url"] == "https://example.test/wiki/spaces/SRE/pages/1001"


def test_add_comment(any_site: JiraSite, sleeps: Sleeps) -> None:
    """A comment is added with its text."""
    jira = adapter(any_site, sleeps)
    jira.add_comment("OPS-1", "This item is overdue.")
    comments = any_site.session().get(f"{any_site.url}/rest/api/2/issue/OPS-1/comment").json()
    assert [c["body"] for c in comments["comments"]] == ["This item is overdue."]


# -- users ---------------------------------------------------------------------------


def test_find_users_and_assignability(any_site: JiraSite, sleeps: Sleeps) -> None:
    """Users are found by name (accountId on Cloud, name on DC); active users are
    assignable (with their display name), inactive ones and strangers are not, nor
    anyone in a missing project."""
    jira = adapter(any_site, sleeps)
    [alice] = jira.find_users("Alice")
    assert alice.id == user_id(any_site, ALICE)
    assert alice.display_name == ALICE.display_name
    found = jira.assignable_user(user_id(any_site, ALICE), "OPS")
    assert found is not None
    assert found.display_name == ALICE.display_name
    assert jira.assignable_user(user_id(any_site, BOB), "OPS") is not None
    assert jira.assignable_user(user_id(any_site, GONE), "OPS") is None
    assert jira.assignable_user("nobody-at-all", "OPS") is None
    assert jira.assignable_user(user_id(any_site, ALICE), "NOPE") is None


# -- failures ------------------------------------------------------------------------


def test_bad_token_is_an_authentication_error_without_the_token(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """401 becomes AuthenticationError (a setup problem: exit 2), whose message never
    holds the token."""
    token = "wrong-token-0123456789"
    jira = adapter(jira_site, sleeps, token=token, user=ADMIN)
    with pytest.raises(errors.AuthenticationError) as raised:
        list(jira.search_tickets("labels = followup"))
    error = raised.value
    assert error.status == 401
    assert error.setup_problem  # the CLI exits 2
    text = error.show() + json.dumps(error.details) + repr(error.args)
    assert token not in text
    assert "Authorization" not in text


def test_429_storm_is_ridden_out_honouring_retry_after(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """Under a storm of 429s (Retry-After: 2), every read still completes; each retry
    waits at least 2 s (recorded by the injected sleep, not slept)."""
    jira = adapter(jira_site, sleeps, budget=600)
    jira.create_tickets([new_ticket(n) for n in range(150)])
    jira_site.set_faults(rate_429=0.5, retry_after_s=2, seed=7)
    assert len(list(jira.search_tickets("labels = bulk"))) == 150
    assert jira.get_ticket("OPS-1") is not None
    retries = jira.stats.retries("jira")
    assert retries > 0
    assert jira.stats.requests("jira", 429) == retries
    retry_waits = [w for w in sleeps.waits if w >= 2.0]
    assert len(retry_waits) >= retries
    assert jira_site.stats()["faults"]["429"] == retries


def test_429_storm_beyond_the_budget_raises_the_last_error(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """When every request is refused, the run's budget runs out and RateLimitedError
    (with the server's Retry-After) is raised."""
    jira = adapter(jira_site, sleeps, budget=5)
    jira.deployment  # noqa: B018
    jira_site.set_faults(rate_429=1.0, retry_after_s=2)
    with pytest.raises(errors.RateLimitedError) as raised:
        jira.get_ticket("OPS-1")
    assert raised.value.retry_after == 2.0
    assert jira.stats.retries() == 2
    assert jira.stats.requests("jira", 429) == 3


def test_rate_limited_create_is_sent_again_but_5xx_is_not(
    jira_site: JiraSite, sleeps: Sleeps
) -> None:
    """A 429 (refused before anything happened) is retried; a 503 on a create is not."""
    jira = adapter(jira_site, sleeps)
    jira.deployment  # noqa: B018
    jira_site.set_faults(rate_429=0.5, retry_after_s=1, seed=1)
    results = jira.create_tickets([new_ticket(1)])
    assert results[0].key is not None
    assert sleeps.waits
    assert max(sleeps.waits) >= 1
    jira_site.set_faults(rate_5xx=1.0, retry_after_s=1)
    before = route_count(jira_site, "POST /rest/api/2/issue/bulk")
    with pytest.raises(errors.ServerError):
        jira.create_tickets([new_ticket(2)])
    assert route_count(jira_site, "POST /rest/api/2/issue/bulk") == before + 1


def test_5xx_on_reads_is_retried(jira_site: JiraSite, sleeps: Sleeps) -> None:
    """502/503 on a GET are retried until it succeeds."""
    jira = adapter(jira_site, sleeps)
    jira.deployment  # noqa: B018
    jira_site.set_faults(rate_5xx=0.6, retry_after_s=1, seed=3)
    for _ in range(5):
        assert jira.get_ticket("OPS-1") is not None
    assert jira.stats.retries() > 0


def test_openapi_checked_answers(
    jira_site: JiraSite, sleeps: Sleeps, openapi: OpenApiValidator
) -> None:
    """The validator hooked on the adapter's session really sees its answers."""
    if not openapi.enabled:
        pytest.skip("OpenAPI documents absent")
    before = sum(openapi.checked.values())
    list(adapter(jira_site, sleeps).search_tickets("labels = followup"))
    assert sum(openapi.checked.values()) > before
