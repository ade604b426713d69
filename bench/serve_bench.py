"""How fast `followup serve` follows Jira, and how many events it takes per second,
against a sandbox with latency (20 ms per request by default).

    python bench/serve_bench.py --latency-ms 20 --changes 30 --events 3000

The sandbox runs in its own process (`python -m followup.sandbox.server`); the
receiver runs in this one (`followup.commands.serve.start_in_thread`), registered on
the sandbox's Jira as `followup serve --register` registers it, so events come as
the sandbox's signed webhook deliveries.

1. **event -> page**: the demo seed synced once; then `--changes` times, a ticket is
   moved to Done (or back to To Do) through Jira's API, and the clock runs from the
   moment Jira answered (the change made, its webhook queued) until the page run that
   wrote the page has finished (page written, lease released). The receiver's own
   histogram (first event received -> run done) is shown beside it.
2. **events/s**: `--events` signed deliveries about tickets of `--pages` different
   pages (a synthetic seed, one ticket per page moved), posted by `--senders`
   threads as fast as the receiver answers: the rate they are answered 202 at, and
   then the time until every page run they asked for is done (runs/s).

Figures are medians and 95th percentiles of wall time on this machine; they say
nothing about a real site, whose latency and rate limits dominate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from followup.commands.serve import RunningServe, start_in_thread
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine, today_in
from followup.commands.webhooks import register_webhooks
from followup.logconfig import configure_logging
from followup.serve import signing
from followup.settings import Settings, load_settings

SECRET = "bench-webhook-secret-0123456789abcdef"
# One sender: posts its share of the signed bodies, one after another, and prints
# when it sent the first and finished the last (wall clock) and the statuses.
SENDER = """
import json, sys, time, requests
url, path = sys.argv[1], sys.argv[2]
share = json.load(open(path, encoding="utf-8"))
session = requests.Session()
codes = []
first = time.time()
for body, signature in share:
    headers = {"X-Hub-Signature": signature}
    codes.append(session.post(url, data=body.encode(), headers=headers, timeout=60).status_code)
