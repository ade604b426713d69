"""Secrets: the API token never shows up anywhere followup writes (standard output,
standard error, logs in JSON and console form, reports in every format, exception
text) nor anywhere it writes to (pages, tickets, their HTML views), nor in the recorded
cassettes; and TLS certificates are checked unless a setting turns that off, loudly.

The end-to-end commands run against a sandbox whose admin has a token nobody could
mistake for anything else; every byte they produce is searched for it and for the
Basic credential built from it. They run through the CLI's entry point in this
process, each as a fresh process would start (no secret registered yet, logging
configured afresh, only the sandbox's FOLLOWUP_* variables), with standard output,
standard error and what the libraries log through the standard library's `logging`
captured. One failing run goes through a real process as well, for what only a
process shows: whatever the interpreter itself prints. (The sandbox's own start-up
banner, which prints its demo token on purpose, is not followup's output and is not
run here.)
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import structlog
import uvicorn
from reliability_support import REPO, TODAY, Site
from sandbox_support import reset_server
from structlog.testing import capture_logs
from typer.testing import CliRunner

from followup.cli import app
from followup.commands.sites import from_settings
from followup.errors import FollowupError
from followup.logconfig import clear_secrets
from followup.sandbox.app import create_app
from followup.sandbox.seed import DEMO_ADMIN, demo_dataset
from followup.sandbox.server import RunningSandbox, open_state
from followup.settings import load_settings

TOKEN = "tok-SECRET-9f8e7d6c5b4a3210-followup"
WRONG = "tok-WRONG-0a1b2c3d4e5f6789-followup"
EMAIL = DEMO_ADMIN.email


def _basic(token: str) -> str:
    return base64.b64encode(f"{EMAIL}:{token}".encode()).decode("ascii")


FORBIDDEN = {
    "the token": TOKEN,
    "the Basic credential": _basic(TOKEN),
    "the wrong token": WRONG,
    "the wrong Basic credential": _basic(WRONG),
}


def assert_clean(where: str, text: str) -> None:
    for what, secret in FORBIDDEN.items():
        assert secret not in text, f"{what} appears in {where}"


@pytest.fixture
def site(sandbox_server: RunningSandbox) -> Site:
    """The demo site, its admin logging in with TOKEN."""
    demo = demo_dataset()
    users = tuple(
        dataclasses.replace(u, token=TOKEN) if u.account_id == DEMO_ADMIN.account_id else u
        for u in demo.users
    )
    reset_server(sandbox_server, dataclasses.replace(demo, users=users))
    site = Site.of(sandbox_server)
    assert site.env["FOLLOWUP_JIRA__TOKEN"] == TOKEN
    return site


class _CurrentStderr(logging.Handler):
    """What Python's last-resort handler prints for a process that configured no
    logging (warnings and above, on standard error), written to whatever standard
    error is at the time (the runner's capture)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def run_cli(site: Site, *args: str, **extra: str) -> tuple[int, str]:
    """`followup <args>` through the CLI's entry point in this process, started as a
    fresh process would be: the sandbox's FOLLOWUP_* variables (and `extra`) and no
    other, no secret registered, logging not yet configured. Returns the exit code
    and everything printed: standard output, standard error, and the warnings the
    libraries log through the standard library's `logging`."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FOLLOWUP_")}
    clear_secrets()
    structlog.reset_defaults()
    handler = _CurrentStderr()
    logging.getLogger().addHandler(handler)
    try:
        result = CliRunner().invoke(
            app,
            list(args),
            env={**unset, **site.env, **extra},
            prog_name="followup",
            catch_exceptions=False,
        )
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
        clear_secrets()
    return result.exit_code, result.stdout + "\n" + result.stderr


def run_process(site: Site, *args: str, **extra: str) -> tuple[int, str]:
    """`python -m followup <args>` in its own process: exit code, stdout + stderr."""
    process = site.cli(*args, env=site.cli_env(**extra))
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout + "\n" + stderr


def test_no_output_of_any_command_holds_the_token(site: Site, tmp_path: Path) -> None:
    """Dry runs in every report format, real runs writing reports to files, extract,
    doctor, and the failures (a wrong token, a site that is down, a site that only
    answers 5xx), with debug logs as JSON and as console text: the token and its Basic
    form are nowhere in what they print or write."""
    day = ["--today", TODAY.isoformat()]
    page = tmp_path / "page.xml"
    page.write_text(site.body("98000001"), encoding="utf-8")
    down = socket.socket()
    down.bind(("127.0.0.1", 0))  # a port nobody listens on
    closed = f"http://127.0.0.1:{down.getsockname()[1]}"
    down.close()

    debug = ["--log-level", "debug"]
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        (
            f"sync --dry-run --format {fmt}",
            [*debug, log, "sync", "--dry-run", "--format", fmt, *day],
            {},
        )
        for fmt, log in (
            ("text", "--log-json"),
            ("json", "--no-log-json"),
            ("markdown", "--log-json"),
            ("html", "--no-log-json"),
        )
    ]
    commands += [
        ("extract", [*debug, "extract", str(page)], {}),
        ("extract --format json", ["extract", str(page), "--format", "json"], {}),
        (
            "sync with a wrong token",
            [*debug, "--log-json", "sync", "--dry-run", *day],
            {"FOLLOWUP_JIRA__TOKEN": WRONG, "FOLLOWUP_CONFLUENCE__TOKEN": WRONG},
        ),
        (
            "sync against a site that is down",
            [*debug, "--no-log-json", "sync", *day],
            {"FOLLOWUP_JIRA__URL": closed, "FOLLOWUP_CONFLUENCE__URL": f"{closed}/wiki"},
        ),
        ("doctor", [*debug, "--log-json", "doctor"], {}),
    ]
    reports = {fmt: tmp_path / f"report.{fmt}" for fmt in ("html", "json", "text", "markdown")}
    # The first writes (tickets, badges); the others find nothing to do.
    commands += [
        (f"sync --format {fmt}", [*debug, "--log-json", "sync", "--format", fmt, "--output",
                                  str(path), *day], {})
        for fmt, path in reports.items()
    ]  # fmt: skip
    results = {name: run_cli(site, *args, **extra) for name, args, extra in commands}
    assert results["sync with a wrong token"][0] == 2
    assert results["sync against a site that is down"][0] == 2
    assert results["sync --dry-run --format json"][0] == 0
    for fmt in reports:
        assert results[f"sync --format {fmt}"][0] == 0, results[f"sync --format {fmt}"][1][-2000:]

    site.set_faults(rate_5xx=1.0)
    failing = ["--log-level", "debug", "--log-json", "sync", *day]
    budget = {"FOLLOWUP_SYNC__RUN_BUDGET_SECONDS": "1"}
    results["sync against a site answering only 5xx"] = run_cli(site, *failing, **budget)
    # The same failing run in a process of its own: nothing the interpreter prints
    # (a library's warning, a traceback at exit) holds the token either.
    results["sync against a site answering only 5xx (a process)"] = run_process(
        site, *failing, **budget
    )
    site.clear_faults()
    assert results["sync against a site answering only 5xx"][0] == 2
    assert results["sync against a site answering only 5xx (a process)"][0] == 2

    # (Guard) the capture holds the debug logs and the reports, not just the exit codes.
    assert '"event": "sync-summary"' in results["sync --dry-run --format text"][1]
    assert '"summary"' in results["sync --dry-run --format json"][1]
    assert "sync-summary" in results["sync against a site answering only 5xx (a process)"][1]
    for name, (_, text) in results.items():
        assert_clean(f"the output of `followup {name}`", text)
    for fmt, path in reports.items():
        assert_clean(f"the {fmt} report", path.read_text(encoding="utf-8"))
    json.loads(reports["json"].read_text())  # a real report, not an error page


def test_a_personal_access_token_is_never_printed(dc_sandbox_server: RunningSandbox) -> None:
    """On Data Center with `auth = "pat"`: a dry run and a refused token, with debug
    logs as JSON and as text, print neither the token nor its Bearer header."""
    demo = demo_dataset()
    users = tuple(
        dataclasses.replace(u, token=TOKEN) if u.account_id == DEMO_ADMIN.account_id else u
        for u in demo.users
    )
    reset_server(dc_sandbox_server, dataclasses.replace(demo, users=users))
    site = Site.of(dc_sandbox_server)
    pat = {
        "FOLLOWUP_JIRA__AUTH": "pat",
        "FOLLOWUP_JIRA__EMAIL": "",
        "FOLLOWUP_CONFLUENCE__EMAIL": "",
    }
    day = ["--today", TODAY.isoformat()]
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        (
            "sync --dry-run (pat)",
            ["--log-level", "debug", "--log-json", "sync", "--dry-run", *day],
            pat,
        ),
        (
            "sync --dry-run (pat, text logs)",
            ["--log-level", "debug", "--no-log-json", "sync", "--dry-run", *day],
            pat,
        ),
        (
            "sync with a wrong pat",
            ["--log-level", "debug", "--log-json", "sync", "--dry-run", *day],
            pat | {"FOLLOWUP_JIRA__TOKEN": WRONG, "FOLLOWUP_CONFLUENCE__TOKEN": WRONG},
        ),
        ("doctor (pat)", ["--log-level", "debug", "--log-json", "doctor"], pat),
    ]
    results = {name: run_cli(site, *args, **extra) for name, args, extra in commands}
    assert results["sync --dry-run (pat)"][0] == 0, results["sync --dry-run (pat)"][1][-2000:]
    assert results["sync with a wrong pat"][0] == 2
    assert results["doctor (pat)"][0] == 0, results["doctor (pat)"][1][-2000:]
    for name, (_, text) in results.items():
        assert_clean(f"the output of `followup {name}`", text)  # the token, so its header


def test_nothing_written_to_the_sites_holds_the_token(site: Site) -> None:
    """After a sync, no page body, ticket field, property, remote link or comment
    holds the token, nor do the HTML views a person opens."""
    assert not site.sync().failed
    texts: list[tuple[str, str]] = []
    for issue in site.issues():
        key = issue["key"]
        full = site.get(f"/rest/api/2/issue/{key}", fields="*all", properties="*all")
        texts.append((key, json.dumps(full)))
        texts.append((f"{key} links", json.dumps(site.get(f"/rest/api/2/issue/{key}/remotelink"))))
        html = requests.get(f"{site.url}/browse/{key}", timeout=10)
        texts.append((f"/browse/{key}", html.text))
    for page_id in site.page_ids():
        page = site.get(f"/wiki/rest/api/content/{page_id}", expand="body.storage,space")
        texts.append((f"page {page_id}", json.dumps(page)))
        view = requests.get(
            f"{site.url}/wiki/spaces/{page['space']['key']}/pages/{page_id}", timeout=10
        )
        texts.append((f"the view of page {page_id}", view.text))
    assert len(texts) > 50
    for where, text in texts:
        assert_clean(where, text)


def test_exceptions_and_settings_never_show_the_token(site: Site) -> None:
    """The error a wrong token raises (its message, hint, repr and formatted traceback)
    and the settings (repr, dump) hold neither token."""
    settings = load_settings(None, env={**site.env, "FOLLOWUP_JIRA__TOKEN": WRONG})
    for text in (repr(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert_clean("the settings", text)
    adapters = from_settings(settings, sleep=lambda s: None)
    with pytest.raises(FollowupError) as raised:
        list(adapters.jira.search_tickets('labels = "followup"'))
    adapters.close()
    error = raised.value
    formatted = "".join(traceback.format_exception(error))
    for text in (str(error), error.show(), repr(error), formatted, json.dumps(error.details)):
        assert_clean("the exception", text)


def test_the_cassettes_hold_no_credential() -> None:
    """The recorded cassettes hold no sandbox token, Basic credential or
    Authorization header."""
    cassettes = sorted((REPO / "cassettes").glob("*.yaml"))
    assert cassettes
    demo = str(DEMO_ADMIN.token)
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert demo not in text, path.name
        assert _basic(demo) not in text, path.name
        assert "authorization:" not in text.lower(), path.name
        assert_clean(path.name, text)


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox served over HTTPS with a self-signed certificate; its base URL."""
    where = tmp_path_factory.mktemp("tls")
    key, cert = where / "key.pem", where / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(open_state(":memory:", seed="demo"), base_url=url)
    server = uvicorn.Server(
        uvicorn.Config(
            app, ssl_keyfile=str(key), ssl_certfile=str(cert), log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the TLS sandbox did not start"
        time.sleep(0.01)
    yield url
    server.should_exit = True
    thread.join(10)


def _tls_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "FOLLOWUP_JIRA__URL": url,
        "FOLLOWUP_JIRA__EMAIL": EMAIL,
        "FOLLOWUP_JIRA__TOKEN": str(DEMO_ADMIN.token),
        "FOLLOWUP_CONFLUENCE__URL": f"{url}/wiki",
        "FOLLOWUP_CONFLUENCE__EMAIL": EMAIL,
        "FOLLOWUP_CONFLUENCE__TOKEN": str(DEMO_ADMIN.token),
        **extra,
    }


def test_certificates_are_checked_by_default(tls_sandbox: str, site: Site) -> None:
    """Against a site whose certificate nobody vouches for, a sync stops before a single
    API request is answered (exit 2, naming the certificate problem)."""
    run = site.cli(
        "--log-json",
        "sync",
        "--dry-run",
        "--today",
        TODAY.isoformat(),
        env=site.cli_env(**_tls_env(tls_sandbox)),
    )
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, out + err
    assert "certificate verify failed" in err.lower(), err
    assert "REQUESTS_CA_BUNDLE" in err  # the hint
    assert "tls-verification-off" not in err
    summary = next(
        json.loads(line)
        for line in err.splitlines()
        if line.startswith("{") and json.loads(line)["event"] == "sync-summary"
    )
    assert not (summary["requests"] or {}).get("retries"), "a certificate failure is not retried"


def test_turning_verification_off_works_and_is_warned_about(tls_sandbox: str, site: Site) -> None:
    """With jira.verify_tls and confluence.verify_tls off, the same sync goes through,
    and the log warns about each setting by name."""
    env = _tls_env(
        tls_sandbox, FOLLOWUP_JIRA__VERIFY_TLS="false", FOLLOWUP_CONFLUENCE__VERIFY_TLS="false"
    )
    run = site.cli(
        "--log-json", "sync", "--dry-run", "--today", TODAY.isoformat(), env=site.cli_env(**env)
    )
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-2000:]
    warnings = [
        json.loads(line)
        for line in err.splitlines()
        if line.startswith("{") and "tls-verification-off" in line
    ]
    assert {w["setting"] for w in warnings} == {
        "FOLLOWUP_JIRA__VERIFY_TLS / [jira] verify_tls",
        "FOLLOWUP_CONFLUENCE__VERIFY_TLS / [confluence] verify_tls",
    }
    assert all(w["level"] == "warning" for w in warnings)


def test_verification_is_on_unless_a_setting_turns_it_off(site: Site) -> None:
    """The defaults check certificates on both adapters and log no warning."""
    with capture_logs() as logs:
        settings = load_settings(None, env=site.env)
    assert settings.jira.verify_tls
    assert settings.confluence.verify_tls
    assert not [e for e in logs if e["event"] == "tls-verification-off"]
    adapters = from_settings(settings)
    try:
        assert adapters.jira._session.verify is True
        assert adapters.confluence.client.verify_ssl is True
    finally:
        adapters.close()


# -- credentials in the wrong place ------------------------------------------------------------

MISPLACED = "ATATT3xFfGF0-misplaced-SECRET-9d8c7b6a5f4e"


@pytest.mark.parametrize("product", ["JIRA", "CONFLUENCE"])
@pytest.mark.parametrize(
    "command", [["sync"], ["report", "--publish", "98000001"], ["doctor"]], ids=" ".join
)
def test_a_url_with_credentials_in_it_is_refused_at_start_up(
    site: Site, product: str, command: list[str]
) -> None:
    """`FOLLOWUP_JIRA__URL=http://admin:TOKEN@host`: refused before any request (exit 2),
    naming the setting and never repeating the value, so the password can reach no
    link, report, log or published page."""
    url = site.url.replace("http://", f"http://admin:{MISPLACED}@")
    if product == "CONFLUENCE":
        url += "/wiki"
    before = site.stats()["requests"]
    code, output = run_cli(site, *command, **{f"FOLLOWUP_{product}__URL": url})
    assert code == 2, output[-2000:]
    assert f"FOLLOWUP_{product}__URL / [{product.lower()}] url: must not contain a user" in output
    assert MISPLACED not in output
    assert "admin:" not in output
    assert site.stats()["requests"] == before


@pytest.mark.parametrize(
    "setting",
    [
        "FOLLOWUP_JIRA__TOKEN_FILE",
        "FOLLOWUP_JIRA__URL",
        "FOLLOWUP_JIRA__AUTH",
        "FOLLOWUP_JIRA__EMAIL",
        "FOLLOWUP_JIRA__TIMEOUT_SECONDS",
        "FOLLOWUP_CONFLUENCE__TOKEN_FILE",
        "FOLLOWUP_CONFLUENCE__AUTH",
        "FOLLOWUP_SYNC__ORPHANS",
        "FOLLOWUP_SYNC__TIMEZONE",
        "FOLLOWUP_METRICS__PUSHGATEWAY_URL",
    ],
)
@pytest.mark.parametrize("command", [["sync", "--dry-run"], ["doctor"]], ids=" ".join)
def test_a_token_put_into_the_wrong_setting_is_never_echoed(
    site: Site, setting: str, command: list[str]
) -> None:
    """A token pasted into a setting that is not the token (a path, a URL, an
    enumeration, a number, the email): the command fails with exit 2, naming the
    setting or the refusal, and the value appears nowhere in what it prints."""
    code, output = run_cli(site, "--log-level", "debug", *command, **{setting: MISPLACED})
    assert code == 2, output[-2000:]
    assert MISPLACED not in output
    if setting != "FOLLOWUP_JIRA__EMAIL":  # the email is only refused by the site
        assert setting in output


def test_a_token_too_short_to_be_real_is_refused(site: Site) -> None:
    """A token shorter than 16 characters is refused at start-up (exit 2), naming the
    setting and not echoing it, before any request."""
    before = site.stats()["requests"]
    code, output = run_cli(site, "sync", "--dry-run", FOLLOWUP_JIRA__TOKEN="the")
    assert code == 2, output
    assert "FOLLOWUP_JIRA__TOKEN / [jira] token: is shorter than 16 characters" in output
    assert "'the'" not in output
    assert site.stats()["requests"] == before
