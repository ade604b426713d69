"""What discovering the postmortems costs: requests and wall time of `find_pages` for
the default query (`type = page AND label = "postmortem"`), on Cloud through the CQL
search (25 pages with bodies a request) and through the v2 API (250 a request), and on
Data Center through the CQL search (50 a request), against a sandbox with latency.

    python bench/discovery_bench.py --pages 1000 --latency-ms 20 --repeat 5

Each sandbox (one per flavor) runs in its own process; the adapter runs here, one
discovery after another, interleaved so that a machine's changing load weighs on all
alike. Requests are the sandbox's own count by route; times are medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

QUERY = 'type = page AND label = "postmortem"'


@dataclass
class Sandbox:
    url: str
    flavor: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}{path}", json=body, timeout=600)
        response.raise_for_status()
        return response.json() if response.content else None


@contextlib.contextmanager
def sandbox(flavor: str = "cloud") -> Iterator[Sandbox]:
    """A sandbox of `flavor` in its own process, empty, on a free port."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "url"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "followup.sandbox.server",
                "--port",
                "0",
                "--flavor",
                flavor,
                "--seed",
                "empty",
                "--state-path",
                ":memory:",
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start")
                time.sleep(0.05)
            yield Sandbox(ready.read_text(encoding="utf-8").strip(), flavor)
        finally:
            process.terminate()
            process.wait(10)


def _adapter(box: Sandbox, *, v2: bool) -> Any:
    from followup.adapters import ConfluenceAdapter, RateLimiter

    env = box.control("GET", "/_sandbox/env")
    return ConfluenceAdapter(
        env["FOLLOWUP_CONFLUENCE__URL"],
        env["FOLLOWUP_CONFLUENCE__EMAIL"],
        env["FOLLOWUP_CONFLUENCE__TOKEN"],
        cloud=v2,
        limiter=RateLimiter(100_000.0),
    )


def discover(box: Sandbox, *, v2: bool) -> tuple[float, int, dict[str, int]]:
    """One discovery: wall seconds, pages found, requests by route."""
    adapter = _adapter(box, v2=v2)
    box.control("POST", "/_sandbox/stats/reset")
    try:
        start = time.perf_counter()
        found = sum(1 for _ in adapter.find_pages(QUERY))
        wall = time.perf_counter() - start
    finally:
        adapter.close()
    routes: dict[str, int] = box.control("GET", "/_sandbox/stats")["by_route"]
    return wall, found, routes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from followup.logconfig import configure_logging

    configure_logging("warning", stream=sys.stderr)
    modes = {
        "Cloud, CQL search": ("cloud", False),
        "Cloud, v2 by label": ("cloud", True),
        "Data Center, CQL search": ("datacenter", False),
    }
    results: dict[str, dict[str, Any]] = {}
    with sandbox("cloud") as cloud, sandbox("datacenter") as dc:
        boxes = {"cloud": cloud, "datacenter": dc}
        for box in boxes.values():
            box.control(
                "POST", "/_sandbox/seed", {"pages": args.pages, "items_per_page": 2, "seed": 1}
            )
            box.control("PUT", "/_sandbox/faults", {"latency_ms": args.latency_ms})
        walls: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.repeat):
            for name, (flavor, v2) in modes.items():
                wall, found, routes = discover(boxes[flavor], v2=v2)
                if found != args.pages:
                    raise RuntimeError(f"{name}: found {found} pages of {args.pages}")
                walls[name].append(wall)
                results[name] = {"routes": routes, "requests": sum(routes.values())}
    print(
        f"discovery of {args.pages} pages with bodies, {args.latency_ms} ms latency, "
        f"median of {args.repeat}"
    )
    print(f"{'mode':<26} {'requests':>8} {'wall s':>8}  routes")
    for name in modes:
        res = results[name]
        res["wall_s"] = statistics.median(walls[name])
        res["walls_s"] = walls[name]
        routes = ", ".join(f"{r} x{n}" for r, n in sorted(res["routes"].items()))
        print(f"{name:<26} {res['requests']:>8} {res['wall_s']:>8.3f}  {routes}")
    print(
        f"formula: CQL on Cloud ceil(P/25) = {math.ceil(args.pages / 25)}, "
        f"v2 ceil(P/250) + 2 = {math.ceil(args.pages / 250) + 2}, "
        f"CQL on Data Center ceil(P/50) = {math.ceil(args.pages / 50)}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
