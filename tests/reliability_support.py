"""What the reliability tests share: a demo site to sync, and its state read back through
the Jira and Confluence APIs in a form two runs can be compared by.

Ticket keys depend on the order tickets were created in, so the state names every
ticket by the action item its `followup` property says it tracks, and every ticket
reference on a page by that same item. Two sites whose states are equal show the same
tickets with the same fields, the same pages with the same items, badges, ticks,
owners and due dates, and hold no lease.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests

from followup.adapters import Adapters
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.core.storage_format import extract
from followup.ports import ConfluencePort, JiraPort
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings
from followup.sync.engine import Engine, RunResult
from followup.sync.leases import LEASE_KEY

REPO = Path(__file__).resolve().parents[1]
TODAY = DEMO_TODAY


@dataclass(frozen=True)
class TicketState:
    summary: str
    assignee: str | None
    due: str | None
    status: str
    labels: tuple[str, ...]
    links: tuple[str, ...]  # remote link global ids


@dataclass(frozen=True)
class ItemState:
    key: str
    text: str
    ticket: str | None  # the item the referenced ticket tracks (or the raw key)
    badge: tuple[str, str] | None
    done: bool
    owner: str | None
    due: date | None


@dataclass(frozen=True)
class SiteState:
    """Everything a person could see, with ticket keys replaced by the items they track."""

    tickets: Mapping[str, TicketState]
    duplicates: Mapping[str, int]  # item -> number of tickets claiming it, when > 1
    issues: int  # every issue of the project, managed or not
    pages: Mapping[str, tuple[tuple[str, str] | None, tuple[ItemState, ...]]]
    leases_held: tuple[str, ...]

    def diff(self, other: SiteState) -> str:
        """A readable account of what differs (for assertion messages)."""
        lines: list[str] = []
        for item in sorted(set(self.tickets) | set(other.tickets)):
            mine, theirs = self.tickets.get(item), other.tickets.get(item)
            if mine != theirs:
                lines.append(f"ticket {item}: {mine} != {theirs}")
        for page in sorted(set(self.pages) | set(other.pages)):
            mine_p, theirs_p = self.pages.get(page), other.pages.get(page)
            if mine_p == theirs_p:
                continue
            if mine_p is None or theirs_p is None:
                lines.append(f"page {page}: {mine_p} != {theirs_p}")
                continue
            if mine_p[0] != theirs_p[0]:
                lines.append(f"page {page} summary badge: {mine_p[0]} != {theirs_p[0]}")
            for a, b in zip(mine_p[1], theirs_p[1], strict=False):
                if a != b:
                    lines.append(f"page {page}: {a} != {b}")
            if len(mine_p[1]) != len(theirs_p[1]):
                lines.append(f"page {page}: {len(mine_p[1])} items != {len(theirs_p[1])}")
        for name in ("duplicates", "issues", "leases_held"):
            if getattr(self, name) != getattr(other, name):
                lines.append(f"{name}: {getattr(self, name)} != {getattr(other, name)}")
        return "\n".join(lines)


@dataclass
class Site:
    """A sandbox to sync against and read back from, as the demo admin."""

    server: RunningSandbox
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, server: RunningSandbox) -> Site:
        env = control.env_for(server.state, server.url)
        return cls(server, load_settings(None, env=env), env)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def flavor(self) -> str:
        return self.server.state.flavor

    @property
    def auth(self) -> tuple[str, str]:
        return (self.env["FOLLOWUP_JIRA__EMAIL"], self.env["FOLLOWUP_JIRA__TOKEN"])

    # -- running followup ---------------------------------------------------------

    def engine(
        self,
        *,
        run_id: str | None = None,
        sleep: Callable[[float], None] = lambda s: None,
        clock: Callable[[], datetime] | None = None,
        wrap_jira: Callable[[JiraPort], JiraPort] | None = None,
        wrap_confluence: Callable[[ConfluencePort], ConfluencePort] | None = None,
        on_adapters: Callable[[Adapters], None] | None = None,
        **sync_settings: Any,
    ) -> tuple[Engine, Callable[[], None]]:
        """An engine over real adapters (and a function that closes them)."""
        st = self.settings.model_copy(deep=True)
        for name, value in sync_settings.items():
            setattr(st.sync, name, value)
        adapters = from_settings(st, sleep=sleep)
        if on_adapters is not None:
            on_adapters(adapters)
        jira: JiraPort = adapters.jira
        confluence: ConfluencePort = adapters.confluence
        if wrap_jira is not None:
            jira = wrap_jira(jira)
        if wrap_confluence is not None:
            confluence = wrap_confluence(confluence)
        kw: dict[str, Any] = {"run_id": run_id, "sleep": sleep}
        if clock is not None:
            kw["clock"] = clock
        return build_engine(st, jira, confluence, **kw), adapters.close

    def sync(self, *, dry_run: bool = False, today: date = TODAY, **kw: Any) -> RunResult:
        engine, close = self.engine(**kw)
        try:
            return engine.run(today=today, dry_run=dry_run)
        finally:
            close()

    def cli_env(self, **extra: str) -> dict[str, str]:
        """The environment for `python -m followup` against this site: the sandbox's
        FOLLOWUP_* variables and nothing of the machine's own FOLLOWUP_* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
        env.update(self.env)
        env.update(extra)
        return env

    def cli(self, *args: str, env: Mapping[str, str] | None = None, **popen: Any) -> Any:
        """Start `python -m followup <args>` (not waiting for it)."""
        return subprocess.Popen(
            [sys.executable, "-m", "followup", *args],
            env=dict(env) if env is not None else self.cli_env(),
            cwd=REPO,
            stdout=popen.pop("stdout", subprocess.PIPE),
            stderr=popen.pop("stderr", subprocess.PIPE),
            text=True,
            **popen,
        )

    # -- faults and counters ------------------------------------------------------

    def set_faults(self, **config: Any) -> None:
        r = requests.put(f"{self.url}/_sandbox/faults", json=config, timeout=10)
        assert r.ok, r.text

    def clear_faults(self) -> None:
        self.set_faults()

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()
        return data

    def writes(self) -> int:
        return int(self.stats()["writes"])

    # -- reading back -------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.url}{path}", params=params, auth=self.auth, timeout=30)
        r.raise_for_status()
        return r.json()

    def post_json(self, path: str, body: Any) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, auth=self.auth, timeout=120)

    def put_json(self, path: str, body: Any) -> requests.Response:
        return requests.put(f"{self.url}{path}", json=body, auth=self.auth, timeout=30)

    def page(self, page_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get(
            f"/wiki/rest/api/content/{page_id}", expand="body.storage,version"
        )
        return data

    def body(self, page_id: str) -> str:
        return str(self.page(page_id)["body"]["storage"]["value"])

    def put_page(self, page_id: str, body: str, *, version: int | None = None) -> int:
        """Write the page as a person would; the HTTP status (409 when stale)."""
        cur = self.page(page_id)
        number = (version if version is not None else cur["version"]["number"]) + 1
        r = self.put_json(
            f"/wiki/rest/api/content/{page_id}",
            {
                "id": page_id,
                "type": "page",
                "title": cur["title"],
                "version": {"number": number},
                "body": {"storage": {"value": body, "representation": "storage"}},
            },
        )
        return r.status_code

    def human_edit(self, page_id: str, edit: Callable[[str], str], attempts: int = 20) -> None:
        """Read, change and write the page like an editor that retries on a conflict."""
        for _ in range(attempts):
            cur = self.page(page_id)
            status = self.put_page(
                page_id, edit(cur["body"]["storage"]["value"]), version=cur["version"]["number"]
            )
            if status == 200:
                return
            assert status == 409, status
        raise AssertionError(f"could not edit page {page_id}")

    def page_ids(self) -> list[str]:
        ids: list[str] = []
        url: str | None = f"{self.url}/wiki/rest/api/content/search"
        params: dict[str, Any] | None = {"cql": "type = page", "limit": 100}
        while url is not None:
            r = requests.get(url, params=params, auth=self.auth, timeout=30)
            r.raise_for_status()
            data = r.json()
            ids.extend(str(p["id"]) for p in data["results"])
            nxt = data.get("_links", {}).get("next")
            url, params = (f"{data['_links']['base']}{nxt}" if nxt else None), None
        return sorted(ids)

    def issues(self, jql: str = "project = OPS ORDER BY key ASC") -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "jql": jql,
            "fields": "summary,assignee,duedate,status,labels",
            "properties": "followup",
            "maxResults": 100,
        }
        if self.flavor == "datacenter":  # no search/jql there: the v2 search, by offset
            start = 0
            while True:
                data = self.get("/rest/api/2/search", startAt=start, **params)
                yield from data["issues"]
                start += len(data["issues"])
                if not data["issues"] or start >= data["total"]:
                    return
        while True:
            data = self.get("/rest/api/3/search/jql", **params)
            yield from data["issues"]
            if data.get("isLast", True):
                return
            params["nextPageToken"] = data["nextPageToken"]

    def lease(self, page_id: str) -> dict[str, Any] | None:
        r = requests.get(
            f"{self.url}/wiki/rest/api/content/{page_id}/property/{LEASE_KEY}",
            auth=self.auth,
            timeout=10,
        )
        if r.status_code == 404:
            return None
        r.raise_for_status()
        value: dict[str, Any] = r.json()["value"]
        return value

    def state(self, *, links: bool = True, now: datetime | None = None) -> SiteState:
        """The state; `leases_held` lists the pages leased by a live run at `now`
        (default: the real time), since an expired lease is free to take."""
        now = now or datetime.now(UTC)
        issues = list(self.issues())
        item_of: dict[str, str] = {}
        claims: Counter[str] = Counter()
        tickets: dict[str, TicketState] = {}
        for issue in issues:
            prop = (issue.get("properties") or {}).get("followup")
            if not isinstance(prop, dict) or not prop.get("item"):
                continue
            item = str(prop["item"])
            item_of[issue["key"]] = item
            claims[item] += 1
            f = issue["fields"]
            link_ids: tuple[str, ...] = ()
            if links:
                link_ids = tuple(
                    sorted(
                        str(link.get("globalId"))
                        for link in self.get(f"/rest/api/2/issue/{issue['key']}/remotelink")
                    )
                )
            assignee = f.get("assignee") or {}
            tickets[item] = TicketState(
                summary=f["summary"],
                assignee=assignee.get("accountId") or assignee.get("name"),
                due=f.get("duedate"),
                status=f["status"]["name"],
                labels=tuple(sorted(f.get("labels") or ())),
                links=link_ids,
            )
        pages: dict[str, tuple[tuple[str, str] | None, tuple[ItemState, ...]]] = {}
        held: list[str] = []
        for page_id in self.page_ids():
            ex = extract(self.body(page_id), page_id)
            items = tuple(
                ItemState(
                    key=i.key,
                    text=i.text,
                    ticket=item_of.get(i.ticket, i.ticket) if i.ticket else None,
                    badge=(i.badge.title, str(i.badge.colour)) if i.badge else None,
                    done=i.done,
                    owner=i.owner.ref if i.owner else None,
                    due=i.due,
                )
                for i in ex.items
            )
            badge = ex.summary_badge
            pages[page_id] = ((badge.title, str(badge.colour)) if badge else None, items)
            lease = self.lease(page_id)
            if (
                lease is not None
                and not lease.get("released")
                and datetime.fromisoformat(str(lease["expires"])) > now
            ):
                held.append(page_id)
        return SiteState(
            tickets=tickets,
            duplicates={k: n for k, n in claims.items() if n > 1},
            issues=len(issues),
            pages=pages,
            leases_held=tuple(held),
        )


