"""`followup doctor` against the sandbox (Cloud and Data Center), each failure the
issue names (wrong token, missing project, read-only user, bad CQL) and a few more,
and the pure judgements of the create screen and the workflow, table-driven."""

from __future__ import annotations

import contextlib
import io
import socket
from datetime import date
from typing import Any

import pytest
import requests
from sandbox_support import reset_server
from typer.testing import CliRunner

from followup.cli import app, exit_code_for_checks
from followup.commands.doctor import (
    macro_link_check,
    run_doctor,
    screen_problems,
    transition_problems,
)
from followup.sandbox import control
from followup.sandbox.seed import DEMO_VIEWER
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, load_settings

VIEWER = {
    "FOLLOWUP_JIRA__EMAIL": DEMO_VIEWER.email,
    "FOLLOWUP_JIRA__TOKEN": DEMO_VIEWER.token or "",
    "FOLLOWUP_CONFLUENCE__EMAIL": DEMO_VIEWER.email,
    "FOLLOWUP_CONFLUENCE__TOKEN": DEMO_VIEWER.token or "",
}


def settings_for(server: RunningSandbox, **env: str) -> Settings:
    base = dict(control.env_for(server.state, server.url))
    base.update(env)
    return load_settings(None, env=base)


def doctor(settings: Settings) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit code, and per check name its status mark and the rest of its lines."""
    out = io.StringIO()
    code = exit_code_for_checks(run_doctor(settings, out=out))
    lines: dict[str, tuple[str, str]] = {}
    current = ""
    for line in out.getvalue().splitlines():
        if line.startswith("["):
            mark, rest = line[1:].split("]", 1)
            name, _, detail = rest.strip().partition(": ")
            current = name
            lines[name] = (mark.strip(), detail)
        elif line.strip().startswith("fix:"):
            mark, detail = lines[current]
            lines[current] = (mark, f"{detail}\nfix: {line.strip()[5:]}")
    return code, lines


def statuses(lines: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: mark for name, (mark, _) in lines.items()}


ALL_CHECKS = [
    "config",
    "Jira answers",
    "Confluence answers",
    "Jira credentials",
    "Confluence credentials",
    "Cloud or Data Center",
    "project and issue type",
    "Jira permissions",
    "create screen",
    "routing",
    "labels",
    "done transition",
    "CQL",
    "page permissions",
    "jira macros",
    "watermark",
]


@pytest.fixture
def dc(dc_sandbox_server: RunningSandbox) -> RunningSandbox:
    reset_server(dc_sandbox_server)
    return dc_sandbox_server


def test_every_check_passes_on_the_demo_site_and_nothing_is_written(
    sandbox: RunningSandbox,
) -> None:
    """On Cloud the doctor passes every check, in order, with reads and permission checks only."""
    code, lines = doctor(settings_for(sandbox))
    assert code == 0, lines
    assert list(lines) == ALL_CHECKS
    assert set(statuses(lines).values()) == {"ok"}
    assert "Jira Cloud, Confluence Cloud" in lines["Cloud or Data Center"][1]
    assert lines["CQL"][1].startswith("6 page(s) in PAY, SRE")
    assert "Done reachable from" in lines["done transition"][1]
    assert lines["jira macros"][1].startswith("written with server “System Jira”")
    stats = sandbox.stats.snapshot()
    assert stats["writes"] == 0
    assert stats["by_route"]["POST /wiki/rest/api/content/{id}/permission/check"] == 6


def test_data_center_probes_with_a_content_property_and_leaves_the_page_alone(
    dc: RunningSandbox,
) -> None:
    """Without a permission check API, one property is created and deleted; the page's
    version does not move and the property is gone afterwards."""
    settings = settings_for(dc)
    assert settings.confluence.token is not None
    session = requests.Session()
    session.auth = (settings.confluence.email or "", settings.confluence.token.get_secret_value())
    page = f"{dc.url}/wiki/rest/api/content/98000001"

    def version() -> int:
        answer = session.get(page, params={"expand": "version"}, timeout=10)
        return int(answer.json()["version"]["number"])

    before = version()
    code, lines = doctor(settings)
    assert code == 0, lines
    assert "Jira Data Center" in lines["Cloud or Data Center"][1]
    assert "created and deleted the property 'followup-doctor'" in lines["page permissions"][1]
    assert dc.stats.snapshot()["writes"] == 2
    assert version() == before
    gone = session.get(f"{page}/property/followup-doctor", timeout=10)
    assert gone.status_code == 404


def test_a_wrong_token_fails_credentials_and_skips_what_depends_on_them(
    sandbox: RunningSandbox,
) -> None:
    """A refused Jira token fails its credential check with the API-token fix and skips
    the Jira checks; Confluence, with its own (right) token, is checked on."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_JIRA__TOKEN="not-the-token-0123456789"))
    assert code == 2  # rejected credentials, as for every command
    got = statuses(lines)
    assert got["Jira answers"] == "ok"
    assert got["Jira credentials"] == "FAIL"
    assert "api-tokens" in lines["Jira credentials"][1]
    assert got["Confluence credentials"] == "ok"
    for name in ALL_CHECKS[5:11]:
        assert got[name] == "skip", name
    assert got["CQL"] == got["page permissions"] == "ok"


