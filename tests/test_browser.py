"""In a real browser: headless Chromium (Debian's `chromium`) opens the HTML health report
and the sandbox's view of a postmortem after a sync, checks that the charts and the
badges are there and visible (laid out, not hidden, not covered), and saves
screenshots under tests/artifacts/ for people to look at.

Chromium is driven through its own command line (`--dump-dom`, `--screenshot`). The
report has no JavaScript; to ask the browser what it laid out, the test loads a copy
of the page with a probe script appended that writes the geometry of every chart and
badge into the DOM, and reads it back with `--dump-dom`.

`make test` installs Chromium when it is missing and it runs as root. Without it the
tests skip, with the reason, on a workstation, and fail when CI is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from sandbox_support import reset_server

from followup.commands.report import report_command
from followup.commands.sites import from_settings
from followup.commands.sync import build_engine
from followup.sandbox import control
from followup.sandbox.seed import DEMO_TODAY
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings

CHROMIUM = Path(os.environ.get("FOLLOWUP_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ORDERS_DB = "/wiki/spaces/SRE/pages/98000001"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
WINDOW = "1280,2000"

# Appended to a copy of a page: the browser reports what it laid out. An element is
# visible when it has a size, is not hidden by style, and the point at its centre
# (once scrolled into view) hits the element or something inside it.
PROBE = """<script>
(function () {
  function visible(el) {
    var s = getComputedStyle(el);
    if (s.display === "none" || s.visibility === "hidden" || +s.opacity === 0) return false;
    el.scrollIntoView({block: "center"});
    var r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    var hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!hit && (hit === el || el.contains(hit) || hit.contains(el));
  }
  function box(el) {
    var r = el.getBoundingClientRect();
    return {w: Math.round(r.width), h: Math.round(r.height)};
  }
  var out = {charts: {}, lozenges: []};
  document.querySelectorAll("svg[data-chart]").forEach(function (el) {
    out.charts[el.getAttribute("data-chart")] = {
      visible: visible(el), box: box(el),
      marks: el.querySelectorAll("rect[data-value], polyline, circle").length
    };
  });
  document.querySelectorAll(".lozenge").forEach(function (el) {
    out.lozenges.push({
      text: el.textContent.trim(), visible: visible(el),
      background: getComputedStyle(el).backgroundColor
    });
  });
  window.scrollTo(0, 0);
  var pre = document.createElement("pre");
  pre.id = "followup-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (
        f"headless Chromium is not installed at {CHROMIUM} (Debian: apt-get install "
        "chromium; `make test` does it when run as root; FOLLOWUP_CHROMIUM names another)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI is set, so the browser test must run, not skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Path:
    return _chromium()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def profile(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "chromium-profile"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(browser: Path, profile: Path, *args: str, window: str = WINDOW) -> str:
    done = subprocess.run(
        [str(browser), *FLAGS, f"--window-size={window}", f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(browser: Path, profile: Path, url: str) -> etree._Element:
    return etree.HTML(_run(browser, profile, "--dump-dom", url))


def screenshot(browser: Path, profile: Path, url: str, to: Path, *, window: str = WINDOW) -> Path:
    to.unlink(missing_ok=True)
    _run(browser, profile, f"--screenshot={to}", url, window=window)
    assert to.is_file(), f"no screenshot at {to}"
    assert to.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert to.stat().st_size > 20_000, "a blank page compresses far below this"
    return to


def probe(browser: Path, profile: Path, html: str, scratch: Path) -> dict[str, Any]:
    """What the browser laid out for `html`: charts and lozenges, visible or not."""
    page = scratch / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    root = dump_dom(browser, profile, page.as_uri())
    found = root.xpath('//pre[@id="followup-probe"]/text()')
    assert found, "the probe did not run"
    data: dict[str, Any] = json.loads(found[0])
    return data


@pytest.fixture(scope="module")
def synced(sandbox_server: RunningSandbox) -> RunningSandbox:
    """The demo site after one sync on the demo's day: tickets created, badges written."""
    reset_server(sandbox_server)
    settings = load_settings(None, env=control.env_for(sandbox_server.state, sandbox_server.url))
    adapters = from_settings(settings, sleep=lambda s: None)
    try:
        result = build_engine(settings, adapters.jira, adapters.confluence).run(
            today=DEMO_TODAY, dry_run=False
        )
    finally:
        adapters.close()
    assert not result.failed, result.failures
    return sandbox_server


def test_html_report_charts_are_visible(
    browser: Path, profile: Path, artifacts: Path, synced: RunningSandbox, tmp_path: Path
) -> None:
    """The report of the synced demo, opened from a file: three charts laid out with
    their marks, every status lozenge visible, no script of its own; screenshot saved."""
    settings = load_settings(None, env=control.env_for(synced.state, synced.url))
    report = artifacts / "health-report.html"
    report_command(settings, fmt="html", output=report, today=DEMO_TODAY)
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html

    shot = screenshot(browser, profile, report.as_uri(), artifacts / "health-report.png")
    layout = probe(browser, profile, html, tmp_path)
    charts = layout["charts"]
    assert set(charts) == {"open-vs-done", "overdue-by-owner", "age-distribution"}
    for name, chart in charts.items():
        assert chart["visible"], (name, chart)
        assert chart["box"]["w"] >= 300, (name, chart)
        assert chart["box"]["h"] >= 100, (name, chart)
    # demo on 2026-11-26: five overdue items (Kenji twice: four owners), four age buckets
    assert charts["overdue-by-owner"]["marks"] == 4
    assert charts["age-distribution"]["marks"] == 4
    assert charts["open-vs-done"]["marks"] > 2  # two lines and their points
    overdue = [z for z in layout["lozenges"] if z["text"] == "OVERDUE"]
    assert len(overdue) == 5
    assert all(z["visible"] for z in layout["lozenges"]), layout["lozenges"]
    assert {z["background"] for z in overdue} == {"rgb(222, 53, 11)"}
    assert shot.stat().st_size > 50_000

    # printable: Chromium prints it (print style sheet, A4) to a few pages
    pdf = artifacts / "health-report.pdf"
    pdf.unlink(missing_ok=True)
    _run(browser, profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert 1 <= pages <= 5, pages


def test_sandbox_page_view_shows_the_badges(
    browser: Path, profile: Path, artifacts: Path, synced: RunningSandbox, tmp_path: Path
) -> None:
    """The orders-db postmortem in the sandbox's page view after the sync, in the
    browser: the summary lozenge once, each item's state once (the jira macro's live
    status as Confluence draws it, plus OVERDUE where it applies, never a repeat), all
    visible; screenshot saved."""
    url = f"{synced.url}{ORDERS_DB}"
    root = dump_dom(browser, profile, url)
    titles = [t.strip() for t in root.xpath('//span[contains(@class, "lozenge")]/text()')]
    assert titles.count("FOLLOW-UP 1/5 DONE") == 1, titles
    for badge in ("OVERDUE", "DONE", "IN PROGRESS", "TO DO"):
        assert badge in titles, (badge, titles)
    for task in root.xpath('//li[contains(@class, "task")]'):
        shown = [t.strip() for t in task.xpath('.//span[contains(@class, "lozenge")]/text()')]
        assert len(shown) == len(set(shown)), shown  # never "DONE DONE"
        assert len(shown) <= 2, shown  # the status, and at most OVERDUE or WON'T DO

    # tall enough to reach the action items at the end of the page
    screenshot(browser, profile, url, artifacts / "sandbox-orders-db.png", window="1280,3400")
    html = requests.get(url, timeout=10).text
    layout = probe(browser, profile, html, tmp_path)
    shown = {z["text"]: z for z in layout["lozenges"]}
    for badge, colour in (
        ("FOLLOW-UP 1/5 DONE", "rgb(222, 53, 11)"),  # red: something is overdue
        ("OVERDUE", "rgb(222, 53, 11)"),
        ("DONE", "rgb(255, 255, 255)"),  # Jira's status: a subtle (outlined) lozenge
    ):
        assert shown[badge]["visible"], shown[badge]
        assert shown[badge]["background"] == colour, shown[badge]
    assert all(z["visible"] for z in layout["lozenges"]), layout["lozenges"]
