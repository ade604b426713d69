"""What a verified delivery is about: the postmortem page to re-sync (or the ticket
whose page is to be found first), or why it is about nothing followup manages.

Pure functions of the parsed JSON: no site is asked here. What the payloads carry is
Atlassian's documented shape (Jira: "Webhooks", https://developer.atlassian.com/cloud/jira/platform/webhooks/,
`webhookEvent`, `issue.key`, `issue.fields.labels`, `changelog.items`; Confluence Data
Center: "Webhooks in Confluence", https://developer.atlassian.com/server/confluence/webhooks/,
`page` for page events and `labeled` for label events). Only what is needed is read,
and anything else in a payload is left alone, so a site's custom fields or a newer
release's extra keys change nothing.

Which tickets are followup's is read off their labels: a managed ticket carries
`sync.label` and, for the page it belongs to, `<label>-<pageId>` (docs/architecture.md).
A ticket without the label is not followup's: its events cost nothing. A page event
names a page by id; whether that page is a postmortem is decided by the run itself
(the configured CQL), which then writes nothing for a page that is not one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CONFLUENCE_EVENTS",
    "JIRA_EVENTS",
    "Ignored",
    "Target",
    "confluence_targets",
    "jira_targets",
]

# The Jira events that can change what a page shows: a ticket created (adopted or
# created by another run), changed (status, assignee, due date, summary, labels), or
# deleted. Comments and worklogs change nothing followup syncs.
JIRA_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
# The Confluence events of a page whose action items may have changed, or which may
# have become (or stopped being) a postmortem by its labels.
CONFLUENCE_EVENTS = (
    "page_created",
    "page_updated",
    "page_restored",
    "label_added",
    "label_removed",
)

_PAGE_ID = re.compile(r"[0-9]{1,20}")
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,18}")


@dataclass(frozen=True, slots=True)
class Target:
    """What to run: a page by id, or a ticket whose page is to be looked up first."""

    kind: Literal["page", "ticket"]
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Ignored:
    """A verified delivery that asks for no run, and why (a metrics label)."""

    reason: Literal["event", "unmanaged", "no-subject"]
    detail: str


def _labels(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, str):  # a changelog's fromString/toString: space-separated
        return value.split()
    return []


def _pages_of(labels: Sequence[str], label: str) -> list[str]:
    prefix = f"{label}-"
    return [
        lb[len(prefix) :]
        for lb in labels
        if lb.startswith(prefix) and _PAGE_ID.fullmatch(lb[len(prefix) :])
    ]


def jira_targets(payload: Mapping[str, Any], label: str) -> list[Target] | Ignored:
    """The pages a Jira issue event is about (a ticket to look up when its labels
    name no page), or why it is about none of followup's."""
    event = payload.get("webhookEvent")
    if event not in JIRA_EVENTS:
        return Ignored("event", f"{str(event)[:80]!r} is not an issue event followup uses")
    issue = payload.get("issue")
    if not isinstance(issue, Mapping):
        return Ignored("no-subject", "the event names no issue")
    fields = issue.get("fields")
    labels = _labels(fields.get("labels")) if isinstance(fields, Mapping) else []
    # Labels taken off by this very change still name the page that showed the ticket.
    before: list[str] = []
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and item.get("field") == "labels":
            before.extend(_labels(item.get("fromString")))
    if label not in labels and label not in before:
        return Ignored("unmanaged", "the ticket does not carry followup's label")
    pages = list(dict.fromkeys(_pages_of(labels, label) + _pages_of(before, label)))
    if pages:
        return [Target("page", page) for page in pages]
    key = issue.get("key")
    if isinstance(key, str) and _ISSUE_KEY.fullmatch(key) and event != "jira:issue_deleted":
        return [Target("ticket", key)]
    return Ignored("no-subject", "the event names no page and no ticket to look one up by")


def confluence_targets(payload: Mapping[str, Any]) -> list[Target] | Ignored:
    """The page a Confluence event is about, or why none."""
    event = payload.get("event") or payload.get("webhookEvent")
    if event is not None and event not in CONFLUENCE_EVENTS:
        return Ignored("event", f"{str(event)[:80]!r} is not a page event followup uses")
    for key in ("page", "labeled", "content"):
        subject = payload.get(key)
        if not isinstance(subject, Mapping):
            continue
        kind = subject.get("type", subject.get("contentType", "page"))
        if kind not in ("page", None):
            return Ignored("event", f"the event is about a {str(kind)[:40]}, not a page")
        page_id = subject.get("id")
        if isinstance(page_id, int) and not isinstance(page_id, bool):
            page_id = str(page_id)
        if isinstance(page_id, str) and _PAGE_ID.fullmatch(page_id):
            return [Target("page", page_id)]
    return Ignored("no-subject", "the event names no page")
