"""The two seams of the engine: what it needs from Confluence and from Jira.

The engine depends on these `Protocol`s only. `followup.adapters` implements them
over HTTP (the `jira` and `atlassian-python-api` clients); `followup.testing` implements
them in memory for fast engine tests. Every method raises only `followup.errors`
errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from followup.core.model import Page, Ticket, TicketProperty
from followup.core.routing import CreateField

Deployment = Literal["cloud", "datacenter"]
# How a site is signed in to: Basic (email or username, and an API token or password),
# or a Data Center personal access token sent as `Authorization: Bearer`.
AuthMethod = Literal["basic", "pat"]


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """A Confluence content property: its JSON value and version (for compare-and-swap),
    and when the server wrote that version, by the server's clock (if it said)."""

    key: str
    value: dict[str, Any]
    version: int
    when: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConfluenceUser:
    """A Confluence user, as resolved from a mention."""

    account_id: str | None
    username: str | None
    userkey: str | None
    display_name: str
    email: str | None = None


class ConfluencePort(Protocol):
    def find_pages(self, cql: str) -> Iterator[Page]:
        """Every page the CQL matches, body (storage format) and version included,
        following the server's pagination to the end."""
        ...

    def get_page(self, page_id: str) -> Page:
        """One page with body and version (raises NotFoundError)."""
        ...

    def update_page(self, page: Page, body: str, *, message: str) -> Page:
        """Write `body` as version `page.version + 1`, as a minor edit.

        Raises ConflictError when the page moved on since `page` was read."""
        ...

    def get_property(self, page_id: str, key: str) -> PropertyValue | None:
        """A content property, or None if the page has none by that key."""
        ...

    def create_property(self, page_id: str, key: str, value: dict[str, Any]) -> PropertyValue:
        """Create a content property (version 1). ConflictError if it already exists."""
        ...

    def update_property(
        self, page_id: str, key: str, value: dict[str, Any], *, version: int
    ) -> PropertyValue:
        """Replace a property's value as `version` (= current + 1); ConflictError if stale."""
        ...

    def get_user(
        self, *, userkey: str | None = None, username: str | None = None
    ) -> ConfluenceUser | None:
        """Resolve a Data Center mention; None when no such user exists."""
        ...

    def space_exists(self, key: str) -> bool:
        """Whether the account can see a space with this key."""
        ...

    def server_now(self) -> datetime | None:
        """The Confluence server's current time (from the `Date` of its latest answer),
        or None when it is not known: page leases are judged by it."""
        ...

    def user_timezone(self) -> str | None:
        """The IANA time zone of the signed-in account (None: not told), in which
        Confluence reads a date written in CQL."""
        ...


@dataclass(frozen=True, slots=True)
class JiraUser:
    """A Jira user: `id` is the accountId on Cloud and the username on Data Center."""

    id: str
    display_name: str
    email: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class NewTicket:
    """Everything a create sends. `ref` is the caller's handle (the item key)."""

    ref: str
    summary: str
    description: str
    labels: tuple[str, ...]
    due: date | None
    assignee: str | None
    priority: str | None
    prop: TicketProperty
    link_url: str
    link_title: str
    # Where it goes (None: the adapter's `[jira] project` and issue_type) and what a
    # routing rule adds: components by name, custom fields as (field id, JSON value).
    project: str | None = None
    issue_type: str | None = None
    components: tuple[str, ...] = ()
    fields: tuple[tuple[str, Any], ...] = ()
    parent: str | None = None  # the key of the issue it is created under


@dataclass(frozen=True, slots=True)
class CreateResult:
    """The outcome of one element of a bulk create: a key, or an error message."""

    ref: str
    key: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """Fields to change on a ticket; only the ones in `fields` are sent.

    Keys: "summary" (str), "assignee" (user id or None), "duedate" (date or None).
    `add_labels` are added to the existing labels.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    add_labels: tuple[str, ...] = ()


class JiraPort(Protocol):
    @property
    def deployment(self) -> Deployment:
        """Cloud or Data Center, from serverInfo."""
        ...

    def search_tickets(self, jql: str) -> Iterator[Ticket]:
        """Every issue the JQL matches, with the fields we sync and the `followup`
        property, following the server's pagination to the end (pages of 100)."""
        ...

    def get_ticket(self, key: str) -> Ticket | None:
        """One issue by key (for tickets a person linked by hand), None if it does not
        exist or is not visible."""
        ...

    def create_tickets(self, tickets: Sequence[NewTicket]) -> list[CreateResult]:
        """Create in bulk (chunks of at most 50), one result per input, in order.

        Raises an ambiguous ApiError if a chunk's outcome is unknown; the caller must
        then search before creating again."""
        ...

    def update_ticket(self, key: str, update: FieldUpdate) -> None: ...

    def transition(self, key: str, names: Sequence[str]) -> str:
        """Move the ticket through the first available transition whose name (or target
        status name) is in `names`, case-insensitively; return the new status name.
        PlanError when no such transition is available."""
        ...

    def set_property(self, key: str, prop: TicketProperty) -> None: ...

    def upsert_remote_link(self, key: str, *, global_id: str, url: str, title: str) -> None: ...

    def add_comment(self, key: str, body: str) -> None: ...

    def find_users(self, query: str) -> list[JiraUser]:
        """Users matching a name or email (Jira's user search)."""
        ...

    def assignable_user(self, user_id: str, project: str) -> JiraUser | None:
        """The user, with their display name, if they can be assigned issues in the
        project; None otherwise (unknown, inactive, or not allowed there)."""
        ...

    def get_description(self, key: str) -> str | None:
        """A ticket's description as text (wiki markup), None when it has none."""
        ...

    def server_now(self) -> datetime | None:
        """Jira's current time by the clock that stamps issues (None: not known)."""
        ...

    def user_timezone(self) -> str | None:
        """The IANA time zone of the signed-in account (None: not told), in which
        Jira reads a date written in JQL."""
        ...

    def link_issue(self, key: str, to: str, link_type: str) -> None:
        """Link `key` (outward) to `to` (inward) with the link type named `link_type`;
        a link that exists already is not added again."""
        ...

    def issue_link_types(self) -> list[str]:
        """The names of the site's issue link types."""
        ...

    def create_issue_types(self, project: str) -> list[tuple[str, str]] | None:
        """(id, name) of the issue types the account may create in `project` (Jira's
        create metadata); None when there is no such project visible to it."""
        ...

    def create_fields(self, project: str, issue_type_id: str) -> list[CreateField]:
        """The fields of `project`'s create screen for one issue type."""
        ...
