"""The command line: wiring, and the one place where errors become exit codes."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from followup import __version__
from followup.cli import app, parse_interval, parse_today
from followup.commands.doctor import Check, Checklist, Status
from followup.errors import AuthenticationError, PlanError, ServerError

pytestmark = pytest.mark.usefixtures("clean_env", "reset_logging")

TOKEN = "cli-test-token-0123456789"
SITE_ENV = {
    "FOLLOWUP_JIRA__URL": "https://acme.atlassian.net",
    "FOLLOWUP_JIRA__EMAIL": "bot@acme.example",
    "FOLLOWUP_JIRA__TOKEN": TOKEN,
    "FOLLOWUP_JIRA__PROJECT": "OPS",
    "FOLLOWUP_CONFLUENCE__URL": "https://acme.atlassian.net/wiki",
}

PAGE = """\
<h2>Action items</h2>
<ac:task-list>
<ac:task>
<ac:task-id>1</ac:task-id>
<ac:task-status>incomplete</ac:task-status>
<ac:task-body>Alert on queue depth
<ac:link><ri:user ri:account-id="557058:aaaa-bbbb" /></ac:link>
<time datetime="2025-04-01" /></ac:task-body>
</ac:task>
</ac:task-list>
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def raising(error: BaseException) -> Callable[..., Any]:
    def function(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    return function


@dataclass
class FakeRun:
    """What the CLI reads of a sync's result to choose the exit code."""

    failed: bool = False
    dry_run: bool = False
    pending: bool = False


def test_help_lists_the_commands() -> None:
    """`followup --help` works and names every command."""
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("sandbox", "extract", "sync", "report", "doctor"):
        assert command in result.stdout


def test_no_arguments_shows_help() -> None:
    """A bare `followup` explains itself instead of doing anything (usage exit 2)."""
    result = invoke()
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_version() -> None:
    """--version prints the package version."""
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"followup {__version__}"


def test_unknown_option_is_a_usage_error() -> None:
    """Typer's own usage errors keep exit code 2."""
    assert invoke("sync", "--bogus").exit_code == 2


def test_extract_prints_items_as_json(tmp_path: Path) -> None:
    """`extract PAGE.xml --format json` prints the items and findings the parser reads."""
    page = tmp_path / "page.xml"
    page.write_text(PAGE, encoding="utf-8")
    result = invoke("extract", str(page), "--page-id", "12345", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"items", "findings"}
    (item,) = data["items"]
    assert item["key"] == "12345:task:1"
    assert item["due"] == "2025-04-01"
    assert item["owner"] == {"account_id": "557058:aaaa-bbbb"}
    assert all(set(f) == {"code", "item", "message"} for f in data["findings"])
    text = invoke("extract", str(page), "--page-id", "12345")
    assert text.exit_code == 0, text.output
    assert "task:1" in text.stdout
    assert "Page 12345" in text.stdout


def test_extract_honours_the_configured_date_order(tmp_path: Path) -> None:
    """extract passes sync.date_order to the parser: 03/04/2026 reads day-first."""
    page = tmp_path / "777.xml"
    page.write_text(
        "<table><tbody><tr><th>Action</th><th>Owner</th><th>Due</th></tr>"
        "<tr><td>Rotate keys</td><td>Priya</td><td>03/04/2026</td></tr></tbody></table>",
        encoding="utf-8",
    )
    ambiguous = json.loads(invoke("extract", str(page), "--format", "json").stdout)
    assert ambiguous["items"][0]["due"] is None
    assert [f["code"] for f in ambiguous["findings"]] == ["ambiguous-due-date"]
    env = {"FOLLOWUP_SYNC__DATE_ORDER": "dmy"}
    result = invoke("extract", str(page), "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["items"][0]["key"].startswith("777:row:")
    assert data["items"][0]["due"] == "2026-04-03"
    assert data["findings"] == []


def test_extract_needs_a_file_or_a_page() -> None:
    """extract without a source is a usage error."""
    assert invoke("extract").exit_code == 2


def test_extract_page_without_site_settings_is_a_config_error() -> None:
    """Fetching a page needs the Confluence settings, and says which are missing."""
    result = invoke("extract", "--page", "12345")
    assert result.exit_code == 2
    assert "FOLLOWUP_CONFLUENCE__URL / [confluence] url: field required" in result.stderr


def test_a_bad_setting_exits_2_with_one_line_naming_it() -> None:
    """A ConfigError is shown as one line naming the setting, no traceback, exit 2."""
    result = invoke("sync", "--dry-run", env={"FOLLOWUP_SYNC__ORPHANS": "delete"})
    assert result.exit_code == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: FOLLOWUP_SYNC__ORPHANS / [sync] orphans: ")
    assert all(line.startswith("  hint:") for line in rest)
    assert "Traceback" not in result.output


def test_a_bad_config_file_exits_2(tmp_path: Path) -> None:
    """--config with a typo'd key fails before anything runs."""
    config = tmp_path / "followup.toml"
    config.write_text('[jira]\nprojekt = "OPS"\n')
    result = invoke("--config", str(config), "sync")
    assert result.exit_code == 2
    assert "FOLLOWUP_JIRA__PROJEKT / [jira] projekt: unknown setting" in result.stderr


def test_an_unexpected_exception_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug exits 1 with one 'internal error' line and where the log is; no traceback."""
    monkeypatch.setattr("followup.commands.doctor.run_doctor", raising(RuntimeError("boom")))
    result = invoke("doctor")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "internal error: RuntimeError: boom"
    assert "--log-level debug" in result.stderr
    assert "Traceback" not in result.output


def test_debug_level_shows_the_traceback_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --log-level debug the traceback is logged, and a token in it is redacted."""
    error = RuntimeError(f"rejected {TOKEN}")
    monkeypatch.setattr("followup.commands.doctor.run_doctor", raising(error))
    result = invoke("--log-level", "debug", "doctor", env=SITE_ENV)
    assert result.exit_code == 1
    assert "internal error: RuntimeError: rejected [REDACTED]" in result.stderr
    assert "Traceback" in result.stderr
    assert TOKEN not in result.output


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (PlanError("no Done transition on OPS-1"), 1, "error: no Done transition on OPS-1"),
        (AuthenticationError("bad credentials", service="jira", status=401), 2, "error: jira"),
    ],
)
def test_followup_errors_use_their_exit_code(
    monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, line: str
) -> None:
    """A FollowupError is shown with show() and exits with its own exit code."""
    monkeypatch.setattr("followup.commands.doctor.run_doctor", raising(error))
    result = invoke("doctor")
    assert result.exit_code == code
    assert result.stderr.startswith(line)
    assert "Traceback" not in result.output


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt ends the command with 130."""
    monkeypatch.setattr("followup.commands.doctor.run_doctor", raising(KeyboardInterrupt()))
    result = invoke("doctor")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ({"config": "ok", "CQL": "ok"}, 0),
        ({"config": "ok", "CQL": "warn", "labels": "skip"}, 0),
        ({"config": "ok", "CQL": "fail"}, 1),
        ({"config": "ok", "Jira credentials": "fail", "CQL": "fail"}, 2),
        ({"config": "ok", "Confluence answers": "fail"}, 2),
    ],
)
def test_the_doctors_checklist_decides_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, statuses: dict[str, Status], code: int
) -> None:
    """doctor exits 0 with nothing failed (warnings allowed), 2 when a setting, a site
    answering or the credentials failed, 1 when another check failed."""
    checklist = Checklist(tuple(Check(name, status, "") for name, status in statuses.items()))
    monkeypatch.setattr("followup.commands.doctor.run_doctor", lambda settings: checklist)
    assert invoke("doctor", env=SITE_ENV).exit_code == code


def test_sync_passes_its_options_to_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """sync collects its options and hands them to runner.sync_command unchanged."""
    seen: dict[str, Any] = {}

    def sync_command(settings: Any, **options: Any) -> FakeRun:
        seen.update(options, settings=settings)
        return FakeRun(dry_run=True, pending=True)

    monkeypatch.setattr("followup.commands.sync.sync_command", sync_command)
    result = invoke(
        "sync",
        "--dry-run",
        "--format",
        "markdown",
        "--space",
        "OPS",
        "--space",
        "SRE",
        "--page",
        "42",
        "--today",
        "2025-03-14",
        "--detailed-exitcode",
        env=SITE_ENV,
    )
    assert result.exit_code == 3, result.output
    settings = seen.pop("settings")
    assert settings.jira.url == "https://acme.atlassian.net"
    assert type(seen.pop("metrics")).__name__ == "SyncMetrics"
    assert type(seen.pop("stop")).__name__ == "Event"  # SIGTERM stops between pages
    assert seen == {
        "dry_run": True,
        "fmt": "markdown",
        "output": None,
        "spaces": ("OPS", "SRE"),
        "pages": ("42",),
        "today": date(2025, 3, 14),
        "full": False,
    }
    seen.clear()
    assert invoke("sync", "--full", env=SITE_ENV).exit_code == 0
    assert seen["full"] is True


def test_sync_requires_site_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """sync without credentials names what is missing and never calls the runner."""
    monkeypatch.setattr("followup.commands.sync.sync_command", raising(AssertionError()))
    result = invoke("sync", "--dry-run")
    assert result.exit_code == 2
    assert "FOLLOWUP_JIRA__TOKEN / [jira] token: field required" in result.stderr


def test_sync_rejects_a_malformed_today() -> None:
    """--today must be YYYY-MM-DD; the message shows the expected form."""
    result = invoke("sync", "--today", "14/03/2025", env=SITE_ENV)
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_watch_with_today_is_a_usage_error() -> None:
    """A watcher judges each run by its own day, so a fixed --today is refused."""
    result = invoke("sync", "--watch", "--today", "2025-03-14", env=SITE_ENV)
    assert result.exit_code == 2


def test_watch_survives_a_failed_run_and_stops_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--watch runs again after an API failure, waits --interval between runs, ends on ^C."""
    outcomes: list[BaseException | FakeRun] = [
        ServerError("down", service="jira", status=503),
        FakeRun(),
        KeyboardInterrupt(),
    ]
    intervals: list[float] = []

    def sync_command(settings: Any, **options: Any) -> FakeRun:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def no_wait(interval: float, jitter: float, rng: Any) -> float:
        intervals.append(interval)
        return 0.0

    monkeypatch.setattr("followup.commands.sync.sync_command", sync_command)
    monkeypatch.setattr("followup.commands.watch.next_delay", no_wait)
    result = invoke("sync", "--watch", "--interval", "2m", env=SITE_ENV)
    assert result.exit_code == 130, result.output
    assert outcomes == []
    assert intervals == [120.0, 120.0]
    assert "watch-run-failed" in result.stderr


