"""`make demo` (`python -m followup.commands.demo`): the whole story runs, on both flavors."""

from __future__ import annotations

from pathlib import Path

import pytest

from followup.commands import demo


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_demo_runs_to_the_end_on_both_flavors(
    flavor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo creates the tickets, then has nothing to do, then follows a ticket moved
    to Done with one page write, and says how to browse the result on its flavor."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert demo.main(["--flavor", flavor]) == 0
    out = capsys.readouterr().out
    assert f"(Jira + Confluence, {flavor})" in out
    assert "made 22 create(s), 1 adoption(s)" in out
    assert "Nothing to do: pages and tickets are in step." in out
    assert "1 page write(s)" in out
    assert ("--flavor datacenter" in out) is (flavor == "datacenter")
    assert (tmp_path / ".followup" / "demo.sqlite3").exists()
