"""How fast the storage-format core reads and writes pages.

Generates deterministic synthetic postmortem pages (about 20 KB each: prose with
entities, a code block, a task list with mentions, dates, jira macros and badges, an
action-item table) and measures, as the median of several runs, each step timed batch
by batch, interleaved with the others (so a machine's changing load weighs on all three
alike), and the ratio to the bare parse as the median of each run's own ratio:

- parse:   a bare `lxml.etree.fromstring` of the same page, the floor (the bytes as
           `followup.core.storage_format.xml.prepare` makes them: wrapped in a root that
           declares the ac:/ri: prefixes and the HTML entities used, which is the
           least any reader of storage format must do; preparing is not timed);
- extract: `followup.core.storage_format.extract`;
- render:  `followup.core.storage_format.render` with a change (ticket and badge) per item.

    python bench/extract_bench.py [--pages 1000] [--runs 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from lxml import etree
from rich.console import Console
from rich.table import Table

from followup.core.model import Badge, BadgeColour, ItemChange
from followup.core.storage_format import extract, render
from followup.core.storage_format.xml import prepare

TARGET_BYTES = 20_000
BATCH = 50  # pages timed per step before moving to the next step
_PROSE = (
    "the replica lag alert fired late because the exporter scraped every five minutes and "
    "the dashboard showed stale data while on-call paged the team database connection "
    "pool queue rollback deploy latency error budget"
)
WORDS = [*_PROSE.split(" "), "caf&eacute;", "&mdash;", "&amp;", "team&rsquo;s", "&nbsp;"]
PEOPLE = [f"557058:{name}" for name in ("ana", "marco", "priya", "lwei", "dchen", "ola")]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def _task(rng: random.Random, ident: int) -> str:
    body = _sentence(rng, rng.randint(5, 12))
    if rng.random() < 0.8:
        body += f' <ac:link><ri:user ri:account-id="{rng.choice(PEOPLE)}" /></ac:link>'
    if rng.random() < 0.7:
        body += f' <time datetime="2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" />'
    if rng.random() < 0.5:
        body += (
            ' <ac:structured-macro ac:name="jira" ac:schema-version="1">'
            f'<ac:parameter ac:name="key">OPS-{ident}</ac:parameter></ac:structured-macro>'
            '<ac:structured-macro ac:name="status" ac:schema-version="1">'
            '<ac:parameter ac:name="title">IN PROGRESS</ac:parameter>'
            '<ac:parameter ac:name="colour">Blue</ac:parameter></ac:structured-macro>'
        )
    state = "complete" if rng.random() < 0.3 else "incomplete"
    return (
        f"<ac:task><ac:task-id>{ident}</ac:task-id><ac:task-uuid>{rng.getrandbits(64):016x}"
        f"</ac:task-uuid><ac:task-status>{state}</ac:task-status><ac:task-body>"
        f'<span class="placeholder-inline-tasks">{body}</span></ac:task-body></ac:task>'
    )


def make_page(seed: int) -> str:
    """One synthetic postmortem page of about TARGET_BYTES characters, laid out like a
    real review: summary, impact, a timeline table, root cause with a code block, then
    the action items (a task list and an action-item table), lessons learned."""
    rng = random.Random(seed)
    parts = [f"<h1>Incident {seed}: {_sentence(rng, 4)}</h1>", "<h2>Summary</h2>"]
    parts += [f"<p>{_sentence(rng, rng.randint(30, 60))}.</p>" for _ in range(3)]
    parts.append("<h2>Impact</h2><ul>")
    parts += [f"<li>{_sentence(rng, 12)}</li>" for _ in range(4)]
    parts.append("</ul><h2>Timeline</h2><table><tbody><tr><th>Time (UTC)</th><th>Event</th></tr>")
    parts += [
        f"<tr><td>03:{minute:02d}</td><td>{_sentence(rng, rng.randint(8, 20))}</td></tr>"
        for minute in range(0, 60, 3)
    ]
    parts.append("</tbody></table><h2>Root cause</h2>")
    parts += [f"<p>{_sentence(rng, rng.randint(30, 60))}.</p>" for _ in range(3)]
    parts.append(
        '<ac:structured-macro ac:name="code" ac:schema-version="1"><ac:plain-text-body>'
        "<![CDATA[kubectl -n db get pods && echo '<done>']]></ac:plain-text-body>"
        "</ac:structured-macro>"
    )
    parts.append("<h2>Action items</h2><ac:task-list>")
    count = rng.randint(6, 12)
    parts += [_task(rng, ident) for ident in range(1, count + 1)]
    parts.append(
        "</ac:task-list><table><tbody>"
        "<tr><th>Action</th><th>Owner</th><th>Due</th><th>Status</th></tr>"
    )
    parts += [
        f"<tr><td><p>{_sentence(rng, 8)} {count + row}</p></td><td><p>Ana Ruiz</p></td>"
        f"<td><p>2026-09-{rng.randint(1, 28):02d}</p></td><td><p>Open</p></td></tr>"
        for row in range(1, rng.randint(3, 6) + 1)
    ]
    parts.append("</tbody></table><h2>Lessons learned</h2>")
    while sum(map(len, parts)) < TARGET_BYTES:
        parts.append(f"<p>{_sentence(rng, rng.randint(20, 60))}.</p>")
    return "\n".join(parts)


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run(pages: int, runs: int) -> dict[str, Any]:
    bodies = [make_page(seed) for seed in range(pages)]
    wrapped = [prepare(body) for body in bodies]
    parser = etree.XMLParser(
        strip_cdata=False,
        resolve_entities="internal",  # type: ignore[arg-type]
        no_network=True,
    )
    extractions = [extract(body, str(n)) for n, body in enumerate(bodies)]
    changes = [
        {
            item.key: ItemChange(ticket=f"NEW-{i}", badge=Badge("TO DO", BadgeColour.GREY))
            for i, item in enumerate(extraction.items)
        }
        for extraction in extractions
    ]

    # The three steps are timed batch by batch, interleaved (parse a batch, extract it,
    # render it, next batch), so that on a shared machine whose load comes and goes
    # each step's total within a run is measured under the same conditions; the ratio
    # to the bare parse is then the median of the runs' own ratios.
    batches = [range(start, min(start + BATCH, pages)) for start in range(0, pages, BATCH)]

    def parse_batch(batch: range) -> None:
        for n in batch:
            etree.fromstring(wrapped[n], parser)

    def extract_batch(batch: range) -> None:
        for n in batch:
            extract(bodies[n], str(n))

    def render_batch(batch: range) -> None:
        for n in batch:
            render(bodies[n], str(n), changes[n])

    steps = {"parse": parse_batch, "extract": extract_batch, "render": render_batch}

    def one_run() -> dict[str, float]:
        spent = dict.fromkeys(steps, 0.0)
        for batch in batches:
            for name, step in steps.items():
                spent[name] += _timed(functools.partial(step, batch))
        return spent

    timings: dict[str, list[float]] = {"parse": [], "extract": [], "render": []}
    ratios: dict[str, list[float]] = {"parse": [], "extract": [], "render": []}
    for _ in range(runs):
        spent = one_run()
        for name, seconds in spent.items():
            timings[name].append(seconds)
            ratios[name].append(seconds / spent["parse"])
    median = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "pages": pages,
        "runs": runs,
        "mean_page_bytes": round(sum(len(b.encode()) for b in bodies) / pages),
        "items_per_page": round(sum(len(e.items) for e in extractions) / pages, 1),
        "pages_per_second": {name: round(pages / seconds, 1) for name, seconds in median.items()},
        "ms_per_page": {name: round(seconds / pages * 1000, 3) for name, seconds in median.items()},
        "ratio_to_parse": {
            name: round(statistics.median(values), 2) for name, values in ratios.items()
        },
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.pages, args.runs)

    table = Table(
        title=(
            f"{result['pages']} pages, {result['mean_page_bytes']:,} bytes and "
            f"{result['items_per_page']} items each; median of {result['runs']} runs"
        ),
        title_justify="left",
    )
    for column in ("step", "pages/s", "ms/page", "x bare parse"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for name in ("parse", "extract", "render"):
        table.add_row(
            name,
            f"{result['pages_per_second'][name]:,.1f}",
            f"{result['ms_per_page'][name]:.3f}",
            f"{result['ratio_to_parse'][name]:.2f}",
        )
    Console().print(table)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
