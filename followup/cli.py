"""The `followup` command line: parse, build settings, call one function, render.

This is the one place that turns errors and outcomes into exit codes:

    0    success; with `sync --detailed-exitcode`, a dry run with nothing to change
    1    a run that failed (some actions did not go through; the report lists them), a
         doctor check that failed, another FollowupError, or an internal error (a bug:
         "internal error: ...")
    2    nothing was done because of the usage, the settings, the credentials or a
         site that cannot be used (`FollowupError.setup_problem`, typer's usage errors,
         a doctor whose settings, sites or credentials failed)
    3    `sync --detailed-exitcode`: a dry run with changes pending
    130  interrupted (Ctrl-C)

Each command imports what it runs inside its own body, plainly (mypy checks every
call), so that `followup --help` and `followup --version` load no HTTP client, engine
or sandbox.
"""

# Why typer: options are typed function parameters (the type is the validation and the
# help), help text is generated from them, and click's model underneath (which typer
# vendors) gives the usual conventions: usage errors exit 2, a test runner, env vars
# for options.

from __future__ import annotations

import enum
import json
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from followup import __version__
from followup.errors import ConfigError, FollowupError
from followup.logconfig import configure_logging, redact_text
from followup.reports.escaping import terminal_text
from followup.settings import CONFIG_ENV_VAR, Settings, load_settings

if TYPE_CHECKING:
    from followup.commands.doctor import Checklist
    from followup.sync.engine import RunResult

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_SETUP",
    "app",
    "exit_code_for_checks",
    "exit_code_for_error",
    "exit_code_for_run",
    "main",
]

log = structlog.get_logger("followup.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_PENDING = 3
EXIT_INTERRUPTED = 130


def exit_code_for_error(error: FollowupError) -> int:
    """2 for an error that stopped followup before it could work, 1 for the others."""
    return EXIT_SETUP if error.setup_problem else EXIT_FAILED


def exit_code_for_run(result: RunResult, *, detailed: bool) -> int:
    """A sync's exit code: 1 when anything failed; with `detailed`, 3 for a dry run
    with changes pending; else 0."""
    if result.failed:
        return EXIT_FAILED
    if detailed and result.dry_run and result.pending:
        return EXIT_PENDING
    return EXIT_OK


def exit_code_for_checks(checklist: Checklist) -> int:
    """The doctor's exit code: as a sync's would be, 2 when a check that any command
    needs first (the settings, a site answering, the credentials) failed, 1 when
    another check failed, else 0 (warnings allowed)."""
    if checklist.setup_failed:
        return EXIT_SETUP
    return EXIT_FAILED if checklist.failed else EXIT_OK


def _stderr() -> Console:
    # soft_wrap: a message is never broken across lines (tests and log scrapers grep it).
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_error(message: str) -> None:
    # Text, not markup: "[jira] url" must print as written, not as a style tag; and
    # no control characters, whatever a site or a page put into the message.
    lines = [terminal_text(line) for line in message.splitlines()]
    _stderr().print(Text("\n".join(lines), style="bold red"))


@dataclass(frozen=True, slots=True)
class _Globals:
    """What the global options said, for the commands below."""

    config: Path | None
    log_level: str


class _Group(TyperGroup):
    """The root command, with the one handler that maps errors to exit codes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            # Exit codes chosen on purpose, and typer's own usage errors (exit 2).
            raise
        except FollowupError as exc:
            log.debug("command failed", error=type(exc).__name__, exc_info=True)
            _print_error(f"error: {redact_text(exc.show())}")
            raise typer.Exit(exit_code_for_error(exc)) from None
        except KeyboardInterrupt:
            _print_error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            debug = isinstance(ctx.obj, _Globals) and ctx.obj.log_level == "debug"
            summary = f"{type(exc).__name__}: {redact_text(str(exc))}"
            _print_error(f"internal error: {summary}")
            where = (
                "the traceback follows in the log (standard error)"
                if debug
                else "the log (standard error) has the details; run again with "
                "--log-level debug for the traceback"
            )
            _stderr().print(Text(f"  {where}"))
            log.error("internal error", error=summary, exc_info=debug)
            raise typer.Exit(EXIT_FAILED) from None


app = typer.Typer(
    cls=_Group,
    name="followup",
    help="Keeps postmortem action items and their Jira tickets in step.",
    no_args_is_help=True,
    add_completion=False,
    # Our handler above reports errors; a rich traceback could also print secrets.
    pretty_exceptions_enable=False,
)


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"followup {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_ENV_VAR,
            dir_okay=False,
            help="TOML config file. Environment variables override it.",
        ),
    ] = None,
    log_level: Annotated[
        LogLevel,
        typer.Option("--log-level", envvar="FOLLOWUP_LOG_LEVEL", case_sensitive=False),
    ] = LogLevel.INFO,
    log_json: Annotated[
        bool | None,
        typer.Option(
            "--log-json/--no-log-json",
            help="JSON log lines on standard error (default: when it is not a terminal).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Keeps postmortem action items and their Jira tickets in step."""
    configure_logging(str(log_level), json=log_json)
    ctx.obj = _Globals(config=config, log_level=str(log_level))


def _globals(ctx: typer.Context) -> _Globals:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, _Globals) else _Globals(config=None, log_level="info")


