"""What a project adds to an issue's fields: its components and its custom fields.

A project's components (`GET project/{key}/components`) and custom fields (a
`customfield_<n>` id, a name, a type: `string`, or `option` with its options, and
whether the create screen requires it) are seeded with the project. The create
metadata lists them (components and options as `allowedValues`), a create takes
them (`components: [{name}|{id}]`, a string, or `{value}` for an option) and
refuses a required one left out as Jira does ("<name> is required."), and an issue
shows them among its fields (`*all`, or asked for by id).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

from followup.sandbox.dataset import SeedField
from followup.sandbox.jira.context import Ctx, Handler, Json, json_response
from followup.sandbox.jira.lookups import project_or_404

SCHEMA = """
CREATE TABLE IF NOT EXISTS components (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS custom_fields (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    required INTEGER NOT NULL,
    options TEXT NOT NULL,
    PRIMARY KEY (project, id)
);
CREATE TABLE IF NOT EXISTS issue_components (
    issue_id INTEGER NOT NULL,
    component TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS issue_components_issue ON issue_components(issue_id);
CREATE TABLE IF NOT EXISTS issue_custom (
    issue_id INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (issue_id, field)
);
"""
COMPONENT_ID_BASE = 10100
OPTION_ID_BASE = 10300


def seed(
    db: sqlite3.Connection, project: str, components: Iterable[str], fields: Iterable[SeedField]
) -> None:
    """Give `project` its components and custom fields (idempotent)."""
    for name in components:
        if db.execute(
            "SELECT 1 FROM components WHERE project = ? AND name = ?", (project, name)
        ).fetchone():
            continue
        next_id = db.execute(
            "SELECT COALESCE(MAX(CAST(id AS INTEGER)), ?) + 1 FROM components",
            (COMPONENT_ID_BASE - 1,),
        ).fetchone()[0]
        db.execute("INSERT INTO components VALUES (?,?,?)", (str(next_id), project, name))
    for f in fields:
        db.execute(
            "INSERT OR REPLACE INTO custom_fields VALUES (?,?,?,?,?,?)",
            (project, f.id, f.name, f.type, int(f.required), json.dumps(list(f.options))),
        )


def components_of(db: sqlite3.Connection, project: str) -> list[sqlite3.Row]:
    return list(
        db.execute(
            "SELECT id, name FROM components WHERE project = ? ORDER BY name", (project,)
        ).fetchall()
    )


def custom_fields_of(db: sqlite3.Connection, project: str) -> list[sqlite3.Row]:
    return list(
        db.execute(
            "SELECT * FROM custom_fields WHERE project = ? ORDER BY id", (project,)
        ).fetchall()
    )


def component_json(ctx: Ctx, row: sqlite3.Row) -> dict[str, Any]:
    return {"self": f"{ctx.api}/component/{row['id']}", "id": row["id"], "name": row["name"]}


def _option_json(ctx: Ctx, field_id: str, index: int, value: str) -> dict[str, Any]:
    option_id = str(OPTION_ID_BASE + index)
    return {
        "self": f"{ctx.api}/customFieldOption/{option_id}",
        "value": value,
        "id": option_id,
    }


def _schema(row: sqlite3.Row) -> dict[str, Any]:
    number = int(str(row["id"]).rsplit("_", 1)[1])
    kind = "select" if row["type"] == "option" else "textfield"
    return {
        "type": row["type"],
        "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{kind}",
        "customId": number,
    }


def create_metadata(ctx: Ctx, db: sqlite3.Connection, project: str) -> dict[str, dict[str, Any]]:
    """The create metadata of the project's components and custom fields, by field id."""
    meta: dict[str, dict[str, Any]] = {
        "components": {
            "required": False,
            "schema": {"type": "array", "items": "component", "system": "components"},
            "name": "Components",
            "key": "components",
            "hasDefaultValue": False,
            "operations": ["add", "set", "remove"],
            "allowedValues": [component_json(ctx, c) for c in components_of(db, project)],
        }
    }
    for row in custom_fields_of(db, project):
        item: dict[str, Any] = {
            "required": bool(row["required"]),
            "schema": _schema(row),
            "name": row["name"],
            "key": row["id"],
            "hasDefaultValue": False,
            "operations": ["set"],
        }
        if row["type"] == "option":
            options = json.loads(row["options"])
            item["allowedValues"] = [
                _option_json(ctx, row["id"], i, value) for i, value in enumerate(options)
            ]
        meta[row["id"]] = item
    return meta


def creatable(db: sqlite3.Connection, project: str | None) -> set[str]:
    """The field ids a create in `project` may set beyond the system fields."""
    if project is None:
        return {"components"}
    return {"components", *(row["id"] for row in custom_fields_of(db, project))}


def check_create(
    db: sqlite3.Connection, project: str, fields: dict[str, Any], errors: dict[str, str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The component ids and (field id, JSON value) a create's `fields` set in
    `project`, with Jira's messages in `errors` for what it refuses."""
    component_ids: list[str] = []
    raw = fields.get("components")
    if raw is not None:
        known = components_of(db, project)
        if not isinstance(raw, list):
            errors["components"] = "data was not an array"
        else:
            for ref in raw:
                ident = ref.get("id") or ref.get("name") if isinstance(ref, dict) else None
                found = next((c for c in known if ident in (c["id"], c["name"])), None)
                if found is None:
                    errors["components"] = f"Component name '{ident}' is not valid"
                    break
                component_ids.append(found["id"])
    custom: list[tuple[str, str]] = []
    for row in custom_fields_of(db, project):
        value = fields.get(row["id"])
        if value is None:
            if row["required"]:
                errors[row["id"]] = f"{row['name']} is required."
            continue
        if row["type"] == "option":
            options = json.loads(row["options"])
            chosen = value.get("value") if isinstance(value, dict) else None
            if chosen not in options:
                errors[row["id"]] = f"Option value '{chosen}' is not valid"
                continue
            custom.append((row["id"], json.dumps(chosen)))
        elif not isinstance(value, str):
            errors[row["id"]] = "Operation value must be a string"
        else:
            custom.append((row["id"], json.dumps(value)))
    return component_ids, custom


def store(
    db: sqlite3.Connection,
    issue_id: int,
    components: Sequence[str],
    custom: Sequence[tuple[str, str]],
) -> None:
    for component_id in components:
        db.execute("INSERT INTO issue_components VALUES (?,?)", (issue_id, component_id))
    for field_id, value in custom:
        db.execute(
            "INSERT OR REPLACE INTO issue_custom VALUES (?,?,?)", (issue_id, field_id, value)
        )


def issue_values(
    ctx: Ctx, db: sqlite3.Connection, ids: Sequence[int]
) -> tuple[dict[int, list[Json]], dict[int, dict[str, Json]]]:
    """Per issue: its components as JSON, and its custom fields' values as JSON."""
    components: dict[int, list[Json]] = {i: [] for i in ids}
    custom: dict[int, dict[str, Json]] = {i: {} for i in ids}
    if not ids:
        return components, custom
    marks = ",".join("?" * len(ids))
    for row in db.execute(
        f"SELECT ic.issue_id, c.id, c.name FROM issue_components ic"
        f" JOIN components c ON c.id = ic.component WHERE ic.issue_id IN ({marks})"
        " ORDER BY c.name",
        list(ids),
    ):
        components[row["issue_id"]].append(component_json(ctx, row))
    for row in db.execute(
        f"SELECT ic.issue_id, ic.field, ic.value, cf.type, cf.options FROM issue_custom ic"
        " JOIN issues i ON i.id = ic.issue_id"
        " JOIN custom_fields cf ON cf.project = i.project AND cf.id = ic.field"
        f" WHERE ic.issue_id IN ({marks})",
        list(ids),
    ):
        value = json.loads(row["value"])
        if row["type"] == "option":
            options = json.loads(row["options"])
            index = options.index(value) if value in options else 0
            custom[row["issue_id"]][row["field"]] = _option_json(ctx, row["field"], index, value)
        else:
            custom[row["issue_id"]][row["field"]] = value
    return components, custom


def _project_components(ctx: Ctx) -> Response:
    with ctx.state.lock:
        db = ctx.state.db
        project = project_or_404(db, ctx.path["projectIdOrKey"])
        rows = components_of(db, project["key"])
    return json_response(
        [
            {**component_json(ctx, r), "project": project["key"], "projectId": int(project["id"])}
            for r in rows
        ]
    )


API: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "project/{projectIdOrKey}/components", _project_components),
)
