"""The sites' admin webhook APIs, through the adapters' one request path (rate
limit, retry policy, error translation, secrets scrubbed).

- Jira (Cloud and Data Center): `/rest/webhooks/1.0/webhook`, the admin webhooks
  ("Webhooks", "Registering a webhook using the REST API":
  https://developer.atlassian.com/cloud/jira/platform/webhooks/): a webhook is
  `{name, url, events, filters: {"issue-related-events-section": JQL}, excludeBody,
  secret}`; GET lists them, POST creates one, PUT and DELETE `.../webhook/{id}`.
- Confluence Data Center (7.13 and later): `<base>/rest/api/webhooks`
  (https://developer.atlassian.com/server/confluence/webhooks/): `{name, url, events,
  active, configuration: {secret}}`. Confluence Cloud has no such API for an account's
  token (its webhooks belong to Connect and Forge apps).

Neither API ever answers with a webhook's secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from followup.adapters.confluence_adapter import ConfluenceAdapter
from followup.adapters.jira_adapter import JiraAdapter
from followup.adapters.retry import Safety

__all__ = [
    "JIRA_WEBHOOKS_PATH",
    "confluence_webhooks",
    "jira_webhooks",
    "save_confluence_webhook",
    "save_jira_webhook",
    "sites_answer",
    "webhook_id",
]

JIRA_WEBHOOKS_PATH = "/rest/webhooks/1.0/webhook"
_TRAILING_ID = re.compile(r"/(\d+)/?$")


def webhook_id(webhook: Mapping[str, Any]) -> str | None:
    """A listed webhook's id: Confluence's `id`, or the number ending Jira's `self`."""
    value = webhook.get("id")
    if isinstance(value, int | str) and str(value).isdigit():
        return str(value)
    found = _TRAILING_ID.search(str(webhook.get("self") or ""))
    return found.group(1) if found else None


def jira_webhooks(jira: JiraAdapter) -> list[dict[str, Any]]:
    """Every admin webhook of the Jira site (needs Jira administration)."""
    found = jira._call("GET", JIRA_WEBHOOKS_PATH, safety=Safety.IDEMPOTENT)
    return [w for w in found or () if isinstance(w, dict)]


def save_jira_webhook(
    jira: JiraAdapter, body: Mapping[str, Any], existing: str | None = None
) -> dict[str, Any]:
    """Create the webhook, or replace webhook `existing` (its id) with `body`."""
    if existing is None:
        made = jira._call("POST", JIRA_WEBHOOKS_PATH, body=body, safety=Safety.REJECTED_ONLY)
    else:
        made = jira._call(
            "PUT", f"{JIRA_WEBHOOKS_PATH}/{existing}", body=body, safety=Safety.IDEMPOTENT
        )
    return made if isinstance(made, dict) else {}


def confluence_webhooks(confluence: ConfluenceAdapter) -> list[dict[str, Any]]:
    """Every webhook of a Confluence Data Center site (needs Confluence administration)."""
    url = confluence._api("/webhooks")
    found = confluence._call("GET", url, params={"limit": 100}, safety=Safety.IDEMPOTENT)
    results = found.get("results") if isinstance(found, dict) else found
    return [w for w in results or () if isinstance(w, dict)]


def save_confluence_webhook(
    confluence: ConfluenceAdapter, body: Mapping[str, Any], existing: str | None = None
) -> dict[str, Any]:
    """Create the webhook, or replace webhook `existing` (its id) with `body`."""
    if existing is None:
        url = confluence._api("/webhooks")
        made = confluence._call("POST", url, body=body, safety=Safety.REJECTED_ONLY)
    else:
        url = confluence._api(f"/webhooks/{existing}")
        made = confluence._call("PUT", url, body=body, safety=Safety.IDEMPOTENT)
    return made if isinstance(made, dict) else {}


def sites_answer(jira: JiraAdapter, confluence: ConfluenceAdapter) -> None:
    """Ask each site one cheap question (Jira's serverInfo, one Confluence space);
    raises the `ApiError` of the first that does not answer or refuses us."""
    jira._call("GET", "/rest/api/2/serverInfo", safety=Safety.IDEMPOTENT)
    confluence._call(
        "GET", confluence._api("/space"), params={"limit": 1}, safety=Safety.IDEMPOTENT
    )
