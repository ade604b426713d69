"""How many 429s a first run meets under Atlassian Cloud's published rate limits, with
and without the per-endpoint and per-issue budgets (`followup.adapters.ratelimits`).

    python bench/ratelimit_bench.py --pages 1000 --items 5 --latency-ms 20 --repeat 1

The sandbox runs in its own process with the `rate_limits` fault on (per endpoint and
method, GET/POST 100 requests/s and PUT/DELETE 50/s; per Jira issue 20 writes in 2 s
and 100 in 30 s; `docs/sandbox.md`) and `latency_ms` on every request. Each run is a
first run (every item needs a ticket) in a fresh process with the default settings
(`concurrency` 4, `rate_limit` 200), on a freshly seeded site; the two modes
alternate. Reported per run: the 429s the sandbox sent (by the client's count too),
the retries, the seconds the budgets held requests back, the requests, the wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import requests
from discovery_bench import Sandbox, sandbox  # bench/ is on sys.path

TODAY = date(2026, 11, 26)  # the synthetic dataset's "today"
MODES = ("without budgets", "with budgets")


def worker(url: str, keep_limits: bool) -> None:
    """One first run in this process; what it met as one JSON line."""
    from followup.adapters import CLOUD_LIMITS
    from followup.commands.sites import from_settings
    from followup.commands.sync import build_engine
    from followup.logconfig import configure_logging
    from followup.settings import load_settings

    configure_logging("error", stream=sys.stderr)
    env = requests.get(f"{url}/_sandbox/env", timeout=30).json()
    settings = load_settings(None, env=env)
    adapters = from_settings(settings, cloud_limits=CLOUD_LIMITS if keep_limits else None)
    start = time.perf_counter()
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=TODAY, dry_run=False
        )
    finally:
        adapters.close()
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "wall_s": wall,
                "client_429s": adapters.stats.requests(status=429),
                "retries": adapters.stats.retries(),
                "held_s": adapters.pacer.waited if adapters.pacer else 0.0,
                "failed": len(result.failures) + len(result.errors),
                "counts": result.counts(),
            }
        )
    )


def run(box: Sandbox, args: argparse.Namespace, mode: str, seed: int) -> dict[str, Any]:
    box.control("POST", "/_sandbox/reset", {"seed": "empty"})
    box.control(
        "POST", "/_sandbox/seed", {"pages": args.pages, "items_per_page": args.items, "seed": seed}
    )
    box.control("PUT", "/_sandbox/faults", {"latency_ms": args.latency_ms, "rate_limits": True})
    box.control("POST", "/_sandbox/stats/reset")
    command = [sys.executable, __file__, "--worker", box.url]
    if mode == MODES[1]:
        command.append("--keep-limits")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    stats = box.control("GET", "/_sandbox/stats")
    report["server_429s"] = stats["faults"]["429"]
    report["requests"] = stats["requests"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--keep-limits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.keep_limits)
        return
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with sandbox("cloud") as box:
        for repetition in range(args.repeat):
            for mode in MODES:
                runs[mode].append(run(box, args, mode, seed=repetition + 1))
    print(
        f"first run, {args.pages} pages x {args.items} items, {args.latency_ms} ms latency, "
        f"emulated Cloud limits; median of {args.repeat}"
    )
    print(
        f"{'mode':<16} {'429s':>6} {'retries':>8} {'held s':>7} {'requests':>9} "
        f"{'wall s':>7} {'failed':>6}"
    )
    for mode in MODES:
        reports = runs[mode]

        def median(key: str, reports: list[dict[str, Any]] = reports) -> float:
            return statistics.median(float(r[key]) for r in reports)

        print(
            f"{mode:<16} {median('server_429s'):>6.0f} {median('retries'):>8.0f} "
            f"{median('held_s'):>7.1f} {median('requests'):>9.0f} {median('wall_s'):>7.1f} "
            f"{median('failed'):>6.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
