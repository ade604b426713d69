"""Datasets for the sandbox: the demo site a new user first sees, and synthetic ones for scale.

Pure data builders: no I/O, no clock, no environment. `demo_dataset()` is a small,
hand-written site (two spaces, one Jira project, six postmortems under an index page
per space, and a runbook) whose pages are in Confluence Cloud storage format as Cloud
serialises it, and whose dates are fixed: with "today" at 2026-11-26 some action items
are overdue and some are not, whatever day the demo runs. `synthetic_dataset()` builds
any number of plausible postmortems, deterministically from a seed, for benchmarks and
scale tests.

Both take the flavor of the site: on Data Center the same pages are written as Data
Center stores them (`as_data_center`): people are named by `ri:userkey` (on one page,
written on an older version of the site, by `ri:username`), since Data Center has no
account ids; tasks have no uuid and no Cloud editor placeholder; tables have none of
the Cloud editor's layout attributes.

The demo credentials are public and for the local sandbox only: `admin@example.com`
with the token `sandbox-admin-token`, and the read-only `viewer@example.com` with
`sandbox-viewer-token`.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from followup.sandbox.dataset import (
    Dataset,
    SeedField,
    SeedIssue,
    SeedPage,
    SeedProject,
    SeedSpace,
)
from followup.sandbox.state import JIRA_SERVER, JIRA_SERVER_ID, Flavor, User

__all__ = [
    "DEMO_ADMIN",
    "DEMO_PEOPLE",
    "DEMO_PROJECT",
    "DEMO_SPACES",
    "DEMO_TODAY",
    "DEMO_USERS",
    "DEMO_VIEWER",
    "as_data_center",
    "demo_dataset",
    "synthetic_dataset",
]

# -- people ---------------------------------------------------------------------------

DEMO_ADMIN = User(
    account_id="712020:0b3c5a8e-6f1d-4c2a-9e47-1a5d8c3f2b90",
    name="admin",
    key="JIRAUSER10000",
    display_name="Sandbox Admin",
    email="admin@example.com",
    token="sandbox-admin-token",  # noqa: S106 - a published demo credential
)
DEMO_VIEWER = User(
    account_id="712020:5e2d9c14-7a3b-4f86-8d01-b6c4e9f2a375",
    name="viewer",
    key="JIRAUSER10001",
    display_name="Read-only Viewer",
    email="viewer@example.com",
    token="sandbox-viewer-token",  # noqa: S106 - a published demo credential
    read_only=True,
)

PRIYA = User(
    "712020:3f9a8c2e-4b1d-4e6a-9c7f-2d8e1b5a6c40",
    "priya.natarajan",
    "JIRAUSER10101",
    "Priya Natarajan",
    "priya.natarajan@example.com",
    None,
    timezone="Europe/London",
)
TOMASZ = User(  # an account from before 2018: a 24-hex id, as Atlassian still serves them
    "5b10ac8d82e05b22cc7d4ef5",
    "tomasz.kowalczyk",
    "JIRAUSER10102",
    "Tomasz Kowalczyk",
    "tomasz.kowalczyk@example.com",
    None,
    timezone="Europe/Warsaw",
)
AMARA = User(
    "712020:9d2c7e41-0b6a-4f3e-8a15-7c9e3d2b1f08",
    "amara.okafor",
    "JIRAUSER10103",
    "Amara Okafor",
    "amara.okafor@example.com",
    None,
    timezone="Africa/Lagos",
)
KENJI = User(
    "712020:c41e7b2a-58d3-4f90-b6a1-0e9d2c7f3a58",
    "kenji.watanabe",
    "JIRAUSER10104",
    "Kenji Watanabe",
    "kenji.watanabe@example.com",
    None,
    timezone="Asia/Tokyo",
)
LUCIA = User(
    "712020:6a0f2d9b-3c7e-4e15-8b24-f1c9a3d5e762",
    "lucia.fernandez",
    "JIRAUSER10105",
    "Lucía Fernández",
    "lucia.fernandez@example.com",
    None,
    timezone="Europe/Madrid",
)
SVEN = User(
    "557058:1e8d4b6f-2a9c-4d37-a0f5-8c3b7e2d9164",
    "sven.lindqvist",
    "JIRAUSER10106",
    "Sven Lindqvist",
    "sven.lindqvist@example.com",
    None,
    timezone="Europe/Stockholm",
)
NADIA = User(
    "712020:8b5e1f3a-9d4c-4a62-b7e0-3f6a2c8d1e95",
    "nadia.haddad",
    "JIRAUSER10107",
    "Nadia Haddad",
    "nadia.haddad@example.com",
    None,
    timezone="America/Toronto",
)
MATEUS = User(
    "712020:2c7a9e5d-4f1b-4b83-9e6c-d0a8f3b5c217",
    "mateus.oliveira",
    "JIRAUSER10108",
    "Mateus Oliveira",
    "mateus.oliveira@example.com",
    None,
    timezone="America/Sao_Paulo",
)

DEMO_PEOPLE: tuple[User, ...] = (PRIYA, TOMASZ, AMARA, KENJI, LUCIA, SVEN, NADIA, MATEUS)
# The admin comes first: the sandbox takes the first writable user with a token as its admin.
DEMO_USERS: tuple[User, ...] = (DEMO_ADMIN, DEMO_VIEWER, *DEMO_PEOPLE)

DEMO_SPACES: tuple[SeedSpace, ...] = (
    SeedSpace("SRE", "Site Reliability"),
    SeedSpace("PAY", "Payments Platform"),
)
DEMO_PROJECT = SeedProject(
    "OPS",
    "Operations",
    lead=PRIYA.account_id,
    issue_types=("Task", "Bug"),
    components=("databases", "observability", "platform"),
)
# The other teams' backlogs a `[[routing]]` rule can send follow-ups to: Payments (PAY),
# Security (SEC, whose create screen requires a custom field, so that a rule sending
# tickets there without it fails the checks), and the incidents themselves (INC).
PAY_PROJECT = SeedProject(
    "PAY",
    "Payments",
    lead=AMARA.account_id,
    issue_types=("Task", "Story", "Bug"),
    components=("payments-api", "card-auth", "refunds", "payouts"),
    custom_fields=(
        SeedField("customfield_10050", "Source"),
        SeedField("customfield_10051", "Team", type="option", options=("Payments", "Risk", "SRE")),
    ),
)
SEC_PROJECT = SeedProject(
    "SEC",
    "Security",
    lead=PRIYA.account_id,
    issue_types=("Task",),
    components=("certificates", "secrets"),
    custom_fields=(
        SeedField(
            "customfield_10060",
            "Risk rating",
            type="option",
            required=True,
            options=("Low", "Medium", "High", "Critical"),
        ),
    ),
)
# Incidents are Epics, so that follow-ups may be made their children (`[incident] parent`).
INC_PROJECT = SeedProject("INC", "Incidents", lead=PRIYA.account_id, issue_types=("Epic", "Task"))
DEMO_PROJECTS = (DEMO_PROJECT, PAY_PROJECT, SEC_PROJECT, INC_PROJECT)
DEMO_TODAY = date(2026, 11, 26)
"""The day the demo's dates are written against: items due before it are overdue."""

