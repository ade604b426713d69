"""What a seed puts into the sandbox: users, spaces, pages, projects and issues.

Plain data. `seed.py` builds datasets (the demo one and synthetic ones); the Jira
and Confluence modules each load their half with `load(state, dataset)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from followup.sandbox.state import User


@dataclass(frozen=True, slots=True)
class SeedSpace:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class SeedPage:
    """A Confluence page. `id=None` lets the sandbox allocate one; `parent` is the id of
    the page it sits under (in the same space), None at the top of its space."""

    space_key: str
    title: str
    body: str  # storage format
    author: str  # account id
    created: datetime
    labels: tuple[str, ...] = ("postmortem",)
    id: str | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class SeedField:
    """A project's custom field: `customfield_<n>`, its name, `string` or `option`
    (with its `options`), and whether a create must set it."""

    id: str
    name: str
    type: str = "string"
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeedProject:
    key: str
    name: str
    lead: str  # account id
    issue_types: tuple[str, ...] = ("Task", "Bug")
    components: tuple[str, ...] = ()
    custom_fields: tuple[SeedField, ...] = ()


@dataclass(frozen=True, slots=True)
class SeedIssue:
    """A Jira issue. `status` is a workflow status name: To Do, In Progress or Done."""

    project: str
    summary: str
    reporter: str  # account id
    created: datetime
    issue_type: str = "Task"
    description: str = ""
    assignee: str | None = None  # account id
    duedate: date | None = None
    status: str = "To Do"
    resolution: str | None = None  # set when status is Done ("Done", "Won't Do", ...)
    resolutiondate: datetime | None = None
    labels: tuple[str, ...] = ()
    priority: str = "Medium"
    properties: dict[str, Any] = field(default_factory=dict)
    number: int | None = None  # the key's number (PROJ-<number>); None: the next one


@dataclass(frozen=True, slots=True)
class Dataset:
    users: tuple[User, ...] = ()
    spaces: tuple[SeedSpace, ...] = ()
    pages: tuple[SeedPage, ...] = ()
    projects: tuple[SeedProject, ...] = ()
    issues: tuple[SeedIssue, ...] = ()