print(json.dumps({"first": first, "last": time.time(), "codes": codes}))
"""
PAGE = "98000001"


@contextmanager
def sandbox(seed: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready"
        process = subprocess.Popen(
            [sys.executable, "-m", "followup.sandbox.server", "--port", "0", "--seed", seed,
             "--state-path", ":memory:", "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start")
                time.sleep(0.05)
            yield ready.read_text(encoding="utf-8").strip()
        finally:
            process.terminate()
            process.wait(30)


def settings_for(url: str, workers: int) -> Settings:
    env = requests.get(f"{url}/_sandbox/env", timeout=30).json()
    settings = load_settings(None, env=env)
    settings.serve.webhook_secret = SecretStr(SECRET)
    settings.serve.workers = workers
    settings.serve.queue_size = 100_000
    return settings


def sync_once(settings: Settings) -> None:
    adapters = from_settings(settings)
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=today_in(settings), dry_run=False
        )
    finally:
        adapters.close()
    if result.failed:
        raise RuntimeError(f"the first sync failed: {result.errors or result.failures}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_idle(running: RunningServe, url: str) -> None:
    """Until the sandbox has sent every delivery and the receiver has run every page."""
    while True:
        hooks = requests.get(f"{url}/_sandbox/webhooks", timeout=30).json()["deliveries"]
        sent = hooks["delivered"] + hooks["failed"] + hooks["dropped"]
        if sent >= hooks["queued"] and running.queue.wait_idle(1.0):
            again = requests.get(f"{url}/_sandbox/webhooks", timeout=30).json()["deliveries"]
            if again["queued"] == hooks["queued"]:
                return
        time.sleep(0.01)


def writes(running: RunningServe) -> float:
    value = running.metrics.registry.get_sample_value("followup_serve_page_writes_total")
    return float(value or 0.0)


def bench_latency(latency_ms: int, changes: int, workers: int) -> dict[str, Any]:
    with sandbox("demo") as url:
        settings = settings_for(url, workers)
        sync_once(settings)
        requests.put(f"{url}/_sandbox/faults", json={"latency_ms": latency_ms}, timeout=30)
        running = start_in_thread(settings)
        settings.serve.public_url = running.url
        register_webhooks(settings)
        session = requests.Session()
        session.auth = (settings.jira.email or "", settings.jira.token.get_secret_value())  # type: ignore[union-attr]
        issues = session.get(
            f"{url}/rest/api/3/search/jql",
            params={"jql": f'labels = "followup-{PAGE}" AND status = "To Do"', "fields": "status"},
            timeout=30,
        ).json()["issues"]
        key = issues[0]["key"]
        seconds: list[float] = []
        requests.post(f"{url}/_sandbox/stats/reset", timeout=30).raise_for_status()
        try:
            for n in range(changes):
                target = "Done" if n % 2 == 0 else "To Do"
                moves = session.get(f"{url}/rest/api/2/issue/{key}/transitions", timeout=30)
                tid = next(
                    t["id"] for t in moves.json()["transitions"] if t["to"]["name"] == target
                )
                before = writes(running)
                session.post(
                    f"{url}/rest/api/2/issue/{key}/transitions",
                    json={"transition": {"id": tid}},
                    timeout=30,
                ).raise_for_status()
                start = time.perf_counter()
                while writes(running) <= before:
                    time.sleep(0.001)
                seconds.append(time.perf_counter() - start)
                wait_idle(running, url)
            stats = requests.get(f"{url}/_sandbox/stats", timeout=30).json()
            runs = running.metrics.registry.get_sample_value(
                "followup_serve_page_runs_total", {"outcome": "synced"}
            )
            lag = running.metrics.registry
            count = lag.get_sample_value("followup_serve_event_to_page_seconds_count") or 0.0
            total = lag.get_sample_value("followup_serve_event_to_page_seconds_sum") or 0.0
        finally:
            running.stop()
    return {
        "changes": changes,
        "median_s": statistics.median(seconds),
        "p95_s": percentile(seconds, 0.95),
        "receiver_mean_s": total / count if count else None,
        "page_runs": runs,
        # The bench's own two requests per change (the transitions, then the move).
        "requests_per_run": (stats["requests"] - 2 * changes) / runs if runs else None,
    }


def bench_throughput(
    latency_ms: int, events: int, pages: int, senders: int, workers: int
) -> dict[str, Any]:
    with sandbox("empty") as url:
        requests.post(
            f"{url}/_sandbox/seed",
            json={"pages": pages, "items_per_page": 1, "seed": 7},
            timeout=300,
        ).raise_for_status()
        settings = settings_for(url, workers)
        sync_once(settings)
        requests.put(f"{url}/_sandbox/faults", json={"latency_ms": latency_ms}, timeout=30)
        running = start_in_thread(settings)
        page_ids = [
            str(p["id"])
            for p in requests.get(
                f"{url}/wiki/rest/api/content/search",
                params={"cql": 'type = page AND label = "postmortem"', "limit": 1000},
                auth=(settings.jira.email or "", settings.jira.token.get_secret_value()),  # type: ignore[union-attr]
                timeout=300,
            ).json()["results"]
        ]
        bodies = []
        for n in range(events):
            page = page_ids[n % len(page_ids)]
            body = json.dumps(
                {
                    "webhookEvent": "jira:issue_updated",
                    "issue": {
                        "key": f"OPS-{n + 1}",
                        "fields": {"labels": ["followup", f"followup-{page}"]},
                    },
                    "changelog": {
                        "items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]
                    },
                }
            ).encode()
            bodies.append((body, signing.sign(SECRET, body)))
        # The senders are processes of their own, so that posting does not share this
        # process's interpreter lock with the receiver and its page runs.
        with tempfile.TemporaryDirectory() as tmp:
            shares = []
            for i in range(senders):
                path = Path(tmp) / f"share-{i}.json"
                share = [[b.decode(), sig] for b, sig in bodies[i::senders]]
                path.write_text(json.dumps(share), encoding="utf-8")
                shares.append(path)
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", SENDER, f"{running.url}/webhooks/jira", str(path)],
                    stdout=subprocess.PIPE,
                )
                for path in shares
            ]
            reports = [json.loads(p.communicate()[0]) for p in processes]
        first = min(r["first"] for r in reports)
        posted = max(r["last"] for r in reports) - first
        answered = [c for r in reports for c in r["codes"]]
        running.queue.wait_idle(3600)
        drained = time.time() - first
        runs = running.receiver.queue.runs_done
        running.stop()
    accepted = sum(1 for c in answered if c == 202)
    return {
        "events": events,
        "pages": len(page_ids),
        "accepted": accepted,
        "events_per_s": accepted / posted,
        "page_runs": runs,
        "drained_s": drained,
        "page_runs_per_s": runs / drained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    configure_logging("warning")
    latency = bench_latency(args.latency_ms, args.changes, args.workers)
    print(
        f"event -> page at {args.latency_ms} ms latency, {latency['changes']} changes: "
        f"median {latency['median_s'] * 1000:.0f} ms, p95 {latency['p95_s'] * 1000:.0f} ms"
        + (
            f" (receiver's own mean, first event -> run done: "
            f"{latency['receiver_mean_s'] * 1000:.0f} ms)"
            if latency["receiver_mean_s"] is not None
            else ""
        )
        + f"; {latency['page_runs']:.0f} page runs, {latency['requests_per_run']:.1f} requests each"
    )
    throughput = bench_throughput(
        args.latency_ms, args.events, args.pages, args.senders, args.workers
    )
    print(
        f"events: {throughput['accepted']}/{throughput['events']} accepted at "
        f"{throughput['events_per_s']:.0f} events/s ({args.senders} senders, "
        f"{throughput['pages']} pages); {throughput['page_runs']} page runs, all done after "
        f"{throughput['drained_s']:.1f} s ({throughput['page_runs_per_s']:.1f} runs/s, "
        f"{args.workers} workers)"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"latency": latency, "throughput": throughput}, indent=2) + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
