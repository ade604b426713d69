"""Jira's value formats: timestamps as Jira writes them, and rich text, which is a plain
string on API v2 and an Atlassian Document Format (ADF) document on v3. Either
version reads what the other wrote: the stored value is JSON (a string or ADF).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from followup.sandbox.jira.context import Json


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def jira_time(stored: str | None) -> str | None:
    """ISO 8601 as stored -> Jira's `2024-01-15T10:30:00.000+0000`."""
    if stored is None:
        return None
    parsed = datetime.fromisoformat(stored).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}+0000"


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: blank lines split paragraphs, newlines are hard breaks."""
    content: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if not block:
            continue
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(node: Any) -> str:
    """The text of an ADF document, paragraphs separated by blank lines."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    parts = [adf_to_text(child) for child in node.get("content") or ()]
    if kind in ("doc", "bulletList", "orderedList", "listItem", "blockquote", "panel"):
        return "\n\n".join(p for p in parts if p)
    if kind == "mention":
        return str(node.get("attrs", {}).get("text", ""))
    return "".join(parts)


def is_adf_doc(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


def rich_text_out(stored: str | None, version: str) -> Json:
    """A stored rich-text value (JSON: string or ADF) as this API version shows it."""
    if stored is None:
        return None
    value = json.loads(stored)
    if version == "3":
        return value if isinstance(value, dict) else text_to_adf(str(value))
    return adf_to_text(value) if isinstance(value, dict) else value


def rich_text_in(value: Any, version: str) -> tuple[str | None, str | None]:
    """(stored JSON, error) for a rich-text input of this API version."""
    if value is None:
        return None, None
    if version == "3":
        if not is_adf_doc(value):
            return None, (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        return json.dumps(value), None
    if not isinstance(value, str):
        return None, "Operation value must be a string"
    return (json.dumps(value) if value else None), None
