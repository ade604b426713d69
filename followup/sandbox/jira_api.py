"""The Jira half of the sandbox: the REST API v2/v3 subset followup uses, over SQLite.

Shapes, status codes and error bodies follow Jira Cloud (checked against Atlassian's
OpenAPI document); on the `datacenter` flavor it answers as Jira Data Center does where
the two differ (users by name, `/rest/api/2/search` with `startAt`/`total`, no v3).
v2 and v3 share every handler; they differ only in rich text, which is a plain string
on v2 and an Atlassian Document Format (ADF) document on v3.

What every resource shares (the request context, errors, rich text, the catalog's
shapes) is in `followup/sandbox/jira/base.py`. Public surface: `init_schema`, `load`,
`routes`, `issue_view_data`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.dataset import Dataset, SeedIssue
from followup.sandbox.jira import catalog, changelog, watchers, workflow
from followup.sandbox.jira import issue_links as links
from followup.sandbox.jira.base import (
    DEFAULT_PRIORITY,
    PRIORITIES,
    Ctx,
    FieldErrors,
    Handler,
    JiraError,
    Json,
    cannot_set,
    comment_json,
    endpoint,
    find_project,
    iso,
    issue_row,
    issue_type_id,
    issue_type_json,
    issue_types_of,
    jira_time,
    json_response,
    no_content,
    page_params,
    priority_json,
    project_or_404,
    project_ref,
    resolution_json,
    rich_text_in,
    rich_text_out,
    status_json,
    status_of,
    utc_now,
)
from followup.sandbox.jira.jql import KEY_NUMBER, JqlError, compile_jql
from followup.sandbox.state import SandboxState, User

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    lead TEXT,
    issue_counter INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS issue_types (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (project, id)
);
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,
    project TEXT NOT NULL,
    issuetype TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    status_category TEXT NOT NULL,
    resolution TEXT,
    assignee TEXT,
    reporter TEXT,
    priority TEXT NOT NULL,
    duedate TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    resolutiondate TEXT
);
CREATE INDEX IF NOT EXISTS issues_project ON issues(project);
-- Keys are looked up case-insensitively; the UNIQUE index on key is BINARY.
CREATE INDEX IF NOT EXISTS issues_key_nocase ON issues(key COLLATE NOCASE);
-- ORDER BY key (what jql.py compiles `key` to): a search page walks this index from
-- the previous page's last key, instead of sorting every matching issue every page.
CREATE INDEX IF NOT EXISTS issues_key_order
    ON issues(project, CAST(substr(key, length(project) + 2) AS INTEGER));
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL,
    label TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS issue_labels_label ON issue_labels(label);
CREATE INDEX IF NOT EXISTS issue_labels_issue ON issue_labels(issue_id);
CREATE TABLE IF NOT EXISTS issue_properties (
    issue_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (issue_id, key)
);
CREATE TABLE IF NOT EXISTS remote_links (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    global_id TEXT,
    object TEXT NOT NULL,
    relationship TEXT,
    application TEXT
);
CREATE INDEX IF NOT EXISTS remote_links_issue ON remote_links(issue_id);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments(issue_id);
"""

# -- the fields -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    id: str
    name: str
    schema: dict[str, str] | None
    navigable: bool = True
    orderable: bool = True
    searchable: bool = True
    clause_names: tuple[str, ...] = ()


