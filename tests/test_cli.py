"""The command line: wiring, and the one place where errors become exit codes."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from followup import __version__
from followup.cli import app, parse_interval, parse_today
from followup.errors import AuthenticationError, PlanError, ServerError

pytestmark = pytest.mark.usefixtures("clean_env", "reset_logging")

TOKEN = "cli-test-token-0123456789"
SITE_ENV = {
    "FOLLOWUP_JIRA__URL": "https://acme.atlassian.net",
    "FOLLOWUP_JIRA__EMAIL": "bot@acme.example",
    "FOLLOWUP_JIRA__TOKEN": TOKEN,
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


def fake_module(
    monkeypatch: pytest.MonkeyPatch, name: str, attr: str, function: Callable[..., Any]
) -> None:
    """Stand in for a module that another part of the code base provides."""
    module = types.ModuleType(name)
    setattr(module, attr, function)
    monkeypatch.setitem(sys.modules, name, module)


def raising(error: BaseException) -> Callable[..., int]:
    def function(*_args: Any, **_kwargs: Any) -> int:
        raise error

    return function


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
    result = invoke("doctor", env={"FOLLOWUP_SYNC__ORPHANS": "delete"})
    assert result.exit_code == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: FOLLOWUP_SYNC__ORPHANS / [sync] orphans: ")
    assert all(line.startswith("  hint:") for line in rest)
    assert "Traceback" not in result.output


def test_a_bad_config_file_exits_2(tmp_path: Path) -> None:
    """--config with a typo'd key fails before anything runs."""
    config = tmp_path / "followup.toml"
    config.write_text('[jira]\nprojekt = "OPS"\n')
    result = invoke("--config", str(config), "doctor")
    assert result.exit_code == 2
    assert "FOLLOWUP_JIRA__PROJEKT / [jira] projekt: unknown setting" in result.stderr


def test_an_unexpected_exception_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug exits 1 with one 'internal error' line and where the log is; no traceback."""
    fake_module(monkeypatch, "followup.doctor", "run_doctor", raising(RuntimeError("boom")))
    result = invoke("doctor")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "internal error: RuntimeError: boom"
    assert "--log-level debug" in result.stderr
    assert "Traceback" not in result.output


def test_debug_level_shows_the_traceback_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """With --log-level debug the traceback is logged, and a token in it is redacted."""
    error = RuntimeError(f"rejected {TOKEN}")
    fake_module(monkeypatch, "followup.doctor", "run_doctor", raising(error))
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
    fake_module(monkeypatch, "followup.doctor", "run_doctor", raising(error))
    result = invoke("doctor")
    assert result.exit_code == code
    assert result.stderr.startswith(line)
    assert "Traceback" not in result.output


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt ends the command with 130."""
    fake_module(monkeypatch, "followup.doctor", "run_doctor", raising(KeyboardInterrupt()))
    result = invoke("doctor")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_a_command_missing_from_the_build_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command whose module is absent prints 'not available in this build' and exits 2."""
    monkeypatch.setitem(sys.modules, "followup.doctor", None)
    result = invoke("doctor")
    assert result.exit_code == 2
    assert result.stderr.strip() == "followup doctor: not available in this build"


def test_doctor_returns_its_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor's exit code is the function's return value."""
    fake_module(monkeypatch, "followup.doctor", "run_doctor", lambda settings: 3)
    assert invoke("doctor").exit_code == 3


def test_sync_passes_its_options_to_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """sync collects its options and hands them to runner.sync_command unchanged."""
    seen: dict[str, Any] = {}

    def sync_command(settings: Any, **options: Any) -> int:
        seen.update(options, settings=settings)
        return 3

    fake_module(monkeypatch, "followup.runner", "sync_command", sync_command)
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
        "detailed_exitcode": True,
    }


def test_sync_requires_site_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """sync without credentials names what is missing and never calls the runner."""
    fake_module(monkeypatch, "followup.runner", "sync_command", raising(AssertionError()))
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
    outcomes: list[BaseException | int] = [
        ServerError("down", service="jira", status=503),
        0,
        KeyboardInterrupt(),
    ]
    intervals: list[float] = []

    def sync_command(settings: Any, **options: Any) -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def no_wait(interval: float, jitter: float, rng: Any) -> float:
        intervals.append(interval)
        return 0.0

    fake_module(monkeypatch, "followup.runner", "sync_command", sync_command)
    monkeypatch.setattr("followup.watch.next_delay", no_wait)
    result = invoke("sync", "--watch", "--interval", "2m", env=SITE_ENV)
    assert result.exit_code == 130, result.output
    assert outcomes == []
    assert intervals == [120.0, 120.0]
    assert "watch-run-failed" in result.stderr


def test_report_passes_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """report hands format, output, spaces and today to reporting.report_command."""
    seen: dict[str, Any] = {}

    def report_command(settings: Any, **options: Any) -> int:
        seen.update(options)
        return 0

    fake_module(monkeypatch, "followup.reporting", "report_command", report_command)
    result = invoke("report", "--format", "html", "--output", "r.html", env=SITE_ENV)
    assert result.exit_code == 0, result.output
    assert seen == {"fmt": "html", "output": Path("r.html"), "spaces": (), "today": None}


def test_sandbox_passes_its_options_to_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sandbox hands host, port, flavor, seed, state and the fault knobs to serve()."""
    seen: dict[str, Any] = {}
    fake_module(monkeypatch, "followup.sandbox.server", "serve", lambda **kw: seen.update(kw))
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
    assert state.parent.is_dir()
    assert seen == {
        "host": "127.0.0.1",
        "port": 9000,
        "flavor": "datacenter",
        "seed": "empty",
        "state_path": str(state),
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
    fake_module(monkeypatch, "followup.sandbox.server", "serve", lambda **kw: seen.update(kw))
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
