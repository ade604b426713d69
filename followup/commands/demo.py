"""`make demo`: the real sync against a fresh embedded sandbox, start to finish.

1. start a sandbox seeded with the demo postmortems;
2. dry run: the reconciliation plan, nothing written;
3. apply it: tickets created, badges written onto the pages;
4. run again: nothing to do, zero writes;
5. move one ticket to Done through the Jira REST API, as a person would;
6. sync once more: the task is ticked and its badge turns green;
7. print where to look.

Everything goes over HTTP through the same adapters a real site gets.
`python -m followup.commands.demo --flavor datacenter` runs it against a sandbox acting as
Jira and Confluence Data Center (`make demo FLAVOR=datacenter`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import requests
from rich.console import Console

from followup.commands.sync import sync_command
from followup.logconfig import configure_logging
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY
from followup.sandbox.server import open_state, start_in_thread
from followup.sandbox.state import Flavor
from followup.settings import load_settings

STATE = Path(".followup/demo.sqlite3")


def _stats(url: str) -> dict[str, int]:
    data = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return {"requests": int(data["requests"]), "writes": int(data["writes"])}


def _done_transition(url: str, auth: tuple[str, str], key: str) -> str:
    r = requests.get(f"{url}/rest/api/2/issue/{key}/transitions", auth=auth, timeout=10)
    r.raise_for_status()
    tid = next(t["id"] for t in r.json()["transitions"] if t["to"]["name"] == "Done")
    r = requests.post(
        f"{url}/rest/api/2/issue/{key}/transitions",
        json={"transition": {"id": tid}},
        auth=auth,
        timeout=10,
    )
    r.raise_for_status()
    return key


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m followup.commands.demo", description="followup against a fresh sandbox."
    )
    parser.add_argument(
        "--flavor",
        choices=("cloud", "datacenter"),
        default="cloud",
        help="the sandbox acts as Jira and Confluence Cloud (default) or Data Center",
    )
    flavor: Flavor = "datacenter" if parser.parse_args(argv).flavor == "datacenter" else "cloud"
    console = Console()
    configure_logging("warning")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{STATE}{suffix}").unlink()
    state = open_state(str(STATE), flavor=flavor, seed="demo")
    server = start_in_thread(state)
    url = server.url
    try:
        env = control.env_for(state, url)
        settings = load_settings(None, env={**env, "FOLLOWUP_SYNC__TIMEZONE": "UTC"})
        auth = (env["FOLLOWUP_JIRA__EMAIL"], env["FOLLOWUP_JIRA__TOKEN"])

        def step(title: str, **kw: object) -> int:
            console.rule(f"[bold]{title}")
            before = _stats(url)
            code = sync_command(settings, today=DEMO_TODAY, **kw)  # type: ignore[arg-type]
            after = _stats(url)
            console.print(
                f"[dim]exit code {code}; {after['requests'] - before['requests']} API "
                f"requests, {after['writes'] - before['writes']} writes[/dim]"
            )
            return code

        console.print(f"Sandbox (Jira + Confluence, {flavor}) at {url}, demo date {DEMO_TODAY}")
        step("1. Dry run: what followup would do", dry_run=True)
        step("2. Sync: create tickets, write badges")
        step("3. Sync again: nothing has changed, so nothing is written")

        # Data Center has no search/jql: it searches with /rest/api/2/search.
        search = "/rest/api/3/search/jql" if flavor == "cloud" else "/rest/api/2/search"
        r = requests.get(
            f"{url}{search}",
            params={"jql": 'labels = "followup" ORDER BY key ASC', "fields": "summary"},
            auth=auth,
            timeout=10,
        )
        r.raise_for_status()
        issue = r.json()["issues"][0]
        key = _done_transition(url, auth, issue["key"])
        console.rule("[bold]4. Someone moves a ticket to Done in Jira")
        console.print(f"{key} “{issue['fields']['summary']}” -> Done")
        step("5. Sync: the page follows (task ticked, badge green)")

        page_id = _page_of(url, auth, key)
        console.rule("[bold]Where to look")
        console.print(
            "Browse the result (the sandbox keeps this state):\n"
            f"  .venv/bin/followup sandbox --state-path {STATE}"
            f"{'' if flavor == 'cloud' else ' --flavor datacenter'}\n"
            "then open\n"
            f"  http://127.0.0.1:8089/wiki/spaces/{page_id[1]}/pages/{page_id[0]}\n"
            f"  http://127.0.0.1:8089/browse/{key}\n"
            "  http://127.0.0.1:8089/   (every page and issue)"
        )
    finally:
        server.stop()
    return 0


def _page_of(url: str, auth: tuple[str, str], key: str) -> tuple[str, str]:
    r = requests.get(
        f"{url}/rest/api/2/issue/{key}",
        params={"properties": "followup", "fields": "labels"},
        auth=auth,
        timeout=10,
    )
    r.raise_for_status()
    page_id = str(r.json()["properties"]["followup"]["page"])
    r = requests.get(
        f"{url}/wiki/rest/api/content/{page_id}", params={"expand": "space"}, auth=auth, timeout=10
    )
    r.raise_for_status()
    return page_id, str(r.json()["space"]["key"])


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "160")
    sys.exit(main())