def test_confluence_falls_back_to_the_wrong_jira_token(sandbox: RunningSandbox) -> None:
    """Without its own token Confluence uses Jira's; a wrong one fails both sites."""
    env = dict(control.env_for(sandbox.state, sandbox.url))
    del env["FOLLOWUP_CONFLUENCE__TOKEN"]
    env["FOLLOWUP_JIRA__TOKEN"] = "not-the-token-0123456789"
    code, lines = doctor(load_settings(None, env=env))
    assert code == 2
    assert statuses(lines)["Confluence credentials"] == "FAIL"
    assert "uses the Jira account" in lines["Confluence credentials"][1]
    assert set(list(statuses(lines).values())[5:]) == {"skip"}


def test_a_missing_project_is_named_with_the_projects_the_account_sees(
    sandbox: RunningSandbox,
) -> None:
    """A project key that does not exist fails with the keys that do."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_JIRA__PROJECT="NOPE"))
    assert code == 1
    mark, detail = lines["project and issue type"]
    assert mark == "FAIL"
    assert "no project 'NOPE'" in detail
    assert "this account sees: INC, OPS, PAY, SEC" in detail
    for name in ("Jira permissions", "create screen", "labels", "done transition"):
        assert statuses(lines)[name] == "skip"
    assert statuses(lines)["CQL"] == "ok"  # Confluence checks go on


def test_an_unknown_issue_type_lists_the_project_s_types(sandbox: RunningSandbox) -> None:
    """An issue type the project lacks fails with the types it has."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_JIRA__ISSUE_TYPE="Epic"))
    assert code == 1
    assert "set jira.issue_type to one of: Task" in lines["project and issue type"][1]


def test_a_read_only_user_fails_the_permission_checks(sandbox: RunningSandbox) -> None:
    """The demo viewer signs in, but may neither write tickets nor edit the pages."""
    code, lines = doctor(settings_for(sandbox, **VIEWER))
    assert code == 1
    got = statuses(lines)
    assert got["Jira credentials"] == "ok"
    assert got["Jira permissions"] == "FAIL"
    assert "create tickets (CREATE_ISSUES)" in lines["Jira permissions"][1]
    assert got["page permissions"] == "FAIL"
    assert "may not edit 6 of 6 page(s)" in lines["page permissions"][1]
    assert "Add/Edit pages" in lines["page permissions"][1]
    assert sandbox.stats.snapshot()["writes"] == 0


def test_data_center_with_personal_access_tokens(dc: RunningSandbox) -> None:
    """With `auth = "pat"` and no email every check passes on Data Center; a refused
    token is named as the personal access token, with the fix for one."""
    pat = {
        "FOLLOWUP_JIRA__AUTH": "pat",
        "FOLLOWUP_JIRA__EMAIL": "",
        "FOLLOWUP_CONFLUENCE__EMAIL": "",
    }
    code, lines = doctor(settings_for(dc, **pat))
    assert code == 0, lines
    assert set(statuses(lines).values()) == {"ok"}
    code, lines = doctor(settings_for(dc, **pat, FOLLOWUP_JIRA__TOKEN="expired-pat-0123"))
    assert code == 2
    detail = lines["Jira credentials"][1]
    assert detail.startswith("the personal access token was refused (401)")
    assert "expired or been revoked" in detail
    assert "expired-pat-0123" not in detail


def test_a_read_only_user_on_data_center_fails_the_write_probe(dc: RunningSandbox) -> None:
    """On Data Center the property probe is refused (403) and reported as a failure."""
    code, lines = doctor(settings_for(dc, **VIEWER))
    assert code == 1
    assert statuses(lines)["page permissions"] == "FAIL"
    assert dc.stats.snapshot()["writes"] == 0


