"""The straightforward per-item sync that `bench/sync_bench.py` compares followup with.

It is what a first version of followup would look like: correct enough for a small
site, written the obvious way, one object at a time, over plain `requests`:

- discover the postmortem pages with a CQL search, ids only (50 a page, the cap);
- one GET per page, for its body and version;
- one JQL search per item: by key when the page shows the item's ticket, else the
  page's `followup-<pageId>` tickets, matched by their `followup` property;
- one create per item that has no ticket (`POST /rest/api/2/issue`);
- one update per ticket whose summary, due date or assignee differs from the page
  (the page wins: there is no sync base, so it cannot tell which side changed);
- one page write per page that gained ticket references.

Sequential, no bulk requests, no pool. It uses followup's own storage-format reader
and renderer, so that the work done on the pages is the same and only the way of
talking to the sites differs. It takes no leases, writes no badges, resolves no
plain-text owners and makes no remote links: it does less than followup, so the
comparison flatters it.

    python bench/baseline.py --url http://127.0.0.1:8089   # once, against a sandbox
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests

from followup.core.model import ActionItem, ItemChange
from followup.core.storage_format import extract, render

__all__ = ["BaselineResult", "run_baseline"]

PROJECT = "OPS"
LABEL = "followup"
CQL = 'type = page AND label = "postmortem"'
SUMMARY_MAX = 255


@dataclass
class BaselineResult:
    """What one baseline run did."""

    pages: int = 0
    items: int = 0
    created: int = 0
    updated: int = 0
    pages_written: int = 0
    errors: list[str] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "items": self.items,
            "create": self.created,
            "update": self.updated,
            "page_writes": self.pages_written,
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
            "requests": dict(self.requests),
        }


class _Client:
    """One `requests.Session` on the site, counting what it sends."""

    def __init__(self, url: str, email: str, token: str, result: BaselineResult) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (email, token)
        self.session.headers["Accept"] = "application/json"
        self.result = result

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self.result.requests[method] += 1
        response = self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def _page_ids(client: _Client) -> Iterator[str]:
    data = client.json("GET", "/wiki/rest/api/content/search", params={"cql": CQL, "limit": 50})
    while True:
        for result in data.get("results") or []:
            yield str(result["id"])
        nxt = (data.get("_links") or {}).get("next")
        if not nxt:
            return
        data = client.json("GET", f"/wiki{nxt}")


def _summary(text: str) -> str:
    return " ".join(text.split())[:SUMMARY_MAX]


def _find_ticket(client: _Client, item: ActionItem) -> dict[str, Any] | None:
    """The item's ticket, by one JQL search."""
    if item.ticket:
        jql = f'key = "{item.ticket}"'
    else:
        jql = f'labels = "{LABEL}-{item.page_id}" ORDER BY key ASC'
    data = client.json(
        "GET",
        "/rest/api/3/search/jql",
        params={
            "jql": jql,
            "fields": "summary,assignee,duedate,status",
            "properties": LABEL,
            "maxResults": 100,
        },
    )
    for issue in data.get("issues") or []:
        prop = (issue.get("properties") or {}).get(LABEL) or {}
        if item.ticket or prop.get("item") == item.key:
            found: dict[str, Any] = issue
            return found
    return None


def _assignee(item: ActionItem) -> str | None:
    return item.owner.value if item.owner and item.owner.kind == "account_id" else None


def _create(client: _Client, item: ActionItem) -> str | None:
    fields: dict[str, Any] = {
        "project": {"key": PROJECT},
        "issuetype": {"name": "Task"},
        "summary": _summary(item.text),
        "labels": [LABEL, f"{LABEL}-{item.page_id}"],
    }
    if item.due:
        fields["duedate"] = item.due.isoformat()
    if _assignee(item):
        fields["assignee"] = {"accountId": _assignee(item)}
    body = {
        "fields": fields,
        "properties": [{"key": LABEL, "value": {"item": item.key, "page": item.page_id}}],
    }
    response = client.call("POST", "/rest/api/2/issue", json=body)
    if response.status_code >= 400:
        client.result.errors.append(f"create {item.key}: {response.status_code} {response.text}")
        return None
    client.result.created += 1
    return str(response.json()["key"])


def _update(client: _Client, item: ActionItem, issue: dict[str, Any]) -> None:
    """Push what the page says onto the ticket, where it differs."""
    current = issue.get("fields") or {}
    fields: dict[str, Any] = {}
    if current.get("summary") != _summary(item.text):
        fields["summary"] = _summary(item.text)
    due = item.due.isoformat() if item.due else None
    if due and current.get("duedate") != due:
        fields["duedate"] = due
    assignee = _assignee(item)
    if assignee and (current.get("assignee") or {}).get("accountId") != assignee:
        fields["assignee"] = {"accountId": assignee}
    if not fields:
        return
    response = client.call("PUT", f"/rest/api/2/issue/{issue['key']}", json={"fields": fields})
    if response.status_code >= 400:
        client.result.errors.append(f"update {issue['key']}: {response.status_code}")
    else:
        client.result.updated += 1


def _sync_page(client: _Client, page_id: str) -> None:
    page = client.json(
        "GET", f"/wiki/rest/api/content/{page_id}", params={"expand": "body.storage,version"}
    )
    body = str(page["body"]["storage"]["value"])
    items = extract(body, page_id).items
    client.result.pages += 1
    client.result.items += len(items)
    new_refs: dict[str, ItemChange] = {}
    for item in items:
        issue = _find_ticket(client, item)
        if issue is None:
            key = _create(client, item)
            if key is not None and not item.ticket:
                new_refs[item.key] = ItemChange(ticket=key)
        else:
            _update(client, item, issue)
            if not item.ticket:
                new_refs[item.key] = ItemChange(ticket=str(issue["key"]))
    if not new_refs:
        return
    payload = {
        "id": page_id,
        "type": "page",
        "title": page["title"],
        "version": {"number": int(page["version"]["number"]) + 1, "minorEdit": True},
        "body": {
            "storage": {"value": render(body, page_id, new_refs), "representation": "storage"}
        },
    }
    response = client.call("PUT", f"/wiki/rest/api/content/{page_id}", json=payload)
    if response.status_code >= 400:
        client.result.errors.append(f"write page {page_id}: {response.status_code}")
    else:
        client.result.pages_written += 1


def run_baseline(url: str, email: str, token: str, *, today: date | None = None) -> BaselineResult:
    """One full sync of every postmortem page, the per-item way. `today` is unused (no
    badges), accepted so that both implementations are driven alike."""
    result = BaselineResult()
    client = _Client(url, email, token, result)
    try:
        for page_id in list(_page_ids(client)):
            _sync_page(client, page_id)
    finally:
        client.session.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the sandbox (or site) base URL")
    args = parser.parse_args()
    env = requests.get(f"{args.url.rstrip('/')}/_sandbox/env", timeout=10).json()
    result = run_baseline(args.url, env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"])
    print(json.dumps(result.to_json(), indent=2))


if __name__ == "__main__":
    main()
