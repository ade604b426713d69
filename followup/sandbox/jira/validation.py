"""Field values checked as Jira checks them on a create or an edit, each problem put in
the request's `errors` under the field's name with Jira's message: users (by
`accountId` on Cloud, `name` on Data Center; existing and active), due dates, labels,
summaries, priorities and entity properties.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from followup.sandbox.jira.catalog import PRIORITIES
from followup.sandbox.jira.context import Ctx, FieldErrors

MAX_PROPERTY_BYTES = 32768

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def user_ref(ctx: Ctx, field_name: str, value: Any, errors: dict[str, str]) -> tuple[bool, Any]:
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


def due_date(value: Any, errors: dict[str, str]) -> tuple[bool, str | None]:
    if value is None or value == "":
        return True, None
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return True, date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    errors["duedate"] = f"Error parsing date string: {value}"
    return False, None


def label_error(label: Any) -> str | None:
    if not isinstance(label, str) or not label:
        return "Labels must be non-empty strings."
    if any(ch.isspace() for ch in label):
        return f"The label '{label}' contains spaces which is invalid."
    if len(label) > 255:
        return "The label must not be longer than 255 characters."
    return None


def labels(value: Any, errors: dict[str, str]) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list):
        errors["labels"] = "expected Array"
        return None
    for label in value:
        problem = label_error(label)
        if problem:
            errors["labels"] = problem
            return None
    return sorted(set(value))


def summary(value: Any, errors: dict[str, str]) -> str | None:
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


def priority(value: Any, errors: dict[str, str]) -> str | None:
    if not isinstance(value, dict):
        errors["priority"] = "The priority selected is invalid."
        return None
    for priority_id, name, _colour in PRIORITIES:
        if value.get("name") == name or value.get("id") == priority_id:
            return name
    errors["priority"] = "The priority selected is invalid."
    return None


def check_properties(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldErrors({}, ["'properties' must be a list of {key, value}."])
    checked: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise FieldErrors({}, ["An issue property must have a non-empty 'key'."])
        checked.append((item["key"], property_value(item["key"], item.get("value"))))
    return checked


def property_value(key: str, value: Any) -> str:
    if len(key) > 255:
        raise FieldErrors({}, ["The property key cannot be longer than 255 characters."])
    encoded = json.dumps(value)
    if len(encoded.encode()) > MAX_PROPERTY_BYTES:
        raise FieldErrors(
            {},
            [f"The property value is too large. The maximum size is {MAX_PROPERTY_BYTES} bytes."],
        )
    return encoded