@pytest.mark.parametrize(
    ("cql", "said"),
    [
        ('type = page AND labell = "postmortem"', "Confluence refused"),  # the server
        ("type = page AND (((", "unbalanced"),  # caught before asking
    ],
)
def test_a_bad_cql_fails_and_says_why(sandbox: RunningSandbox, cql: str, said: str) -> None:
    """CQL that cannot be parsed fails with the reason, and page checks are skipped."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_CONFLUENCE__CQL=cql))
    assert code == 1
    mark, detail = lines["CQL"]
    assert mark == "FAIL"
    assert said in detail
    assert "fix confluence.cql" in detail
    assert statuses(lines)["page permissions"] == "skip"


def test_a_cql_that_matches_nothing_is_a_warning(sandbox: RunningSandbox) -> None:
    """Valid CQL with no results warns (the run would do nothing) but does not fail."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_CONFLUENCE__SPACES="NOSUCH"))
    assert code == 0
    assert statuses(lines)["CQL"] == "warn"
    assert "label postmortem pages" in lines["CQL"][1]


def test_a_done_transition_the_workflow_lacks_fails(sandbox: RunningSandbox) -> None:
    """done_transitions naming no transition of the workflow fails with what is offered."""
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_JIRA__DONE_TRANSITIONS="Shipped"))
    assert code == 1
    mark, detail = lines["done transition"]
    assert mark == "FAIL"
    assert "Shipped is not available from" in detail
    assert "(→ Done)" in detail


