"""The only code that talks HTTP: `JiraPort` and `ConfluencePort` over the Atlassian
REST APIs, with one shared rate limiter, one retry policy (`followup.adapters.retry`) and one
translation of library errors into `followup.errors`.

Build both adapters together so that they share the limiter, the retry budget and
the request accounting (the commands build them from the settings:
`followup.commands.sites`)::

    adapters = build_adapters(jira_url=..., confluence_url=..., email=..., token=..., project=...)
    adapters.jira.search_tickets("labels = followup")
    adapters.stats.snapshot()                   # requests by service and status
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from followup.adapters.confluence_adapter import ConfluenceAdapter
from followup.adapters.http import RateLimiter, RequestStats
from followup.adapters.jira_adapter import JiraAdapter
from followup.adapters.retry import RetryBudget, RetryPolicy
from followup.ports import AuthMethod, Deployment

__all__ = [
    "Adapters",
    "ConfluenceAdapter",
    "JiraAdapter",
    "RateLimiter",
    "RequestStats",
    "RetryBudget",
    "RetryPolicy",
    "build_adapters",
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
    issue_links: bool = False,
    page_metadata: bool = False,
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
        issue_links=issue_links,
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
        page_metadata=page_metadata,
    )
    return Adapters(jira=jira, confluence=confluence, limiter=limiter, retry=retry, stats=stats)