FIELDS: tuple[_Field, ...] = (
    _Field("summary", "Summary", {"type": "string", "system": "summary"}),
    _Field("description", "Description", {"type": "string", "system": "description"}),
    _Field("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
    _Field("project", "Project", {"type": "project", "system": "project"}),
    _Field("status", "Status", {"type": "status", "system": "status"}, orderable=False),
    _Field("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
    _Field("assignee", "Assignee", {"type": "user", "system": "assignee"}),
    _Field("reporter", "Reporter", {"type": "user", "system": "reporter"}),
    _Field("creator", "Creator", {"type": "user", "system": "creator"}, orderable=False),
    _Field("priority", "Priority", {"type": "priority", "system": "priority"}),
    _Field("duedate", "Due date", {"type": "date", "system": "duedate"}, clause_names=("due",)),
    _Field(
        "labels",
        "Labels",
        {"type": "array", "items": "string", "system": "labels"},
        clause_names=(),
    ),
    _Field("created", "Created", {"type": "datetime", "system": "created"}, orderable=False),
    _Field("updated", "Updated", {"type": "datetime", "system": "updated"}, orderable=False),
    _Field(
        "resolutiondate",
        "Resolved",
        {"type": "datetime", "system": "resolutiondate"},
        orderable=False,
        clause_names=("resolved",),
    ),
    _Field("comment", "Comment", {"type": "comments-page", "system": "comment"}, navigable=False),
    # The rest of Jira's system fields, so that an issue has its full default field set
    # (empty or null where nothing is set, as in the issue answers of Sentry's recorded
    # Jira fixtures): the sandbox holds links and watchers, and none of the others.
    *(
        _Field(field_id, name, {"type": kind, "system": field_id}, orderable=False)
        for field_id, name, kind in (
            ("aggregateprogress", "Σ Progress", "progress"),
            ("aggregatetimeestimate", "Σ Remaining Estimate", "number"),
            ("aggregatetimeoriginalestimate", "Σ Original Estimate", "number"),
            ("aggregatetimespent", "Σ Time Spent", "number"),
            ("environment", "Environment", "string"),
            ("lastViewed", "Last Viewed", "datetime"),
            ("progress", "Progress", "progress"),
            ("security", "Security Level", "securitylevel"),
            ("timeestimate", "Remaining Estimate", "number"),
            ("timeoriginalestimate", "Original estimate", "number"),
            ("timespent", "Time Spent", "number"),
            ("votes", "Votes", "votes"),
            ("watches", "Watchers", "watches"),
            ("workratio", "Work Ratio", "number"),
            ("statuscategorychangedate", "Status Category Changed", "datetime"),  # Cloud
        )
    ),
    *(
        _Field(field_id, name, {"type": "array", "items": items, "system": field_id})
        for field_id, name, items in (
            ("components", "Components", "component"),
            ("fixVersions", "Fix versions", "version"),
            ("versions", "Affects versions", "version"),
            ("issuelinks", "Linked Issues", "issuelinks"),
            ("subtasks", "Sub-tasks", "issuelinks"),
        )
    ),
    *(
        _Field(field_id, name, schema, navigable=False)
        for field_id, name, schema in (
            ("attachment", "Attachment", {"type": "array", "items": "attachment"}),
            ("worklog", "Log Work", {"type": "array", "items": "worklog"}),
            ("timetracking", "Time tracking", {"type": "timetracking"}),
        )
    ),
    _Field(
        "issuekey",
        "Key",
        None,
        orderable=False,
        clause_names=("id", "issue", "issuekey", "key"),
    ),
)
_CLOUD_ONLY_FIELDS = frozenset({"statuscategorychangedate"})
_FIELD_IDS = {f.id for f in FIELDS}
_RETURNED_FIELDS = tuple(f.id for f in FIELDS if f.id != "issuekey")
_NAVIGABLE_FIELDS = tuple(f.id for f in FIELDS if f.navigable and f.id != "issuekey")
_CREATABLE = (
    *("summary", "description", "issuetype", "project", "assignee", "reporter"),
    *("priority", "duedate", "labels"),
)
_EDITABLE = ("summary", "description", "assignee", "reporter", "priority", "duedate", "labels")
_REQUIRED_ON_CREATE = ("summary", "issuetype", "project")

SEARCH_REMOVED_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
MAX_BULK = 50
MAX_PAGE_CLOUD = 100
MAX_PAGE_DATACENTER = 1000
MAX_PROPERTY_BYTES = 32768
MAX_SEARCH_PROPERTIES = 5
_ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- schema and seeding -----------------------------------------------------------------


def init_schema(db: sqlite3.Connection) -> None:
    """Create the Jira tables (idempotent)."""
    db.executescript(SCHEMA)
    for module in (changelog, links, watchers):
        db.executescript(module.SCHEMA)


def _ensure_project(
    db: sqlite3.Connection, key: str, name: str, lead: str | None, issue_types: Iterable[str]
) -> None:
    exists = db.execute("SELECT 1 FROM projects WHERE key = ?", (key,)).fetchone()
    if not exists:
        next_id = db.execute(
            "SELECT COALESCE(MAX(CAST(id AS INTEGER)), 9999) + 1 FROM projects"
        ).fetchone()[0]
        db.execute(
            "INSERT INTO projects (key, id, name, lead) VALUES (?,?,?,?)",
            (key, str(next_id), name, lead),
        )
    for type_name in issue_types:
        db.execute(
            "INSERT OR IGNORE INTO issue_types (project, id, name) VALUES (?,?,?)",
            (key, issue_type_id(type_name), type_name),
        )


def _allocate(db: sqlite3.Connection, project: str) -> tuple[int, str]:
    """A new issue id and key (PROJ-n), counted per project."""
    db.execute("UPDATE projects SET issue_counter = issue_counter + 1 WHERE key = ?", (project,))
    number = db.execute("SELECT issue_counter FROM projects WHERE key = ?", (project,)).fetchone()[
        0
    ]
    issue_id = db.execute("SELECT COALESCE(MAX(id), 10000) + 1 FROM issues").fetchone()[0]
    return int(issue_id), f"{project}-{number}"


def _insert_seed_issue(db: sqlite3.Connection, issue: SeedIssue) -> None:
    status = workflow.status_named(issue.status)
    if status is None:
        raise ValueError(f"unknown status {issue.status!r} for seed issue {issue.summary!r}")
    if not db.execute("SELECT 1 FROM projects WHERE key = ?", (issue.project,)).fetchone():
        raise ValueError(f"seed issue {issue.summary!r} names unknown project {issue.project}")
    _ensure_project(db, issue.project, issue.project, None, (issue.issue_type,))
    issue_id, key = _allocate(db, issue.project)
    created = iso(issue.created)
    done = status.category.key == "done"
    resolution = (issue.resolution or workflow.DEFAULT_RESOLUTION.name) if done else None
    resolved = (iso(issue.resolutiondate) if issue.resolutiondate else created) if done else None
    db.execute(
        "INSERT INTO issues (id, key, project, issuetype, summary, description, status,"
        " status_category, resolution, assignee, reporter, priority, duedate, created,"
        " updated, resolutiondate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            issue_id,
            key,
            issue.project,
            issue.issue_type,
            issue.summary,
            json.dumps(issue.description) if issue.description else None,
            status.name,
            status.category.key,
            resolution,
            issue.assignee,
            issue.reporter,
            issue.priority,
            issue.duedate.isoformat() if issue.duedate else None,
            created,
            max(created, resolved or created),
            resolved,
        ),
    )
    for label in sorted(set(issue.labels)):
        db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
    watchers.watch(db, issue_id, issue.reporter)
    for prop_key, value in issue.properties.items():
        db.execute(
            "INSERT INTO issue_properties VALUES (?,?,?)", (issue_id, prop_key, json.dumps(value))
        )


def load(state: SandboxState, dataset: Dataset) -> None:
    """Load the Jira half of a dataset: users, projects, then issues (PROJ-1, PROJ-2, ...)."""
    for user in dataset.users:
        state.add_user(user)
    with state.transaction() as db:
        for project in dataset.projects:
            _ensure_project(db, project.key, project.name, project.lead, project.issue_types)
        for issue in dataset.issues:
            _insert_seed_issue(db, issue)


# -- issues as JSON ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FieldSelection:
    fields: tuple[str, ...]
    id_only: bool


def _select_fields(requested: list[str] | None, default: str) -> _FieldSelection:
    """Which fields to return for a `fields` parameter (`*all`, `*navigable`, `-x`, names)."""
    tokens = requested or [default]
    exclude = {t[1:] for t in tokens if t.startswith("-")}
    positive = [t for t in tokens if not t.startswith("-")]
    include: list[str] = [] if positive else list(_NAVIGABLE_FIELDS)
    for part in positive:
        if part == "*all":
            include.extend(_RETURNED_FIELDS)
        elif part == "*navigable":
            include.extend(_NAVIGABLE_FIELDS)
        elif part in _FIELD_IDS:
            include.append(part)
        # "id" adds nothing; unknown names are ignored, as Jira does
    chosen = tuple(dict.fromkeys(f for f in include if f not in exclude and f != "issuekey"))
    id_only = not chosen and bool(positive) and all(t == "id" for t in positive)
    return _FieldSelection(chosen, id_only)


@dataclass(slots=True)
class _Extras:
    """What rendering a batch of issues needs beyond their rows."""

    labels: dict[int, list[str]]
    properties: dict[int, dict[str, Json]]
    projects: dict[str, sqlite3.Row]
    comments: dict[int, list[sqlite3.Row]]
    type_ids: dict[tuple[str, str], str]
    issuelinks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    watches: dict[int, Any] = field(default_factory=dict)
    histories: dict[int, list[changelog.History]] = field(default_factory=dict)


def _extras(
    ctx: Ctx,
    db: sqlite3.Connection,
    rows: Sequence[sqlite3.Row],
    properties: Sequence[str],
    selection: _FieldSelection,
    with_changelog: bool,
) -> _Extras:
    ids = [int(r["id"]) for r in rows]
    extras = _Extras({i: [] for i in ids}, {i: {} for i in ids}, {}, {i: [] for i in ids}, {})
    if not ids:
        return extras
    if "issuelinks" in selection.fields:
        extras.issuelinks = links.issuelinks(ctx, db, ids)
    if "watches" in selection.fields:
        extras.watches = watchers.watches(ctx, db, [(int(r["id"]), r["key"]) for r in rows])
    if with_changelog or "statuscategorychangedate" in selection.fields:
        extras.histories = changelog.histories(db, ids)
    with_comments = "comment" in selection.fields
    marks = ",".join("?" * len(ids))
    for row in db.execute(
        f"SELECT issue_id, label FROM issue_labels WHERE issue_id IN ({marks}) ORDER BY label",
        ids,
    ):
        extras.labels[row["issue_id"]].append(row["label"])
    if properties:
        pmarks = ",".join("?" * len(properties))
        for row in db.execute(
            f"SELECT issue_id, key, value FROM issue_properties"
            f" WHERE issue_id IN ({marks}) AND key IN ({pmarks})",
            [*ids, *properties],
        ):
            extras.properties[row["issue_id"]][row["key"]] = json.loads(row["value"])
    if with_comments:
        for row in db.execute(
            f"SELECT * FROM comments WHERE issue_id IN ({marks}) ORDER BY id", ids
        ):
            extras.comments[row["issue_id"]].append(row)
    for row in db.execute("SELECT * FROM projects"):
        extras.projects[row["key"]] = row
    for row in db.execute("SELECT project, id, name FROM issue_types"):
        extras.type_ids[(row["project"], row["name"])] = row["id"]
    return extras


def _issue_json(
    ctx: Ctx,
    row: sqlite3.Row,
    selection: _FieldSelection,
    properties: Sequence[str] | None,
    extras: _Extras,
    with_changelog: bool = False,
) -> dict[str, Any]:
    issue_id = int(row["id"])
    if selection.id_only and properties is None and not with_changelog:
        return {"id": str(issue_id)}
    values: dict[str, Json] = {}
    for name in selection.fields:
        if name == "summary":
            values[name] = row["summary"]
        elif name == "description":
            values[name] = rich_text_out(row["description"], ctx.rich)
        elif name == "issuetype":
            type_id = extras.type_ids.get((row["project"], row["issuetype"])) or issue_type_id(
                row["issuetype"]
            )
            values[name] = issue_type_json(ctx, type_id, row["issuetype"])
        elif name == "project":
            project = extras.projects.get(row["project"])
            values[name] = project_ref(ctx, project) if project else {"key": row["project"]}
        elif name == "status":
            values[name] = status_json(ctx, status_of(row))
        elif name == "resolution":
            values[name] = resolution_json(ctx, row["resolution"])
        elif name == "assignee":
            values[name] = ctx.user_out(row["assignee"])
        elif name in ("reporter", "creator"):
            values[name] = ctx.user_out(row["reporter"])
        elif name == "priority":
            values[name] = priority_json(ctx, row["priority"])
        elif name == "duedate":
            values[name] = row["duedate"]
        elif name == "labels":
            values[name] = extras.labels.get(issue_id, [])
        elif name in ("created", "updated", "resolutiondate"):
            values[name] = jira_time(row[name])
        elif name == "comment":
            comments = [comment_json(ctx, issue_id, c) for c in extras.comments.get(issue_id, [])]
            values[name] = {
                "comments": comments,
                "self": f"{ctx.api}/issue/{issue_id}/comment",
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            }
        elif name == "issuelinks":
            values[name] = extras.issuelinks.get(issue_id, [])
        elif name == "watches":
            values[name] = extras.watches.get(issue_id)
        elif name == "statuscategorychangedate":
            if ctx.cloud:
                changed = [
                    h.created
                    for h in extras.histories.get(issue_id, [])
                    if any(item["field"] == "status" for item in h.items)
                ]
                values[name] = jira_time(changed[-1] if changed else row["created"])
        else:
            values[name] = _unset_field(ctx, name, row["key"])
    data: dict[str, Any] = {
        "expand": _ISSUE_EXPAND,
        "id": str(issue_id),
        "self": f"{ctx.api}/issue/{issue_id}",
        "key": row["key"],
        "fields": values,
    }
    if properties is not None:
        data["properties"] = {
            k: v for k, v in extras.properties.get(issue_id, {}).items() if k in properties
        }
    if with_changelog:
        data["changelog"] = changelog.expanded(ctx, extras.histories.get(issue_id, []))
    return data


def _unset_field(ctx: Ctx, name: str, key: str) -> Json:
    """The value of a system field the sandbox holds nothing for, as Jira shows it unset."""
    if name in ("components", "fixVersions", "versions", "subtasks", "attachment"):
        return []
    if name in ("progress", "aggregateprogress"):
        return {"progress": 0, "total": 0}
    if name == "votes":
        return {"self": f"{ctx.api}/issue/{key}/votes", "votes": 0, "hasVoted": False}
    if name == "worklog":
        return {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
    if name == "timetracking":
        return {}
    if name == "workratio":
        return -1
    return None  # environment, security, lastViewed, the time estimates


# -- field validation (create and edit) -------------------------------------------------


def _user_ref(ctx: Ctx, field_name: str, value: Any, errors: dict[str, str]) -> tuple[bool, Any]:
    """(ok, account id or None) for a user field value on this flavor."""
    if value is None:
        return True, None
    if not isinstance(value, dict):
        errors[field_name] = "expected Object"
        return False, None
    if ctx.cloud:
        if "accountId" not in value and "id" not in value:
            if "name" in value or "key" in value:
                errors[field_name] = (
                    "The 'name' and 'key' properties are not supported in GDPR strict mode; "
                    "specify the user by 'accountId'."
                )
            else:
                errors[field_name] = "Specify the user by 'accountId'."
            return False, None
        account = value.get("accountId", value.get("id"))
        if account is None or account == "-1":
            return True, None
        user = ctx.users().get(str(account))
        if user is None:
            errors[field_name] = f"Specified user does not exist: '{account}'."
            return False, None
    else:
        name = value.get("name")
        key = value.get("key")
        if "name" in value and name is None:
            return True, None
        if name is None and key is None:
            errors[field_name] = "Specify the user by 'name'."
            return False, None
        if name == "-1":
            return True, None
        found = (
            ctx.state.user_by("name", str(name))
            if name is not None
            else ctx.state.user_by("key", str(key))
        )
        if found is None:
            errors[field_name] = f"User '{name if name is not None else key}' does not exist."
            return False, None
        user = found
    if not user.active:
        errors[field_name] = f"User '{user.display_name}' cannot be assigned issues."
        return False, None
    return True, user.account_id


def _due_date(value: Any, errors: dict[str, str]) -> tuple[bool, str | None]:
    if value is None or value == "":
        return True, None
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return True, date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    errors["duedate"] = f"Error parsing date string: {value}"
    return False, None


def _label_error(label: Any) -> str | None:
    if not isinstance(label, str) or not label:
        return "Labels must be non-empty strings."
    if any(ch.isspace() for ch in label):
        return f"The label '{label}' contains spaces which is invalid."
    if len(label) > 255:
        return "The label must not be longer than 255 characters."
    return None


def _labels(value: Any, errors: dict[str, str]) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list):
        errors["labels"] = "expected Array"
        return None
    for label in value:
        problem = _label_error(label)
        if problem:
            errors["labels"] = problem
            return None
    return sorted(set(value))


def _summary(value: Any, errors: dict[str, str]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors["summary"] = "You must specify a summary of the issue."
        return None
    if not isinstance(value, str):
        errors["summary"] = "Operation value must be a string"
        return None
    if "\n" in value or "\r" in value:
        errors["summary"] = "The summary is invalid because it contains newline characters."
        return None
    if len(value) > 255:
        errors["summary"] = "Summary must be less than 255 characters."
        return None
    return value


def _priority(value: Any, errors: dict[str, str]) -> str | None:
    if not isinstance(value, dict):
        errors["priority"] = "The priority selected is invalid."
        return None
    for priority_id, name, _colour in PRIORITIES:
        if value.get("name") == name or value.get("id") == priority_id:
            return name
    errors["priority"] = "The priority selected is invalid."
    return None


def _check_properties(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldErrors({}, ["'properties' must be a list of {key, value}."])
    checked: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise FieldErrors({}, ["An issue property must have a non-empty 'key'."])
        checked.append((item["key"], _property_value(item["key"], item.get("value"))))
    return checked


def _property_value(key: str, value: Any) -> str:
    if len(key) > 255:
        raise FieldErrors({}, ["The property key cannot be longer than 255 characters."])
    encoded = json.dumps(value)
    if len(encoded.encode()) > MAX_PROPERTY_BYTES:
        raise FieldErrors(
            {},
            [f"The property value is too large. The maximum size is {MAX_PROPERTY_BYTES} bytes."],
        )
    return encoded


@dataclass(slots=True)
class _NewIssue:
    project: str
    issuetype: str
    summary: str
    description: str | None
    assignee: str | None
    reporter: str
    priority: str
    duedate: str | None
    labels: list[str]
    properties: list[tuple[str, str]]


def _validate_create(ctx: Ctx, db: sqlite3.Connection, payload: Any) -> _NewIssue:
    if not isinstance(payload, dict):
        raise FieldErrors({}, ["The request body must be a JSON object."])
    fields = payload.get("fields")
    if not isinstance(fields, dict):
        raise FieldErrors({}, ["Issue fields are required: 'fields' must be an object."])
    errors: dict[str, str] = {}
    for name in fields:
        if name not in _CREATABLE:
            errors[name] = cannot_set(name)

    project_row: sqlite3.Row | None = None
    project = fields.get("project")
    if isinstance(project, dict) and (project.get("key") or project.get("id")):
        project_row = find_project(db, str(project.get("key") or project.get("id")))
    if project_row is None:
        errors["project"] = "Specify a valid project ID or key"

    type_name: str | None = None
    issuetype = fields.get("issuetype")
    if not isinstance(issuetype, dict) or not (issuetype.get("name") or issuetype.get("id")):
        errors["issuetype"] = "Specify an issue type"
    elif project_row is not None:
        for type_row in issue_types_of(db, project_row["key"]):
            if issuetype.get("id") == type_row["id"] or issuetype.get("name") == type_row["name"]:
                type_name = type_row["name"]
        if type_name is None:
            errors["issuetype"] = "The issue type selected is invalid."

    summary = _summary(fields.get("summary"), errors)
    description, problem = rich_text_in(fields.get("description"), ctx.rich)
    if problem:
        errors["description"] = problem
    _ok, assignee = _user_ref(ctx, "assignee", fields.get("assignee"), errors)
    reporter = ctx.user.account_id
    if "reporter" in fields:
        _ok, chosen = _user_ref(ctx, "reporter", fields.get("reporter"), errors)
        reporter = chosen or reporter
    _ok, duedate = _due_date(fields.get("duedate"), errors)
    labels = _labels(fields.get("labels"), errors)
    priority = (
        _priority(fields["priority"], errors)
        if fields.get("priority") is not None
        else DEFAULT_PRIORITY
    )
    properties = _check_properties(payload.get("properties"))
    if errors:
        raise FieldErrors(errors)
    assert project_row is not None
    assert type_name is not None
    assert summary is not None
    return _NewIssue(
        project=project_row["key"],
        issuetype=type_name,
        summary=summary,
        description=description,
        assignee=assignee,
        reporter=reporter,
        priority=priority or DEFAULT_PRIORITY,
        duedate=duedate,
        labels=labels or [],
        properties=properties,
    )


def _create(ctx: Ctx, db: sqlite3.Connection, payload: Any) -> dict[str, str]:
    """Validate and insert one issue (inside the caller's transaction)."""
    new = _validate_create(ctx, db, payload)
    issue_id, key = _allocate(db, new.project)
    now = utc_now()
    db.execute(
        "INSERT INTO issues (id, key, project, issuetype, summary, description, status,"
        " status_category, resolution, assignee, reporter, priority, duedate, created,"
        " updated, resolutiondate) VALUES (?,?,?,?,?,?,?,?,NULL,?,?,?,?,?,?,NULL)",
        (
            issue_id,
            key,
            new.project,
            new.issuetype,
            new.summary,
            new.description,
            workflow.INITIAL.name,
            workflow.INITIAL.category.key,
            new.assignee,
            new.reporter,
            new.priority,
            new.duedate,
            now,
            now,
        ),
    )
    for label in new.labels:
        db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
    for prop_key, value in new.properties:
        db.execute(
            "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)", (issue_id, prop_key, value)
        )
    if ctx.state.faults is not None:
        ctx.state.faults.note_created(issue_id)
    watchers.watch(db, issue_id, new.reporter)  # Jira's users watch what they report
    row = issue_row(db, str(issue_id))
    if isinstance(payload, dict) and payload.get("update"):
        _apply_edit(ctx, db, row, {}, payload["update"])
    if isinstance(payload, dict) and payload.get("transition"):
        _apply_transition(ctx, db, issue_row(db, str(issue_id)), payload)
    return {"id": str(issue_id), "key": key, "self": f"{ctx.api}/issue/{issue_id}"}


# -- edit -------------------------------------------------------------------------------


def _apply_edit(
    ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row, fields: Any, update: Any
) -> bool:
    """Apply `fields` (set) and `update` (operations); True when anything changed."""
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise FieldErrors({}, ["'fields' and 'update' must be objects."])
    errors: dict[str, str] = {}
    for name in fields:
        if name not in _EDITABLE:
            errors[name] = cannot_set(name)
        elif name in update:
            errors[name] = f"Field '{name}' cannot be set in both 'fields' and 'update'."
    sets: dict[str, Any] = dict(fields)
    label_ops: list[tuple[str, Any]] = []
    comment_bodies: list[Any] = []
    for name, operations in update.items():
        if name == "comment":
            for op in operations if isinstance(operations, list) else []:
                body = op.get("add", {}).get("body") if isinstance(op, dict) else None
                comment_bodies.append(body)
            continue
        if name not in _EDITABLE:
            errors[name] = cannot_set(name)
            continue
        if not isinstance(operations, list):
            errors[name] = "Operations must be a list."
            continue
        for op in operations:
            if not isinstance(op, dict) or len(op) != 1:
                errors[name] = "Each operation must be an object with one verb."
                continue
            ((verb, value),) = op.items()
            if name == "labels" and verb in ("add", "remove", "set"):
                label_ops.append((verb, value))
            elif verb == "set":
                sets[name] = value
            else:
                errors[name] = f"Field '{name}' does not support the '{verb}' operation."
    changes: dict[str, Any] = {}
    if "summary" in sets:
        summary = _summary(sets["summary"], errors)
        if summary is not None:
            changes["summary"] = summary
    if "description" in sets:
        description, problem = rich_text_in(sets["description"], ctx.rich)
        if problem:
            errors["description"] = problem
        else:
            changes["description"] = description
    for user_field in ("assignee", "reporter"):
        if user_field in sets:
            ok, account = _user_ref(ctx, user_field, sets[user_field], errors)
            if ok:
                changes[user_field] = account
    if "duedate" in sets:
        ok, due = _due_date(sets["duedate"], errors)
        if ok:
            changes["duedate"] = due
    if "priority" in sets:
        priority = _priority(sets["priority"], errors)
        if priority:
            changes["priority"] = priority
    issue_id = int(row["id"])
    current_labels = [
        r["label"]
        for r in db.execute("SELECT label FROM issue_labels WHERE issue_id = ?", (issue_id,))
    ]
    labels = set(current_labels)
    if "labels" in sets:
        new_labels = _labels(sets["labels"], errors)
        if new_labels is not None:
            labels = set(new_labels)
    for verb, value in label_ops:
        if verb == "set":
            new_labels = _labels(value, errors)
            if new_labels is not None:
                labels = set(new_labels)
            continue
        problem = _label_error(value)
        if problem:
            errors["labels"] = problem
        elif verb == "add":
            labels.add(value)
        else:
            labels.discard(value)
    comments: list[str] = []
    for body in comment_bodies:
        stored, problem = rich_text_in(body, ctx.rich)
        if problem or stored is None:
            errors["comment"] = problem or "Comment body can not be empty!"
        else:
            comments.append(stored)
    if errors:
        raise FieldErrors(errors)
    changed = {k: v for k, v in changes.items() if row[k] != v}
    labels_changed = labels != set(current_labels)
    now = utc_now()
    if changed:
        assignments = ", ".join(f"{k} = ?" for k in changed)
        db.execute(f"UPDATE issues SET {assignments} WHERE id = ?", [*changed.values(), issue_id])
    if labels_changed:
        db.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
        for label in sorted(labels):
            db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
    for stored in comments:
        db.execute(
            "INSERT INTO comments (issue_id, author, body, created) VALUES (?,?,?,?)",
            (issue_id, ctx.user.account_id, stored, now),
        )
    history = _edit_changes(ctx, row, changed)
    if labels_changed:
        before, after = " ".join(sorted(current_labels)), " ".join(sorted(labels))
        history.append(changelog.Change("labels", None, before, None, after))
    changelog.record(db, issue_id, ctx.user.account_id, now, history)
    anything = bool(changed) or labels_changed or bool(comments)
    if anything:
        db.execute("UPDATE issues SET updated = ? WHERE id = ?", (now, issue_id))
    return anything


def _edit_changes(ctx: Ctx, row: sqlite3.Row, changed: Mapping[str, Any]) -> list[changelog.Change]:
    """The changelog items of an edit: one per field whose value changed."""

    def person(account_id: str | None) -> tuple[str | None, str | None]:
        user = ctx.users().get(account_id) if account_id else None
        if user is None:
            return None, None
        # Data Center's changelog names a user by key; Cloud's by account id.
        return (user.account_id if ctx.cloud else user.key), user.display_name

    def priority_id(name: str | None) -> str | None:
        return next((pid for pid, pname, _c in PRIORITIES if pname == name), None)

    items: list[changelog.Change] = []
    for name, value in changed.items():
        before = row[name]
        if name in ("summary", "description"):
            items.append(
                changelog.text_change(
                    name,
                    rich_text_out(before, "2") if name == "description" else before,
                    rich_text_out(value, "2") if name == "description" else value,
                )
            )
        elif name in ("assignee", "reporter"):
            items.append(changelog.Change(name, *person(before), *person(value)))
        elif name == "priority":
            items.append(
                changelog.Change(name, priority_id(before), before, priority_id(value), value)
            )
        elif name == "duedate":
            items.append(changelog.due_date_change(before, value))
    return items


def _field_errors_response(exc: FieldErrors) -> JiraError:
    return JiraError(400, exc.messages, exc.errors)


# -- transitions ------------------------------------------------------------------------


def _transition_json(ctx: Ctx, transition: workflow.Transition, with_fields: bool) -> Json:
    data: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(ctx, transition.to),
        "hasScreen": False,
        "isGlobal": True,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "looped": False,
    }
    if with_fields:
        data["fields"] = {}
        if transition.to.category.key == "done":
            data["fields"]["resolution"] = {
                "required": False,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "allowedValues": [resolution_json(ctx, r.name) for r in workflow.RESOLUTIONS],
            }
    return data


def _apply_transition(ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row, body: Any) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
        raise JiraError(400, ["Missing 'transition' identifier"])
    transition_id = body["transition"].get("id")
    current = status_of(row)
    transition = workflow.transition_by_id(current, str(transition_id))
    if transition is None:
        raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        raise JiraError(400, ["'fields' must be an object."])
    target = transition.to
    done = target.category.key == "done"
    errors: dict[str, str] = {}
    resolution: str | None = workflow.DEFAULT_RESOLUTION.name if done else None
    for name, value in fields.items():
        if name == "resolution" and done:
            found = None
            if isinstance(value, dict):
                found = workflow.resolution_named(str(value.get("name", ""))) or (
                    workflow.resolution_by_id(str(value.get("id", "")))
                )
            if found is None:
                errors["resolution"] = "The resolution selected is invalid."
            else:
                resolution = found.name
        else:
            errors[name] = cannot_set(name)
    if errors:
        raise JiraError(400, [], errors)
    now = utc_now()
    was_done = row["status_category"] == "done"
    resolved = (row["resolutiondate"] if was_done else now) if done else None
    db.execute(
        "UPDATE issues SET status = ?, status_category = ?, resolution = ?, resolutiondate = ?,"
        " updated = ? WHERE id = ?",
        (target.name, target.category.key, resolution, resolved, now, row["id"]),
    )
    history: list[changelog.Change] = []
    if resolution != row["resolution"]:
        old = workflow.resolution_named(row["resolution"] or "")
        new = workflow.resolution_named(resolution or "")
        history.append(
            changelog.Change(
                "resolution",
                old.id if old else None,
                row["resolution"],
                new.id if new else None,
                resolution,
            )
        )
    if target is not current:
        history.append(changelog.Change("status", current.id, current.name, target.id, target.name))
    changelog.record(db, int(row["id"]), ctx.user.account_id, now, history)
    update = body.get("update")
    if isinstance(update, dict) and update.get("comment"):
        try:
            _apply_edit(ctx, db, issue_row(db, str(row["id"])), {}, {"comment": update["comment"]})
        except FieldErrors as exc:
            raise _field_errors_response(exc) from exc


# -- handlers: site, users, projects ----------------------------------------------------


def _server_info(ctx: Ctx) -> Response:
    now = jira_time(utc_now())
    if ctx.cloud:
        version, numbers, deployment, build = "1001.0.0-SNAPSHOT", [1001, 0, 0], "Cloud", 100301
    else:
        version, numbers, deployment, build = "9.12.15", [9, 12, 15], "Server", 9120015
    return json_response(
        {
            "baseUrl": ctx.base_url,
            "displayUrl": ctx.base_url,
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": deployment,
            "buildNumber": build,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "followup-sandbox",
            "serverTitle": "Jira (followup sandbox)",
        }
    )


def _myself(ctx: Ctx) -> Response:
    return json_response(ctx.user_json(ctx.user))


def _fields(ctx: Ctx) -> Response:
    out = []
    for f in FIELDS:
        if f.id in _CLOUD_ONLY_FIELDS and not ctx.cloud:
            continue
        item: dict[str, Any] = {
            "id": f.id,
            "key": f.id,
            "name": f.name,
            "custom": False,
            "orderable": f.orderable,
            "navigable": f.navigable,
            "searchable": f.searchable,
            "clauseNames": list(f.clause_names or (f.id,)),
        }
        if f.schema is not None:
            item["schema"] = {**f.schema, "system": f.id}
        out.append(item)
    return json_response(out)


def _project_json(ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    data = project_ref(ctx, row)
    data.update(
        {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "description": "",
            "issueTypes": [
                issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, row["key"])
            ],
            "assigneeType": "UNASSIGNED",
            "isPrivate": False,
            "style": "classic",
            "properties": {},
        }
    )
    lead = ctx.user_out(row["lead"])
    if lead is not None:
        data["lead"] = lead
    return data


def _project(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        row = project_or_404(db, ctx.path["projectIdOrKey"])
        return json_response(_project_json(ctx, db, row))


def _projects(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        rows = db.execute("SELECT * FROM projects ORDER BY key").fetchall()
        return json_response([_project_json(ctx, db, r) for r in rows])


def _field_metadata(ctx: Ctx, db: sqlite3.Connection, project: sqlite3.Row) -> dict[str, Any]:
    by_id = {f.id: f for f in FIELDS}
    meta: dict[str, Any] = {}
    for field_id in _CREATABLE:
        f = by_id[field_id]
        item: dict[str, Any] = {
            "required": field_id in _REQUIRED_ON_CREATE,
            "schema": dict(f.schema or {"type": "string"}),
            "name": f.name,
            "key": field_id,
            "hasDefaultValue": field_id == "priority",
            "operations": ["set"] if field_id != "labels" else ["add", "set", "remove"],
        }
        if field_id == "priority":
            item["allowedValues"] = [priority_json(ctx, n) for _i, n, _c in PRIORITIES]
            item["defaultValue"] = priority_json(ctx, DEFAULT_PRIORITY)
        elif field_id == "issuetype":
            item["allowedValues"] = [
                issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, project["key"])
            ]
        elif field_id == "project":
            item["allowedValues"] = [project_ref(ctx, project)]
        elif field_id in ("assignee", "reporter"):
            item["autoCompleteUrl"] = (
                f"{ctx.api}/user/assignable/search?project={project['key']}&query="
            )
        meta[field_id] = item
    return meta


def _createmeta(ctx: Ctx) -> Response:
    keys = ctx.list_param("projectKeys") or []
    ids = ctx.list_param("projectIds") or []
    type_names = set(ctx.list_param("issuetypeNames") or [])
    type_ids = set(ctx.list_param("issuetypeIds") or [])
    expand = ",".join(ctx.list_param("expand") or [])
    with_fields = "projects.issuetypes.fields" in expand
    projects = []
    with ctx.state.lock:
        db = ctx.state.db
        rows = db.execute("SELECT * FROM projects ORDER BY key").fetchall()
        for row in rows:
            if (keys or ids) and row["key"] not in keys and row["id"] not in ids:
                continue
            types = []
            for t in issue_types_of(db, row["key"]):
                if (
                    (type_names or type_ids)
                    and t["name"] not in type_names
                    and t["id"] not in type_ids
                ):
                    continue
                item = issue_type_json(ctx, t["id"], t["name"])
                item.pop("hierarchyLevel", None)
                item["expand"] = "fields"
                if with_fields:
                    item["fields"] = _field_metadata(ctx, db, row)
                types.append(item)
            ref = project_ref(ctx, row)
            projects.append(
                {
                    "self": ref["self"],
                    "id": ref["id"],
                    "key": ref["key"],
                    "name": ref["name"],
                    "expand": "issuetypes",
                    "issuetypes": types,
                }
            )
    return json_response({"expand": "projects", "projects": projects})


def _createmeta_issuetypes(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        project = project_or_404(db, ctx.path["projectIdOrKey"])
        types = [
            issue_type_json(ctx, t["id"], t["name"]) for t in issue_types_of(db, project["key"])
        ]
    page = types[start : start + limit]
    key = "issueTypes" if ctx.cloud else "values"
    return json_response(
        {
            "maxResults": limit,
            "startAt": start,
            "total": len(types),
            key: page,
            **({} if ctx.cloud else {"isLast": start + limit >= len(types)}),
        }
    )


def _createmeta_fields(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        project = project_or_404(db, ctx.path["projectIdOrKey"])
        if ctx.path["issueTypeId"] not in {t["id"] for t in issue_types_of(db, project["key"])}:
            raise JiraError(400, ["The issue type selected is invalid."])
        meta = _field_metadata(ctx, db, project)
    items = [{"fieldId": k, **v} for k, v in meta.items()]
    page = items[start : start + limit]
    key = "fields" if ctx.cloud else "values"
    return json_response(
        {
            "maxResults": limit,
            "startAt": start,
            "total": len(items),
            key: page,
            **({} if ctx.cloud else {"isLast": start + limit >= len(items)}),
        }
    )


# The project permissions a caller can ask about, with Jira's ids; what followup needs
# (and the read-only user lacks) is everything but BROWSE_PROJECTS.
_PERMISSIONS: tuple[tuple[str, str, str, str], ...] = (
    ("BROWSE_PROJECTS", "10", "Browse Projects", "Ability to browse projects and their issues."),
    ("CREATE_ISSUES", "11", "Create Issues", "Ability to create issues."),
    ("EDIT_ISSUES", "12", "Edit Issues", "Ability to edit issues."),
    ("ASSIGN_ISSUES", "13", "Assign Issues", "Ability to assign issues to other people."),
    ("RESOLVE_ISSUES", "14", "Resolve Issues", "Ability to resolve and reopen issues."),
    ("ADD_COMMENTS", "15", "Add Comments", "Ability to comment on issues."),
    ("DELETE_ISSUES", "16", "Delete Issues", "Ability to delete issues."),
    ("ASSIGNABLE_USER", "17", "Assignable User", "May be assigned to issues."),
    ("CLOSE_ISSUES", "18", "Close Issues", "Ability to close issues."),
    ("LINK_ISSUES", "21", "Link Issues", "Ability to link issues together."),
    ("SCHEDULE_ISSUES", "28", "Schedule Issues", "Ability to set or edit an issue's due date."),
    ("TRANSITION_ISSUES", "46", "Transition Issues", "Ability to transition issues."),
)  # fmt: skip


def _my_permissions(ctx: Ctx) -> Response:
    """`GET mypermissions`: what the caller may do, in a project or issue when named.
    Cloud requires `permissions`; Data Center answers every permission without it.
    Read-only users have BROWSE_PROJECTS only."""
    keys = [k.strip() for k in (ctx.params.get("permissions") or "").split(",") if k.strip()]
    known = {p[0]: p for p in _PERMISSIONS}
    if not keys and ctx.cloud:
        raise JiraError(400, ["The 'permissions' query parameter is required."])
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise JiraError(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
    with ctx.state.lock:
        db = ctx.state.db
        if ctx.params.get("issueKey") or ctx.params.get("issueId"):
            issue_row(db, ctx.params.get("issueId") or ctx.params.get("issueKey") or "")
        elif ctx.params.get("projectId") or ctx.params.get("projectKey"):
            project_or_404(db, ctx.params.get("projectId") or ctx.params.get("projectKey") or "")
    out: dict[str, Any] = {}
    for key in keys or list(known):
        _key, pid, name, description = known[key]
        out[key] = {
            "id": pid,
            "key": key,
            "name": name,
            "type": "PROJECT",
            "description": description,
            "havePermission": key == "BROWSE_PROJECTS" or not ctx.user.read_only,
        }
    return json_response({"permissions": out})


def _matches(user: User, query: str) -> bool:
    q = query.lower().strip()
    if not q:
        return False
    words = user.display_name.lower().split()
    return (
        user.display_name.lower().startswith(q)
        or any(w.startswith(q) for w in words)
        or user.email.lower().startswith(q)
        or user.account_id == query
        or user.name.lower().startswith(q)
    )


def _user_query(ctx: Ctx) -> str:
    query = ctx.params.get("query")
    username = ctx.params.get("username")
    if ctx.cloud:
        if query is None and username is not None:
            raise JiraError(
                400,
                ["The query parameter 'username' is not supported in GDPR strict mode."],
            )
        return query or ""
    return username if username is not None else (query or "")


def _user_search(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    account_id = ctx.params.get("accountId")
    if (
        account_id is None
        and ctx.params.get("query") is None
        and ctx.params.get("username") is None
    ):
        raise JiraError(400, ["One of 'query' or 'accountId' parameters must be provided."])
    include_inactive = ctx.params.get("includeInactive", "false").lower() == "true"
    users = ctx.state.users()
    if account_id is not None and ctx.cloud:
        found = [u for u in users if u.account_id == account_id]
    else:
        query = _user_query(ctx)
        found = [u for u in users if _matches(u, query)]
    found = [u for u in found if u.active or include_inactive]
    return json_response([ctx.user_json(u) for u in found[start : start + limit]])


def _assignable_search(ctx: Ctx) -> Response:
    start, limit = page_params(ctx)
    project = ctx.params.get("project")
    issue_key = ctx.params.get("issueKey")
    with ctx.state.lock:
        if project is not None:
            project_or_404(ctx.state.db, project)
        if issue_key is not None:
            issue_row(ctx.state.db, issue_key)
    if project is None and issue_key is None:
        raise JiraError(400, ["A project, issue key or issue id is required."])
    account_id = ctx.params.get("accountId")
    users = [u for u in ctx.state.users() if u.active]
    if account_id is not None and ctx.cloud:
        found = [u for u in users if u.account_id == account_id]
    else:
        query = _user_query(ctx)
        found = [u for u in users if _matches(u, query)] if query else users
    return json_response([ctx.user_json(u) for u in found[start : start + limit]])


def _user(ctx: Ctx) -> Response:
    user: User | None
    if ctx.cloud:
        account_id = ctx.params.get("accountId")
        if account_id is None:
            raise JiraError(400, ["The query parameter 'accountId' is required."])
        user = ctx.state.user_by("account_id", account_id)
        ident = account_id
    else:
        username, key = ctx.params.get("username"), ctx.params.get("key")
        if username is None and key is None:
            raise JiraError(
                400, ["Either the 'username' or the 'key' query parameter is required."]
            )
        user = (
            ctx.state.user_by("name", username)
            if username is not None
            else ctx.state.user_by("key", str(key))
        )
        ident = username if username is not None else str(key)
    if user is None:
        raise JiraError(
            404, [f"Specified user does not exist or you do not have required permissions: {ident}"]
        )
    return json_response(ctx.user_json(user))


# -- handlers: issues -------------------------------------------------------------------


def _create_issue(ctx: Ctx) -> Response:
    try:
        with ctx.state.transaction() as db:
            created = _create(ctx, db, ctx.body)
    except FieldErrors as exc:
        raise _field_errors_response(exc) from exc
    return json_response(created, 201)


def _create_bulk(ctx: Ctx) -> Response:
    """Create up to 50 issues; each element succeeds or fails on its own.

    A request-level problem (too many elements) fails every element, in the same
    `CreatedIssues` shape, since that is the only 400 body the bulk API has.
    """
    updates = ctx.body.get("issueUpdates") if isinstance(ctx.body, dict) else None
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, ["'issueUpdates' must be a non-empty list of issues to create."])
    if len(updates) > MAX_BULK:
        message = f"You can create at most {MAX_BULK} issues in one request, not {len(updates)}."
        every = [
            {
                "status": 400,
                "elementErrors": {"errorMessages": [message], "errors": {}},
                "failedElementNumber": n,
            }
            for n in range(len(updates))
        ]
        return json_response({"issues": [], "errors": every}, 400)
    issues: list[dict[str, str]] = []
    failures: list[dict[str, Any]] = []
    for number, payload in enumerate(updates):
        try:
            with ctx.state.transaction() as db:
                issues.append(_create(ctx, db, payload))
        except (FieldErrors, JiraError) as exc:
            failures.append(
                {
                    "status": 400,
                    "elementErrors": {"errorMessages": exc.messages, "errors": exc.errors},
                    "failedElementNumber": number,
                }
            )
    return json_response({"issues": issues, "errors": failures}, 201 if issues else 400)


def _properties_param(ctx: Ctx) -> list[str] | None:
    requested = ctx.list_param("properties")
    if requested is None:
        return None
    if "*all" in requested:
        return ["*"]
    return list(dict.fromkeys(requested))


def _render_issues(
    ctx: Ctx,
    db: sqlite3.Connection,
    rows: Sequence[sqlite3.Row],
    selection: _FieldSelection,
    properties: list[str] | None,
) -> list[dict[str, Any]]:
    wanted_props: list[str] = []
    if properties == ["*"]:
        wanted_props = [r["key"] for r in db.execute("SELECT DISTINCT key FROM issue_properties")]
    elif properties:
        wanted_props = properties
    with_changelog = "changelog" in (ctx.list_param("expand") or [])
    extras = _extras(ctx, db, rows, wanted_props, selection, with_changelog)
    shown = wanted_props if properties is not None else None
    return [_issue_json(ctx, row, selection, shown, extras, with_changelog) for row in rows]


def _get_issue(ctx: Ctx) -> Response:
    selection = _select_fields(ctx.list_param("fields"), "*all")
    properties = _properties_param(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        row = issue_row(db, ctx.path["issueIdOrKey"])
        issue = _render_issues(ctx, db, [row], selection, properties)[0]
    issue.setdefault("fields", {})
    issue.setdefault("key", row["key"])
    issue.setdefault("self", f"{ctx.api}/issue/{row['id']}")
    return json_response(issue)


def _edit_issue(ctx: Ctx) -> Response:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    try:
        with ctx.state.transaction() as db:
            row = issue_row(db, ctx.path["issueIdOrKey"])
            _apply_edit(ctx, db, row, body.get("fields") or {}, body.get("update") or {})
            for prop_key, value in _check_properties(body.get("properties")):
                db.execute(
                    "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)",
                    (row["id"], prop_key, value),
                )
    except FieldErrors as exc:
        raise _field_errors_response(exc) from exc
    if ctx.params.get("returnIssue", "false").lower() == "true":
        return _get_issue(ctx)
    return no_content()


def _delete_issue(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        row = issue_row(db, ctx.path["issueIdOrKey"])
        for table in ("issue_labels", "issue_properties", "remote_links", "comments"):
            db.execute(f"DELETE FROM {table} WHERE issue_id = ?", (row["id"],))
        for module in (changelog, links, watchers):
            module.forget(db, int(row["id"]))
        db.execute("DELETE FROM issues WHERE id = ?", (row["id"],))
    return no_content()


def _assign(ctx: Ctx) -> Response:
    try:
        with ctx.state.transaction() as db:
            row = issue_row(db, ctx.path["issueIdOrKey"])
            _apply_edit(ctx, db, row, {"assignee": ctx.body}, {})
    except FieldErrors as exc:
        raise _field_errors_response(exc) from exc
    return no_content()


def _get_transitions(ctx: Ctx) -> Response:
    with ctx.state.lock:
        row = issue_row(ctx.state.db, ctx.path["issueIdOrKey"])
    wanted = ctx.params.get("transitionId")
    with_fields = "transitions.fields" in (ctx.params.get("expand") or "")
    transitions = [
        _transition_json(ctx, t, with_fields)
        for t in workflow.transitions_from(status_of(row))
        if wanted is None or t.id == wanted
    ]
    return json_response({"expand": "transitions", "transitions": transitions})


def _do_transition(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        row = issue_row(db, ctx.path["issueIdOrKey"])
        _apply_transition(ctx, db, row, ctx.body)
    return no_content()


# -- handlers: remote links, properties, comments ---------------------------------------


def _link_json(ctx: Ctx, issue_id: int, row: sqlite3.Row) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": int(row["id"]),
        "self": f"{ctx.api}/issue/{issue_id}/remotelink/{row['id']}",
    }
    if row["global_id"] is not None:
        data["globalId"] = row["global_id"]
    data["application"] = json.loads(row["application"]) if row["application"] else {}
    if row["relationship"] is not None:
        data["relationship"] = row["relationship"]
    data["object"] = json.loads(row["object"])
    return data


def _get_links(ctx: Ctx) -> Response:
    global_id = ctx.params.get("globalId")
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        if global_id is not None:
            row = db.execute(
                "SELECT * FROM remote_links WHERE issue_id = ? AND global_id = ?",
                (issue["id"], global_id),
            ).fetchone()
            if row is None:
                raise JiraError(404, [f"No remote link with globalId '{global_id}' on this issue."])
            return json_response(_link_json(ctx, issue["id"], row))
        rows = db.execute(
            "SELECT * FROM remote_links WHERE issue_id = ? ORDER BY id", (issue["id"],)
        ).fetchall()
        return json_response([_link_json(ctx, issue["id"], r) for r in rows])


def _get_link(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        return json_response(_link_json(ctx, issue["id"], row))


def _link_row(db: sqlite3.Connection, issue_id: int, link_id: str) -> sqlite3.Row:
    row = None
    if link_id.isdigit():
        row = db.execute(
            "SELECT * FROM remote_links WHERE issue_id = ? AND id = ?", (issue_id, int(link_id))
        ).fetchone()
    if row is None:
        raise JiraError(404, [f"No remote link with id '{link_id}' on this issue."])
    return row  # type: ignore[no-any-return]


def _link_values(body: Any) -> tuple[str | None, str, str | None, str | None]:
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    obj = body.get("object")
    errors: dict[str, str] = {}
    if not isinstance(obj, dict):
        errors["object"] = "'object' is required."
    else:
        if not isinstance(obj.get("url"), str) or not obj["url"]:
            errors["url"] = "'url' is required."
        if not isinstance(obj.get("title"), str) or not obj["title"]:
            errors["title"] = "'title' is required."
    if errors:
        raise JiraError(400, [], errors)
    global_id = body.get("globalId")
    if global_id is not None and not isinstance(global_id, str):
        raise JiraError(400, [], {"globalId": "'globalId' must be a string."})
    if global_id is not None and len(global_id) > 255:
        raise JiraError(400, [], {"globalId": "'globalId' must be at most 255 characters."})
    relationship = body.get("relationship")
    application = body.get("application")
    return (
        global_id,
        json.dumps(obj),
        None if relationship is None else str(relationship),
        None if application is None else json.dumps(application),
    )


def _post_link(ctx: Ctx) -> Response:
    global_id, obj, relationship, application = _link_values(ctx.body)
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        existing = None
        if global_id is not None:
            existing = db.execute(
                "SELECT id FROM remote_links WHERE issue_id = ? AND global_id = ?",
                (issue["id"], global_id),
            ).fetchone()
        if existing is not None:
            link_id = int(existing["id"])
            db.execute(
                "UPDATE remote_links SET object = ?, relationship = ?, application = ?"
                " WHERE id = ?",
                (obj, relationship, application, link_id),
            )
            status = 200
        else:
            cursor = db.execute(
                "INSERT INTO remote_links (issue_id, global_id, object, relationship, application)"
                " VALUES (?,?,?,?,?)",
                (issue["id"], global_id, obj, relationship, application),
            )
            link_id = int(cursor.lastrowid or 0)
            status = 201
            title = json.loads(obj).get("title")
            changelog.record(
                db,
                int(issue["id"]),
                ctx.user.account_id,
                utc_now(),
                [
                    changelog.Change(
                        "RemoteIssueLink",
                        None,
                        None,
                        str(link_id),
                        f'This issue links to "{title} (Web Link)"',
                    )
                ],
            )
    return json_response(
        {"id": link_id, "self": f"{ctx.api}/issue/{issue['id']}/remotelink/{link_id}"}, status
    )


def _put_link(ctx: Ctx) -> Response:
    global_id, obj, relationship, application = _link_values(ctx.body)
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        db.execute(
            "UPDATE remote_links SET global_id = ?, object = ?, relationship = ?, application = ?"
            " WHERE id = ?",
            (global_id, obj, relationship, application, row["id"]),
        )
    return no_content()


def _delete_link(ctx: Ctx) -> Response:
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = _link_row(db, issue["id"], ctx.path["linkId"])
        db.execute("DELETE FROM remote_links WHERE id = ?", (row["id"],))
    return no_content()


def _delete_link_by_global_id(ctx: Ctx) -> Response:
    global_id = ctx.params.get("globalId")
    if global_id is None:
        raise JiraError(400, ["The 'globalId' query parameter is required."])
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        gone = db.execute(
            "DELETE FROM remote_links WHERE issue_id = ? AND global_id = ?",
            (issue["id"], global_id),
        ).rowcount
    if not gone:
        raise JiraError(404, [f"No remote link with globalId '{global_id}' on this issue."])
    return no_content()


def _property_keys(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        keys = [
            r["key"]
            for r in db.execute(
                "SELECT key FROM issue_properties WHERE issue_id = ? ORDER BY key", (issue["id"],)
            )
        ]
    return json_response(
        {
            "keys": [
                {"self": f"{ctx.api}/issue/{issue['id']}/properties/{k}", "key": k} for k in keys
            ]
        }
    )


def _get_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = db.execute(
            "SELECT value FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).fetchone()
    if row is None:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return json_response({"key": key, "value": json.loads(row["value"])})


def _put_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    raw = ctx.body
    if raw is None:
        raise JiraError(400, ["The property value must be a valid, non-empty JSON value."])
    try:
        value = _property_value(key, raw)
    except FieldErrors as exc:
        raise _field_errors_response(exc) from exc
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        existed = db.execute(
            "SELECT 1 FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO issue_properties VALUES (?,?,?)", (issue["id"], key, value)
        )
    return Response(status_code=200 if existed else 201)


def _delete_property(ctx: Ctx) -> Response:
    key = ctx.path["propertyKey"]
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        gone = db.execute(
            "DELETE FROM issue_properties WHERE issue_id = ? AND key = ?", (issue["id"], key)
        ).rowcount
    if not gone:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return no_content()


def _get_comments(ctx: Ctx) -> Response:
    start, limit = page_params(ctx, 5000)
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        rows = db.execute(
            "SELECT * FROM comments WHERE issue_id = ? ORDER BY id", (issue["id"],)
        ).fetchall()
    page = rows[start : start + limit]
    return json_response(
        {
            "startAt": start,
            "maxResults": limit,
            "total": len(rows),
            "comments": [comment_json(ctx, issue["id"], r) for r in page],
        }
    )


def _get_comment(ctx: Ctx) -> Response:
    comment_id = ctx.path["id"]
    with ctx.state.lock:
        db = ctx.state.db
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        row = None
        if comment_id.isdigit():
            row = db.execute(
                "SELECT * FROM comments WHERE issue_id = ? AND id = ?",
                (issue["id"], int(comment_id)),
            ).fetchone()
    if row is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    return json_response(comment_json(ctx, issue["id"], row))


def _add_comment(ctx: Ctx) -> Response:
    body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
    stored, problem = rich_text_in(body, ctx.rich)
    if problem or stored is None:
        raise JiraError(400, [], {"comment": problem or "Comment body can not be empty!"})
    now = utc_now()
    with ctx.state.transaction() as db:
        issue = issue_row(db, ctx.path["issueIdOrKey"])
        cursor = db.execute(
            "INSERT INTO comments (issue_id, author, body, created) VALUES (?,?,?,?)",
            (issue["id"], ctx.user.account_id, stored, now),
        )
        db.execute("UPDATE issues SET updated = ? WHERE id = ?", (now, issue["id"]))
        row = db.execute("SELECT * FROM comments WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return json_response(comment_json(ctx, issue["id"], row), 201)


# -- handlers: search -------------------------------------------------------------------


def _compile(ctx: Ctx, jql: str) -> tuple[str, list[object], str]:
    """(where, params, order by) for `jql`, via the sandbox's JQL engine.

    `currentUser()` is the caller's account id on Cloud and username on Data Center.
    """
    current = ctx.user.account_id if ctx.cloud else ctx.user.name
    try:
        return compile_jql(jql, flavor=ctx.state.flavor, current_user=current)
    except JqlError as exc:
        raise JiraError(400, body={"errorMessages": [exc.message], "warningMessages": []}) from exc


def _order_sql(order: str) -> str:
    body = order.strip()
    if body[:8].upper() == "ORDER BY":
        body = body[8:].strip()
    if not body:
        return "ORDER BY issues.id ASC"
    return f"ORDER BY {body}" if "issues.id" in body else f"ORDER BY {body}, issues.id ASC"


def _keyset(order: str) -> tuple[str, ...] | None:
    """The columns a page token continues after, for an ORDER BY by key or by id
    (ascending, the orders clients page through everything by); None: by offset."""
    if not order.strip():
        return ("issues.id",)
    if order.strip() == f"ORDER BY issues.project ASC, {KEY_NUMBER} ASC":
        return ("issues.project", KEY_NUMBER, "issues.id")
    return None


def _query(
    ctx: Ctx,
    db: sqlite3.Connection,
    jql: str,
    offset: int,
    limit: int,
    after: list[object] | None = None,
) -> tuple[list[sqlite3.Row], bool, list[object] | None]:
    """One page of issues matching `jql`, whether more follow, and the sort key of the
    page's last issue when the order allows continuing after it.

    Continuing after a sort key walks the key (or id) index from there, so every page
    costs the same however deep it is; an offset re-walks every earlier page."""
    where, params, order = _compile(ctx, jql) if jql.strip() else ("1=1", [], "")
    hidden = _unindexed(ctx)
    if hidden:  # the search index has not caught up with these new issues yet
        where = f"({where or '1=1'}) AND issues.id NOT IN ({', '.join('?' for _ in hidden)})"
        params = [*params, *hidden]
    columns = _keyset(order)
    select = "SELECT issues.*"
    if columns is not None:
        select += ", " + ", ".join(f"{c} AS _k{n}" for n, c in enumerate(columns))
    if columns is not None and after is not None and len(after) == len(columns):
        marks = ", ".join("?" for _ in columns)
        rows = db.execute(
            f"{select} FROM issues WHERE ({where or '1=1'})"
            f" AND ({', '.join(columns)}) > ({marks}) {_order_sql(order)} LIMIT ?",
            [*params, *after, limit + 1],
        ).fetchall()
    else:
        rows = db.execute(
            f"{select} FROM issues WHERE ({where or '1=1'}) {_order_sql(order)} LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        ).fetchall()
    page = list(rows[:limit])
    last = None
    if columns is not None and page:
        last = [page[-1][f"_k{n}"] for n in range(len(columns))]
    return page, len(rows) > limit, last


def _unindexed(ctx: Ctx) -> list[int]:
    """New issues a Cloud search does not show yet (the `search_lag_ms` fault), less
    those the request names in `reconcileIssues`."""
    faults = ctx.state.faults
    if faults is None or not ctx.cloud:
        return []
    reconciled: set[int] = set()
    for value in ctx.list_param("reconcileIssues") or ():
        try:
            reconciled.add(int(value))
        except ValueError as exc:
            raise JiraError(400, [f"Invalid reconcileIssues value: {value}"]) from exc
    return faults.unindexed(reconciled)


def _unbounded(jql: str) -> bool:
    text = jql.strip().lower()
    return not text or text.startswith("order by")


def _token(jql: str, offset: int, after: list[object] | None = None) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
    data: dict[str, Any] = {"o": offset, "q": digest}
    if after is not None:
        data["k"] = after
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_token(jql: str, token: str) -> tuple[int, list[object] | None]:
    """(offset, sort key to continue after or None) of a token this query issued."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
        digest = str(data["q"])
        after = data.get("k")
        if after is not None and not (
            isinstance(after, list)
            and all(isinstance(v, str | int) and not isinstance(v, bool) for v in after)
        ):
            raise ValueError(after)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise JiraError(400, ["The provided next page token is invalid."]) from exc
    if digest != hashlib.sha256(jql.encode()).hexdigest()[:16] or offset < 0:
        raise JiraError(
            400, ["The provided next page token does not belong to this query (jql changed)."]
        )
    return offset, after


def _limit(ctx: Ctx, cap: int) -> int:
    raw = ctx.param("maxResults")
    if raw is None or raw == "":
        return 50
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise JiraError(400, [f"Invalid maxResults: {raw}"]) from exc
    if value < 0:
        raise JiraError(400, ["maxResults must not be negative."])
    return min(value or 50, cap)


def _search_jql(ctx: Ctx) -> Response:
    if not ctx.cloud:
        return JSONResponse(
            {"message": f"null for uri: {ctx.request.url}", "status-code": 404}, status_code=404
        )
    jql = str(ctx.param("jql") or "")
    if _unbounded(jql):
        raise JiraError(
            400,
            body={
                "errorMessages": [
                    "Unbounded JQL queries are not allowed here. "
                    "Please add a search restriction to your query."
                ],
                "warningMessages": [],
            },
        )
    properties = _properties_param(ctx)
    if properties and len(properties) > MAX_SEARCH_PROPERTIES:
        raise JiraError(
            400, [f"A maximum of {MAX_SEARCH_PROPERTIES} issue properties can be requested."]
        )
    selection = _select_fields(ctx.list_param("fields"), "id")
    limit = _limit(ctx, MAX_PAGE_CLOUD)
    token = ctx.param("nextPageToken")
    offset, after = _from_token(jql, str(token)) if token else (0, None)
    with ctx.state.lock:
        db = ctx.state.db
        rows, more, last = _query(ctx, db, jql, offset, limit, after)
        issues = _render_issues(ctx, db, rows, selection, properties)
    data: dict[str, Any] = {"issues": issues, "isLast": not more}
    if more:
        data["nextPageToken"] = _token(jql, offset + limit, last)
    return json_response(data)


def _search_legacy(ctx: Ctx) -> Response:
    if ctx.cloud:
        raise JiraError(410, [SEARCH_REMOVED_MESSAGE])
    jql = str(ctx.param("jql") or "")
    try:
        start = int(ctx.param("startAt") or 0)
    except (TypeError, ValueError) as exc:
        raise JiraError(400, ["Invalid startAt."]) from exc
    limit = _limit(ctx, MAX_PAGE_DATACENTER)
    selection = _select_fields(ctx.list_param("fields"), "*navigable")
    properties = _properties_param(ctx)
    with ctx.state.lock:
        db = ctx.state.db
        where, params, order = _compile(ctx, jql) if jql.strip() else ("1=1", [], "")
        total = db.execute(
            f"SELECT COUNT(*) FROM issues WHERE ({where or '1=1'})", params
        ).fetchone()[0]
        rows = db.execute(
            f"SELECT issues.* FROM issues WHERE ({where or '1=1'}) {_order_sql(order)}"
            " LIMIT ? OFFSET ?",
            [*params, limit, max(start, 0)],
        ).fetchall()
        if selection.id_only:
            selection = _FieldSelection((), False)
        issues = _render_issues(ctx, db, rows, selection, properties)
    return json_response(
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": int(total),
            "issues": issues,
        }
    )


def _applinks(ctx: Ctx) -> Response:
    return json_response({"list": []})


# -- routes -----------------------------------------------------------------------------

_API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "serverInfo", _server_info),
    ("GET", "myself", _myself),
    ("GET", "field", _fields),
    ("GET", "project", _projects),
    ("GET", "project/{projectIdOrKey}", _project),
    ("GET", "issue/createmeta", _createmeta),
    ("GET", "issue/createmeta/{projectIdOrKey}/issuetypes", _createmeta_issuetypes),
    ("GET", "issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}", _createmeta_fields),
    ("GET", "mypermissions", _my_permissions),
    ("GET", "user", _user),
    ("GET", "user/search", _user_search),
    ("GET", "user/assignable/search", _assignable_search),
    ("POST", "issue", _create_issue),
    ("POST", "issue/bulk", _create_bulk),
    ("GET", "issue/{issueIdOrKey}", _get_issue),
    ("PUT", "issue/{issueIdOrKey}", _edit_issue),
    ("DELETE", "issue/{issueIdOrKey}", _delete_issue),
    ("PUT", "issue/{issueIdOrKey}/assignee", _assign),
    ("GET", "issue/{issueIdOrKey}/transitions", _get_transitions),
    ("POST", "issue/{issueIdOrKey}/transitions", _do_transition),
    ("GET", "issue/{issueIdOrKey}/remotelink", _get_links),
    ("POST", "issue/{issueIdOrKey}/remotelink", _post_link),
    ("DELETE", "issue/{issueIdOrKey}/remotelink", _delete_link_by_global_id),
    ("GET", "issue/{issueIdOrKey}/remotelink/{linkId}", _get_link),
    ("PUT", "issue/{issueIdOrKey}/remotelink/{linkId}", _put_link),
    ("DELETE", "issue/{issueIdOrKey}/remotelink/{linkId}", _delete_link),
    ("GET", "issue/{issueIdOrKey}/properties", _property_keys),
    ("GET", "issue/{issueIdOrKey}/properties/{propertyKey}", _get_property),
    ("PUT", "issue/{issueIdOrKey}/properties/{propertyKey}", _put_property),
    ("DELETE", "issue/{issueIdOrKey}/properties/{propertyKey}", _delete_property),
    ("GET", "issue/{issueIdOrKey}/comment", _get_comments),
    ("POST", "issue/{issueIdOrKey}/comment", _add_comment),
    ("GET", "issue/{issueIdOrKey}/comment/{id}", _get_comment),
    ("GET", "search/jql", _search_jql),
    ("POST", "search/jql", _search_jql),
    ("GET", "search", _search_legacy),
    ("POST", "search", _search_legacy),
)

API_VERSIONS = ("2", "3", "latest")

#: POSTs that only read: not writes for stats, faults and read-only users.
READ_ONLY_POSTS = re.compile(r"^/rest/api/(2|3|latest)/(search|search/jql)$")


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Jira REST routes, under /rest/api/2, /rest/api/3 and /rest/api/latest."""
    out: list[BaseRoute] = []
    for version in API_VERSIONS:
        for method, path, handler in (
            *_API,
            *catalog.API,
            *changelog.API,
            *links.API,
            *watchers.API,
        ):
            out.append(
                Route(
                    f"/rest/api/{version}/{path}",
                    endpoint(state, version, handler),
                    methods=[method],
                    name=f"jira:{version}:{method}:{path}",
                )
            )
    out.append(
        Route(
            "/rest/applinks/latest/listApplicationlinks",
            endpoint(state, "2", _applinks),
            methods=["GET"],
        )
    )
    return out


# -- for the HTML views -----------------------------------------------------------------


def issue_view_data(state: SandboxState, key: str) -> dict[str, Any] | None:
    """An issue as plain values for the `/browse/KEY` page, or None if there is none."""
    with state.lock:
        db = state.db
        row = db.execute("SELECT * FROM issues WHERE key = ? COLLATE NOCASE", (key,)).fetchone()
        if row is None:
            return None
        issue_id = row["id"]
        labels = [
            r["label"]
            for r in db.execute(
                "SELECT label FROM issue_labels WHERE issue_id = ? ORDER BY label", (issue_id,)
            )
        ]
        properties = {
            r["key"]: json.loads(r["value"])
            for r in db.execute(
                "SELECT key, value FROM issue_properties WHERE issue_id = ?", (issue_id,)
            )
        }
        links = [
            json.loads(r["object"])
            for r in db.execute(
                "SELECT object FROM remote_links WHERE issue_id = ? ORDER BY id", (issue_id,)
            )
        ]
        comments = db.execute(
            "SELECT author, body, created FROM comments WHERE issue_id = ? ORDER BY id", (issue_id,)
        ).fetchall()
        project = db.execute(
            "SELECT name FROM projects WHERE key = ?", (row["project"],)
        ).fetchone()
    users = {u.account_id: u for u in state.users()}

    def name(account_id: str | None) -> str | None:
        user = users.get(account_id) if account_id else None
        return user.display_name if user else account_id

    description = row["description"]
    return {
        "id": str(issue_id),
        "key": row["key"],
        "project": row["project"],
        "project_name": project["name"] if project else row["project"],
        "issuetype": row["issuetype"],
        "summary": row["summary"],
        "description": rich_text_out(description, "2") or "",
        "status": row["status"],
        "status_category": row["status_category"],
        "resolution": row["resolution"],
        "assignee": row["assignee"],
        "assignee_name": name(row["assignee"]),
        "reporter": row["reporter"],
        "reporter_name": name(row["reporter"]),
        "priority": row["priority"],
        "duedate": row["duedate"],
        "created": row["created"],
        "updated": row["updated"],
        "resolutiondate": row["resolutiondate"],
        "labels": labels,
        "properties": properties,
        "remote_links": links,
        "comments": [
            {
                "author": c["author"],
                "author_name": name(c["author"]),
                "body": rich_text_out(c["body"], "2"),
                "created": c["created"],
            }
            for c in comments
        ],
    }
