"""The values the settings become, each type and default defined here once: what the
planner may do (`Policy`, with the `Scope` of tickets followup may touch), what a run
needs (`EngineConfig`) and when reminders go out (`ReminderPolicy`). The settings
(`followup.settings`) take their defaults from these. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urljoin, urlsplit

from followup.core.model import ActionItem, Page, TicketSite
from followup.core.routing import PriorityChoice, Route, Routing
from followup.core.storage_format.dates import DateOrder
from followup.core.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from followup.ports import Deployment

__all__ = [
    "AdoptedTickets",
    "ConflictWinner",
    "Direction",
    "Directions",
    "EngineConfig",
    "OrphanPolicy",
    "Policy",
    "ReminderPolicy",
    "Scope",
    "WatermarkPolicy",
    "page_label",
    "site_url",
]

Direction = Literal["both", "page_to_jira", "jira_to_page", "off"]
OrphanPolicy = Literal["report", "comment", "close"]
AdoptedTickets = Literal["jira-leads", "two-way"]
ConflictWinner = Literal["jira", "page"]


@dataclass(frozen=True, slots=True)
class Directions:
    summary: Direction = "page_to_jira"
    assignee: Direction = "both"
    due: Direction = "both"
    status: Direction = "both"


def site_url(url: str) -> str:
    """A base URL in the form two URLs of one site compare equal in: scheme and host
    in lower case, no user info, no default port, no trailing slash.

    >>> site_url("HTTPS://Acme.Atlassian.net:443/")
    'https://acme.atlassian.net'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The tickets followup may touch: those of `projects` on the configured Jira.

    `projects` are the project keys tickets are created in or may be adopted from (a
    set: which project a new ticket goes to is the policy's choice among them).
    `site_urls` are the configured Jira's base URLs (`site_url` form): a `/browse/`
    link to any other host names another Jira. Relative links on a page resolve
    against `page_base` (the Confluence base URL). `server_ids` are the `serverId`s
    Confluence's jira macro uses for this Jira: a macro naming another server names
    another Jira; one naming no server is shown from Confluence's primary Jira, which
    is taken to be this one.
    """

    projects: frozenset[str] = frozenset({"OPS"})
    site_urls: frozenset[str] = frozenset()
    page_base: str = ""
    server_ids: frozenset[str] = frozenset()

    def outside(self, key: str, site: TicketSite | None = None) -> str | None:
        """Why the ticket `key`, referenced as `site` says, is outside this scope (a
        phrase for a finding), or None when it is a ticket followup may touch."""
        if site is not None:
            if site.url is not None:
                href = urljoin(self.page_base + "/", site.url) if self.page_base else site.url
                cut = href.find("/browse/")
                base = site_url(href[:cut] if cut >= 0 else href)
                if base not in self.site_urls:
                    host = urlsplit(base).netloc or site.url or "a relative address"
                    return f"is a link to another Jira ({host}) than jira.url"
            elif site.server_id is None or site.server_id not in self.server_ids:
                named = f"“{site.server}”" if site.server else "another server"
                ident = f" (serverId {site.server_id})" if site.server_id else ""
                return (
                    f"is a jira macro of {named}{ident}, not of this Jira's application "
                    "link ([confluence] jira_server_id, jira.macro_server_ids)"
                )
        project = key.rsplit("-", 1)[0].upper()
        if project not in self.projects:
            allowed = ", ".join(sorted(self.projects))
            return (
                f"is in project {project}, not one of followup's projects "
                f"(jira.project, jira.adopt_projects and the [[routing]] rules' projects: "
                f"{allowed})"
            )
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """What the planner may do, from the `[jira]` and `[sync]` settings.

    `project` is where new tickets are created; `scope` says which tickets may be
    touched at all (it must include `project`). `adopted_tickets` says who leads a
    ticket a person linked by hand: Jira (the page's tick, owner and due date are
    not sent to it) or both sides, as for the tickets followup created.
    """

    project: str = "OPS"
    issue_type: str = "Task"
    label: str = "followup"
    extra_labels: tuple[str, ...] = ()
    default_priority: str | None = None
    default_due_days: int | None = None
    fallback_assignee: str | None = None
    close_on_tick: bool = True
    orphans: OrphanPolicy = "report"
    duplicates: OrphanPolicy = "report"
    adopt: bool = True
    conflict_winner: ConflictWinner = "jira"
    directions: Directions = field(default_factory=Directions)
    deployment: Deployment = "cloud"
    done_transitions: tuple[str, ...] = ("Done",)
    reopen_transitions: tuple[str, ...] = ("To Do", "Reopen", "Reopened", "Backlog")
    scope: Scope = field(default_factory=Scope)
    adopted_tickets: AdoptedTickets = "jira-leads"
    # `[[routing]]`, `[priorities]`, `[incident]` (followup.core.routing); None: every
    # ticket goes to `project` as `issue_type`, a priority cell is sent as written.
    routing: Routing | None = None

    def __post_init__(self) -> None:
        projects = {self.project, *(self.routing.projects if self.routing else ())}
        for project in sorted(projects):
            if project.upper() not in self.scope.projects:
                raise ValueError(f"project {project} is not in the scope's projects")

    # -- routing (followup.core.routing) ----------------------------------------------

    def route(self, page: Page, item: ActionItem | None = None) -> Route:
        """Where the item's ticket goes: the first `[[routing]]` rule matching, else
        `project` as `issue_type`."""
        if self.routing is None:
            return Route(self.project, self.issue_type)
        return self.routing.route(page, item)

    def priority_for(self, page: Page, item: ActionItem) -> PriorityChoice:
        """The Jira priority a new ticket for the item is created with."""
        if self.routing is None:
            return PriorityChoice(item.priority or self.default_priority)
        return self.routing.priority(item.priority, self.route(page, item).project)

    def due_days_for(self, page: Page, item: ActionItem) -> int | None:
        """Days after the postmortem an item with no due date is due: by its
        priority (`[priorities] due_days`), else `default_due_days`."""
        if self.routing is not None:
            days = self.routing.due_days_for(self.priority_for(page, item).name)
            if days is not None:
                return days
        return self.default_due_days


def page_label(policy: Policy, page_id: str) -> str:
    return f"{policy.label}-{page_id}"


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """The `[reminders]` settings. `escalate_to` is a Jira user id (account id on
    Cloud, username on Data Center); `escalate_label` None adds no label."""

    enabled: bool = False
    overdue_every_days: int = 7
    before_due_days: int = 3
    escalate_after: int = 3
    escalate_to: str | None = None
    escalate_label: str | None = "followup-escalated"


@dataclass(frozen=True, slots=True)
class WatermarkPolicy:
    """Incremental runs (`followup.sync.watermark`): the page whose content property
    holds the watermark (None: every run is a full pass), the longest time between
    full passes, how far before the last run's start an incremental run reads, the
    zone of the run's date, and the hash of the settings the watermark was made
    under."""

    state_page: str | None = None
    full_every_seconds: int = 86_400
    overlap_seconds: int = 300
    timezone: str = "UTC"
    scope: str = ""

    @property
    def full_every(self) -> timedelta:
        return timedelta(seconds=self.full_every_seconds)

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.overlap_seconds)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the engine needs from the settings, passed in explicitly."""

    cql: str = 'type = page AND label = "postmortem"'
    spaces: tuple[str, ...] = ()
    date_order: DateOrder = "none"
    vocabulary: Vocabulary = DEFAULT_VOCABULARY
    lease_seconds: int = 300
    max_page_retries: int = 3
    concurrency: int = 4
    max_page_bytes: int = 5_000_000
    max_items_per_page: int = 2000
    owners: Mapping[str, str] = field(default_factory=dict)
    jira_server: str | None = None
    jira_server_id: str | None = None
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    # After a create whose answer was lost, how long to keep looking for its tickets
    # in the search (which lags Jira's writes) before creating what is still missing.
    search_settle_seconds: float = 10
    watermark: WatermarkPolicy = field(default_factory=WatermarkPolicy)