def _settings(ctx: typer.Context) -> Settings:
    return load_settings(_globals(ctx).config)


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


# --- sandbox ---------------------------------------------------------------------


class Flavor(enum.StrEnum):
    CLOUD = "cloud"
    DATACENTER = "datacenter"


class Seed(enum.StrEnum):
    DEMO = "demo"
    EMPTY = "empty"


_FAULT_OPTIONS = {
    # option parameter -> key of followup.sandbox.faults.FaultConfig (PUT /_sandbox/faults)
    "latency_ms": "latency_ms",
    "rate_429": "rate_429",
    "retry_after_s": "retry_after_s",
    "rate_5xx": "rate_5xx",
    "drop_response_after_write": "drop_response_after_write",
    "fault_seed": "seed",
}


def _fault_json(value: str | None) -> dict[str, Any] | None:
    """`--faults`: a JSON object of fault settings, as PUT /_sandbox/faults takes."""
    if value is None:
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise typer.BadParameter('must be a JSON object such as {"rate_429": 0.1}')
    return data


@app.command(rich_help_panel="Try it")
def sandbox(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free).")] = 8089,
    flavor: Annotated[Flavor, typer.Option(help="Act as Jira/Confluence Cloud or DC.")] = (
        Flavor.CLOUD
    ),
    seed: Annotated[Seed, typer.Option(help="Start with demo pages and users, or empty.")] = (
        Seed.DEMO
    ),
    state: Annotated[
        str,
        typer.Option(
            "--state-path",
            "--state",
            help="SQLite file for the sandbox's data; ':memory:' keeps none.",
        ),
    ] = ".followup/sandbox.sqlite3",
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            dir_okay=False,
            help="Write the base URL to this file once the sandbox accepts connections.",
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="JSON",
            help="Fault settings as JSON (every key of PUT /_sandbox/faults, see "
            "docs/sandbox.md); the options below override it.",
        ),
    ] = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Added to every response.")] = 0,
    rate_429: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 429.")
    ] = 0.0,
    retry_after_s: Annotated[
        int, typer.Option(min=0, help="Retry-After seconds sent with a 429.")
    ] = 1,
    rate_5xx: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 5xx.")
    ] = 0.0,
    drop_response_after_write: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of writes carried out whose response is dropped."
        ),
    ] = 0.0,
    fault_seed: Annotated[
        int | None, typer.Option(help="Seed for the fault dice, for repeatable runs.")
    ] = None,
) -> None:
    """Run a local Jira + Confluence stand-in (no account needed). See docs/sandbox.md."""
    from followup.commands.sandbox import check_faults, sandbox_command

    given = {
        "latency_ms": latency_ms,
        "rate_429": rate_429,
        "retry_after_s": retry_after_s,
        "rate_5xx": rate_5xx,
        "drop_response_after_write": drop_response_after_write,
        "fault_seed": fault_seed,
    }
    fault_config = _fault_json(faults)
    if fault_config is None:
        fault_config = {_FAULT_OPTIONS[name]: value for name, value in given.items()}
    else:
        for name, value in given.items():
            source = ctx.get_parameter_source(name)
            if source is not None and source.name != "DEFAULT":  # given on the command line
                fault_config[_FAULT_OPTIONS[name]] = value
    try:
        check_faults(fault_config)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    sandbox_command(
        host=host,
        port=port,
        flavor="datacenter" if flavor is Flavor.DATACENTER else "cloud",
        seed=str(seed),
        state_path=state,
        faults=fault_config,
        ready_file=str(ready_file) if ready_file is not None else None,
    )


# --- extract ---------------------------------------------------------------------


class ExtractFormat(enum.StrEnum):
    JSON = "json"
    TEXT = "text"


@app.command(rich_help_panel="Inspect")
def extract(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="PAGE.xml",
            exists=True,
            dir_okay=False,
            readable=True,
            help="A page body in Confluence storage format.",
        ),
    ] = None,
    page_id: Annotated[
        str | None,
        typer.Option("--page-id", help="Page id for the item keys (default: the file's name)."),
    ] = None,
    page: Annotated[
        str | None, typer.Option("--page", help="Fetch this page id from the configured site.")
    ] = None,
    fmt: Annotated[ExtractFormat, typer.Option("--format")] = ExtractFormat.TEXT,
) -> None:
    """Show the action items and findings followup reads off one page."""
    from followup.commands.extract import extract_command

    if (file is None) == (page is None):
        raise typer.BadParameter("give either a PAGE.xml file or --page ID", param_hint="PAGE.xml")
    extract_command(_settings(ctx), file=file, page=page, page_id=page_id, fmt=str(fmt))


