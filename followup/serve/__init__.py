"""`followup serve`: a long-running receiver of Jira and Confluence webhooks that
re-syncs the page an event is about, with the engine, plan and leases of
`followup sync --page`.

    signing      the `X-Hub-Signature: sha256=<hex>` check, in constant time
    events       a verified delivery -> the page (or ticket) it is about, or why none
    queue        the bounded, per-page coalescing queue and its workers
    metrics      the Prometheus metrics `GET /metrics` shows
    app          the Starlette application: the webhook endpoints, /healthz, /metrics

This package knows nothing of the sites: the command (`followup.commands.serve`)
hands the queue a function that runs one page, and the application a health probe.
It never imports the sandbox (an import-linter contract, docs/architecture.md).
"""
