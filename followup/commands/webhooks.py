"""The webhooks `followup serve` receives: registering them
(`followup serve --register`) and checking that they exist (`followup doctor`).

- Jira: one admin webhook to `<public_url>/webhooks/jira` for issue created, updated
  and deleted, filtered by JQL to followup's tickets (`labels = "<sync.label>"`), with
  the body, and signed with `[serve] webhook_secret`.
- Confluence Data Center: one webhook to `<public_url>/webhooks/confluence` for page
  created, updated and restored and labels added and removed, signed with the same
  secret. Confluence Cloud offers no webhook an account can register (its webhooks
  belong to Connect and Forge apps): there, page edits reach Jira at the next
  scheduled `followup sync` (docs/deploy.md).

Registering again is harmless: a webhook already pointing at the URL is updated
(so a rotated secret is taken), never duplicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from followup.adapters.webhooks import (
    confluence_webhooks,
    jira_webhooks,
    save_confluence_webhook,
    save_jira_webhook,
    webhook_id,
)
from followup.commands.sites import open_sites
from followup.core.queries import jql_string
from followup.errors import ApiError, ConfigError, ForbiddenError, SetupError
from followup.serve.events import CONFLUENCE_EVENTS, JIRA_EVENTS

if TYPE_CHECKING:
    from followup.adapters import Adapters
    from followup.settings import Settings

__all__ = [
    "WEBHOOK_NAME",
    "Registration",
    "endpoint_urls",
    "register_webhooks",
    "webhook_status",
]

WEBHOOK_NAME = "followup"
JQL_FILTER_KEY = "issue-related-events-section"
CLOUD_CONFLUENCE = (
    "Confluence Cloud has no webhook an account can register (only Connect and Forge "
    "apps have them): page edits reach Jira at the next scheduled followup sync"
)


@dataclass(frozen=True, slots=True)
class Registration:
    """What `--register` did for one site."""

    product: Literal["jira", "confluence"]
    status: Literal["created", "updated", "unavailable"]
    url: str
    detail: str = ""


def endpoint_urls(settings: Settings) -> tuple[str, str]:
    """(Jira's, Confluence's) delivery URLs under `[serve] public_url`."""
    public = settings.serve.public_url
    if public is None:
        raise ConfigError(
            "FOLLOWUP_SERVE__PUBLIC_URL / [serve] public_url: field required",
            hint="the address Jira and Confluence reach `followup serve` at, e.g. "
            "https://followup.acme.example",
        )
    return f"{public}/webhooks/jira", f"{public}/webhooks/confluence"


def _jira_body(settings: Settings, url: str, secret: str) -> dict[str, Any]:
    return {
        "name": WEBHOOK_NAME,
        "url": url,
        "events": list(JIRA_EVENTS),
        "filters": {JQL_FILTER_KEY: f"labels = {jql_string(settings.sync.label)}"},
        "excludeBody": False,
        "secret": secret,
    }


def _confluence_body(url: str, secret: str) -> dict[str, Any]:
    return {
        "name": WEBHOOK_NAME,
        "url": url,
        "events": list(CONFLUENCE_EVENTS),
        "active": True,
        "configuration": {"secret": secret},
    }


def _find(webhooks: Sequence[dict[str, Any]], url: str) -> dict[str, Any] | None:
    return next((w for w in webhooks if str(w.get("url", "")).rstrip("/") == url), None)


def register_webhooks(settings: Settings) -> list[Registration]:
    """Create or update followup's webhooks on both sites (see the module docstring).
    A refusal (not an administrator) is a `SetupError` naming the site."""
    jira_url, confluence_url = endpoint_urls(settings)
    secret = settings.serve.secret()
    adapters = open_sites(settings)
    try:
        return [
            _register_jira(settings, adapters, jira_url, secret),
            _register_confluence(adapters, confluence_url, secret),
        ]
    finally:
        adapters.close()


def _admin_needed(product: str, exc: ApiError) -> SetupError:
    return SetupError(
        f"{product} refused to manage webhooks: {exc.message}",
        hint=f"registering a webhook needs {product} administration: run "
        "`followup serve --register` once with an administrator's token, or create the "
        "webhook by hand as docs/deploy.md shows",
    )


def _register_jira(settings: Settings, adapters: Adapters, url: str, secret: str) -> Registration:
    try:
        existing = _find(jira_webhooks(adapters.jira), url)
        body = _jira_body(settings, url, secret)
        ident = webhook_id(existing) if existing is not None else None
        save_jira_webhook(adapters.jira, body, ident)
    except ForbiddenError as exc:
        raise _admin_needed("Jira", exc) from None
    return Registration("jira", "updated" if ident else "created", url)


def _register_confluence(adapters: Adapters, url: str, secret: str) -> Registration:
    if adapters.jira.deployment == "cloud":
        return Registration("confluence", "unavailable", url, CLOUD_CONFLUENCE)
    try:
        existing = _find(confluence_webhooks(adapters.confluence), url)
        ident = webhook_id(existing) if existing is not None else None
        save_confluence_webhook(adapters.confluence, _confluence_body(url, secret), ident)
    except ForbiddenError as exc:
        raise _admin_needed("Confluence", exc) from None
    return Registration("confluence", "updated" if ident else "created", url)


def webhook_status(settings: Settings, adapters: Adapters) -> tuple[str, str, str | None]:
    """The doctor's line on the webhooks: (status, detail, fix)."""
    jira_url, confluence_url = endpoint_urls(settings)
    fix = "run `followup serve --register` (as an administrator), see docs/deploy.md"
    lines: list[str] = []
    status = "ok"
    try:
        found = _find(jira_webhooks(adapters.jira), jira_url)
    except ForbiddenError:
        found, status = None, "warn"
        lines.append("Jira: this account may not list webhooks (Jira administration needed)")
    else:
        if found is None:
            status = "warn"
            lines.append(f"Jira: no webhook to {jira_url}")
        elif found.get("enabled") is False:
            status = "warn"
            lines.append(f"Jira: the webhook to {jira_url} is disabled")
        else:
            lines.append(f"Jira: {jira_url}")
    if adapters.jira.deployment == "cloud":
        lines.append("Confluence Cloud: none possible, the scheduled sync covers page edits")
    else:
        try:
            page_hook = _find(confluence_webhooks(adapters.confluence), confluence_url)
        except ForbiddenError:
            page_hook, status = None, "warn"
            lines.append("Confluence: this account may not list webhooks")
        else:
            if page_hook is None:
                status = "warn"
                lines.append(f"Confluence: no webhook to {confluence_url}")
            else:
                lines.append(f"Confluence: {confluence_url}")
    return status, "; ".join(lines), (fix if status != "ok" else None)
