"""How fast the sandbox builds a synthetic dataset (what `POST /_sandbox/seed` and the
benchmarks load), as the median of several runs.

    python bench/seed_bench.py [--pages 1000] [--items 5] [--runs 5]

Prints the median, fastest and slowest build time and the pages per second. A
thousand pages of five items has built in well under half a second on a laptop; a
figure far above that makes every benchmark that seeds the sandbox slower.
"""

from __future__ import annotations

import argparse
import statistics
import time

from followup.sandbox.seed import synthetic_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times: list[float] = []
    for run in range(args.runs):
        start = time.perf_counter()
        dataset = synthetic_dataset(pages=args.pages, items_per_page=args.items, seed=42 + run)
        times.append(time.perf_counter() - start)
        assert len(dataset.pages) == args.pages
    median = statistics.median(times)
    print(
        f"synthetic_dataset({args.pages} pages x {args.items} items): "
        f"median {median * 1000:.0f} ms, fastest {min(times) * 1000:.0f} ms, "
        f"slowest {max(times) * 1000:.0f} ms over {args.runs} runs; "
        f"{args.pages / median:,.0f} pages/s"
    )


if __name__ == "__main__":
    main()