def test_an_unreachable_site_says_no_answer(sandbox: RunningSandbox) -> None:
    """A port nobody listens on: 'no answer', with the network fix, quickly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, lines = doctor(settings_for(sandbox, FOLLOWUP_JIRA__URL=f"http://127.0.0.1:{port}"))
    assert code == 2  # a site that does not answer, as for every command
    mark, detail = lines["Jira answers"]
    assert mark == "FAIL"
    assert "no answer" in detail
    assert "REQUESTS_CA_BUNDLE" in detail
    assert statuses(lines)["Confluence answers"] == "ok"


def test_missing_settings_fail_the_first_check(clean_env: pytest.MonkeyPatch) -> None:
    """Without site settings only the config line prints, failed, naming what is
    missing; exit 2 as for any missing setting."""
    out = io.StringIO()
    assert exit_code_for_checks(run_doctor(load_settings(None, env={}), out=out)) == 2
    text = out.getvalue()
    assert text.startswith("[FAIL] config: ")
    assert "FOLLOWUP_JIRA__URL / [jira] url: field required" in text


def test_the_cli_reports_settings_that_do_not_load_as_a_failed_check(
    clean_env: pytest.MonkeyPatch, reset_logging: None
) -> None:
    """`followup doctor` with an invalid setting prints the checklist's failed config
    line, with its fix, once (not again as an error on stderr), and exits 2 like
    every command."""
    clean_env.setenv("FOLLOWUP_SYNC__ORPHANS", "delete")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 2, result.output
    assert result.stdout.count("FOLLOWUP_SYNC__ORPHANS / [sync] orphans") == 1
    assert "[FAIL] config: FOLLOWUP_SYNC__ORPHANS / [sync] orphans" in result.stdout
    assert result.stdout.count("fix: see docs/configuration.md") == 1
    assert "FOLLOWUP_SYNC__ORPHANS" not in result.stderr


# -- the pure judgements ----------------------------------------------------------------------

SCREEN = {
    f: {"required": f in ("summary", "issuetype", "project"), "name": f.title()}
    for f in ("project", "issuetype", "summary", "description", "labels", "duedate", "assignee")
}


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in SCREEN.items() if k != field}


def requiring(field: str, **meta: Any) -> dict[str, Any]:
    return {**SCREEN, field: {"required": True, "name": field.title(), **meta}}


@pytest.mark.parametrize(
    ("fields", "always", "missing", "required"),
    [
        (SCREEN, [], [], []),
        (SCREEN, ["priority"], ["priority"], []),
        (without("duedate"), [], ["duedate"], []),
        (without("labels"), [], ["labels"], []),
        (requiring("customfield_1"), [], [], ["Customfield_1 (customfield_1)"]),
        (requiring("customfield_2", hasDefaultValue=True), [], [], []),
        (requiring("reporter"), [], [], ["Reporter (reporter)"]),
        (requiring("duedate"), [], [], ["Duedate (duedate)"]),
        (requiring("duedate"), ["duedate"], [], []),
        (requiring("assignee"), ["assignee"], [], []),
    ],
    ids=[
        "complete",
        "priority-wanted",
        "no-duedate",
        "no-labels",
        "required-custom",
        "required-with-default",
        "required-reporter",
        "required-duedate",
        "required-duedate-default-days",
        "required-assignee-fallback",
    ],
)
def test_screen_problems(
    fields: dict[str, Any], always: list[str], missing: list[str], required: list[str]
) -> None:
    """Fields we set must be on the screen; a required field we do not always set must
    have a default."""
    assert screen_problems(fields, always_set=always) == (missing, required)


def t(name: str, to: str) -> dict[str, Any]:
    return {"id": "1", "name": name, "to": {"name": to}}


@pytest.mark.parametrize(
    ("offered", "wanted", "bad"),
    [
        ({"To Do": [t("Done", "Done")]}, ["Done"], []),
        ({"To Do": [t("Close", "Closed")]}, ["closed"], []),  # by target status, any case
        ({"To Do": [t("Start", "In Progress")]}, ["Done"], ["To Do"]),
        ({"To Do": [t("Done", "Done")], "Blocked": []}, ["Done"], ["Blocked"]),
        ({"Review": [t("Approve", "Done")]}, ["Resolve", "Approve"], []),
    ],
    ids=["by-name", "by-target", "unreachable", "no-transitions", "second-choice"],
)
def test_transition_problems(
    offered: dict[str, list[dict[str, Any]]], wanted: list[str], bad: list[str]
) -> None:
    """A status is a problem when none of the wanted names is offered from it."""
    assert sorted(transition_problems(offered, wanted)) == bad


def test_the_sandbox_answers_the_doctor_s_questions_in_atlassian_s_shapes(
    jira_site: Any,
) -> None:
    """mypermissions and the content permission check, the two endpoints the sandbox
    gained for the doctor, answer as Atlassian's OpenAPI documents describe; the
    read-only user may only browse and read."""
    from sandbox_support import ADMIN, READER, require_specs

    require_specs()
    for user, allowed in ((ADMIN, True), (READER, False)):
        session = jira_site.session(user)
        perms = session.get(
            f"{jira_site.url}/rest/api/3/mypermissions",
            params={"projectKey": "OPS", "permissions": "BROWSE_PROJECTS,CREATE_ISSUES"},
            timeout=10,
        ).json()["permissions"]
        assert perms["BROWSE_PROJECTS"]["havePermission"] is True
        assert perms["CREATE_ISSUES"]["havePermission"] is allowed
    assert jira_site.validator.checked["GET /rest/api/3/mypermissions"] == 2
    missing = jira_site.session().get(
        f"{jira_site.url}/rest/api/3/mypermissions", params={"projectKey": "OPS"}, timeout=10
    )
    assert missing.status_code == 400  # Cloud requires `permissions`


def test_the_content_permission_check_is_cloud_only_and_never_a_write(
    sandbox: RunningSandbox, dc: RunningSandbox, openapi: Any
) -> None:
    """The check answers hasPermission per user, counts as no write (the read-only user
    may ask it), validates against the v1 document, and is absent on Data Center."""
    from followup.sandbox.seed import DEMO_ADMIN

    page = "98000001"
    for user, allowed in ((DEMO_ADMIN, True), (DEMO_VIEWER, False)):
        session = openapi.attach(requests.Session())
        session.auth = (user.email, user.token or "")
        answer = session.post(
            f"{sandbox.url}/wiki/rest/api/content/{page}/permission/check",
            json={
                "subject": {"type": "user", "identifier": user.account_id},
                "operation": "update",
            },
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["hasPermission"] is allowed
    assert sandbox.stats.snapshot()["writes"] == 0
    on_dc = requests.post(
        f"{dc.url}/wiki/rest/api/content/{page}/permission/check",
        json={"subject": {"type": "user", "identifier": "x"}, "operation": "update"},
        auth=(DEMO_ADMIN.email, DEMO_ADMIN.token or ""),
        timeout=10,
    )
    assert on_dc.status_code == 404


def test_unset_jira_macro_settings_are_a_warning_naming_the_values_to_use(
    sandbox: RunningSandbox,
) -> None:
    """Without [confluence] jira_server / jira_server_id the doctor warns, and names the
    server and serverId the pages' own Jira macros carry, ready to copy."""
    code, lines = doctor(
        settings_for(
            sandbox, FOLLOWUP_CONFLUENCE__JIRA_SERVER="", FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID=""
        )
    )
    assert code == 0
    mark, detail = lines["jira macros"]
    assert mark == "warn"
    assert "written without server and serverId" in detail
    assert (
        'fix: set [confluence] jira_server = "System Jira" and jira_server_id = '
        '"b2c8e7f4-1a3d-3c59-9e06-7d4f1a2b8c65"'
    ) in detail
    wrong = doctor(settings_for(sandbox, FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID="0000"))[1]
    assert wrong["jira macros"][0] == "warn"
    assert "name “System Jira” (b2c8e7f4" in wrong["jira macros"][1]


