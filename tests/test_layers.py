"""The pure core stays pure: no adapter, HTTP client, clock, randomness or
environment in the model, the storage-format core, the query builders or the planner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import followup

PACKAGE = Path(followup.__file__).parent
CORE = sorted(
    [
        *(PACKAGE / "core").rglob("*.py"),
        PACKAGE / "ports.py",
        PACKAGE / "reports" / "charts.py",
        PACKAGE / "reports" / "escaping.py",
        PACKAGE / "reports" / "health_html.py",
    ]
)
FORBIDDEN_MODULES = {
    "requests",
    "jira",
    "atlassian",
    "httpx",
    "urllib3",
    "urllib",
    "socket",
    "os",
    "time",
    "random",
    "secrets",
    "threading",
    "subprocess",
    "followup.adapters",
    "followup.sandbox",
    "followup.settings",
    "followup.sync.engine",
    "followup.cli",
}
# Pure string handling inside forbidden packages: comparing a link's host with the
# configured site needs URL parsing, not a network.
ALLOWED_MODULES = {"urllib.parse"}
# uuid5 (name-based, deterministic) is fine; uuid1/uuid4 are clock or randomness.
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
}


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_does_no_io(path: Path) -> None:
    """A core module imports no adapter or I/O module and never reads the clock."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = {
        name
        for name in _imports(tree)
        if name not in ALLOWED_MODULES
        and any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"
    calls = {
        (node.func.value.id, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert not (calls & FORBIDDEN_CALLS), f"{path.name} reads the clock or randomness"


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
