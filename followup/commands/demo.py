"""`make demo`: the real sync against a fresh embedded sandbox, start to finish.

1. start a sandbox seeded with the demo postmortems;
2. dry run: the reconciliation plan, nothing written;
3. apply it: tickets created, badges written onto the pages;
4. run again: nothing to do, zero writes;
5. move one ticket to Done through the Jira REST API, as a person would;
6. sync once more: the task is ticked and its badge turns green;
7. print where to look.

Everything goes over HTTP through the same adapters a real site gets, the person's
move to Done included; the request counts are the sandbox's own.
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

from rich.console import Console

from followup.commands.sites import from_settings
from followup.commands.sync import sync_command
from followup.core.queries import managed_tickets_jql
from followup.logconfig import configure_logging
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY
from followup.sandbox.server import RunningSandbox, open_state, start_in_thread
from followup.sandbox.state import Flavor
from followup.settings import load_settings

STATE = Path(".followup/demo.sqlite3")


def _stats(server: RunningSandbox) -> dict[str, int]:
    data = server.stats.snapshot()
    return {"requests": int(data["requests"]), "writes": int(data["writes"])}


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
        # The Payments team's follow-ups go to their own project; the rest to OPS.
        routing = '[{"space": "PAY", "project": "PAY", "components": ["payments-api"]}]'
        settings = load_settings(
            None,
            env={**env, "FOLLOWUP_SYNC__TIMEZONE": "UTC", "FOLLOWUP_ROUTING": routing},
        )

        def step(title: str, *, dry_run: bool = False) -> None:
            console.rule(f"[bold]{title}")
            before = _stats(server)
            result = sync_command(settings, today=DEMO_TODAY, dry_run=dry_run)
            after = _stats(server)
            console.print(
                f"[dim]{'failed; ' if result.failed else ''}"
                f"{after['requests'] - before['requests']} API "
                f"requests, {after['writes'] - before['writes']} writes[/dim]"
            )

        console.print(f"Sandbox (Jira + Confluence, {flavor}) at {url}, demo date {DEMO_TODAY}")
        step("1. Dry run: what followup would do", dry_run=True)
        step("2. Sync: create tickets, write badges")
        step("3. Sync again: nothing has changed, so nothing is written")

        # A person moves a ticket to Done, through the same adapters (Data Center
        # searches with /rest/api/2/search, Cloud with /rest/api/3/search/jql).
        person = from_settings(settings)
        try:
            ticket = next(
                iter(person.jira.search_tickets(managed_tickets_jql(settings.sync.label)))
            )
            person.jira.transition(ticket.key, ["Done"])
            page = person.confluence.get_page(ticket.prop.page if ticket.prop else "")
        finally:
            person.close()
        console.rule("[bold]4. Someone moves a ticket to Done in Jira")
        console.print(f"{ticket.key} “{ticket.summary}” -> Done")
        step("5. Sync: the page follows (task ticked, badge green)")

        console.rule("[bold]Where to look")
        console.print(
            "Browse the result (the sandbox keeps this state):\n"
            f"  .venv/bin/followup sandbox --state-path {STATE}"
            f"{'' if flavor == 'cloud' else ' --flavor datacenter'}\n"
            "then open\n"
            f"  http://127.0.0.1:8089/wiki/spaces/{page.space_key}/pages/{page.id}\n"
            f"  http://127.0.0.1:8089/browse/{ticket.key}\n"
            "  http://127.0.0.1:8089/   (every page and issue)"
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "160")
    sys.exit(main())
