"""How long the `followup` command takes to start.

Every command imports what it runs inside its own body, so that `followup --help`
and `followup --version` load no HTTP client, engine or sandbox. This measures, as
the median of several runs, interleaved so that a machine's changing load weighs on
all alike:

- `followup --version`, wall time of a fresh process;
- `followup sync --help`, wall time of a fresh process;
- `import followup.cli`, the cumulative import time Python reports (`-X importtime`),
  and which third-party packages that import loads.

    python bench/startup_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "followup --version": [sys.executable, "-m", "followup", "--version"],
    "followup sync --help": [sys.executable, "-m", "followup", "sync", "--help"],
}
PROBE = "import json, sys, followup.cli; print(json.dumps(sorted(sys.modules)))"


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def _import_ms() -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import followup.cli"],
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(ln for ln in done.stderr.splitlines() if ln.rstrip().endswith("| followup.cli"))
    return int(line.split("|")[1]) / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    imports: list[float] = []
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            walls[name].append(_wall(argv))
        imports.append(_import_ms())
    for name, times in walls.items():
        print(f"{name:<24} median {statistics.median(times) * 1000:6.0f} ms  ({args.runs} runs)")
    imported = statistics.median(imports)
    print(f"{'import followup.cli':<24} median {imported:6.0f} ms  (-X importtime)")
    modules = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
        ).stdout
    )
    roots = sorted({m.split(".")[0] for m in modules if not m.startswith(("_", "followup"))})
    heavy = [r for r in roots if r in {"requests", "jira", "atlassian", "urllib3", "starlette"}]
    print(f"packages loaded by `import followup.cli`: {len(roots)}; HTTP or server: {heavy or 0}")


if __name__ == "__main__":
    main()