# -- storage-format pieces ------------------------------------------------------------

_NAMESPACE = uuid.UUID("6f1c2b0e-9a57-4d3e-8c21-5b7f0e4a9d13")


def _uid(*parts: object) -> str:
    """A stable random-looking (version 4) UUID for a macro or task, as Cloud generates
    them, derived from `parts` so that the same page gives the same ids every time."""
    digest = uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)).bytes
    return str(uuid.UUID(bytes=digest, version=4))


def _mention(user: User) -> str:
    return f'<ac:link><ri:user ri:account-id="{user.account_id}" /></ac:link>'


def _time(day: str) -> str:
    return f'<time datetime="{day}" />'


def _status(page: str, title: str, colour: str) -> str:
    return (
        f'<ac:structured-macro ac:name="status" ac:schema-version="1"'
        f' ac:macro-id="{_uid(page, "status", title)}">'
        f'<ac:parameter ac:name="title">{title}</ac:parameter>'
        f'<ac:parameter ac:name="colour">{colour}</ac:parameter>'
        "</ac:structured-macro>"
    )


def _jira(page: str, key: str) -> str:
    return (
        f'<ac:structured-macro ac:name="jira" ac:schema-version="1"'
        f' ac:macro-id="{_uid(page, "jira", key)}">'
        f'<ac:parameter ac:name="server">{JIRA_SERVER}</ac:parameter>'
        f'<ac:parameter ac:name="serverId">{JIRA_SERVER_ID}</ac:parameter>'
        f'<ac:parameter ac:name="key">{key}</ac:parameter>'
        "</ac:structured-macro>"
    )


def _panel(page: str, kind: str, inner: str) -> str:
    return (
        f'<ac:structured-macro ac:name="{kind}" ac:schema-version="1"'
        f' ac:macro-id="{_uid(page, kind)}"><ac:rich-text-body>{inner}</ac:rich-text-body>'
        "</ac:structured-macro>"
    )


def _code(page: str, language: str, code: str) -> str:
    return (
        f'<ac:structured-macro ac:name="code" ac:schema-version="1"'
        f' ac:macro-id="{_uid(page, "code", language)}">'
        f'<ac:parameter ac:name="language">{language}</ac:parameter>'
        f"<ac:plain-text-body><![CDATA[{code}]]></ac:plain-text-body>"
        "</ac:structured-macro>"
    )


def _task(task_id: int, task_uuid: str, body: str, *, done: bool = False) -> str:
    status = "complete" if done else "incomplete"
    return (
        f"<ac:task><ac:task-id>{task_id}</ac:task-id><ac:task-uuid>{task_uuid}</ac:task-uuid>"
        f"<ac:task-status>{status}</ac:task-status><ac:task-body>"
        f'<span class="placeholder-inline-tasks">{body}</span></ac:task-body></ac:task>'
    )


def _task_list(page: str, *tasks: tuple[int, str, bool]) -> str:
    """A task list; each task is (page-wide task id, body, done)."""
    inner = "".join(_task(n, _uid(page, "task", n), body, done=done) for n, body, done in tasks)
    return f"<ac:task-list>{inner}</ac:task-list>"