OURS = ("System JIRA", "link-ours")
OLD = ("JIRA (old)", "link-old")
PARTNER = ("Partner JIRA", "link-partner")


@pytest.mark.parametrize(
    ("server", "written", "ours", "seen", "status", "said", "fix"),
    [
        # nothing set: every macro naming a server would be foreign
        (
            None, None, set(), [OURS], "warn", "written without server",
            'jira_server_id = "link-ours"',
        ),
        (None, None, set(), [], "warn", "no page read has a Jira macro", "Application links"),
        # set as the pages' macros: ours
        (
            "System JIRA", "link-ours", {"link-ours"}, [OURS], "ok",
            "“System JIRA” (link-ours)", None,
        ),
        ("System JIRA", "link-ours", {"link-ours"}, [], "ok", "no Jira macro on the pages", None),
        (
            "System JIRA", "link-ours", {"link-ours", "link-old"}, [OURS, OLD], "ok",
            "also taken for this Jira: link-old", None,
        ),
        # a second link on the pages besides ours: this Jira's too, or another Jira
        (
            "System JIRA", "link-ours", {"link-ours"}, [OURS, PARTNER], "warn",
            "which followup takes for another Jira", '"link-partner" to [jira] macro_server_ids',
        ),
        # ours is not what the pages use
        (
            "System JIRA", "link-wrong", {"link-wrong"}, [OURS], "warn",
            "name “System JIRA” (link-ours)", 'jira_server_id = "link-ours"',
        ),
        (
            None, "link-old", {"link-old", "link-ours"}, [OURS], "warn",
            "name “System JIRA” (link-ours)", 'jira_server_id = "link-ours"',
        ),
    ],
)  # fmt: skip
def test_macro_link_check(
    server: str | None,
    written: str | None,
    ours: set[str],
    seen: list[tuple[str, str]],
    status: str,
    said: str,
    fix: str | None,
) -> None:
    """The jira macros line says what followup writes, names a serverId on the pages
    that it would take for another Jira with the setting that makes it ours, and
    warns when its own macros would name a link the pages do not use."""
    check = macro_link_check(server, written, ours, {link: "Orders DB" for link in seen})
    assert check.status == status
    assert said in check.detail
    if fix is None:
        assert check.fix is None
    else:
        assert check.fix is not None
        assert fix in check.fix


def test_the_watermark_check_reads_the_state_page_and_writes_nothing(
    sandbox: RunningSandbox,
) -> None:
    """Unset, the doctor says every run is a full pass; set to a page that is not
    there, it fails naming the setting; set to a page with a watermark, it says when
    the last run and the last full pass started. It only reads."""
    _, unset = doctor(settings_for(sandbox))
    assert unset["watermark"][0] == "ok"
    assert "sync.state_page is not set" in unset["watermark"][1]
    code, missing = doctor(settings_for(sandbox, FOLLOWUP_SYNC__STATE_PAGE="987654321"))
    assert code == 1
    assert missing["watermark"][0] == "FAIL"
    assert "sync.state_page 987654321: no such page" in missing["watermark"][1]
    page = str(sandbox.state.db.execute("SELECT MIN(id) FROM content").fetchone()[0])
    settings = settings_for(sandbox, FOLLOWUP_SYNC__STATE_PAGE=page)
    _, none_yet = doctor(settings)
    assert "none yet; the next sync is a full pass" in none_yet["watermark"][1]
    from followup.commands.sync import sync_command

    with contextlib.redirect_stdout(io.StringIO()):
        sync_command(settings, today=date(2026, 11, 26))
    sandbox.stats.reset()
    _, written = doctor(settings)
    assert written["watermark"][0] == "ok"
    assert "last successful run started 20" in written["watermark"][1]
    assert sandbox.stats.snapshot()["writes"] == 0
