"""The sandbox's webhooks: registration as Jira's and Confluence Data Center's APIs
take it, and signed, real-shaped deliveries when issues and pages change, with the
`webhook_*` faults. A small HTTP server in the test receives the deliveries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sandbox_support import ADMIN, ALICE, JiraSite

from followup.sandbox import webhooks
from followup.sandbox.faults import FaultConfig, FaultConfigError
from followup.sandbox.server import RunningSandbox
from followup.serve import signing

SECRET = "delivery-secret-0123456789abcdef"
WAIT = 60.0  # bounds a failure only


@dataclass
class Receiver:
    url: str
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries if body]


@pytest.fixture
def receiver(sandbox_server: RunningSandbox) -> Iterator[Receiver]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got.append((dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", got)
    dispatcher = webhooks.dispatcher_for(sandbox_server.state)
    if dispatcher is not None:  # every delivery out before the server goes
        dispatcher.wait_idle(WAIT)
    server.shutdown()
    server.server_close()


def _idle(site: JiraSite) -> None:
    dispatcher = webhooks.dispatcher_for(site.server.state)
    assert dispatcher is not None
    assert dispatcher.wait_idle(WAIT)


def _register(site: JiraSite, url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "test hook",
        "url": url,
        "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"],
        "filters": {"issue-related-events-section": 'labels = "followup"'},
        "excludeBody": False,
        "secret": SECRET,
        **extra,
    }
    answer = site.session().post(f"{site.url}/rest/webhooks/1.0/webhook", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def _create(site: JiraSite, summary: str, labels: list[str]) -> str:
    answer = site.session().post(
        f"{site.url}/rest/api/2/issue",
        json={
            "fields": {
                "project": {"key": "OPS"},
                "issuetype": {"name": "Task"},
                "summary": summary,
                "labels": labels,
            }
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def test_jira_webhooks_are_registered_listed_updated_and_deleted(jira_site: JiraSite) -> None:
    """POST/GET/PUT/DELETE /rest/webhooks/1.0/webhook; no answer shows the secret."""
    made = _register(jira_site, "https://followup.example/webhooks/jira")
    assert made["self"].startswith(f"{jira_site.url}/rest/webhooks/1.0/webhook/")
    assert "secret" not in made
    listed = jira_site.session().get(f"{jira_site.url}/rest/webhooks/1.0/webhook", timeout=10)
    assert [w["url"] for w in listed.json()] == ["https://followup.example/webhooks/jira"]
    changed = jira_site.session().put(
        made["self"],
        json={
            "name": "renamed",
            "url": "https://followup.example/webhooks/jira",
            "events": ["jira:issue_updated"],
        },
        timeout=10,
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["jira:issue_updated"]
    assert "secret" not in changed.text
    assert jira_site.session().delete(made["self"], timeout=10).status_code == 204
    assert jira_site.session().get(made["self"], timeout=10).status_code == 404
    refused = jira_site.session(ALICE).get(f"{jira_site.url}/rest/webhooks/1.0/webhook", timeout=10)
    assert refused.status_code == 403  # Jira administration only
    bad = jira_site.session().post(
        f"{jira_site.url}/rest/webhooks/1.0/webhook", json={"name": "x"}, timeout=10
    )
    assert bad.status_code == 400
    assert bad.json()["errorMessages"]


def test_confluence_webhooks_exist_on_data_center_only(
    jira_site: JiraSite, dc_jira_site: JiraSite
) -> None:
    """Confluence Cloud has no webhook API for an account; Data Center has one."""
    body = {
        "name": "pages",
        "url": "https://followup.example/webhooks/confluence",
        "events": ["page_updated"],
        "active": True,
        "configuration": {"secret": SECRET},
    }
    auth = (ADMIN.email, ADMIN.token or "")
    cloud = requests.post(
        f"{jira_site.url}/wiki/rest/api/webhooks", json=body, auth=auth, timeout=10
    )
    assert cloud.status_code == 404
    made = requests.post(
        f"{dc_jira_site.url}/wiki/rest/api/webhooks", json=body, auth=auth, timeout=10
    )
    assert made.status_code == 200, made.text
    assert made.json()["configuration"] == {}
    listed = requests.get(f"{dc_jira_site.url}/wiki/rest/api/webhooks", auth=auth, timeout=10)
    assert [w["url"] for w in listed.json()["results"]] == [body["url"]]


def test_issue_changes_are_delivered_signed_and_filtered_by_jql(
    jira_site: JiraSite, receiver: Receiver
) -> None:
    """Created, updated (with the changelog) and deleted, for issues the JQL filter
    matches only; each signed with the webhook's secret over the exact body."""
    _register(jira_site, receiver.url)
    key = _create(jira_site, "Managed", ["followup", "followup-1001"])
    _create(jira_site, "Not ours", [])
    jira_site.session().put(
        f"{jira_site.url}/rest/api/2/issue/{key}",
        json={"fields": {"duedate": "2027-01-02"}},
        timeout=10,
    ).raise_for_status()
    jira_site.session().delete(f"{jira_site.url}/rest/api/2/issue/{key}", timeout=10)
    _idle(jira_site)

    events = [(p["webhookEvent"], p["issue"]["key"]) for p in receiver.payloads()]
    assert events == [
        ("jira:issue_created", key),
        ("jira:issue_updated", key),
        ("jira:issue_deleted", key),
    ]
    updated = receiver.payloads()[1]
    assert updated["changelog"]["items"][0]["field"] == "duedate"
    assert updated["changelog"]["items"][0]["to"] == "2027-01-02"
    assert updated["issue"]["fields"]["labels"] == ["followup", "followup-1001"]
    assert updated["user"]["accountId"] == ADMIN.account_id
    ids = set()
    for headers, body in receiver.deliveries:
        assert signing.verify(SECRET, body, headers["X-Hub-Signature"])
        ids.add(headers["X-Atlassian-Webhook-Identifier"])
    assert len(ids) == 3