def _row(*cells: str, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{_cell(c)}</{tag}>" for c in cells) + "</tr>"


def _cell(content: str) -> str:
    return f"<p>{content}</p>" if content else "<p />"


def _table(page: str, header: tuple[str, ...], rows: list[tuple[str, ...]], *, wide: bool) -> str:
    """A table as the Cloud editor stores it: header row of `<th>` inside `<tbody>`."""
    attrs = (
        f' data-table-width="1800" data-layout="wide" ac:local-id="{_uid(page, "table")}"'
        if wide
        else ""
    )
    body = _row(*header, header=True) + "".join(_row(*r) for r in rows)
    return f"<table{attrs}><tbody>{body}</tbody></table>"


def _ul(*items: str) -> str:
    return "<ul>" + "".join(f"<li><p>{item}</p></li>" for item in items) + "</ul>"


# -- the demo pages -------------------------------------------------------------------

PAGE_ORDERS_DB = "98000001"
PAGE_CARD_AUTH = "98000002"
PAGE_REFUNDS = "98000003"
PAGE_TLS = "98000004"
PAGE_KAFKA = "98000005"
PAGE_PAYOUTS = "98000006"
PAGE_RUNBOOK = "98000007"
PAGE_SRE_INDEX = "98000008"
PAGE_PAY_INDEX = "98000009"


def _orders_db_page() -> str:
    p = PAGE_ORDERS_DB
    facts = _table(
        p,
        ("Incident", "INC-2264"),
        [
            ("Severity", _status(p, "SEV-2", "Red")),
            ("Status", _status(p, "RESOLVED", "Green")),
            ("Date", _time("2026-10-07")),
            ("Authors", f"{_mention(PRIYA)} {_mention(TOMASZ)}"),
        ],
        wide=False,
    )
    timeline = _table(
        p,
        ("Time (UTC)", "Event"),
        [
            (
                "09:00",
                "The nightly reporting batch starts a full scan of <code>order_items</code>."
                " It was moved from the analytics cluster to the orders-db replicas on"
                " 2&nbsp;October to take load off the warehouse.",
            ),
            ("09:12", "Replay lag on <code>orders-db-replica-2</code> passes 60&nbsp;s."),
            (
                "09:47",
                "Customer support escalates &ldquo;orders disappearing from My orders&rdquo;;"
                " the on-call engineer is paged through the support escalation policy.",
            ),
            ("10:05", "On-call confirms replica lag of 14&nbsp;minutes with the query below."),
            ("10:18", "The reporting batch is cancelled; lag starts to fall."),
            ("10:41", "Lag is under 1&nbsp;s on all replicas. Incident resolved."),
        ],
        wide=False,
    )
    query = (
        "SELECT application_name, client_addr, state,\n"
        "       replay_lag, write_lag, flush_lag\n"
        "FROM pg_stat_replication\n"
        "WHERE replay_lag > interval '30 seconds' AND state <> 'startup'\n"
        "ORDER BY replay_lag DESC;"
    )
    actions = _task_list(
        p,
        (
            1,
            "Alert when replica lag on orders-db exceeds 30&nbsp;s for 5 minutes"
            f" {_mention(TOMASZ)} {_time('2026-12-04')} {_jira(p, 'OPS-1')}",
            False,
        ),
        (
            2,
            "Route order-history reads to the primary while replica lag is above 10&nbsp;s"
            f" {_mention(PRIYA)} {_time('2026-11-13')}",
            False,
        ),
        (
            3,
            f"Add replica lag to the orders service dashboard {_mention(NADIA)}"
            f" {_time('2026-10-30')}",
            True,
        ),
        (
            4,
            "Load-test the reporting batch against a replica with production-sized data"
            f" before moving it back {_mention(SVEN)} {_time('2027-01-15')}",
            False,
        ),
        (5, "Write a runbook section on promoting a replica by hand", False),
    )
    return (
        _panel(
            p,
            "info",
            "<p><strong>This is a blameless review.</strong> It describes what the system did"
            " and why each decision made sense with what people knew at the time. It does"
            " not assign fault.</p>",
        )
        + facts
        + "<h2>Summary</h2>"
        "<p>On 7&nbsp;October between 09:12 and 10:41 UTC, order history served from the"
        " orders-db read replicas was up to 14&nbsp;minutes stale. Customers who had just"
        " placed an order did not see it under &ldquo;My orders&rdquo;, and 1,180 of them"
        " placed it a second time. No payment was lost: the duplicates were cancelled and"
        " refunded the same day.</p>"
        "<h2>Impact</h2>"
        + _ul(
            "89 minutes of stale order history for every customer in the EU region.",
            "1,180 duplicate orders (&euro;61,400), all refunded by 18:00 UTC.",
            "312 support contacts; first-response time rose to 3&nbsp;hours.",
        )
        + "<h2>Timeline</h2>"
        + timeline
        + _code(p, "sql", query)
        + "<h2>Root cause</h2>"
        "<p>The reporting batch ran a 70-minute query on a replica. With"
        " <code>hot_standby_feedback</code> off, WAL replay conflicted with the query, and"
        " because <code>max_standby_streaming_delay</code> was <code>-1</code> the replica"
        " waited for the query indefinitely instead of cancelling it. The order-history API"
        " reads from any replica and has no notion of staleness, so it served the old"
        " data as if it were current.</p>"
        "<p>Nothing alerted on replica lag: the only replication alert fires when a replica"
        " disconnects, and this one stayed connected throughout.</p>"
        "<h2>What went well</h2>"
        + _ul(
            "Support recognised the pattern within 35 minutes and escalated with examples.",
            "Payments refunded every duplicate order the same afternoon.",
        )
        + "<h2>What went wrong</h2>"
        + _ul(
            "We moved a heavy batch onto the replicas without a load test.",
            "On-call was paged by a person, not by monitoring, 35 minutes in.",
        )
        + "<h2>Where we got lucky</h2>"
        "<p>It happened on a Wednesday morning, not during the Black Friday peak.</p>"
        "<h2>Action items</h2>" + actions + "<h2>Supporting information</h2>"
        "<p>Replication dashboard, the reporting batch&rsquo;s query plan and the support"
        " escalation thread are linked from INC-2264.</p>"
    )


def _card_auth_page() -> str:
    p = PAGE_CARD_AUTH
    actions = _table(
        p,
        ("Action", "Owner", "Due", "Priority", "Ticket"),
        [
            (
                "Set a 2.5&nbsp;s client timeout and a circuit breaker on the issuer gateway"
                " client",
                _mention(LUCIA),
                _time("2026-11-06"),
                "High",
                "",
            ),
            (
                "Alert on authorisation p99 latency per issuer, not only across all issuers",
                _mention(SVEN),
                _time("2026-12-11"),
                "High",
                "",
            ),
            (
                "Agree with the acquirer on advance notice of issuer maintenance windows",
                _mention(AMARA),
                _time("2027-01-29"),
                "Medium",
                "",
            ),
            (
                "Add an issuer-timeout scenario to the quarterly game day",
                _mention(MATEUS),
                "",
                "Low",
                "",
            ),
            (
                "Document the manual switch to the secondary acquirer",
                "TBD",
                _time("2026-12-18"),
                "Medium",
                "",
            ),
        ],
        wide=True,
    )
    return (
        "<p>"
        + _status(p, "SEV-1", "Red")
        + " Incident INC-2291 &middot; Incident commander: "
        + _mention(AMARA)
        + "</p><h2>Summary</h2>"
        "<p>From 14:02 to 14:58 UTC on 21&nbsp;October, 9% of card authorisations timed out"
        " at checkout. One issuer bank ran unannounced maintenance and held our"
        " connections open for up to 30&nbsp;s; our gateway client had no timeout of its own"
        " and its connection pool filled, so authorisations for <em>every</em> issuer"
        " queued behind the slow one.</p>"
        "<h2>Customer impact</h2>"
        + _ul(
            "Roughly 41,000 checkout attempts failed or were abandoned.",
            "Merchants on the instant-payout plan saw payouts delayed by about an hour.",
        )
        + "<h2>Detection</h2>"
        "<p>The global checkout error-rate alert fired at 14:19, 17 minutes in. The per-issuer"
        " latency was visible on a dashboard but nothing paged on it.</p>"
        "<h2>Timeline</h2>"
        + _ul(
            "14:02 &mdash; p99 authorisation latency for issuer 4417 jumps from 400&nbsp;ms"
            " to 30&nbsp;s.",
            "14:09 &mdash; gateway connection pool saturated; all issuers affected.",
            "14:19 &mdash; checkout error-rate alert pages on-call.",
            "14:41 &mdash; traffic for issuer 4417 routed to the secondary acquirer by hand.",
            "14:58 &mdash; error rate back to baseline.",
        )
        + "<h2>Contributing factors</h2>"
        "<ol><li><p>The gateway client inherited the HTTP library&rsquo;s default timeout,"
        " which is infinite.</p></li><li><p>One shared connection pool for all issuers.</p>"
        "</li><li><p>No runbook for switching acquirers, so the switch took 22 minutes.</p>"
        "</li></ol>"
        "<h2>What went well</h2>"
        + _ul("The secondary acquirer took the extra load without trouble.")
        + "<h2>Follow-up actions</h2>"
        + actions
        + "<h2>Lessons learned</h2>"
        "<p>A dependency we do not control must never be able to hold our resources for"
        " longer than we decide.</p>"
    )


def _refunds_page() -> str:
    p = PAGE_REFUNDS
    actions = _table(
        p,
        ("Action", "Owner", "Due date", "Ticket"),
        [
            (
                "Make the refund webhook consumer idempotent on <code>refund_id</code>",
                "Lucía Fernández",
                "31 Dec 2026",
                "",
            ),
            (
                "Alert when the webhook retry queue holds more than 500 messages for"
                " 10&nbsp;minutes",
                "Sven Lindqvist",
                "20 Nov 2026",
                "",
            ),
            (
                "Reconcile refunds against the ledger every day and page on any mismatch",
                "Amara Okafor",
                "next sprint",
                "",
            ),
            (
                "Add a contract test for the payment provider&rsquo;s retry headers",
                "@mateus",
                "03/04/2027",
                "",
            ),
            ("Review the retry settings of every webhook consumer", "", "", ""),
        ],
        wide=False,
    )
    log = (
        "16:21:07Z WARN  webhook-consumer refund.succeeded id=rf_8Hq2 attempt=2 ack=late\n"
        "16:21:07Z INFO  ledger posted refund_id=rf_8Hq2 amount=129.90 EUR\n"
        "16:21:09Z INFO  ledger posted refund_id=rf_8Hq2 amount=129.90 EUR  <-- again"
    )
    return (
        _panel(
            p,
            "note",
            "<p>Status: <strong>reviewed</strong> on 5&nbsp;November with Payments and SRE."
            " Comments welcome until the 12th.</p>",
        )
        + "<h2>What happened</h2>"
        "<p>On 3&nbsp;November, after a deploy of the payment provider&rsquo;s SDK, our"
        " webhook consumer stopped acknowledging <code>refund.succeeded</code> events in time."
        " The provider retried them, and because the consumer was not idempotent, 212"
        " customers were refunded twice &mdash; &euro;18,230 in total.</p>"
        "<h2>Impact</h2>"
        "<p>No customer was harmed, but recovering the money took Finance two days of manual"
        " work and 37 customers contacted support, confused by the second refund.</p>"
        "<h2>Timeline (UTC)</h2>"
        + _ul(
            "16:05 &ndash; SDK 7.4.0 deployed to the webhook consumer.",
            "16:21 &ndash; first duplicate refund posted (log below).",
            "17:40 &ndash; Finance notices the ledger does not balance.",
            "18:02 &ndash; SDK rolled back; duplicates stop.",
        )
        + _code(p, "text", log)
        + "<h2>Why it happened</h2>"
        "<p>SDK 7.4.0 made the acknowledgement asynchronous. Under load the ack was sent after"
        " the provider&rsquo;s 5-second deadline, so the provider delivered each event again."
        " Our consumer trusted that each event arrives once.</p>"
        "<h2>Action items</h2>"
        + actions
        + "<p>Owners: please link your Jira ticket in the last column once it exists.</p>"
    )


def _tls_page() -> str:
    p = PAGE_TLS
    actions = _task_list(
        p,
        (
            1,
            "Move the internal gateway certificates to cert-manager with automatic renewal"
            f" {_mention(KENJI)} {_time('2026-10-31')}",
            False,
        ),
        (
            2,
            "Alert 21 days before any certificate in the inventory expires"
            f" {_mention(SVEN)} {_time('2026-12-01')}",
            False,
        ),
        (
            3,
            f"Inventory every certificate that cert-manager does not manage {_time('2026-12-15')}",
            False,
        ),
        (4, f"Add certificate expiry to the weekly operations review {_mention(PRIYA)}", False),
    )
    return (
        "<p>" + _status(p, "SEV-2", "Yellow") + "</p><h1>Summary</h1>"
        "<p>The TLS certificate of <code>api-gw.internal</code> expired on 21&nbsp;September"
        " at 00:00 UTC. For 47 minutes, 23 internal services could not call the gateway."
        " Customer-facing traffic was not affected because the public edge uses a different"
        " certificate.</p>"
        "<h1>Timeline</h1>"
        + _ul(
            "00:00 certificate expires.",
            "00:04 first alerts (5xx on the service mesh).",
            "00:31 cause found: <code>x509: certificate has expired</code>.",
            "00:47 new certificate issued by hand and rolled out.",
        )
        + "<h1>Root cause</h1>"
        "<p>The certificate was issued by hand two years ago, before cert-manager existed"
        " here. Its renewal reminder went to a mailing list that was archived in the spring."
        " Nobody owned it.</p>"
        "<h1>What went well</h1>"
        + _ul("Issuing and rolling out a new certificate took 16 minutes.")
        + "<h1>Corrective actions</h1>"
        + actions
    )


def _kafka_page() -> str:
    p = PAGE_KAFKA
    config = (
        "# notification-worker consumer settings after the incident\n"
        "max.poll.interval.ms=300000\n"
        "max.poll.records=200\n"
        "session.timeout.ms=45000\n"
    )
    short_term = _task_list(
        p,
        (
            1,
            "Set <code>max.poll.interval.ms</code> explicitly for notification-worker"
            f" {_mention(MATEUS)} {_time('2026-12-02')}",
            False,
        ),
        (
            2,
            "Document the broker replacement procedure, including partition reassignment"
            f" throttles {_mention(KENJI)} {_time('2026-11-25')}",
            False,
        ),
    )
    long_term = _task_list(
        p,
        (
            3,
            f"Alert on consumer lag in seconds, not messages {_mention(SVEN)}"
            f" {_time('2027-01-08')}",
            False,
        ),
        (4, "Find out why the DLQ consumer has been paused since August", False),
    )
    return (
        "<h2>TL;DR</h2>"
        "<p>Replacing broker 3 of the <code>events-prod</code> Kafka cluster moved 140"
        " partitions at once. Consumers of <code>notifications</code> rebalanced for 40"
        " minutes, and push notifications and e-mails were delayed by up to 2&nbsp;hours on"
        " 12&nbsp;November. Nothing was lost.</p>"
        "<h2>Impact</h2>"
        "<p>About 2.1&nbsp;million notifications were late. Password-reset e-mails were among"
        " them: 4,300 users requested a second reset.</p>"
        "<h2>Timeline</h2>"
        + _ul(
            "10:00 broker 3 drained for replacement (planned, CHG-881).",
            "10:06 partition reassignment starts with no throttle.",
            "10:09 notification-worker consumers start rebalancing in a loop.",
            "10:52 reassignment finishes; consumers settle.",
            "12:10 backlog cleared.",
        )
        + "<h2>Root cause</h2>"
        "<p>Without a replication throttle the reassignment saturated the brokers&rsquo;"
        " network, fetches slowed down, polls exceeded the default"
        " <code>max.poll.interval.ms</code> and every consumer that missed it triggered"
        " another rebalance.</p>" + _code(p, "bash", config) + "<h2>Follow-up actions</h2>"
        "<h3>Before the next broker replacement</h3>" + short_term + "<h3>Later</h3>" + long_term
    )


def _payouts_draft_page() -> str:
    p = PAGE_PAYOUTS
    return (
        _panel(
            p,
            "warning",
            "<p>Draft &mdash; to be reviewed on 2&nbsp;December. Please add facts, not"
            " conclusions.</p>",
        )
        + "<h2>Summary</h2>"
        "<p>Payouts scheduled for 11&nbsp;November were not sent for merchants banking in"
        " Canada: the bank-holiday calendar had no entry for Remembrance Day, so the payout"
        " batch waited for a settlement file that was never coming.</p>"
        "<h2>Impact</h2><p>1,920 merchants were paid one business day late.</p>"
        "<h2>Action items</h2>"
        "<p>To be agreed in the review meeting.</p>"
    )


def _runbook_page() -> str:
    p = PAGE_RUNBOOK
    checklist = _task_list(
        p,
        (1, "Announce the failover in #ops-changes", False),
        (2, "Confirm replay lag is under 1&nbsp;s on the target replica", False),
        (3, "Promote the replica and repoint the <code>orders-db-rw</code> service", False),
    )
    return (
        _panel(p, "info", "<p>Owner: Database team. Last tested on 14&nbsp;August.</p>")
        + "<h2>When to use this</h2>"
        "<p>The primary of orders-db is down or must be taken out of service.</p>"
        "<h2>Checklist</h2>"
        + checklist
        + _code(p, "bash", "patronictl -c /etc/patroni.yml failover --candidate orders-db-2")
    )


def _index_page(page: str, team: str) -> str:
    return (
        f"<p>Blameless reviews of {team} incidents. Add a new review as a child of this"
        " page, label it <code>postmortem</code>, and list its action items with an owner"
        " and a due date.</p>"
        f'<ac:structured-macro ac:name="children" ac:schema-version="2"'
        f' ac:macro-id="{_uid(page, "children")}">'
        '<ac:parameter ac:name="sort">creation</ac:parameter>'
        '<ac:parameter ac:name="reverse">true</ac:parameter>'
        "</ac:structured-macro>"
    )


def _at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def _demo_pages() -> tuple[SeedPage, ...]:
    return (
        SeedPage(
            "SRE",
            "2026-10-07 orders-db replica lag served stale order history",
            _orders_db_page(),
            PRIYA.account_id,
            _at("2026-10-09", 14, 30),
            labels=("postmortem", "database"),
            id=PAGE_ORDERS_DB,
            parent=PAGE_SRE_INDEX,
        ),
        SeedPage(
            "PAY",
            "Incident review: card authorisation timeouts (INC-2291)",
            _card_auth_page(),
            AMARA.account_id,
            _at("2026-10-23", 10, 0),
            id=PAGE_CARD_AUTH,
            parent=PAGE_PAY_INDEX,
        ),
        SeedPage(
            "PAY",
            "Postmortem \u2014 duplicate refunds from webhook retries",
            _refunds_page(),
            LUCIA.account_id,
            _at("2026-11-05", 15, 45),
            labels=("postmortem", "webhooks"),
            id=PAGE_REFUNDS,
            parent=PAGE_PAY_INDEX,
        ),
        SeedPage(
            "SRE",
            "Post-incident review: expired TLS certificate on the internal API gateway",
            _tls_page(),
            KENJI.account_id,
            _at("2026-09-24", 2, 10),
            id=PAGE_TLS,
            parent=PAGE_SRE_INDEX,
        ),
        SeedPage(
            "SRE",
            "Postmortem: notification backlog after Kafka broker replacement",
            _kafka_page(),
            SVEN.account_id,
            _at("2026-11-18", 8, 20),
            labels=("postmortem", "kafka"),
            id=PAGE_KAFKA,
            parent=PAGE_SRE_INDEX,
        ),
        SeedPage(
            "PAY",
            "DRAFT Postmortem: Canadian payouts delayed by a bank-holiday gap",
            _payouts_draft_page(),
            NADIA.account_id,
            _at("2026-11-24", 16, 5),
            labels=("postmortem", "draft"),
            id=PAGE_PAYOUTS,
            parent=PAGE_PAY_INDEX,
        ),
        SeedPage(
            "SRE",
            "Runbook: failing over orders-db",
            _runbook_page(),
            TOMASZ.account_id,
            _at("2026-08-14", 11, 0),
            labels=("runbook", "database"),
            id=PAGE_RUNBOOK,
        ),
        SeedPage(
            "SRE",
            "Postmortems",
            _index_page(PAGE_SRE_INDEX, "Site Reliability"),
            PRIYA.account_id,
            _at("2026-02-02", 10, 0),
            labels=("index",),
            id=PAGE_SRE_INDEX,
        ),
        SeedPage(
            "PAY",
            "Incident reviews",
            _index_page(PAGE_PAY_INDEX, "Payments Platform"),
            AMARA.account_id,
            _at("2026-03-09", 10, 0),
            labels=("index",),
            id=PAGE_PAY_INDEX,
        ),
    )


def _demo_issues() -> tuple[SeedIssue, ...]:
    """Pre-existing OPS issues, keyed OPS-1, OPS-2, ... in this order.

    OPS-1 is the ticket a person linked by hand on the orders-db postmortem: it has no
    `followup` label, so followup must adopt it rather than create another. The rest are
    the ordinary noise of a team's project, one carrying the look-alike label `follow-up`.
    """
    return (
        SeedIssue(
            project="OPS",
            summary="Alert on replica lag for the orders-db replicas",
            reporter=PRIYA.account_id,
            created=_at("2026-10-08", 11, 20),
            description="Raised during the INC-2264 review. Page when replay lag > 30 s.",
            assignee=TOMASZ.account_id,
            duedate=date(2026, 12, 4),
            status="In Progress",
            labels=("observability",),
            priority="High",
        ),
        SeedIssue(
            project="OPS",
            summary="Upgrade ingress-nginx to 1.11 on the production clusters",
            reporter=KENJI.account_id,
            created=_at("2026-08-03"),
            assignee=KENJI.account_id,
            status="Done",
            resolution="Done",
            resolutiondate=_at("2026-09-18", 15, 0),
            labels=("k8s",),
        ),
        SeedIssue(
            project="OPS",
            summary="Rotate the staging Kafka SASL credentials",
            reporter=SVEN.account_id,
            created=_at("2026-09-01"),
            assignee=SVEN.account_id,
            status="Done",
            resolution="Done",
            resolutiondate=_at("2026-09-04", 10, 30),
            labels=("security",),
        ),
        SeedIssue(
            project="OPS",
            summary="Grafana: checkout p99 panel shows seconds instead of milliseconds",
            reporter=NADIA.account_id,
            created=_at("2026-11-02", 13, 0),
            issue_type="Bug",
            assignee=NADIA.account_id,
            labels=("dashboards",),
            priority="Low",
        ),
        SeedIssue(
            project="OPS",
            summary="Decommission the legacy cron host ops-cron-01",
            reporter=TOMASZ.account_id,
            created=_at("2026-06-15"),
            labels=("tech-debt",),
            priority="Low",
        ),
        SeedIssue(
            project="OPS",
            summary="Evaluate PgBouncer transaction pooling for ledger-db",
            reporter=AMARA.account_id,
            created=_at("2026-10-12"),
            assignee=TOMASZ.account_id,
            duedate=date(2026, 11, 30),
            status="In Progress",
            labels=("follow-up", "database"),
        ),
        SeedIssue(
            project="OPS",
            summary="Webhook retries page on-call at night",
            reporter=LUCIA.account_id,
            created=_at("2026-11-04"),
            status="Done",
            resolution="Duplicate",
            resolutiondate=_at("2026-11-05"),
        ),
        SeedIssue(
            project="OPS",
            summary="Quarterly restore test of the payments database backups",
            reporter=AMARA.account_id,
            created=_at("2026-07-01"),
            assignee=MATEUS.account_id,
            status="Done",
            resolution="Won't Do",
            resolutiondate=_at("2026-07-20"),
            description="Superseded by the automated restore checks in the backup pipeline.",
        ),
        # The incident the orders-db postmortem names in its header ("Incident | INC-2264").
        SeedIssue(
            project="INC",
            summary="Stale order history served from orders-db replicas",
            reporter=PRIYA.account_id,
            created=_at("2026-10-07", 9, 50),
            status="Done",
            resolution="Done",
            resolutiondate=_at("2026-10-07", 10, 45),
            priority="High",
            issue_type="Epic",
            number=2264,
        ),
    )


def demo_dataset(flavor: Flavor = "cloud") -> Dataset:
    """The demo site: people, spaces SRE and PAY, project OPS, postmortems and noise.

    Six pages labelled `postmortem` (one a draft with no action items yet), under an
    index page in each space, and one runbook. Their action items cover task lists and
    tables, mentions and plain names, `<time>` and typed dates (one "next sprint", one
    ambiguous 03/04/2027), items with no owner or no due date, a completed task, and
    one item linked by hand to OPS-1. On Data Center the pages are as Data Center
    stores them (`as_data_center`).
    """
    dataset = Dataset(
        users=DEMO_USERS,
        spaces=DEMO_SPACES,
        pages=_demo_pages(),
        projects=DEMO_PROJECTS,
        issues=_demo_issues(),
    )
    if flavor == "datacenter":
        return as_data_center(dataset, by_username=(PAGE_TLS,))
    return dataset


# -- Data Center pages -----------------------------------------------------------------

_ACCOUNT_MENTION = re.compile(r'ri:account-id="([^"]*)"')
_CLOUD_TABLE = re.compile(r"<table [^>]*data-layout[^>]*>")
_TASK_UUID = re.compile(r"<ac:task-uuid>[^<]*</ac:task-uuid>")
_PLACEHOLDER = '<span class="placeholder-inline-tasks">'


def as_data_center(dataset: Dataset, *, by_username: tuple[str, ...] = ()) -> Dataset:
    """The dataset with its pages as Confluence Data Center stores them.

    Data Center has no account ids: a mention names the person's userkey
    (`ri:userkey`), or, on the pages listed in `by_username` (written before the site
    used userkeys), the username (`ri:username`). Its editor gives tasks no uuid and no
    placeholder span, and tables none of the Cloud editor's layout attributes
    (`<table class="wrapped">`). A mention of an account id nobody has is left alone.
    """
    people = {user.account_id: user for user in dataset.users}

    def convert(page: SeedPage) -> SeedPage:
        def mention(match: re.Match[str]) -> str:
            user = people.get(match.group(1))
            if user is None:
                return match.group(0)
            if page.id in by_username:
                return f'ri:username="{user.name}"'
            return f'ri:userkey="{user.key}"'

        body = _ACCOUNT_MENTION.sub(mention, page.body)
        body = _TASK_UUID.sub("", body)
        body = body.replace(_PLACEHOLDER, "").replace("</span></ac:task-body>", "</ac:task-body>")
        body = _CLOUD_TABLE.sub('<table class="wrapped">', body)
        return replace(page, body=body)

    return replace(dataset, pages=tuple(convert(page) for page in dataset.pages))


# -- synthetic datasets ----------------------------------------------------------------

_SPACE_NAMES: tuple[tuple[str, str], ...] = (
    ("SRE", "Site Reliability"),
    ("PAY", "Payments Platform"),
    ("DATA", "Data Platform"),
    ("EDGE", "Edge and CDN"),
    ("IDN", "Identity"),
    ("MOB", "Mobile"),
    ("SRCH", "Search"),
    ("BILL", "Billing"),
)
_SERVICES = (
    "checkout-api",
    "orders-db",
    "search-indexer",
    "notification-worker",
    "auth-service",
    "payments-gateway",
    "image-resizer",
    "ledger-db",
    "edge-proxy",
    "feature-flags",
    "session-store",
    "billing-batch",
)
_SYMPTOMS = (
    "returned 5xx for {n}% of requests",
    "served stale data for {n} minutes",
    "ran out of connections",
    "dropped {n}k messages",
    "doubled its p99 latency",
    "was unreachable in one region",
    "filled its disk",
    "leaked memory until OOM-killed",
)
_CAUSES = (
    "a configuration change rolled out to every region at once",
    "a retry storm after a dependency slowed down",
    "an expired credential that nothing was watching",
    "a schema migration that locked a hot table",
    "a cache stampede when the cache cluster restarted",
    "a noisy neighbour on a shared node pool",
    "a default timeout that was effectively infinite",
    "a dependency upgrade that changed acknowledgement semantics",
)
_ACTIONS = (
    "Add an alert on {svc} saturation before it reaches 80%",
    "Roll out {svc} configuration changes one region at a time",
    "Set explicit client timeouts for every call {svc} makes",
    "Write a runbook for restarting {svc} safely",
    "Add a load test for {svc} to the release pipeline",
    "Make the {svc} consumer idempotent",
    "Move {svc} secrets to the secrets manager with rotation",
    "Add {svc} to the weekly capacity review",
    "Cap retries in {svc} with jittered backoff",
    "Record {svc} deploys as annotations on the dashboards",
    "Split the {svc} connection pool per dependency",
    "Review paging thresholds for {svc} with the owning team",
)
_SYNTHETIC_START = date(2026, 1, 5)


def _synthetic_spaces(count: int) -> tuple[SeedSpace, ...]:
    spaces = [SeedSpace(key, name) for key, name in _SPACE_NAMES[:count]]
    spaces += [SeedSpace(f"TEAM{n}", f"Team {n}") for n in range(len(spaces) + 1, count + 1)]
    return tuple(spaces)


def _synthetic_page(rng: random.Random, number: int, items: int) -> tuple[str, str, date]:
    """(title, body, incident day) of one synthetic postmortem."""
    svc = rng.choice(_SERVICES)
    symptom = rng.choice(_SYMPTOMS).format(n=rng.randint(2, 60))
    cause = rng.choice(_CAUSES)
    day = _SYNTHETIC_START + timedelta(days=rng.randrange(320))
    minutes = rng.randint(12, 240)
    title = f"INC-{number}: {svc} {symptom}"
    parts = [
        "<h2>Summary</h2>",
        f"<p>On {day:%d %B %Y}, {svc} {symptom} for {minutes}&nbsp;minutes. The trigger was"
        f" {cause}.</p>",
        "<h2>Impact</h2>",
        f"<p>About {rng.randint(1, 900)} customers were affected and"
        f" {rng.randint(0, 120)} contacted support.</p>",
        "<h2>Timeline (UTC)</h2><ul>",
    ]
    hour, minute = rng.randint(0, 20), rng.randint(0, 59)
    for event in ("first alert fires", "on-call acknowledges", "mitigation applied", "resolved"):
        parts.append(f"<li><p>{hour:02d}:{minute:02d} &mdash; {event}.</p></li>")
        minute += rng.randint(3, 40)
        hour, minute = min(23, hour + minute // 60), minute % 60
    parts.append("</ul><h2>Root cause</h2>")
    parts.append(
        f"<p>The incident followed {cause}. {svc} had no protection against it, and the"
        " signals that would have shown it early were not alerting.</p>"
    )
    parts.append("<h2>Action items</h2>")
    texts = [a.format(svc=svc) for a in rng.sample(_ACTIONS, min(items, len(_ACTIONS)))]
    texts += [f"Follow-up {n} for {svc}" for n in range(len(texts) + 1, items + 1)]
    people = DEMO_PEOPLE
    if rng.random() < 0.5:
        tasks = []
        for n, text in enumerate(texts, start=1):
            body = text
            if rng.random() < 0.85:
                body += " " + _mention(rng.choice(people))
            if rng.random() < 0.8:
                due = day + timedelta(days=rng.randint(14, 150))
                body += " " + _time(due.isoformat())
            task_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            tasks.append(_task(n, task_uuid, body, done=rng.random() < 0.15))
        parts.append("<ac:task-list>" + "".join(tasks) + "</ac:task-list>")
    else:
        rows = [_row("Action", "Owner", "Due", "Ticket", header=True)]
        for text in texts:
            roll = rng.random()
            person = rng.choice(people)
            owner = _mention(person) if roll < 0.5 else person.display_name if roll < 0.85 else ""
            due = day + timedelta(days=rng.randint(14, 150))
            roll = rng.random()
            when = _time(due.isoformat()) if roll < 0.5 else f"{due:%d %b %Y}" if roll < 0.8 else ""
            rows.append(_row(text, owner, when, ""))
        parts.append("<table><tbody>" + "".join(rows) + "</tbody></table>")
    return title, "".join(parts), day


def synthetic_dataset(
    *, pages: int, items_per_page: int, seed: int, spaces: int = 4, flavor: Flavor = "cloud"
) -> Dataset:
    """`pages` plausible postmortems with `items_per_page` action items each.

    Deterministic in `seed`. Pages are spread round-robin over `spaces` spaces, mix task
    lists and tables, and leave some owners and due dates out; their ids are left to the
    sandbox. Users, project OPS and no issues, so that every item needs a ticket. On
    Data Center the pages are as Data Center stores them (`as_data_center`).
    """
    if pages < 0 or items_per_page < 0:
        raise ValueError("pages and items_per_page must not be negative")
    if spaces < 1:
        raise ValueError("a synthetic dataset needs at least one space")
    rng = random.Random(seed)
    space_list = _synthetic_spaces(spaces)
    seeded: list[SeedPage] = []
    for n in range(pages):
        title, body, day = _synthetic_page(rng, 10000 + n, items_per_page)
        author = rng.choice(DEMO_PEOPLE)
        created = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            days=rng.randint(1, 5), minutes=rng.randrange(24 * 60)
        )
        seeded.append(
            SeedPage(
                space_list[n % spaces].key,
                title,
                body,
                author.account_id,
                created,
            )
        )
    dataset = Dataset(
        users=DEMO_USERS,
        spaces=space_list,
        pages=tuple(seeded),
        projects=(DEMO_PROJECT,),
        issues=(),
    )
    return as_data_center(dataset) if flavor == "datacenter" else dataset
