"""The only code that talks HTTP: `JiraPort` and `ConfluencePort` over the Atlassian
REST APIs, with one shared rate limiter, one retry policy (`followup.adapters.retry`) and one
translation of library errors into `followup.errors`.

Build both adapters together so that they share the limiter, the retry budget and
the request accounting::

    adapters = from_settings(settings)          # or build_adapters(...)
    adapters.jira.search_tickets("labels = followup")
    adapters.stats.snapshot()                   # requests by service and status
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from followup.adapters.confluence_adapter import ConfluenceAdapter
from followup.adapters.http import RateLimiter, RequestStats
from followup.adapters.jira_adapter import JiraAdapter
from followup.adapters.retry import RetryBudget, RetryPolicy
from followup.ports import AuthMethod, Deployment

if TYPE_CHECKING:
    from followup.settings import Settings

__all__ = [
    "Adapters",
    "ConfluenceAdapter",
    "JiraAdapter",
    "RateLimiter",
    "RequestStats",
    "RetryBudget",
    "RetryPolicy",
    "build_adapters",
    "from_settings",
]


@dataclass(frozen=True, slots=True)
class Adapters:
    """Both adapters and what they share."""

    jira: JiraAdapter
    confluence: ConfluenceAdapter
    limiter: RateLimiter
    retry: RetryPolicy
    stats: RequestStats

    def close(self) -> None:
        self.jira.close()
        self.confluence.close()


def build_adapters(
    *,
    jira_url: str,
    confluence_url: str,
    email: str | None,
    token: str,
    project: str,
    issue_type: str = "Task",
    confluence_email: str | None = None,
    confluence_token: str | None = None,
    verify_tls: bool = True,
    confluence_verify_tls: bool | None = None,
    timeout: float = 30.0,
    confluence_timeout: float | None = None,
    rate_limit: float = 200.0,
    run_budget_seconds: float = 600.0,
    jira_deployment: Deployment | None = None,
    confluence_cloud: bool | None = None,
    auth: AuthMethod = "basic",
    confluence_auth: AuthMethod | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Adapters:
    """Both adapters, sharing one `RateLimiter(rate_limit)`, one `RetryPolicy` whose
    `RetryBudget(run_budget_seconds)` bounds the waiting of the whole run, and one
    `RequestStats`. `sleep` is used for every wait (inject a fake in tests).
    `auth` "pat" signs in with a Data Center personal access token (no email);
    Confluence signs in as Jira does unless `confluence_auth` says otherwise."""
    limiter = RateLimiter(rate_limit, sleep=sleep)
    retry = RetryPolicy(budget=RetryBudget(run_budget_seconds), sleep=sleep)
    stats = RequestStats()
    jira = JiraAdapter(
        jira_url,
        email,
        token,
        project=project,
        issue_type=issue_type,
        verify_tls=verify_tls,
        timeout=timeout,
        limiter=limiter,
        retry=retry,
        stats=stats,
        deployment=jira_deployment,
        auth=auth,
    )
    confluence = ConfluenceAdapter(
        confluence_url,
        confluence_email or email,
        confluence_token or token,
        cloud=confluence_cloud,
        verify_tls=verify_tls if confluence_verify_tls is None else confluence_verify_tls,
        timeout=timeout if confluence_timeout is None else confluence_timeout,
        limiter=limiter,
        retry=retry,
        stats=stats,
        auth=auth if confluence_auth is None else confluence_auth,
    )
    return Adapters(jira=jira, confluence=confluence, limiter=limiter, retry=retry, stats=stats)


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
    )
