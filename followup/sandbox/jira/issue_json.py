"""An issue as Jira's JSON: the fields a request chose, with what they need beyond the
issue's row (labels, properties, comments, links, watchers, changelog) read for a whole
batch of issues at once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from followup.sandbox.jira import changelog, hierarchy, issue_links, project_fields, watchers
from followup.sandbox.jira.catalog import (
    issue_type_id,
    issue_type_json,
    priority_json,
    resolution_json,
    status_json,
    status_of,
)
from followup.sandbox.jira.comments import comment_json
from followup.sandbox.jira.context import Ctx, Json
from followup.sandbox.jira.fields import FieldSelection
from followup.sandbox.jira.formats import jira_time, rich_text_out
from followup.sandbox.jira.projects import project_ref

_ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


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
    components: dict[int, list[Json]] = field(default_factory=dict)
    custom: dict[int, dict[str, Json]] = field(default_factory=dict)
    parents: dict[int, Json] = field(default_factory=dict)


def _extras(
    ctx: Ctx,
    db: sqlite3.Connection,
    rows: Sequence[sqlite3.Row],
    properties: Sequence[str],
    selection: FieldSelection,
    with_changelog: bool,
) -> _Extras:
    ids = [int(r["id"]) for r in rows]
    extras = _Extras({i: [] for i in ids}, {i: {} for i in ids}, {}, {i: [] for i in ids}, {})
    if not ids:
        return extras
    if "issuelinks" in selection.fields:
        extras.issuelinks = issue_links.issuelinks(ctx, db, ids)
    if "components" in selection.fields or selection.custom or selection.all_custom:
        extras.components, extras.custom = project_fields.issue_values(ctx, db, ids)
    if selection.all_custom or "parent" in selection.custom:
        extras.parents = hierarchy.parents(ctx, db, ids)
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
    selection: FieldSelection,
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
        elif name == "components":
            values[name] = extras.components.get(issue_id, [])
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
    if issue_id in extras.parents:
        values["parent"] = extras.parents[issue_id]
    custom = extras.custom.get(issue_id, {})
    for field_id, value in custom.items():
        if selection.all_custom or field_id in selection.custom:
            values[field_id] = value
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


def properties_param(ctx: Ctx) -> list[str] | None:
    requested = ctx.list_param("properties")
    if requested is None:
        return None
    if "*all" in requested:
        return ["*"]
    return list(dict.fromkeys(requested))


def render_issues(
    ctx: Ctx,
    db: sqlite3.Connection,
    rows: Sequence[sqlite3.Row],
    selection: FieldSelection,
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
