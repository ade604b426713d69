"""Jira's system fields: `GET field`, which of them a create or an edit may set, and
which an answer returns for a `fields` parameter (`*all`, `*navigable`, `-x`, names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, json_response


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


CREATABLE = (
    *("summary", "description", "issuetype", "project", "assignee", "reporter"),
    *("priority", "duedate", "labels"),
)


EDITABLE = ("summary", "description", "assignee", "reporter", "priority", "duedate", "labels")


REQUIRED_ON_CREATE = ("summary", "issuetype", "project")


@dataclass(frozen=True, slots=True)
class FieldSelection:
    fields: tuple[str, ...]
    id_only: bool
    # Custom fields (and `parent`): those asked for by id, and whether `*all` asked
    # for every one.
    custom: tuple[str, ...] = ()
    all_custom: bool = False


def select_fields(requested: list[str] | None, default: str) -> FieldSelection:
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
    custom = tuple(
        p for p in positive if (p.startswith("customfield_") or p == "parent") and p not in exclude
    )
    return FieldSelection(chosen, id_only, custom, "*all" in positive)


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


API: tuple[tuple[str, str, Handler], ...] = (("GET", "field", _fields),)
