"""The configured sites, as every command opens them: both adapters built from the
settings, sharing one rate limiter, one retry policy and one request count.

The adapters themselves take plain values (`followup.adapters.build_adapters`) and
know nothing of the settings; reading the settings is the commands' business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from followup.adapters import Adapters, build_adapters
from followup.errors import ApiError, SetupError

if TYPE_CHECKING:
    from followup.settings import Settings

__all__ = ["from_settings", "open_sites"]


def from_settings(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    run_budget_seconds: float | None = None,
) -> Adapters:
    """The adapters for `settings` (which must name both sites: call
    `settings.require_sites()` first for a friendly ConfigError).
    `run_budget_seconds` overrides `sync.run_budget_seconds` (a doctor waits less)."""
    settings.require_sites()
    j, c = settings.jira, settings.confluence
    if not (j.url and j.token and c.url and c.token):
        raise AssertionError("require_sites() let an unset site through")
    return build_adapters(
        jira_url=j.url,
        confluence_url=c.url,
        email=j.email,
        token=j.token.get_secret_value(),
        confluence_email=c.email,
        confluence_token=c.token.get_secret_value(),
        project=j.project_key,
        issue_type=j.issue_type,
        verify_tls=j.verify_tls,
        confluence_verify_tls=c.verify_tls,
        timeout=j.timeout_seconds,
        confluence_timeout=c.timeout_seconds,
        auth=j.auth or "basic",
        confluence_auth=c.auth,
        rate_limit=settings.sync.rate_limit,
        run_budget_seconds=(
            settings.sync.run_budget_seconds if run_budget_seconds is None else run_budget_seconds
        ),
        sleep=sleep,
        issue_links=settings.incident.link_type is not None,
        page_metadata=any(r.label is not None or r.ancestor is not None for r in settings.routing),
    )


def open_sites(settings: Settings) -> Adapters:
    """`from_settings`, for a command about to read: a site that does not answer or
    refuses the credentials while the adapters are made is a `SetupError`."""
    settings.require_sites()
    try:
        return from_settings(settings)
    except ApiError as exc:
        raise SetupError(exc.message, hint=exc.hint) from None
