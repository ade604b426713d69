"""In-memory Jira and Confluence behind the engine's ports, for fast engine tests.

They keep the semantics the engine relies on (page versions with 409 on a stale
write, property compare-and-swap, bulk creates in order, transitions, users) and
count every call in `calls`, so a test can assert what a run wrote. Queries are
understood only as far as the engine builds them: quoted labels in JQL, `space in`
and `id in` in CQL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from followup.core.model import Page, StatusCategory, Ticket, TicketProperty
from followup.core.routing import CreateField
from followup.errors import ConflictError, NotFoundError, PlanError
from followup.ports import (
    ConfluenceUser,
    CreateResult,
    Deployment,
    FieldUpdate,
    JiraUser,
    NewTicket,
    PropertyValue,
)

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WRITES = frozenset(
    {
        "update_page",
        "link_issue",
        "create_property",
        "update_property",
        "create_tickets",
        "update_ticket",
        "transition",
        "set_property",
        "upsert_remote_link",
        "add_comment",
    }
)


@dataclass
class FakeConfluence:
    """Pages and content properties in memory."""

    pages: dict[str, Page] = field(default_factory=dict)
    properties: dict[tuple[str, str], PropertyValue] = field(default_factory=dict)
    users: list[ConfluenceUser] = field(default_factory=list)
    history: dict[str, list[str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    before_update: Any = None  # callable(page_id) run before a page write lands
    # The server's clock, as the real site's `Date` headers and property versions
    # give it; None: unknown (the engine then judges leases by its own clock).
    clock: Callable[[], datetime] | None = None
    timezone: str | None = "UTC"

    def add_page(self, page: Page) -> None:
        self.pages[page.id] = page
        self.history.setdefault(page.id, []).append(page.body)

    def edit_page(self, page_id: str, body: str) -> Page:
        """A person's edit: a new version with `body`."""
        old = self.pages[page_id]
        new = replace(old, body=body, version=old.version + 1)
        self.add_page(new)
        return new

    @property
    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if name in _WRITES)

    def find_pages(self, cql: str) -> Iterator[Page]:
        self.calls["find_pages"] += 1
        ids = re.search(r"\bid in \(([^)]*)\)", cql)
        spaces = re.search(r"\bspace in \(([^)]*)\)", cql)
        wanted_ids = {i.strip().strip('"') for i in ids.group(1).split(",")} if ids else None
        wanted_spaces = set(_QUOTED.findall(spaces.group(1))) if spaces else None
        for page in sorted(self.pages.values(), key=lambda p: int(p.id)):
            if wanted_ids is not None and page.id not in wanted_ids:
                continue
            if wanted_spaces is not None and page.space_key not in wanted_spaces:
                continue
            yield page

    def get_page(self, page_id: str) -> Page:
        self.calls["get_page"] += 1
        if page_id not in self.pages:
            raise NotFoundError(f"page {page_id} not found", service="confluence", status=404)
        return self.pages[page_id]

    def update_page(self, page: Page, body: str, *, message: str) -> Page:
        self.calls["update_page"] += 1
        if self.before_update is not None:
            hook, self.before_update = self.before_update, None
            hook(page.id)
        current = self.pages[page.id]
        if current.version != page.version:
            raise ConflictError(
                f"Version must be incremented on update. Current version is: {current.version}",
                service="confluence",
                status=409,
            )
        new = replace(current, body=body, version=current.version + 1)
        self.add_page(new)
        return new

    def get_property(self, page_id: str, key: str) -> PropertyValue | None:
        self.calls["get_property"] += 1
        return self.properties.get((page_id, key))

    def server_now(self) -> datetime | None:
        return self.clock() if self.clock is not None else None

    def user_timezone(self) -> str | None:
        self.calls["user_timezone"] += 1
        return self.timezone

    def create_property(self, page_id: str, key: str, value: dict[str, Any]) -> PropertyValue:
        self.calls["create_property"] += 1
        if (page_id, key) in self.properties:
            raise ConflictError("property exists", service="confluence", status=409)
        prop = PropertyValue(key, dict(value), 1, when=self.server_now())
        self.properties[(page_id, key)] = prop
        return prop

    def update_property(
        self, page_id: str, key: str, value: dict[str, Any], *, version: int
    ) -> PropertyValue:
        self.calls["update_property"] += 1
        cur = self.properties.get((page_id, key))
        if cur is None or cur.version + 1 != version:
            raise ConflictError("stale property version", service="confluence", status=409)
        prop = PropertyValue(key, dict(value), version, when=self.server_now())
        self.properties[(page_id, key)] = prop
        return prop

    def get_user(
        self, *, userkey: str | None = None, username: str | None = None
    ) -> ConfluenceUser | None:
        self.calls["get_user"] += 1
        for u in self.users:
            if (userkey and u.userkey == userkey) or (username and u.username == username):
                return u
        return None

    def space_exists(self, key: str) -> bool:
        self.calls["space_exists"] += 1
        return any(page.space_key == key for page in self.pages.values())