def fresh_demo(server: RunningSandbox) -> Site:
    """The server back at its flavor's demo seed, no faults, zeroed counters."""
    from sandbox_support import reset_server

    reset_server(server)
    return Site.of(server)


def assert_converged(
    site: Site, expected: SiteState, *, context: str = "", now: datetime | None = None
) -> None:
    """The site shows exactly the faultless state (no lease live at `now`), and one
    more run has nothing to do."""
    got = site.state(now=now)
    assert got == expected, f"{context}\n{got.diff(expected)}"
    again = site.sync()
    assert again.actions == [], (context, [a.to_json() for a in again.actions])


def now_utc() -> datetime:
    return datetime.now(UTC)


NEW_TASK = (
    "<ac:task><ac:task-id>90</ac:task-id><ac:task-status>incomplete</ac:task-status>"
    "<ac:task-body>Page the database team on replica lag over 5 minutes</ac:task-body></ac:task>"
)


def ticket_on_page(site: Site, page_id: str, index: int) -> str:
    """The ticket key the page shows for its `index`-th item."""
    key = extract(site.body(page_id), page_id).items[index].ticket
    assert key is not None
    return key


def transition(site: Site, key: str, to: str) -> None:
    ts = site.get(f"/rest/api/2/issue/{key}/transitions")["transitions"]
    tid = next(t["id"] for t in ts if t["to"]["name"] == to)
    r = requests.post(
        f"{site.url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": tid}},
        auth=site.auth,
        timeout=10,
    )
    r.raise_for_status()


def make_changes(site: Site) -> None:
    """What people do between two runs, on both sides: a ticket moved to Done and a due
    date changed in Jira; a task ticked and a task added on the pages."""
    transition(site, ticket_on_page(site, "98000004", 0), "Done")
    key = ticket_on_page(site, "98000004", 1)
    assert site.put_json(f"/rest/api/2/issue/{key}", {"fields": {"duedate": "2027-01-15"}}).ok

    def tick(body: str) -> str:
        return body.replace(
            "<ac:task-status>incomplete</ac:task-status>",
            "<ac:task-status>complete</ac:task-status>",
            1,
        )

    site.human_edit("98000001", tick)
    site.human_edit(
        "98000005", lambda b: b.replace("</ac:task-list>", NEW_TASK + "</ac:task-list>", 1)
    )