def test_faults_lose_and_duplicate_deliveries(jira_site: JiraSite, receiver: Receiver) -> None:
    """webhook_drop loses every delivery; webhook_duplicate sends each twice, as the
    same delivery (one identifier)."""
    _register(jira_site, receiver.url)
    jira_site.server.faults.configure(FaultConfig(webhook_drop=1.0))
    _create(jira_site, "Lost", ["followup"])
    _idle(jira_site)
    assert receiver.deliveries == []
    jira_site.server.faults.configure(FaultConfig(webhook_duplicate=1.0))
    _create(jira_site, "Twice", ["followup"])
    _idle(jira_site)
    assert len(receiver.deliveries) == 2
    first, second = (
        headers["X-Atlassian-Webhook-Identifier"] for headers, _ in receiver.deliveries
    )
    assert first == second


def test_faults_reorder_deliveries(jira_site: JiraSite, receiver: Receiver) -> None:
    """webhook_reorder = 3: three changes arrive newest first."""
    _register(jira_site, receiver.url)
    jira_site.server.faults.configure(FaultConfig(webhook_reorder=3))
    keys = [_create(jira_site, f"Item {n}", ["followup"]) for n in range(3)]
    _idle(jira_site)
    assert [p["issue"]["key"] for p in receiver.payloads()] == list(reversed(keys))


def test_webhook_fault_settings_are_checked() -> None:
    """Rates outside [0, 1] and negative delays are refused; a group size is taken."""
    with pytest.raises(FaultConfigError):
        FaultConfig.from_json({"webhook_drop": 2})
    with pytest.raises(FaultConfigError):
        FaultConfig.from_json({"webhook_delay_ms": -1})
    assert FaultConfig.from_json({"webhook_reorder": 2}).webhook_reorder == 2