@dataclass
class FakeJira:
    """Tickets, users and a To Do -> In Progress -> Done workflow in memory."""

    deployment_: Deployment = "cloud"
    project: str = "OPS"
    tickets: dict[str, Ticket] = field(default_factory=dict)
    users: list[JiraUser] = field(default_factory=list)
    assignable: set[str] | None = None  # None: every known user is assignable
    links: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    created: list[NewTicket] = field(default_factory=list)
    descriptions: dict[str, str] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    fail_create_refs: set[str] = field(default_factory=set)
    clock: Callable[[], datetime] | None = None
    timezone: str | None = "UTC"
    _next: int = 1

    @property
    def deployment(self) -> Deployment:
        return self.deployment_

    @property
    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if name in _WRITES)

    def server_now(self) -> datetime | None:
        return self.clock() if self.clock is not None else None

    def user_timezone(self) -> str | None:
        self.calls["user_timezone"] += 1
        return self.timezone

    def add_ticket(self, project: str | None = None, **kw: Any) -> Ticket:
        """A ticket made by a person (or an earlier run): key allocated here."""
        key = f"{project or self.project}-{self._next}"
        self._next += 1
        defaults: dict[str, Any] = {
            "key": key,
            "id": str(10000 + self._next),
            "summary": "",
            "assignee": None,
            "due": None,
            "status": "To Do",
            "status_category": "new",
        }
        defaults.update(kw)
        ticket = Ticket(**defaults)
        self.tickets[key] = ticket
        return ticket

    def search_tickets(self, jql: str) -> Iterator[Ticket]:
        self.calls["search_tickets"] += 1
        labels = set(_QUOTED.findall(jql))
        for t in sorted(self.tickets.values(), key=lambda t: int(t.key.rsplit("-", 1)[1])):
            if labels & set(t.labels):
                yield t

    def get_ticket(self, key: str) -> Ticket | None:
        self.calls["get_ticket"] += 1
        return self.tickets.get(key)

    def create_tickets(self, tickets: Sequence[NewTicket]) -> list[CreateResult]:
        out: list[CreateResult] = []
        for start in range(0, len(tickets), 50):
            self.calls["create_tickets"] += 1
            for spec in tickets[start : start + 50]:
                if spec.ref in self.fail_create_refs:
                    out.append(CreateResult(spec.ref, error="assignee: User cannot be assigned"))
                    continue
                t = self.add_ticket(
                    project=spec.project,
                    summary=spec.summary,
                    assignee=spec.assignee,
                    assignee_display=self._display(spec.assignee),
                    due=spec.due,
                    labels=tuple(spec.labels),
                    prop=spec.prop,
                    created=datetime(2026, 1, 1, tzinfo=UTC),
                )
                self.descriptions[t.key] = spec.description
                self.created.append(spec)
                out.append(CreateResult(spec.ref, key=t.key))
        return out

    def _get(self, key: str) -> Ticket:
        if key not in self.tickets:
            raise NotFoundError(f"issue {key} not found", service="jira", status=404)
        return self.tickets[key]

    def update_ticket(self, key: str, update: FieldUpdate) -> None:
        self.calls["update_ticket"] += 1
        t = self._get(key)
        changes: dict[str, Any] = {}
        for name, value in update.fields.items():
            if name == "description":
                self.descriptions[key] = value
                continue
            attr = {"duedate": "due"}.get(name, name)
            changes[attr] = value
            if name == "assignee":
                changes["assignee_display"] = self._display(value)
        if update.add_labels:
            changes["labels"] = tuple(dict.fromkeys((*t.labels, *update.add_labels)))
        self.tickets[key] = replace(t, **changes)

    def set_status(self, key: str, status: str, resolution: str | None = None) -> None:
        """A person moves the ticket in Jira."""
        categories: dict[str, StatusCategory] = {
            "To Do": "new",
            "In Progress": "indeterminate",
            "Done": "done",
        }
        category = categories[status]
        res = (resolution or "Done") if category == "done" else None
        self.tickets[key] = replace(
            self.tickets[key], status=status, status_category=category, resolution=res
        )

    def transition(self, key: str, names: Sequence[str]) -> str:
        self.calls["transition"] += 1
        self._get(key)
        targets = {"done": "Done", "to do": "To Do", "reopen": "To Do", "reopened": "To Do"}
        targets["in progress"] = "In Progress"
        for name in names:
            status = targets.get(name.casefold())
            if status:
                self.set_status(key, status)
                return status
        raise PlanError(f"{key}: no transition named {', '.join(names)}")

    def set_property(self, key: str, prop: TicketProperty) -> None:
        self.calls["set_property"] += 1
        self.tickets[key] = replace(self._get(key), prop=prop)

    def upsert_remote_link(self, key: str, *, global_id: str, url: str, title: str) -> None:
        self.calls["upsert_remote_link"] += 1
        self._get(key)
        self.links[(key, global_id)] = (url, title)

    def add_comment(self, key: str, body: str) -> None:
        self.calls["add_comment"] += 1
        self._get(key)
        self.comments.setdefault(key, []).append(body)

    def find_users(self, query: str) -> list[JiraUser]:
        self.calls["find_users"] += 1
        q = query.casefold().lstrip("@")
        return [
            u
            for u in self.users
            if q in u.display_name.casefold() or (u.email and u.email.casefold().startswith(q))
        ]

    def assignable_user(self, user_id: str, project: str) -> JiraUser | None:
        self.calls["assignable_user"] += 1
        known = {u.id: u for u in self.users}
        allowed = self.assignable if self.assignable is not None else set(known)
        if user_id not in allowed:
            return None
        return known.get(user_id, JiraUser(user_id, user_id))

    def get_description(self, key: str) -> str | None:
        self.calls["get_description"] += 1
        self._get(key)
        return self.descriptions.get(key)

    def link_issue(self, key: str, to: str, link_type: str) -> None:
        self.calls["link_issue"] += 1
        t = self._get(key)
        self.tickets[key] = replace(t, links=t.links | {(link_type, to)})

    def issue_link_types(self) -> list[str]:
        self.calls["issue_link_types"] += 1
        return ["Blocks", "Relates"]

    def create_issue_types(self, project: str) -> list[tuple[str, str]] | None:
        self.calls["create_issue_types"] += 1
        return [("10001", "Task"), ("10002", "Bug")]

    def create_fields(self, project: str, issue_type_id: str) -> list[CreateField]:
        self.calls["create_fields"] += 1
        return [
            CreateField("summary", "Summary", required=True),
            CreateField("labels", "Labels", type="array", items="string"),
            CreateField("duedate", "Due date", type="date"),
            CreateField("assignee", "Assignee", type="user"),
            CreateField(
                "priority",
                "Priority",
                has_default=True,
                type="priority",
                allowed=("Highest", "High", "Medium", "Low", "Lowest"),
            ),
        ]

    def _display(self, user_id: str | None) -> str | None:
        return next((u.display_name for u in self.users if u.id == user_id), None)
