"""`JiraAdapter`: `followup.ports.JiraPort` over HTTP, on the `jira` client.

The `jira.JIRA` client provides authentication, the session (TLS, headers) and
nothing else: every path, page loop and body is built here, so that what goes on
the wire is exactly what this module says, and every request passes through the
shared `Transport` (rate limit, one retry policy, accounting, error translation).

Library facts this relies on (jira 3.10):

- `JIRA(max_retries=0)`: its `ResilientSession` otherwise retries 429/503 *and
  connection errors on any method*, POSTs included, which would duplicate creates.
  With 0 it sends once and raises `JIRAError` (with `.response`) on non-2xx.
- `JIRA(get_server_info=False)`: the constructor otherwise calls
  `GET /rest/api/2/serverInfo` outside our limiter and error translation (and
  repeats it up to 3 times on an empty body); we make that call ourselves, lazily.
- `enhanced_search_issues` is not used: it calls `/rest/api/2/search/jql`, first
  fetches `GET /field` to translate field names, loops on `nextPageToken` alone
  (ignoring `isLast`) and, with `maxResults=0`, holds every issue in memory.
- `create_issues` is not used: it sends all issues in one request, resolves the
  project and issue type with extra GETs per issue, re-reads every created issue,
  and keeps only `elementErrors.errors` (dropping `errorMessages`).
- `JIRA` has no public attribute for its HTTP session; its maintainers point to
  `JIRA._session` for requests the client has no method for (pycontribs/jira#1711).
  That is the one private attribute this module reads, in `_http_session`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from jira import JIRA

from followup.adapters.http import (
    RateLimiter,
    RequestStats,
    Transport,
    credential_secrets,
    json_body,
)
from followup.adapters.ratelimits import EndpointLimiter
from followup.adapters.retry import RetryPolicy, Safety
from followup.core.model import StatusCategory, Ticket, TicketProperty
from followup.core.routing import CreateField
from followup.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    NotFoundError,
    PlanError,
    ServerError,
)
from followup.ports import (
    AuthMethod,
    CreateResult,
    Deployment,
    FieldUpdate,
    JiraUser,
    NewTicket,
)
from followup.sync.resend import Seen, send_checked

__all__ = ["PROPERTY_KEY", "SEARCH_FIELDS", "JiraAdapter"]

SEARCH_FIELDS = (
    "summary",
    "assignee",
    "duedate",
    "status",
    "labels",
    "resolution",
    "created",
    "resolutiondate",
)
PROPERTY_KEY = "followup"
BULK_CHUNK = 50
TRANSITION_ATTEMPTS = 3  # sends of one transition, each after reading it did not happen
# Above this, the JQL goes in a POST body (a read, retried like a GET): batched
# queries (`labels in (followup-1, ...)`) would otherwise outgrow URL limits of
# proxies and of Jira's own servlet container (~8 KB).
LONG_JQL = 1500
SUMMARY_MAX = 255
_CATEGORIES: Mapping[str, StatusCategory] = {
    "new": "new",
    "indeterminate": "indeterminate",
    "done": "done",
}
_UPDATABLE = frozenset({"summary", "assignee", "duedate", "priority", "description"})


def _http_session(client: JIRA) -> requests.Session:
    """The authenticated session a `JIRA` client made (its `ResilientSession`, with
    the credentials, TLS settings and headers given to it): the only private
    attribute of the library followup reads (see the module docstring)."""
    session: requests.Session = client._session
    return session


class JiraAdapter:
    """Jira Cloud or Data Center (told apart by `serverInfo.deploymentType`).

    `project` and `issue_type` are what creates use. `deployment` may be given to
    skip the serverInfo request. The limiter, retry policy and stats are shared
    with the Confluence adapter (see `followup.adapters.build_adapters`).
    """

    def __init__(
        self,
        url: str,
        email: str | None,
        token: str,
        *,
        project: str,
        issue_type: str = "Task",
        verify_tls: bool = True,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        stats: RequestStats | None = None,
        pacer: EndpointLimiter | None = None,
        deployment: Deployment | None = None,
        page_size: int = 100,
        auth: AuthMethod = "basic",
        issue_links: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        self.page_size = page_size
        # Searches and reads ask for `issuelinks` too only when follow-ups are linked
        # to their incident (`Ticket.links`): a run without that asks what it always did.
        self.fields = (*SEARCH_FIELDS, "issuelinks") if issue_links else SEARCH_FIELDS
        # A personal access token (Data Center) goes as `Authorization: Bearer`, the
        # jira library's `token_auth`; otherwise Basic with the email or username.
        credentials: dict[str, Any] = (
            {"token_auth": token} if auth == "pat" else {"basic_auth": (email, token)}
        )
        self.client = JIRA(
            server=self.url,
            **credentials,
            max_retries=0,
            get_server_info=False,
            timeout=timeout,
            options={"verify": verify_tls, "check_update": False},
        )
        self._session = _http_session(self.client)
        self.stats = stats if stats is not None else RequestStats()
        self.transport = Transport(
            "jira",
            limiter=limiter if limiter is not None else RateLimiter(10.0),
            retry=retry if retry is not None else RetryPolicy(),
            stats=self.stats,
            secrets=credential_secrets(None if auth == "pat" else email, token),
            pacer=pacer,
        )
        self._deployment: Deployment | None = deployment
        self._deployment_lock = threading.Lock()
        # serverInfo's `serverTime` (the clock Jira stamps issues with) and when, by
        # this process's monotonic clock, it was read.
        self._server_time: tuple[datetime, float] | None = None
        # Tickets this adapter created and has not moved yet (with the project and
        # issue type they were created as), and the transitions a ticket fresh from a
        # create offers, per project and type: those created alike start in one
        # workflow's initial status and offer the same transitions. Closing items
        # ticked on the page (common on a first run) then costs one request per
        # ticket, not three.
        self._fresh: dict[str, tuple[str, str]] = {}
        self._fresh_transitions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._fresh_lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    # -- plumbing ------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.url}{path}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | list[Any] | None = None,
        safety: Safety,
    ) -> Any:
        url = self._url(path)
        data = json_body(body) if body is not None else None

        def attempt() -> requests.Response:
            # ResilientSession.request adds its own timeout; passing one would clash.
            return self._session.request(method, url, params=params, data=data)

        return self.transport.send_json(method, url, attempt, safety=safety)

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params, safety=Safety.IDEMPOTENT)

    @property
    def deployment(self) -> Deployment:
        """Cloud or Data Center, from `GET /rest/api/2/serverInfo` (once)."""
        with self._deployment_lock:
            if self._deployment is None:
                info = self._get("/rest/api/2/serverInfo") or {}
                kind = str(info.get("deploymentType", ""))
                self._deployment = "cloud" if kind.lower() == "cloud" else "datacenter"
                stamped = _datetime(info.get("serverTime"))
                if stamped is not None and stamped.tzinfo is not None:
                    self._server_time = (stamped, time.monotonic())
                # Keep the library's own idea of the site in step, for anyone using it.
                self.client.deploymentType = kind or None
                versions = info.get("versionNumbers")
                if isinstance(versions, list):
                    self.client._version = tuple(versions)
            return self._deployment

    def server_now(self) -> datetime | None:
        """Jira's time now: serverInfo's `serverTime` (the clock that stamps an issue's
        `updated`) advanced by this process's monotonic clock; else the `Date` of
        Jira's latest answer; None before any answer."""
        if self._server_time is not None:
            stamped, at = self._server_time
            return stamped + timedelta(seconds=max(0.0, time.monotonic() - at))
        return self.transport.clock.now()

    def user_timezone(self) -> str | None:
        """The time zone of the account followup signs in as (`GET myself`): the zone
        in which Jira reads the dates written in a JQL query."""
        raw = self._get("/rest/api/2/myself")
        zone = raw.get("timeZone") if isinstance(raw, dict) else None
        return zone if isinstance(zone, str) and zone else None

    @property
    def _cloud(self) -> bool:
        return self.deployment == "cloud"

    def _user_ref(self, user_id: str | None) -> dict[str, str] | None:
        if user_id is None:
            return None
        return {"accountId": user_id} if self._cloud else {"name": user_id}

    # -- reads ---------------------------------------------------------------------

    def search_tickets(self, jql: str) -> Iterator[Ticket]:
        """Every issue the JQL matches, each once, following the server's paging:
        Cloud `/rest/api/3/search/jql` (nextPageToken/isLast; `/search` is gone),
        Data Center `/rest/api/2/search` (startAt/total). A page may hold fewer
        issues than asked for; only the token, `isLast` or `total` end the loop."""
        params: dict[str, Any] = {
            "jql": jql,
            "fields": list(self.fields),
            "properties": [PROPERTY_KEY],
            "maxResults": self.page_size,
        }
        seen: set[str] = set()
        pages = self._search_cloud(params) if self._cloud else self._search_dc(params)
        for issues in pages:
            for raw in issues:
                ticket = self._ticket(raw)
                if ticket.key not in seen:
                    seen.add(ticket.key)
                    yield ticket

    def _search_page(self, path: str, params: dict[str, Any]) -> Any:
        """One page of a search: GET with comma lists, or POST with JSON lists."""
        if len(params["jql"]) > LONG_JQL:
            return self._call("POST", path, body=params, safety=Safety.IDEMPOTENT)
        query = {k: ",".join(v) if isinstance(v, list) else v for k, v in params.items()}
        return self._get(path, query)

    def _search_cloud(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        path = "/rest/api/3/search/jql"
        tokens: set[str] = set()
        while True:
            data = self._search_page(path, params) or {}
            yield list(data.get("issues") or [])
            token = data.get("nextPageToken")
            if data.get("isLast", not token) or not token:
                return
            if token in tokens:
                raise ServerError(
                    "the search returned the same nextPageToken twice",
                    service="jira",
                    method="GET",
                    path=path,
                )
            tokens.add(token)
            params = {**params, "nextPageToken": token}

    def _search_dc(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        start = 0
        while True:
            data = self._search_page("/rest/api/2/search", {**params, "startAt": start}) or {}
            issues = list(data.get("issues") or [])
            yield issues
            start = int(data.get("startAt", start)) + len(issues)
            total = data.get("total")
            if not issues or (isinstance(total, int) and start >= total):
                return

    def get_ticket(self, key: str) -> Ticket | None:
        try:
            raw = self._get(
                f"/rest/api/2/issue/{_seg(key)}",
                {"fields": ",".join(self.fields), "properties": PROPERTY_KEY},
            )
        except NotFoundError:
            return None
        return self._ticket(raw)

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        fields: Mapping[str, Any] = raw.get("fields") or {}
        assignee = fields.get("assignee") or {}
        status = fields.get("status") or {}
        category = str((status.get("statusCategory") or {}).get("key", "new"))
        properties = raw.get("properties") or {}
        user_key = "accountId" if self._cloud else "name"
        return Ticket(
            key=str(raw["key"]),
            id=str(raw.get("id", "")),
            summary=str(fields.get("summary") or ""),
            assignee=assignee.get(user_key) if assignee else None,
            due=_date(fields.get("duedate")),
            status=str(status.get("name") or ""),
            status_category=_CATEGORIES.get(category, "new"),
            labels=tuple(str(label) for label in fields.get("labels") or ()),
            resolution=(fields.get("resolution") or {}).get("name"),
            prop=TicketProperty.from_json(properties.get(PROPERTY_KEY)),
            assignee_display=assignee.get("displayName") if assignee else None,
            created=_datetime(fields.get("created")),
            resolved=_datetime(fields.get("resolutiondate")),
            links=_links(fields.get("issuelinks")),
        )

    # -- creates -------------------------------------------------------------------

    def create_tickets(self, tickets: Sequence[NewTicket]) -> list[CreateResult]:
        """Bulk create, at most 50 per request, one result per input in order.

        Per-element failures become error results. A chunk the server refused as a
        whole (4xx) gives every element of that chunk its error and the next chunk
        is still sent; a 401 is raised. A chunk whose outcome is unknown (no
        answer, 5xx) raises the ambiguous error at once, never retried: the caller
        must search before creating again. `error.details["created"]` then maps
        the refs created by earlier chunks to their keys."""
        results: list[CreateResult] = []
        for start in range(0, len(tickets), BULK_CHUNK):
            chunk = tickets[start : start + BULK_CHUNK]
            try:
                results.extend(self._create_chunk(chunk))
            except AuthenticationError:
                raise
            except ApiError as error:
                if error.ambiguous:
                    error.details["created"] = {r.ref: r.key for r in results if r.key}
                    raise
                results.extend(CreateResult(ref=t.ref, error=error.message) for t in chunk)
        return results

    def _create_chunk(self, chunk: Sequence[NewTicket]) -> list[CreateResult]:
        body = {"issueUpdates": [self._issue_update(t) for t in chunk]}
        try:
            # A 429 is refused before Jira does anything, so it alone may be answered
            # by sending the create again; anything ambiguous goes back to the engine,
            # which searches before it creates again.
            data = self._call(
                "POST", "/rest/api/2/issue/bulk", body=body, safety=Safety.REJECTED_ONLY
            )
        except ClientError as error:
            # Jira answers 400 with the usual body when *every* element failed.
            response = error.details.get("response")
            if error.status == 400 and isinstance(response, dict) and response.get("errors"):
                data = response
            else:
                raise
        data = data or {}
        failures: dict[int, str] = {}
        for failure in data.get("errors") or []:
            index = failure.get("failedElementNumber")
            if isinstance(index, int):
                failures[index] = _element_error(failure.get("elementErrors") or {})
        created = iter(data.get("issues") or [])
        results: list[CreateResult] = []
        for index, ticket in enumerate(chunk):
            if index in failures:
                results.append(CreateResult(ref=ticket.ref, error=failures[index]))
                continue
            issue = next(created, None)
            if issue is None:
                results.append(CreateResult(ref=ticket.ref, error="Jira returned no issue"))
            else:
                results.append(CreateResult(ref=ticket.ref, key=str(issue["key"])))
                with self._fresh_lock:
                    self._fresh[str(issue["key"])] = self._kind(ticket)
        return results

    def _kind(self, ticket: NewTicket) -> tuple[str, str]:
        """The project and issue type a ticket is created as."""
        return (ticket.project or self.project, ticket.issue_type or self.issue_type)

    def _issue_update(self, ticket: NewTicket) -> dict[str, Any]:
        project, issue_type = self._kind(ticket)
        fields: dict[str, Any] = {
            # A routing rule's custom fields first: followup's own fields win.
            **dict(ticket.fields),
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": _summary(ticket.summary),
            "description": ticket.description,
            "labels": list(ticket.labels),
        }
        if ticket.components:
            fields["components"] = [{"name": name} for name in ticket.components]
        if ticket.parent:
            fields["parent"] = {"key": ticket.parent}
        if ticket.due is not None:
            fields["duedate"] = ticket.due.isoformat()
        if ticket.assignee:
            fields["assignee"] = self._user_ref(ticket.assignee)
        if ticket.priority:
            fields["priority"] = {"name": ticket.priority}
        return {
            "fields": fields,
            # Entity properties set with the create itself: no window in which the
            # ticket exists without the property that identifies its item.
            "properties": [{"key": PROPERTY_KEY, "value": ticket.prop.to_json()}],
        }

    # -- writes --------------------------------------------------------------------

    def update_ticket(self, key: str, update: FieldUpdate) -> None:
        fields: dict[str, Any] = {}
        for name, value in update.fields.items():
            if name not in _UPDATABLE:
                raise ValueError(f"cannot update Jira field {name!r}")
            if name == "summary":
                fields[name] = _summary(str(value))
            elif name == "assignee":
                fields[name] = self._user_ref(value)
            elif name == "duedate":
                fields[name] = value.isoformat() if isinstance(value, date) else value
            elif name == "priority":
                fields[name] = {"name": value} if value else None
            else:
                fields[name] = value
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = fields
        if update.add_labels:
            body["update"] = {"labels": [{"add": label} for label in update.add_labels]}
        if body:
            self._call("PUT", f"/rest/api/2/issue/{_seg(key)}", body=body, safety=Safety.IDEMPOTENT)

    def transition(self, key: str, names: Sequence[str]) -> str:
        """Apply the first transition, in the order of `names`, whose name or target
        status matches (case-insensitively); return the status the ticket is in.

        The POST is repeated blindly only on 429: after an ambiguous failure the
        status is read instead, and the transition counts as done if the ticket got
        there; if it did not, it is sent again (at most `TRANSITION_ATTEMPTS` sends).
        Every transition is verified by reading the status back.

        A ticket this adapter created and has not moved is sent the transition chosen
        for the first such ticket, without asking again; should Jira refuse it (the
        ticket was moved meanwhile, or a workflow condition differs), the transitions
        are read and chosen afresh."""
        with self._fresh_lock:
            kind = self._fresh.pop(key, None)
            known = self._fresh_transitions.get(kind) if kind is not None else None
        if known is not None and _choose_transition(known, [n.casefold() for n in names]):
            try:
                return self._transition(key, names, known)
            except ClientError as error:
                if error.status != 400:
                    raise
            return self._transition(key, names, None)
        return self._transition(key, names, None, remember=kind)

    def _transition(
        self,
        key: str,
        names: Sequence[str],
        available: list[dict[str, Any]] | None,
        *,
        remember: tuple[str, str] | None = None,
    ) -> str:
        path = f"/rest/api/2/issue/{_seg(key)}/transitions"
        if available is None:
            available = list((self._get(path) or {}).get("transitions") or [])
            if remember is not None:
                with self._fresh_lock:
                    self._fresh_transitions[remember] = available
        wanted = [n.casefold() for n in names]
        chosen = _choose_transition(available, wanted)
        if chosen is None:
            current = self._status(key)
            if current.casefold() in wanted:
                return current  # already there (e.g. a previous attempt went through)
            offered = ", ".join(
                f"{t.get('name')} (-> {(t.get('to') or {}).get('name')})" for t in available
            )
            raise PlanError(
                f"{key}: no transition to {' / '.join(names)} from {current!r}; "
                f"available: {offered or 'none'}",
                hint="set jira.done_transitions / jira.reopen_transitions to names "
                "this workflow offers",
            )
        target = str((chosen.get("to") or {}).get("name") or "")
        # No answer or a 5xx: the status says whether it happened, and only a
        # transition shown not to have happened is sent again.
        sent = send_checked(
            lambda: self._call(
                "POST",
                path,
                body={"transition": {"id": str(chosen["id"])}},
                safety=Safety.REJECTED_ONLY,
            ),
            lambda _: (
                Seen.LANDED if self._status(key).casefold() == target.casefold() else Seen.MISSING
            ),
            sends=TRANSITION_ATTEMPTS,
            resend_on=lambda error: error.ambiguous and bool(target),
        )
        if sent.error is not None:
            raise sent.error
        # Verified by reading the status back: a workflow post-function or a
        # condition can leave the ticket elsewhere even after a 2xx.
        actual = self._status(key)
        if target and actual.casefold() != target.casefold():
            raise PlanError(
                f"{key}: the transition to {target!r} was accepted but the ticket is {actual!r}",
                hint="check the workflow's post-functions for this transition",
            )
        return actual

    def _status(self, key: str) -> str:
        raw = self._get(f"/rest/api/2/issue/{_seg(key)}", {"fields": "status"}) or {}
        return str(((raw.get("fields") or {}).get("status") or {}).get("name") or "")

    def set_property(self, key: str, prop: TicketProperty) -> None:
        self._call(
            "PUT",
            f"/rest/api/2/issue/{_seg(key)}/properties/{PROPERTY_KEY}",
            body=prop.to_json(),
            safety=Safety.IDEMPOTENT,
        )

    def upsert_remote_link(self, key: str, *, global_id: str, url: str, title: str) -> None:
        """Create or replace the link with `global_id`. Jira replaces the whole link
        on an upsert (fields left out become null), so every field is sent."""
        body = {
            "globalId": global_id,
            "relationship": "postmortem",
            "object": {
                "url": url,
                "title": title,
                "summary": "Postmortem review this action item comes from",
            },
        }
        self._call(
            "POST",
            f"/rest/api/2/issue/{_seg(key)}/remotelink",
            body=body,
            safety=Safety.IDEMPOTENT,  # an upsert by globalId: repeating it is harmless
        )

    def link_issue(self, key: str, to: str, link_type: str) -> None:
        """Link `key` to `to` with the link type named `link_type`: `key` is the
        outward issue (Jira's REST document, `POST issueLink`: a link goes from its
        `outwardIssue` to its `inwardIssue`; "A blocks B" has A outward). Jira answers
        201 with no body, and adds nothing for a link that exists already, so a
        repeat after a lost answer is harmless: sent as idempotent."""
        self._call(
            "POST",
            "/rest/api/2/issueLink",
            body={
                "type": {"name": link_type},
                "outwardIssue": {"key": key},
                "inwardIssue": {"key": to},
            },
            safety=Safety.IDEMPOTENT,
        )

    def issue_link_types(self) -> list[str]:
        """The names of the site's issue link types (`GET issueLinkType`)."""
        data = self._get("/rest/api/2/issueLinkType") or {}
        return [str(t.get("name")) for t in data.get("issueLinkTypes") or [] if t.get("name")]

    def _createmeta_pages(self, path: str, cloud_key: str) -> Iterator[dict[str, Any]]:
        """Every element of a paged createmeta answer: Cloud names the list
        `issueTypes` / `fields` (`PageOfCreateMetaIssueTypes`,
        `PageOfCreateMetaIssueTypeWithField` in Jira's REST document), Data Center
        `values`, with `isLast` (`/rest/api/2/issue/createmeta/{projectIdOrKey}/
        issuetypes[/{issueTypeId}]`, Jira 8.4 and later; the one-call `GET
        issue/createmeta` these replace is gone from Jira 9, JRASERVER-74965)."""
        start = 0
        while True:
            page = self._get(path, {"startAt": start, "maxResults": 50}) or {}
            chunk = list(page.get(cloud_key) or page.get("values") or [])
            yield from chunk
            start += len(chunk)
            total = page.get("total")
            if not chunk or page.get("isLast") or (isinstance(total, int) and start >= total):
                return

    def create_issue_types(self, project: str) -> list[tuple[str, str]] | None:
        """(id, name) of the issue types the account may create in `project`, or
        None when there is no such project (or the account cannot see it)."""
        path = f"/rest/api/2/issue/createmeta/{_seg(project)}/issuetypes"
        try:
            types = list(self._createmeta_pages(path, "issueTypes"))
        except NotFoundError:
            return None
        return [(str(t.get("id")), str(t.get("name"))) for t in types]

    def create_fields(self, project: str, issue_type_id: str) -> list[CreateField]:
        """The create screen's fields for one issue type of `project`."""
        path = f"/rest/api/2/issue/createmeta/{_seg(project)}/issuetypes/{_seg(issue_type_id)}"
        out: list[CreateField] = []
        for meta in self._createmeta_pages(path, "fields"):
            schema = meta.get("schema") or {}
            allowed = meta.get("allowedValues")
            out.append(
                CreateField(
                    id=str(meta.get("fieldId") or meta.get("key")),
                    name=str(meta.get("name") or ""),
                    required=bool(meta.get("required")),
                    has_default=bool(meta.get("hasDefaultValue")),
                    type=str(schema.get("type") or "string"),
                    items=str(schema["items"]) if schema.get("items") else None,
                    # Priorities, components and versions are named by `name`, the
                    # options of a select field by `value`.
                    allowed=tuple(
                        str(v.get("name") or v.get("value"))
                        for v in allowed
                        if isinstance(v, dict) and (v.get("name") or v.get("value"))
                    )
                    if isinstance(allowed, list)
                    else None,
                )
            )
        return out

    def add_comment(self, key: str, body: str) -> None:
        self._call(
            "POST",
            f"/rest/api/2/issue/{_seg(key)}/comment",
            body={"body": body},
            safety=Safety.REJECTED_ONLY,
        )

    # -- users ---------------------------------------------------------------------

    def find_users(self, query: str) -> list[JiraUser]:
        param = "query" if self._cloud else "username"
        raw = self._get("/rest/api/2/user/search", {param: query, "maxResults": 50}) or []
        return [self._user(u) for u in raw if isinstance(u, dict)]

    def assignable_user(self, user_id: str, project: str) -> JiraUser | None:
        param = "accountId" if self._cloud else "username"
        try:
            raw = self._get(
                "/rest/api/2/user/assignable/search",
                {"project": project, param: user_id, "maxResults": 50},
            )
        except NotFoundError:
            return None
        # On Data Center `username` is a search string: insist on an exact match.
        users = (self._user(u) for u in raw or [] if isinstance(u, dict))
        return next((u for u in users if u.id == user_id), None)

    def get_description(self, key: str) -> str | None:
        # v2 answers the description as text (wiki markup) on Cloud and Data Center
        # alike, as followup wrote it; v3 would answer a document (ADF).
        raw = self._get(f"/rest/api/2/issue/{_seg(key)}", {"fields": "description"}) or {}
        value = (raw.get("fields") or {}).get("description")
        return value if isinstance(value, str) else None

    def _user(self, raw: Mapping[str, Any]) -> JiraUser:
        user_id = raw.get("accountId") if self._cloud else raw.get("name")
        return JiraUser(
            id=str(user_id or ""),
            display_name=str(raw.get("displayName") or user_id or ""),
            email=raw.get("emailAddress") or None,
            active=bool(raw.get("active", True)),
        )


# -- helpers -------------------------------------------------------------------------


def _seg(value: str) -> str:
    """A path segment, escaped."""
    return quote(value, safe="")


def _summary(text: str) -> str:
    """A Jira summary: one line (Jira refuses line breaks), at most 255 characters."""
    return " ".join(text.splitlines()).strip()[:SUMMARY_MAX]


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> datetime | None:
    """Jira's `2024-03-01T10:00:00.000+0000` (and plain ISO 8601)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _links(raw: Any) -> frozenset[tuple[str, str]]:
    """(link type name, other issue's key) of an `issuelinks` field, either way."""
    out: set[tuple[str, str]] = set()
    for link in raw if isinstance(raw, list) else ():
        name = str((link.get("type") or {}).get("name") or "")
        other = link.get("outwardIssue") or link.get("inwardIssue") or {}
        if name and other.get("key"):
            out.add((name, str(other["key"])))
    return frozenset(out)


def _element_error(element_errors: Mapping[str, Any]) -> str:
    parts = [str(m) for m in element_errors.get("errorMessages") or [] if m]
    errors = element_errors.get("errors") or {}
    if isinstance(errors, dict):
        parts.extend(f"{field}: {why}" for field, why in errors.items())
    return "; ".join(parts) or "Jira refused this issue"


def _choose_transition(
    available: Sequence[Mapping[str, Any]], wanted: Sequence[str]
) -> Mapping[str, Any] | None:
    for name in wanted:
        for transition in available:
            to_name = str((transition.get("to") or {}).get("name") or "")
            if name in (str(transition.get("name") or "").casefold(), to_name.casefold()):
                return transition
    return None
