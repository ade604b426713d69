"""How long the `followup` command takes to start.

Every command imports what it runs inside its own body, so that `followup --help`
and `followup --version` load no HTTP client, engine or sandbox, and `--version` not
even the settings, the logging or rich. This measures, as the median of several runs,
interleaved so that a machine's changing load weighs on all alike:

- `followup --version`, wall time of a fresh process;
- `followup sync --help`, wall time of a fresh process;
- `import followup.cli`, the cumulative import time Python reports (`-X importtime`),
  and which third-party packages that import loads.

    python bench/startup_bench.py [--runs 15]
    python bench/startup_bench.py --runs 21 --compare before=/tmp/old --compare after=.

With `--compare NAME=DIR` (repeatable), each DIR is a checkout whose `followup` package
is measured, run for run alongside the others, by a throwaway interpreter environment
that finds that package and this environment's third-party packages on its path (as
a regular, non-editable install would: no editable-install finder).
"""

from __future__ import annotations

import argparse
import json
import site
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

COMMANDS = {
    "followup --version": ["-m", "followup", "--version"],
    "followup sync --help": ["-m", "followup", "sync", "--help"],
}
PROBE = "import json, sys, followup.cli; print(json.dumps(sorted(sys.modules)))"


# Where the commands run: `-m` and `-c` put the working directory first on the path,
# so a checkout there would be imported instead of the one being measured.
CWD: str | None = None


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=CWD)
    return time.perf_counter() - started


def _import_ms(python: str) -> float:
    done = subprocess.run(
        [python, "-X", "importtime", "-c", "import followup.cli"],
        check=True,
        capture_output=True,
        text=True,
        cwd=CWD,
    )
    line = next(ln for ln in done.stderr.splitlines() if ln.rstrip().endswith("| followup.cli"))
    return int(line.split("|")[1]) / 1000.0


def _environment(checkout: Path, where: Path) -> str:
    """A Python environment in `where` that imports `followup` from `checkout` and
    everything else from this one's site-packages; its interpreter."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    paths = [str(checkout.resolve()), *site.getsitepackages()]
    (Path(target) / "_followup_bench.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    return str(python)


def _measure(pythons: dict[str, str], runs: int) -> None:
    walls = {(who, name): [] for who in pythons for name in COMMANDS}
    imports: dict[str, list[float]] = {who: [] for who in pythons}
    for _ in range(runs):
        for who, python in pythons.items():
            for name, argv in COMMANDS.items():
                walls[(who, name)].append(_wall([python, *argv]))
            imports[who].append(_import_ms(python))
    for who, python in pythons.items():
        title = f"[{who}] " if len(pythons) > 1 else ""
        for name in COMMANDS:
            median = statistics.median(walls[(who, name)]) * 1000
            print(f"{title}{name:<24} median {median:6.0f} ms  ({runs} runs)")
        imported = statistics.median(imports[who])
        print(f"{title}{'import followup.cli':<24} median {imported:6.0f} ms  (-X importtime)")
        probe = subprocess.run(
            [python, "-c", PROBE], check=True, capture_output=True, text=True, cwd=CWD
        )
        modules = json.loads(probe.stdout)
        roots = sorted({m.split(".")[0] for m in modules if not m.startswith(("_", "followup"))})
        heavy = [r for r in roots if r in {"requests", "jira", "atlassian", "urllib3", "starlette"}]
        later = [r for r in roots if r in {"pydantic", "pydantic_settings", "structlog", "rich"}]
        print(
            f"{title}packages loaded by `import followup.cli`: {len(roots)}; "
            f"HTTP or server: {heavy or 0}; settings, logging, rich: {later or 0}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--compare", action="append", default=[], metavar="NAME=DIR", help="a checkout to time"
    )
    args = parser.parse_args()
    if not args.compare:
        _measure({"this": sys.executable}, args.runs)
        return
    global CWD
    with tempfile.TemporaryDirectory() as tmp:
        CWD = tmp
        pythons: dict[str, str] = {}
        for spec in args.compare:
            name, _, directory = spec.partition("=")
            if not directory or not (Path(directory) / "followup" / "__init__.py").is_file():
                parser.error(f"--compare {spec!r}: expected NAME=DIR, DIR holding followup/")
            pythons[name] = _environment(Path(directory), Path(tmp) / name)
        _measure(pythons, args.runs)


if __name__ == "__main__":
    main()
