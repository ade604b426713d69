"""The layers hold: what the import contracts cannot say, and what only a running
process shows.

Which package may import which, and which standard-library and third-party modules
each layer may not touch, are import contracts in `pyproject.toml`
(`[tool.importlinter]`, checked by `make check`). Imports cannot say that the core
never *calls* the clock or randomness (`datetime.now()` needs only `datetime`), never
opens a file or prints (builtins need no import), nor which submodule of `urllib` it
uses (the import graph keeps third-party and standard-library packages whole): those
are checked here, on the syntax tree. And a contract sees the imports written in the
code, not those a module makes at run time: starting the CLI and importing every
command on the sync path is checked in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import followup

PACKAGE = Path(followup.__file__).parent
PURE = sorted(
    [
        *(PACKAGE / "core").rglob("*.py"),
        PACKAGE / "ports.py",
        PACKAGE / "errors.py",
    ]
)
# uuid5 (name-based, deterministic) is fine; uuid1/uuid4 are clock or randomness.
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
}
FORBIDDEN_BUILTINS = {"open", "print", "input", "breakpoint", "exec", "eval", "__import__"}
# Pure string handling inside a package that can also fetch: comparing a link's host
# with the configured site needs URL parsing, not a network.
ALLOWED_URLLIB = {"urllib.parse"}


def _imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "urllib":  # from urllib import request
                found.update(f"urllib.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_core_module_reads_no_clock_and_does_no_io(path: Path) -> None:
    """A core module never calls the clock or randomness, opens, prints or reads
    input, and takes only URL parsing from urllib."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {
        (node.func.value.id, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert not (calls & FORBIDDEN_CALLS), f"{path.name} reads the clock or randomness"
    builtins = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not (builtins & FORBIDDEN_BUILTINS), f"{path.name} calls {builtins & FORBIDDEN_BUILTINS}"
    urllib = {m for m in _imported_modules(tree) if m == "urllib" or m.startswith("urllib.")}
    assert urllib <= ALLOWED_URLLIB, f"{path.name} imports {sorted(urllib - ALLOWED_URLLIB)}"


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from datetime import date\nx = date.today()\n", "clock"),
        ("import uuid\nx = uuid.uuid4()\n", "clock"),
        ("print('hello')\n", "calls"),
        ("from urllib import request\n", "imports"),
        ("import urllib.request\n", "imports"),
    ],
)
def test_the_syntax_check_catches_what_it_looks_for(
    source: str, bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Guard) each kind of violation the check above looks for makes it fail."""
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(AssertionError, match=bad):
        test_a_core_module_reads_no_clock_and_does_no_io(path)


# What the CLI must not load to start, nor any command on the sync path: the sandbox
# (and its server), and, for `--help` and `--version`, no HTTP client or engine either.
_PROBE = """
import json, sys
import followup.cli
started = sorted(sys.modules)
import followup.commands.doctor, followup.commands.explain, followup.commands.extract
import followup.commands.report, followup.commands.sync, followup.commands.watch
import followup.metrics
print(json.dumps({"started": started, "commands": sorted(sys.modules)}))
"""


def test_the_cli_starts_without_the_engine_and_no_command_loads_the_sandbox() -> None:
    """Importing the CLI loads no HTTP client, engine, adapter or sandbox, nor the
    settings, structlog or rich (each command imports what it runs); importing every
    command but `sandbox` and `demo` loads no sandbox module and no web server."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(done.stdout)
    heavy = ("requests", "jira", "atlassian", "urllib3", "followup.adapters", "followup.sync")
    sandbox = ("followup.sandbox", "starlette", "uvicorn")

    def matching(modules: list[str], roots: tuple[str, ...]) -> list[str]:
        return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]

    assert matching(loaded["started"], heavy + sandbox) == []
    # Nor the settings, the logging or the terminal renderer: a command loads them.
    later = ("pydantic", "pydantic_settings", "structlog", "rich", "followup.settings")
    assert matching(loaded["started"], later) == []
    assert matching(loaded["commands"], sandbox) == []
    assert matching(loaded["commands"], ("followup.sync",)), "the probe imported no command"


def test_public_surface_is_deliberate() -> None:
    """The package's public names are exactly the ones listed in __all__."""
    assert sorted(followup.__all__) == sorted(
        [
            "ActionItem",
            "Badge",
            "BadgeColour",
            "Extraction",
            "Finding",
            "FindingCode",
            "ItemChange",
            "Owner",
            "Page",
            "Ticket",
            "__version__",
        ]
    )
    for name in followup.__all__:
        assert hasattr(followup, name)