def test_report_passes_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """report hands format, output, spaces and today to reporting.report_command."""
    seen: dict[str, Any] = {}

    def report_command(settings: Any, **options: Any) -> None:
        seen.update(options)

    monkeypatch.setattr("followup.commands.report.report_command", report_command)
    result = invoke("report", "--format", "html", "--output", "r.html", env=SITE_ENV)
    assert result.exit_code == 0, result.output
    assert seen == {
        "fmt": "html",
        "output": Path("r.html"),
        "spaces": (),
        "today": None,
        "publish": None,
    }


def test_sandbox_passes_its_options_to_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sandbox hands host, port, flavor, seed, state and the fault knobs to serve()
    (the server creates the state's folder, once it has its port)."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr("followup.commands.sandbox.serve", lambda **kw: seen.update(kw))
    state = tmp_path / "sub" / "s.sqlite3"
    result = invoke(
        "sandbox",
        "--port",
        "9000",
        "--flavor",
        "datacenter",
        "--seed",
        "empty",
        "--state",
        str(state),
        "--rate-429",
        "0.25",
        "--fault-seed",
        "7",
    )
    assert result.exit_code == 0, result.output
    assert seen == {
        "host": "127.0.0.1",
        "port": 9000,
        "flavor": "datacenter",
        "seed": "empty",
        "state_path": str(state),
        "ready_file": None,
        "faults": {
            "latency_ms": 0,
            "rate_429": 0.25,
            "retry_after_s": 1,
            "rate_5xx": 0.0,
            "drop_response_after_write": 0.0,
            "seed": 7,
        },
    }


def test_sandbox_faults_are_what_the_sandbox_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faults dict sandbox builds is a valid FaultConfig (same keys, same types)."""
    faults = pytest.importorskip("followup.sandbox.faults")
    seen: dict[str, Any] = {}
    monkeypatch.setattr("followup.commands.sandbox.serve", lambda **kw: seen.update(kw))
    args = ["--state", ":memory:", "--latency-ms", "5", "--rate-5xx", "0.1", "--fault-seed", "3"]
    result = invoke("sandbox", *args)
    assert result.exit_code == 0, result.output
    config = faults.FaultConfig.from_json(seen["faults"])
    assert (config.latency_ms, config.rate_5xx, config.seed) == (5, 0.1, 3)


def test_sandbox_rejects_a_probability_above_one() -> None:
    """Fault rates are probabilities."""
    assert invoke("sandbox", "--rate-5xx", "1.5").exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), (" 2M ", 120)],
)
def test_parse_interval(text: str, seconds: float) -> None:
    """--interval takes seconds or h/m/s durations."""
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "15 minutes", "m", "-5"])
def test_parse_interval_rejects(text: str) -> None:
    """Empty, zero and unknown durations are refused."""
    import typer

    with pytest.raises(typer.BadParameter):
        parse_interval(text)


@pytest.mark.parametrize("text", ["2025-3-14", "20250314", "2025-02-30", "2025-W11-5", "today"])
def test_parse_today_rejects(text: str) -> None:
    """Only a real date written YYYY-MM-DD is accepted."""
    import typer

    with pytest.raises(typer.BadParameter, match="YYYY-MM-DD"):
        parse_today(text)


def test_python_dash_m_followup_runs(tmp_path: Path) -> None:
    """`python -m followup --version` works as a process, exit code and all."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "followup", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"followup {__version__}"


# -- errors and exit codes as documented, against the real sandbox ---------------------------


def site_env(server: Any, **extra: str) -> dict[str, str]:
    """The sandbox's FOLLOWUP_* variables (what `followup sandbox` prints), plus `extra`."""
    from followup.sandbox import control

    return {**control.env_for(server.state, server.url), **extra}


def tickets(server: Any) -> int:
    with server.state.lock:
        count: int = server.state.db.execute("SELECT COUNT(*) FROM issues").fetchone()[0]
    return count


def by_route(server: Any) -> dict[str, int]:
    routes: dict[str, int] = server.stats.snapshot()["by_route"]
    return routes


@pytest.mark.parametrize("value", ["abc", "98000001x", "-1", "1 OR 1=1"])
def test_a_page_id_that_is_not_one_is_wrong_usage(sandbox: Any, value: str) -> None:
    """`sync --page abc` is a usage error (exit 2) naming the option and what a page id
    looks like, before any request is made; never `internal error` 1."""
    result = invoke("sync", "--dry-run", "--page", value, env=site_env(sandbox))
    assert result.exit_code == 2, result.output
    assert "--page" in result.output
    assert "is not a Confluence page id" in result.output
    assert "internal error" not in result.output
    assert sandbox.stats.snapshot()["requests"] == 0


def test_a_space_key_that_is_not_one_is_wrong_usage(sandbox: Any) -> None:
    """`--space "SRE OR 1=1"` is a usage error (exit 2) before any request."""
    result = invoke("sync", "--dry-run", "--space", "SRE OR x", env=site_env(sandbox))
    assert result.exit_code == 2, result.output
    assert "is not a Confluence space key" in result.output
    assert sandbox.stats.snapshot()["requests"] == 0


def run_cli(
    *args: str, env: dict[str, str], unprivileged: bool = False, cwd: Path | None = None
) -> Any:
    """`python -m followup ...` as a process. `unprivileged`: without the capabilities
    that let root write any file (so that a read-only file is read-only for the test
    even when it runs as root)."""
    import ctypes
    import os
    import subprocess

    def drop_file_capabilities() -> None:
        if os.geteuid() != 0:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    root = Path(__file__).resolve().parent.parent
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    return subprocess.run(
        [sys.executable, "-m", "followup", *args],
        env={**base, "PYTHONPATH": str(root), **env},
        cwd=cwd or root,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=drop_file_capabilities if unprivileged else None,
        check=False,
    )


@pytest.mark.parametrize("where", ["missing folder", "file as folder", "a folder", "read-only"])
def test_an_output_that_cannot_be_written_stops_the_sync_before_anything_is_written(
    sandbox: Any, tmp_path: Path, where: str
) -> None:
    """`sync --output` into a folder that does not exist, under a file, onto a folder,
    or onto a read-only file: exit 2 naming --output, before a single request, so no
    ticket is created and no report is lost."""
    before = tickets(sandbox)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    read_only = tmp_path / "report.md"
    read_only.write_text("the previous report\n")
    read_only.chmod(0o444)
    target = {
        "missing folder": tmp_path / "no-such-folder" / "report.md",
        "file as folder": tmp_path / "a-file" / "report.md",
        "a folder": tmp_path / "a-folder",
        "read-only": read_only,
    }[where]
    done = run_cli(
        "sync",
        "--format",
        "markdown",
        "--output",
        str(target),
        env=site_env(sandbox),
        unprivileged=True,
    )
    assert done.returncode == 2, done.stderr
    assert "--output" in done.stderr
    assert "Traceback" not in done.stderr
    assert sandbox.stats.snapshot()["requests"] == 0
    assert tickets(sandbox) == before
    assert read_only.read_text() == "the previous report\n"


def test_a_writable_output_gets_the_report(sandbox: Any, tmp_path: Path) -> None:
    """(Guard) the check lets a writable file through: the run writes its report there."""
    target = tmp_path / "report.json"
    result = invoke(
        "sync", "--dry-run", "--format", "json", "--output", str(target), env=site_env(sandbox)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["dry_run"] is True


NO_MATCH = [
    (
        ["--space", "NOPE"],
        "space NOPE: there is no space with that key (or followup's account cannot see it)",
    ),
    (["--space", "OPS"], "space OPS: there is no space with that key"),
    (
        ["--page", "123456"],
        "--page 123456: there is no page with that id (or followup's account cannot see it)",
    ),
    (
        ["--page", "98000007"],
        "--page 98000007: “Runbook: failing over orders-db” in space SRE is not a postmortem",
    ),
    (
        ["--space", "PAY", "--page", "98000001"],
        "--page 98000001: “2026-10-07 orders-db replica lag served stale order history” in "
        "space SRE is outside the spaces this run is limited to (PAY)",
    ),
]


@pytest.mark.parametrize(
    ("command", "args", "said"),
    [("sync", args, said) for args, said in NO_MATCH]
    + [("report", args, said) for args, said in NO_MATCH if "--page" not in args],
    ids=[
        *(f"sync-{n}" for n in ("no-space", "project-key", "no-page", "runbook", "other-space")),
        *(f"report-{n}" for n in ("no-space", "project-key")),
    ],
)
def test_a_filter_that_matches_no_postmortem_says_which_and_exits_2(
    sandbox: Any, command: str, args: list[str], said: str
) -> None:
    """A misspelt space key, a page id that does not exist or is not a postmortem:
    never "Nothing to do" with exit 0 (a cron job with a typo would succeed forever),
    but exit 2 naming the filter and why, with nothing written."""
    extra = ["--dry-run"] if command == "sync" else []
    result = invoke(command, *extra, *args, env=site_env(sandbox))
    assert result.exit_code == 2, result.output
    assert "matched no postmortem page" in result.stderr
    assert said in " ".join(result.stderr.split())
    assert "Nothing to do" not in result.output
    assert sandbox.stats.snapshot()["writes"] == 0


def test_filters_in_the_configuration_are_checked_too(sandbox: Any) -> None:
    """confluence.spaces with a typo (and a sync that is not a dry run) stops with exit 2
    naming the space, before any ticket is created."""
    env = site_env(sandbox, FOLLOWUP_CONFLUENCE__SPACES="SRE,PAYY")
    before = tickets(sandbox)
    result = invoke("sync", env=env)
    assert result.exit_code == 2, result.output
    assert "space PAYY: there is no space with that key" in " ".join(result.stderr.split())
    assert tickets(sandbox) == before
    assert sandbox.stats.snapshot()["writes"] == 0


def test_a_configured_space_without_postmortems_yet_is_not_an_error(sandbox: Any) -> None:
    """A space in confluence.spaces that exists but holds no postmortem yet (a team new
    to followup) is logged as a warning and the run succeeds; the same space given as
    --space on the command line is still an error."""
    from followup.sandbox.confluence import load
    from followup.sandbox.dataset import Dataset, SeedSpace

    load(sandbox.state, Dataset(spaces=(SeedSpace("NEW", "A new team"),)))
    env = site_env(sandbox, FOLLOWUP_CONFLUENCE__SPACES="SRE,NEW")
    result = invoke("sync", "--dry-run", env=env)
    assert result.exit_code == 0, result.output
    assert "space-without-postmortems" in result.stderr
    assert "space NEW (confluence.spaces) has no page matching" in result.stderr
    explicit = invoke("sync", "--dry-run", "--space", "NEW", env=site_env(sandbox))
    assert explicit.exit_code == 2, explicit.output
    assert "space NEW: no page there matches confluence.cql" in " ".join(explicit.stderr.split())


def test_matching_filters_cost_no_extra_request(sandbox: Any) -> None:
    """When every filter matches, nothing is asked about them: no space or page look-up."""
    result = invoke("sync", "--dry-run", "--space", "SRE", "--space", "PAY", env=site_env(sandbox))
    assert result.exit_code == 0, result.output
    routes = by_route(sandbox)
    assert "GET /wiki/rest/api/space/{spaceKey}" not in routes
    assert "GET /wiki/rest/api/content/{id}" not in routes
    result = invoke("sync", "--dry-run", "--page", "98000001", env=site_env(sandbox))
    assert result.exit_code == 0, result.output
    assert "GET /wiki/rest/api/content/{id}" not in by_route(sandbox)


def test_the_sandbox_on_a_port_in_use_says_so_and_exits_2(tmp_path: Path) -> None:
    """`followup sandbox --port N` with N taken: one clear message naming the port and
    what to do, exit 2, and no database created."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        state = tmp_path / "state" / "sandbox.sqlite3"
        done = run_cli(
            "sandbox", "--port", str(port), "--state-path", str(state), env={}, cwd=tmp_path
        )
    assert done.returncode == 2, done.stderr
    first, hint = done.stderr.strip().splitlines()
    assert first == (
        f"error: followup sandbox cannot listen on 127.0.0.1:{port}: the port is in use "
        "(by another sandbox, or another program)"
    )
    assert "--port 0 takes any free one" in hint
    assert not state.parent.exists()


def test_the_sandbox_writes_its_url_to_the_ready_file(tmp_path: Path) -> None:
    """`followup sandbox --port 0 --ready-file F --state-path :memory:` starts on a free
    port, writes its base URL to F once it answers, and accepts --faults as JSON."""
    import os
    import signal
    import subprocess
    import time

    import requests

    ready = tmp_path / "url"
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "followup",
            "sandbox",
            "--port",
            "0",
            "--state-path",
            ":memory:",
            "--ready-file",
            str(ready),
            "--faults",
            '{"search_lag_ms": 250, "rate_429": 0.5}',
            "--rate-429",
            "0",
        ],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # only guards against a hung test
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)
        url = ready.read_text().strip()
        faults = requests.get(f"{url}/_sandbox/faults", timeout=30).json()
        assert (faults["search_lag_ms"], faults["rate_429"]) == (250, 0.0)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


def test_bad_fault_json_is_wrong_usage() -> None:
    """`--faults` that is not JSON, or names an unknown fault, is a usage error (exit 2)."""
    assert invoke("sandbox", "--faults", "{").exit_code == 2
    result = invoke("sandbox", "--faults", '{"latency": 5}')
    assert result.exit_code == 2
    assert "unknown fault setting" in result.output


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("FOLLOWUP_JIRA_URL", "FOLLOWUP_JIRA__URL"),
        ("FOLLOWUP_CONFLUENCE_TOKEN", "FOLLOWUP_CONFLUENCE__TOKEN"),
        ("FOLLOWUP_SYNC__TIMEOUT_SECONDS", "FOLLOWUP_JIRA__TIMEOUT_SECONDS"),
        ("FOLLOWUP_JIRA__PROJET", "FOLLOWUP_JIRA__PROJECT"),
        ("followup_sync_orphans", "FOLLOWUP_SYNC__ORPHANS"),
    ],
)
def test_a_misspelt_variable_is_named_with_the_setting_it_meant(name: str, meant: str) -> None:
    """A FOLLOWUP_ variable that names no setting (one underscore short, a key in the
    wrong section, a typo) stops the command with exit 2, naming it and the nearest
    real setting; it is never silently ignored."""
    result = invoke("sync", "--dry-run", env={**SITE_ENV, name: "x"})
    assert result.exit_code == 2, result.output
    line = " ".join(result.stderr.split())
    assert f"{name}" in line
    assert f"unknown setting (did you mean {meant}" in line


def test_variables_that_are_not_settings_but_are_expected_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FOLLOWUP_CONFIG, FOLLOWUP_LOG_LEVEL, the test suite's own variables and what
    Kubernetes injects for a Service named followup-... are not taken for misspelt
    settings."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        "followup.commands.sync.sync_command", lambda s, **kw: seen.update(kw) or FakeRun()
    )
    env = {
        **SITE_ENV,
        "FOLLOWUP_LOG_LEVEL": "warning",
        "FOLLOWUP_PUSHGATEWAY_SERVICE_HOST": "10.0.0.7",
        "FOLLOWUP_PUSHGATEWAY_PORT_9091_TCP_ADDR": "10.0.0.7",
        "FOLLOWUP_SERVICE_PORT": "9091",
        "FOLLOWUP_SPECS_DIR": "/nowhere",  # the test suite's own
    }
    result = invoke("sync", "--dry-run", env=env)
    assert result.exit_code == 0, result.output
    assert seen


def closed_url() -> str:
    """The URL of a port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


COMMANDS = [
    ["sync"],
    ["sync", "--dry-run"],
    ["report"],
    ["doctor"],
    ["extract", "--page", "98000001"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("failure", ["rejected credentials", "no answer"])
def test_rejected_credentials_and_sites_that_do_not_answer_exit_2_everywhere(
    sandbox: Any, command: list[str], failure: str
) -> None:
    """Every command that talks to the sites exits 2, as the README says, when the
    credentials are refused or a site does not answer; nothing is written."""
    if failure == "rejected credentials":
        wrong = "not-the-right-token-0123"
        env = site_env(sandbox, FOLLOWUP_JIRA__TOKEN=wrong, FOLLOWUP_CONFLUENCE__TOKEN=wrong)
    else:
        closed = closed_url()
        env = site_env(
            sandbox, FOLLOWUP_JIRA__URL=closed, FOLLOWUP_CONFLUENCE__URL=f"{closed}/wiki"
        )
    result = invoke(*command, env=env)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert sandbox.stats.snapshot()["writes"] == 0


def test_a_connection_refused_says_nothing_was_sent_and_names_real_settings(
    sandbox: Any,
) -> None:
    """A site that refuses the connection: a short "could not connect" saying nothing
    was sent (not that the server may have carried out the request), and a hint whose
    settings all exist."""
    from followup.settings import Settings

    closed = closed_url()
    env = site_env(sandbox, FOLLOWUP_JIRA__URL=closed, FOLLOWUP_CONFLUENCE__URL=f"{closed}/wiki")
    for command in (["sync"], ["report"], ["extract", "--page", "98000001"]):
        result = invoke(*command, env=env)
        text = " ".join(result.stderr.split())
        assert f"could not connect to {closed[len('http://') :]}: Connection refused" in text
        assert "nothing was sent" in text
        assert "may or may not have carried out" not in text
        for section, key in re.findall(r"\b(jira|confluence|sync)\.(\w+)", text):
            fields = type(getattr(Settings(), section)).model_fields
            assert key in fields, f"the hint names {section}.{key}, which does not exist"


def test_a_timeout_hint_names_a_setting_that_exists() -> None:
    """The hint for an answer that never came names the timeout setting that exists
    (jira.timeout_seconds, not sync.timeout_seconds), and says the outcome is unknown."""
    import requests

    from followup.adapters.http import translate_error
    from followup.settings import Settings

    error = translate_error(
        requests.exceptions.ReadTimeout("read timed out"),
        service="jira",
        method="POST",
        url="https://acme.atlassian.net/rest/api/2/issue/bulk",
    )
    assert error.ambiguous
    assert error.hint is not None
    assert "jira.timeout_seconds" in error.hint
    assert "timeout_seconds" in type(Settings().jira).model_fields
    assert "sync.timeout_seconds" not in error.hint


def test_a_real_site_needs_a_project(sandbox: Any) -> None:
    """No silent default project: without jira.project, sync, report and doctor stop
    with exit 2 naming FOLLOWUP_JIRA__PROJECT, and nothing is created anywhere."""
    env = site_env(sandbox)
    del env["FOLLOWUP_JIRA__PROJECT"]
    before = tickets(sandbox)
    for command in ("sync", "report"):
        result = invoke(command, env=env)
        assert result.exit_code == 2, result.output
        assert "FOLLOWUP_JIRA__PROJECT / [jira] project: field required" in result.stderr
    result = invoke("doctor", env=env)
    assert result.exit_code == 2
    assert "[FAIL] config: FOLLOWUP_JIRA__PROJECT / [jira] project: field required" in (
        result.stdout
    )
    assert sandbox.stats.snapshot()["requests"] == 0
    assert tickets(sandbox) == before


def test_extract_prints_an_unparseable_page_finding_once(tmp_path: Path) -> None:
    """A page body that is not storage format: the unparseable-page finding is shown
    once (under the table), not twice."""
    page = tmp_path / "broken.xml"
    page.write_text("<ac:task-list><ac:task><ac:task-body>x</ac:task", encoding="utf-8")
    result = invoke("extract", str(page))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("unparseable-page") == 1


def test_extract_prints_each_item_finding_once(tmp_path: Path) -> None:
    """An item's findings are listed in full below the table, each once."""
    page = tmp_path / "p.xml"
    page.write_text(PAGE.replace('<time datetime="2025-04-01" />', ""), encoding="utf-8")
    result = invoke("extract", str(page))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("has no due date") == 1


def test_report_publish_to_a_missing_page_says_so_once(sandbox: Any) -> None:
    """`report --publish` to a page id that does not exist: the report is printed, then
    one error line and one hint (each once), exit 1, and nothing is written."""
    result = invoke("report", "--publish", "123456", env=site_env(sandbox))
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("Follow-up health")
    assert result.stderr.count("--publish 123456: there is no Confluence page") == 1
    assert result.stderr.count("hint:") == 1
    assert sandbox.stats.snapshot()["writes"] == 0


ROOT = Path(__file__).resolve().parent.parent


def _help_options(*args: str) -> set[str]:
    """The long options a command's --help lists."""
    import subprocess

    done = subprocess.run(
        [sys.executable, *args, "--help"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"--[a-z][a-z0-9-]+", done.stdout))


def test_the_sandbox_options_the_docs_list_exist() -> None:
    """Every option in docs/sandbox.md's table works with `followup sandbox` and with
    `python -m followup.sandbox.server`, and every option of `followup sandbox` is
    documented there or in the README."""
    doc = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Running it") : doc.index("### From Python")]
    table = set(re.findall(r"^\| `(--[a-z-]+)`", section, flags=re.MULTILINE))
    assert {"--state-path", "--faults", "--ready-file", "--port"} <= table
    cli = _help_options("-m", "followup", "sandbox")
    server = _help_options("-m", "followup.sandbox.server")
    assert table <= cli, table - cli
    assert table <= server, table - server
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    undocumented = {o for o in cli - {"--help", "--state"} if o not in section + readme}
    assert not undocumented


@pytest.mark.parametrize("command", ["sync", "report", "extract", "doctor", "sandbox"])
def test_every_option_of_every_command_is_in_the_readme_or_its_doc(command: str) -> None:
    """The README (or the doc it points to for the command) names every option the
    command has: `extract --page` included."""
    docs = {"sandbox": "docs/sandbox.md", "report": "docs/reporting.md"}
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if command in docs:
        text += (ROOT / docs[command]).read_text(encoding="utf-8")
    options = _help_options("-m", "followup", command) - {"--help"}
    if command == "sandbox":
        options -= {"--state"}  # the old name of --state-path
    assert {o for o in options if o not in text} == set()
    if command == "extract":
        assert "`followup extract --page ID`" in text
