"""What routing costs a run: requests and wall time of a steady-state sync of the demo
site with and without `[[routing]]` (two rules, the priority table and incident links),
against the sandbox in this process, on Cloud and Data Center.

A steady-state run (the second sync: nothing to do) is what every scheduled run is;
routing adds its checks against Jira's create metadata (one request per project and
one per project and issue type) and the issue link types, whatever the number of
pages. Runs are interleaved, and the median of `--runs` is printed.

    python bench/routing_bench.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date

from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.logconfig import configure_logging
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY
from followup.sandbox.server import RunningSandbox, open_state, start_in_thread
from followup.settings import load_settings

RULES = [
    {"label": "security", "project": "SEC", "fields": {"Risk rating": "High"}},
    {"space": "PAY", "project": "PAY", "components": ["payments-api"], "fields": {"Source": "pm"}},
]


def _env(server: RunningSandbox, routed: bool) -> dict[str, str]:
    env = control.env_for(server.state, server.url)
    if routed:
        env["FOLLOWUP_ROUTING"] = json.dumps(RULES)
        env["FOLLOWUP_PRIORITIES__MAP"] = json.dumps({"P1": "Highest"})
        env["FOLLOWUP_INCIDENT__LINK_TYPE"] = "Relates"
        env["FOLLOWUP_INCIDENT__PROJECTS"] = "INC"
    return env


def _run(server: RunningSandbox, env: dict[str, str], today: date) -> tuple[int, float]:
    settings = load_settings(None, env=env)
    before = server.stats.snapshot()["requests"]
    started = time.perf_counter()
    adapters = from_settings(settings)
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=today, dry_run=False
        )
    finally:
        adapters.close()
    wall = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"a run failed: {result.failures}")
    return int(server.stats.snapshot()["requests"]) - before, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    configure_logging("warning", stream=sys.stderr)
    for flavor in ("cloud", "datacenter"):
        servers = {
            routed: start_in_thread(open_state(":memory:", flavor=flavor, seed="demo"))
            for routed in (False, True)
        }
        samples: dict[bool, list[tuple[int, float]]] = {False: [], True: []}
        for routed, server in servers.items():
            _run(server, _env(server, routed), DEMO_TODAY)  # the first run creates
        for _ in range(args.runs):
            for routed, server in servers.items():
                samples[routed].append(_run(server, _env(server, routed), DEMO_TODAY))
        for routed in (False, True):
            requests = statistics.median(n for n, _ in samples[routed])
            wall = statistics.median(w for _, w in samples[routed]) * 1000
            name = "with routing" if routed else "without"
            print(
                f"{flavor:<10} steady state {name:<13} requests {requests:4.0f}  "
                f"wall median {wall:6.1f} ms  ({args.runs} runs)"
            )
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