# --- sync and report --------------------------------------------------------------


class ReportFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTERVAL = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


def parse_today(value: str) -> date:
    """`--today`: a calendar date written YYYY-MM-DD."""
    if _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise typer.BadParameter(f"expected a date as YYYY-MM-DD, e.g. 2025-03-14 (got {value!r})")


def parse_interval(value: str) -> float:
    """`--interval`: seconds, or a duration such as 90s, 15m, 1h, 1h30m."""
    text = value.strip().lower()
    seconds: float | None = None
    if text.isdigit():
        seconds = float(text)
    elif text and (match := _INTERVAL.fullmatch(text)):
        seconds = float(
            int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
        )
    if not seconds:
        raise typer.BadParameter(
            f"expected a duration such as 90s, 15m, 1h or 1h30m (got {value!r})"
        )
    return seconds


def _check_page_ids(values: list[str] | None) -> list[str] | None:
    """`--page`: Confluence page ids are digits (the number in the page's address)."""
    from followup.core.queries import check_page_id

    for value in values or ():
        try:
            check_page_id(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not a Confluence page id: it is the number in the page's "
                "address, as in .../pages/98000001"
            ) from None
    return values


def _check_space_keys(values: list[str] | None) -> list[str] | None:
    """`--space`: Confluence space keys (SRE, or ~name for a personal space)."""
    from followup.core.queries import check_space_key

    for value in values or ():
        try:
            check_space_key(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not a Confluence space key: letters and digits (such as "
                "SRE), or ~ and a user name for a personal space"
            ) from None
    return values


def check_output(path: Path | None, option: str = "--output") -> None:
    """Fail before a run (exit 2) when its report could not be written to `path`: a
    folder that does not exist, a path that is a folder, a file or folder that may not
    be written. Nothing is created or changed by the check."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise typer.BadParameter(f"{str(path)!r} is a folder; give a file name", param_hint=option)
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise typer.BadParameter(
            f"cannot write {str(path)!r}: the folder {str(parent)!r} {what}", param_hint=option
        )
    try:
        if path.exists():
            with path.open("a", encoding="utf-8"):
                pass  # opening to append changes neither the content nor the time
        else:
            with tempfile.TemporaryFile(dir=parent):
                pass  # the folder takes a new file (removed at once)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {str(path)!r}: {exc.strerror or exc}", param_hint=option
        ) from None


Today = Annotated[
    date | None,
    typer.Option(
        "--today",
        parser=parse_today,
        metavar="YYYY-MM-DD",
        help="Judge due dates as of this day (default: today in sync.timezone).",
    ),
]
Output = Annotated[
    Path | None,
    typer.Option("--output", dir_okay=False, help="Write the report here instead of stdout."),
]
Spaces = Annotated[
    list[str] | None,
    typer.Option(
        "--space",
        metavar="KEY",
        callback=_check_space_keys,
        help="Only pages in this space (repeatable).",
    ),
]


@app.command(rich_help_panel="Run")
def sync(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and report, write nothing.")
    ] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.TEXT,
    output: Output = None,
    space: Spaces = None,
    page: Annotated[
        list[str] | None,
        typer.Option(
            "--page",
            metavar="ID",
            callback=_check_page_ids,
            help="Only this page (repeatable).",
        ),
    ] = None,
    today: Today = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Make the exit code tell 'nothing to change' from 'changes planned or made'.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Read every page and ticket, not only what changed since the last run.",
        ),
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running, one sync per --interval.")
    ] = False,
    interval: Annotated[
        str, typer.Option("--interval", help="Time between runs with --watch (90s, 15m, 1h).")
    ] = "15m",
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            dir_okay=False,
            help="Write run metrics here for node_exporter's textfile collector (*.prom); "
            "overrides [metrics] textfile.",
        ),
    ] = None,
) -> None:
    """Make every action item have one ticket, and page and tickets agree."""
    from followup.commands.sync import sync_command
    from followup.commands.watch import stop_on_signals
    from followup.commands.watch import watch as watch_loop
    from followup.metrics import SyncMetrics

    seconds = parse_interval(interval)
    if watch and today is not None:
        raise typer.BadParameter(
            "cannot be used with --watch (every run uses its own day)", param_hint="--today"
        )
    if watch and detailed_exitcode:
        raise typer.BadParameter("cannot be used with --watch", param_hint="--detailed-exitcode")
    # Before anything is read or written: a run must not end unable to write its report.
    check_output(output)
    check_output(metrics_file, "--metrics-file")
    config = _globals(ctx).config

    def load() -> Settings:
        loaded = load_settings(config)
        if metrics_file is not None:
            loaded.metrics.textfile = metrics_file
        return loaded

    settings = load()
    settings.require_sites()
    # One registry for the process: --watch's counters grow from run to run.
    metrics = SyncMetrics()

    def run_once(current: Settings, stop: threading.Event | None = None) -> int:
        result = sync_command(
            current,
            dry_run=dry_run,
            fmt=str(fmt),
            output=output,
            spaces=tuple(space or ()),
            pages=tuple(page or ()),
            today=today,
            metrics=metrics,
            stop=stop,
            full=full,
        )
        return exit_code_for_run(result, detailed=detailed_exitcode)

    if not watch:
        # SIGTERM (a pod or unit being stopped) ends the run between pages, cleanly.
        stop = threading.Event()
        with stop_on_signals(stop, []):
            code = run_once(settings, stop)
        _exit(code)
    # Settings are read again before each run: a rotated token file is picked up.
    _exit(watch_loop(run_once, load, interval=seconds))


@app.command(rich_help_panel="Run")
def report(
    ctx: typer.Context,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.TEXT,
    output: Output = None,
    space: Spaces = None,
    today: Today = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            metavar="PAGE_ID",
            help="Also write the report onto this Confluence page (tables and status "
            "lozenges; the rest of the page is kept).",
        ),
    ] = None,
) -> None:
    """Report the follow-up health of every postmortem: open, done and overdue action
    items, by space, owner and age, completion times. Changes nothing in Jira."""
    from followup.commands.report import report_command

    check_output(output)
    settings = _settings(ctx)
    settings.require_sites()
    report_command(
        settings,
        fmt=str(fmt),
        output=output,
        spaces=tuple(space or ()),
        today=today,
        publish=publish,
    )


@app.command(rich_help_panel="Run")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default [serve] host, 127.0.0.1).", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port (default [serve] port, 8080).", show_default=False
        ),
    ] = None,
    register: Annotated[
        bool,
        typer.Option(
            "--register",
            help="Register (or update) the Jira and Confluence webhooks that deliver to "
            "[serve] public_url, then exit.",
        ),
    ] = False,
) -> None:
    """Receive Jira and Confluence webhooks and re-sync each page they are about, as
    `sync --page` does; run the scheduled sync beside it as the safety net."""
    settings = _settings(ctx)
    settings.require_sites()
    if register:
        from followup.commands.webhooks import register_webhooks

        for done in register_webhooks(settings):
            line = f"{done.product}: {done.status} {done.url}"
            if done.detail:
                line += f" ({done.detail})"
            typer.echo(terminal_text(line))
        return
    from followup.commands.serve import serve_command

    serve_command(
        settings,
        host=host if host is not None else settings.serve.host,
        port=port if port is not None else settings.serve.port,
    )


@app.command(rich_help_panel="Run")
def doctor(ctx: typer.Context) -> None:
    """Check settings, connectivity, credentials and permissions, one line each."""
    from followup.commands.doctor import config_failed, run_doctor

    try:
        settings = _settings(ctx)
    except ConfigError as exc:
        # The checklist's first line fails, saying why (once: not again on stderr).
        _exit(exit_code_for_checks(config_failed(exc)))
    _exit(exit_code_for_checks(run_doctor(settings)))


class ExplainFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command(rich_help_panel="Inspect")
def explain(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            metavar="ITEM-KEY|TICKET-KEY",
            help="An item key (98000001:task:3, from a sync report or `extract`) or a "
            "ticket key (OPS-12).",
        ),
    ],
    today: Today = None,
    fmt: Annotated[ExplainFormat, typer.Option("--format")] = ExplainFormat.TEXT,
) -> None:
    """Why an item does what it does: the page, what was read, the ticket, the sync
    base, how they were matched, and the plan. Writes nothing."""
    from followup.commands.explain import explain_command

    settings = _settings(ctx)
    settings.require_sites()
    explain_command(settings, key, today=today, fmt=str(fmt))


@app.command(rich_help_panel="Inspect")
def resolve(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="TICKET-KEY|ITEM-KEY", help="The ticket of the conflict.")
    ],
) -> None:
    """Mark a ticket's conflicts resolved: the values followup kept are the right ones.
    (A conflict also clears by itself when someone changes the field again.)"""
    from followup.commands.explain import resolve_command

    settings = _settings(ctx)
    settings.require_sites()
    resolve_command(settings, key)


def main() -> None:
    """The `followup` console script and `python -m followup`."""
    app(prog_name="followup")
