"""Editing an issue: `fields` (set) and `update` (operations: `labels` add/remove/set,
`set` for the rest, `comment` add), checked as Jira checks them, with the changelog
the edit records. An edit that changes nothing leaves `updated` alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from followup.sandbox.jira import changelog, validation
from followup.sandbox.jira.catalog import PRIORITIES
from followup.sandbox.jira.context import Ctx, FieldErrors, cannot_set
from followup.sandbox.jira.fields import EDITABLE
from followup.sandbox.jira.formats import rich_text_in, rich_text_out, utc_now


def apply_edit(
    ctx: Ctx, db: sqlite3.Connection, row: sqlite3.Row, fields: Any, update: Any
) -> bool:
    """Apply `fields` (set) and `update` (operations); True when anything changed."""
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise FieldErrors({}, ["'fields' and 'update' must be objects."])
    errors: dict[str, str] = {}
    for name in fields:
        if name not in EDITABLE:
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
        if name not in EDITABLE:
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
        summary = validation.summary(sets["summary"], errors)
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
            ok, account = validation.user_ref(ctx, user_field, sets[user_field], errors)
            if ok:
                changes[user_field] = account
    if "duedate" in sets:
        ok, due = validation.due_date(sets["duedate"], errors)
        if ok:
            changes["duedate"] = due
    if "priority" in sets:
        priority = validation.priority(sets["priority"], errors)
        if priority:
            changes["priority"] = priority
    issue_id = int(row["id"])
    current_labels = [
        r["label"]
        for r in db.execute("SELECT label FROM issue_labels WHERE issue_id = ?", (issue_id,))
    ]
    labels = set(current_labels)
    if "labels" in sets:
        new_labels = validation.labels(sets["labels"], errors)
        if new_labels is not None:
            labels = set(new_labels)
    for verb, value in label_ops:
        if verb == "set":
            new_labels = validation.labels(value, errors)
            if new_labels is not None:
                labels = set(new_labels)
            continue
        problem = validation.label_error(value)
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
