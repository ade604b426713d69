"""Settings: sources and their priority, validation, and the errors a person sees."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from followup.errors import ConfigError
from followup.logconfig import REDACTED, redact_text
from followup.settings import Settings, load_settings, setting_name

pytestmark = pytest.mark.usefixtures("clean_env", "reset_logging")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "followup.example.toml"

SITE_ENV = {
    "FOLLOWUP_JIRA__URL": "https://acme.atlassian.net",
    "FOLLOWUP_JIRA__EMAIL": "bot@acme.example",
    "FOLLOWUP_JIRA__TOKEN": "jira-token-0123456789",
    "FOLLOWUP_JIRA__PROJECT": "OPS",
    "FOLLOWUP_CONFLUENCE__URL": "https://acme.atlassian.net/wiki",
}


def write(tmp_path: Path, text: str, name: str = "followup.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(*args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(*args, **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert error.__cause__ is None, "a pydantic error must not be chained"
    assert error.__context__ is None or error.__suppress_context__
    return error.message


def all_env_names() -> list[str]:
    """The env form of every setting the model knows."""
    names = []
    for section, field in Settings.model_fields.items():
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            names.append(f"FOLLOWUP_{section.upper()}")
            continue
        for key, sub in annotation.model_fields.items():
            sub_type = sub.annotation
            if isinstance(sub_type, type) and issubclass(sub_type, BaseModel):
                names += [setting_name((section, key, k)).split()[0] for k in sub_type.model_fields]
            else:
                names.append(setting_name((section, key)).split()[0])
    return names


def test_defaults_need_no_file_and_no_environment() -> None:
    """With nothing configured, every setting has its documented default."""
    settings = load_settings(None, env={})
    assert settings.jira.project is None  # no default project: a site must name its own
    assert settings.jira.reopen_transitions == ["To Do", "Reopen", "Reopened", "Backlog"]
    assert settings.confluence.cql == 'type = page AND label = "postmortem"'
    assert settings.sync.orphans == "report"
    assert settings.sync.directions.summary == "page_to_jira"
    assert settings.sync.directions.status == "both"
    assert settings.sync.default_due_days is None
    assert settings.sync.max_page_bytes == 5_000_000
    assert settings.reminders.escalate_label == "followup-escalated"
    assert settings.owners == {}


def test_example_config_loads_with_tokens_from_the_environment() -> None:
    """config/followup.example.toml is a valid config as shipped."""
    settings = load_settings(EXAMPLE, env={"FOLLOWUP_JIRA__TOKEN": "example-token-123456"})
    settings.require_sites()
    assert settings.confluence.url == "https://acme.atlassian.net/wiki"
    assert settings.confluence.token is not None
    assert settings.confluence.token.get_secret_value() == "example-token-123456"
    assert settings == load_settings(
        None,
        env=SITE_ENV
        | {
            "FOLLOWUP_JIRA__EMAIL": "followup-bot@acme.example",
            "FOLLOWUP_JIRA__TOKEN": "example-token-123456",
        },
    )


@pytest.mark.parametrize("doc", [EXAMPLE, ROOT / "docs" / "configuration.md"])
def test_every_setting_is_documented(doc: Path) -> None:
    """The example config and the reference name every setting's environment variable."""
    text = doc.read_text(encoding="utf-8")
    missing = [name for name in all_env_names() if name not in text]
    assert not missing


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """An env var wins over the same key in the TOML; other keys of the section stay."""
    path = write(tmp_path, '[jira]\nproject = "SRE"\nissue_type = "Bug"\n')
    settings = load_settings(path, env={"FOLLOWUP_JIRA__PROJECT": "INC"})
    assert settings.jira.project == "INC"
    assert settings.jira.issue_type == "Bug"


def test_keyword_overrides_win_over_the_environment() -> None:
    """Overrides (what the CLI passes) beat the environment."""
    settings = load_settings(None, env={"FOLLOWUP_JIRA__PROJECT": "INC"}, jira={"project": "CLI"})
    assert settings.jira.project == "CLI"


def test_config_path_comes_from_followup_config(tmp_path: Path) -> None:
    """Without a path argument, FOLLOWUP_CONFIG names the file."""
    path = write(tmp_path, '[sync]\ntimezone = "Europe/Berlin"\n')
    settings = load_settings(None, env={"FOLLOWUP_CONFIG": str(path)})
    assert settings.sync.timezone == "Europe/Berlin"


def test_an_explicit_env_mapping_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """`env=` is the whole environment: os.environ is not read."""
    monkeypatch.setenv("FOLLOWUP_JIRA__PROJECT", "FROMOS")
    assert load_settings(None, env={}).jira.project is None
    assert load_settings(None).jira.project == "FROMOS"


def test_nested_sections_from_environment() -> None:
    """Nested sections are reached with a double underscore."""
    settings = load_settings(None, env={"FOLLOWUP_SYNC__DIRECTIONS__STATUS": "off"})
    assert settings.sync.directions.status == "off"
    assert settings.sync.directions.assignee == "both"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["To Do", "Backlog"]', ["To Do", "Backlog"]),
        ("To Do, Backlog", ["To Do", "Backlog"]),
        ("", []),
    ],
)
def test_lists_from_environment_as_json_or_commas(value: str, expected: list[str]) -> None:
    """A list setting in the environment may be JSON or comma-separated."""
    env = {"FOLLOWUP_JIRA__REOPEN_TRANSITIONS": value}
    assert load_settings(None, env=env).jira.reopen_transitions == expected


def test_owners_from_toml_and_environment(tmp_path: Path) -> None:
    """Owner names with spaces and @ work in TOML; the environment takes JSON."""
    path = write(tmp_path, '[owners]\n"Priya Natarajan" = "acc-1"\n"@sam" = "acc-2"\n')
    assert load_settings(path, env={}).owners == {"Priya Natarajan": "acc-1", "@sam": "acc-2"}
    env = {"FOLLOWUP_OWNERS": '{"Priya Natarajan": "acc-1"}'}
    assert load_settings(None, env=env).owners == {"Priya Natarajan": "acc-1"}


def test_owners_bad_json_in_environment_is_a_config_error() -> None:
    """Malformed JSON in FOLLOWUP_OWNERS names the variable, not a parser traceback."""
    message = config_error(None, env={"FOLLOWUP_OWNERS": '{"Priya"'})
    assert message.startswith("FOLLOWUP_OWNERS / [owners]: ")
    assert "JSON" in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"FOLLOWUP_SYNC__ORPHANS": "delete"},
            "FOLLOWUP_SYNC__ORPHANS / [sync] orphans: Input should be 'report', 'comment' "
            "or 'close' (got 'delete')",
        ),
        (
            {"FOLLOWUP_SYNC__DIRECTIONS__STATUS": "sideways"},
            "FOLLOWUP_SYNC__DIRECTIONS__STATUS / [sync.directions] status: ",
        ),
        ({"FOLLOWUP_SYNC__TIMEZONE": "Mars/Olympus"}, "[sync] timezone: unknown time zone"),
        ({"FOLLOWUP_SYNC__CONCURRENCY": "0"}, "FOLLOWUP_SYNC__CONCURRENCY / [sync] concurrency"),
        ({"FOLLOWUP_SYNC__LABEL": "follow up"}, "[sync] label: Jira labels cannot contain"),
        ({"FOLLOWUP_JIRA__URL": "acme.atlassian.net"}, "FOLLOWUP_JIRA__URL / [jira] url: must"),
        (
            {"FOLLOWUP_JIRA__URLL": "x"},
            "[jira] urll: unknown setting (did you mean FOLLOWUP_JIRA__URL / [jira] url?)",
        ),
        (
            {"FOLLOWUP_CONFLUENCE__URL": "https://acme.atlassian.net"},
            "FOLLOWUP_CONFLUENCE__URL / [confluence] url: must be the Confluence base URL "
            "ending in /wiki, e.g. https://acme.atlassian.net/wiki",
        ),
        (
            {
                "FOLLOWUP_JIRA__URL": "http://127.0.0.1:8089",
                "FOLLOWUP_CONFLUENCE__URL": "http://127.0.0.1:8089/",
            },
            "FOLLOWUP_CONFLUENCE__URL / [confluence] url: is the same as the Jira URL",
        ),
        (
            {"FOLLOWUP_CONFLUENCE__JIRA_SERVER": "System JIRA"},
            "FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID / [confluence] jira_server_id: required "
            "with jira_server",
        ),
    ],
)
def test_a_bad_setting_is_named_in_env_and_toml_form(env: dict[str, str], expected: str) -> None:
    """One line, naming the setting both ways, saying what is wrong."""
    message = config_error(None, env=env)
    assert expected in message
    assert "\n" not in message
    assert "pydantic" not in message.lower()


def test_several_bad_settings_are_listed_in_one_error() -> None:
    """Every problem is reported at once, one per line, under a count."""
    message = config_error(
        None, env={"FOLLOWUP_SYNC__ORPHANS": "x", "FOLLOWUP_SYNC__DUPLICATES": "y"}
    )
    assert message.splitlines()[0] == "2 settings are wrong:"
    assert "  - FOLLOWUP_SYNC__ORPHANS / [sync] orphans" in message
    assert "  - FOLLOWUP_SYNC__DUPLICATES / [sync] duplicates" in message


def test_a_secret_value_is_not_echoed_in_an_error(tmp_path: Path) -> None:
    """A token of the wrong type is reported without showing what was given."""
    path = write(tmp_path, "[jira]\ntoken = 123456789\n")
    message = config_error(path, env={})
    assert "[jira] token" in message
    assert "123456789" not in message


def test_confluence_on_data_center_needs_no_wiki_suffix() -> None:
    """Only Cloud-style hosts must end in /wiki; a DC Confluence has its own address."""
    env = {"FOLLOWUP_CONFLUENCE__URL": "https://confluence.corp.example/"}
    assert load_settings(None, env=env).confluence.url == "https://confluence.corp.example"


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    """A --config that does not exist is an error, not silently no file."""
    message = config_error(tmp_path / "nope.toml", env={})
    assert message.startswith("--config / FOLLOWUP_CONFIG: config file ")
    assert "does not exist" in message


def test_bad_toml_syntax_names_the_line(tmp_path: Path) -> None:
    """A syntax error points at the line."""
    path = write(tmp_path, '[jira]\nproject = "OPS"\nurl = \n')
    message = config_error(path, env={})
    assert str(path) in message
    assert "line 3" in message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[jira]\nprojekt = "OPS"\n', "FOLLOWUP_JIRA__PROJEKT / [jira] projekt: unknown setting"),
        ("[sync.direction]\nstatus = 'off'\n", "[sync] direction: unknown setting (did you mean"),
        ("[jirra]\n", "FOLLOWUP_JIRRA / [jirra]: unknown setting (did you mean FOLLOWUP_JIRA"),
        ("dry_run = true\n", "[dry_run]: unknown setting"),
    ],
)
def test_unknown_keys_in_toml_are_errors(tmp_path: Path, toml: str, expected: str) -> None:
    """A typo in the file is reported with a suggestion, never ignored."""
    assert expected in config_error(write(tmp_path, toml), env={})


def test_token_file_is_read_and_stripped(tmp_path: Path) -> None:
    """A mounted secret file supplies the token, without its trailing newline."""
    secret = write(tmp_path, "file-token-abcdef\n", "token")
    settings = load_settings(None, env={"FOLLOWUP_JIRA__TOKEN_FILE": str(secret)})
    assert settings.jira.token is not None
    assert settings.jira.token.get_secret_value() == "file-token-abcdef"


def test_token_wins_over_token_file(tmp_path: Path) -> None:
    """An explicit token is used even when a token file is also given."""
    secret = write(tmp_path, "file-token-abcdef\n", "token")
    env = {"FOLLOWUP_JIRA__TOKEN_FILE": str(secret), "FOLLOWUP_JIRA__TOKEN": "env-token-123456"}
    token = load_settings(None, env=env).jira.token
    assert token is not None
    assert token.get_secret_value() == "env-token-123456"


@pytest.mark.parametrize(("content", "reason"), [(None, "does not exist"), ("\n", "is empty")])
def test_unusable_token_file_names_the_setting(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    """A missing or empty token file is an error naming token_file."""
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    message = config_error(None, env={"FOLLOWUP_CONFLUENCE__TOKEN_FILE": str(path)})
    assert message.startswith("FOLLOWUP_CONFLUENCE__TOKEN_FILE / [confluence] token_file: ")
    assert reason in message


def test_confluence_account_defaults_to_jira_account() -> None:
    """One Atlassian account for both products is configured once."""
    settings = load_settings(None, env=SITE_ENV)
    assert settings.confluence.email == "bot@acme.example"
    assert settings.confluence.token == settings.jira.token
    own = load_settings(
        None, env=SITE_ENV | {"FOLLOWUP_CONFLUENCE__TOKEN": "conf-token-0123456789"}
    )
    assert own.confluence.token is not None
    assert own.confluence.token.get_secret_value() == "conf-token-0123456789"


DC_PAT_ENV = {
    "FOLLOWUP_JIRA__URL": "https://jira.acme.example",
    "FOLLOWUP_JIRA__AUTH": "pat",
    "FOLLOWUP_JIRA__TOKEN": "jira-pat-0123456789",
    "FOLLOWUP_JIRA__PROJECT": "OPS",
    "FOLLOWUP_CONFLUENCE__URL": "https://wiki.acme.example",
    "FOLLOWUP_CONFLUENCE__TOKEN": "conf-pat-0123456789",
}


def test_data_center_personal_access_tokens_need_no_email() -> None:
    """`auth = "pat"` needs a URL and a token, no email; Confluence signs in the way
    Jira does unless told otherwise, and no Basic credential is built for redaction."""
    settings = load_settings(None, env=DC_PAT_ENV)
    settings.require_sites()
    assert (settings.jira.auth, settings.confluence.auth) == ("pat", "pat")
    assert sorted(settings.secrets()) == ["conf-pat-0123456789", "jira-pat-0123456789"]
    mixed = load_settings(
        None,
        env=DC_PAT_ENV
        | {"FOLLOWUP_CONFLUENCE__AUTH": "basic", "FOLLOWUP_CONFLUENCE__EMAIL": "bot"},
    )
    assert (mixed.jira.auth, mixed.confluence.auth) == ("pat", "basic")
    assert load_settings(None, env=SITE_ENV).confluence.auth == "basic"


def test_basic_auth_still_needs_the_email() -> None:
    """Without `auth = "pat"` a missing email is named, as before."""
    env = {k: v for k, v in DC_PAT_ENV.items() if k != "FOLLOWUP_JIRA__AUTH"}
    with pytest.raises(ConfigError, match=r"FOLLOWUP_JIRA__EMAIL / \[jira\] email"):
        load_settings(None, env=env).require_sites()


def test_a_personal_access_token_for_a_cloud_site_is_refused() -> None:
    """Cloud has no personal access tokens: the error names the setting and says what
    Cloud takes instead."""
    message = config_error(None, env=SITE_ENV | {"FOLLOWUP_JIRA__AUTH": "pat"})
    assert message.startswith("FOLLOWUP_JIRA__AUTH / [jira] auth: personal access tokens")
    assert "email and an API token" in message
    assert "jira-token-0123456789" not in message


def test_require_sites_names_every_missing_setting() -> None:
    """Commands that talk to the sites learn everything that is missing at once."""
    settings = load_settings(None, env={"FOLLOWUP_JIRA__URL": "https://acme.atlassian.net"})
    with pytest.raises(ConfigError) as caught:
        settings.require_sites()
    message = caught.value.message
    assert "FOLLOWUP_JIRA__URL" not in message
    for name in (
        "JIRA__EMAIL",
        "JIRA__TOKEN",
        "JIRA__PROJECT",
        "CONFLUENCE__URL",
        "CONFLUENCE__TOKEN",
    ):
        assert f"FOLLOWUP_{name} / " in message
    assert "FOLLOWUP_JIRA__TOKEN / [jira] token: field required" in message


def test_require_sites_for_one_product() -> None:
    """A command that needs only Confluence does not ask for Jira."""
    settings = load_settings(
        None,
        env={
            "FOLLOWUP_CONFLUENCE__URL": "https://acme.atlassian.net/wiki",
            "FOLLOWUP_CONFLUENCE__EMAIL": "a@b.example",
            "FOLLOWUP_CONFLUENCE__TOKEN": "conf-token-0123456789",
        },
    )
    settings.require_sites("confluence")
    with pytest.raises(ConfigError, match=r"- FOLLOWUP_JIRA__URL / \[jira\] url: field required"):
        settings.require_sites("jira")


def test_secrets_never_show_in_repr_or_dump() -> None:
    """repr, str and a JSON dump of the settings mask every token."""
    settings = load_settings(None, env=SITE_ENV)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "jira-token-0123456789" not in text


def test_loading_registers_tokens_for_log_redaction() -> None:
    """After loading, the token and the Basic credential built from it are redacted in logs."""
    load_settings(None, env=SITE_ENV)
    assert redact_text("token is jira-token-0123456789") == f"token is {REDACTED}"
    basic = base64.b64encode(b"bot@acme.example:jira-token-0123456789").decode()
    assert redact_text(f"sent {basic}") == f"sent {REDACTED}"


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("jira", "url"), "FOLLOWUP_JIRA__URL / [jira] url"),
        (("sync", "directions", "due"), "FOLLOWUP_SYNC__DIRECTIONS__DUE / [sync.directions] due"),
        (("jira", "labels", 2), "FOLLOWUP_JIRA__LABELS / [jira] labels[2]"),
        (("owners", "Priya N"), 'FOLLOWUP_OWNERS / [owners] "Priya N"'),
        (("metrics",), "FOLLOWUP_METRICS / [metrics]"),
    ],
)
def test_setting_name(loc: tuple[str | int, ...], expected: str) -> None:
    """A location in the model is named as an env var and as a TOML key."""
    assert setting_name(loc) == expected


def test_env_names_follow_one_pattern() -> None:
    """Every env name is FOLLOWUP_ + upper-case words joined by double underscores."""
    for name in all_env_names():
        assert re.fullmatch(r"FOLLOWUP_[A-Z0-9_]+", name), name


# section.key, not a module path (followup.sync) nor a call (confluence.server_now()).
_NAMED_SETTING = re.compile(
    r"(?<![\w./])(jira|confluence|sync|metrics|reminders)\.([a-z_]+(?:\.[a-z_]+)?)\b(?!\()"
)


def test_every_setting_a_message_names_exists() -> None:
    """Hints, messages and docstrings that name a setting (`jira.timeout_seconds`,
    `sync.date_order`) name one that exists: a hint pointing at `sync.timeout_seconds`
    sends a person looking for nothing."""
    import ast

    def exists(section: str, rest: str) -> bool:
        model: object = Settings.model_fields[section].annotation
        for part in rest.split("."):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                return False
            if part not in model.model_fields:
                return False
            model = model.model_fields[part].annotation
        return True

    named: list[str] = []
    unknown: list[str] = []
    for path in sorted((ROOT / "followup").rglob("*.py")):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for match in _NAMED_SETTING.finditer(node.value):
                    named.append(match.group(0))
                    if not exists(match.group(1), match.group(2)):
                        unknown.append(f"{path.name}: {match.group(0)}")
    assert len(named) > 20  # the check sees the hints it is about
    assert not unknown


@pytest.mark.parametrize(
    ("env", "link", "ours"),
    [
        ({}, (None, None), set()),
        (
            {
                "FOLLOWUP_CONFLUENCE__JIRA_SERVER": "System JIRA",
                "FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID": "link-a",
            },
            ("System JIRA", "link-a"),
            {"link-a"},
        ),
        ({"FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID": "link-a"}, (None, "link-a"), {"link-a"}),
        (
            {"FOLLOWUP_JIRA__MACRO_SERVER_IDS": "link-b,link-c"},
            (None, "link-b"),
            {"link-b", "link-c"},
        ),
        (
            {
                "FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID": "link-a",
                "FOLLOWUP_JIRA__MACRO_SERVER_IDS": "link-old",
            },
            (None, "link-a"),
            {"link-a", "link-old"},
        ),
    ],
)
def test_the_jira_link_is_set_once(
    env: dict[str, str], link: tuple[str | None, str | None], ours: set[str]
) -> None:
    """The serverId followup writes into its macros is always one it takes for this
    Jira; jira.macro_server_ids adds others (and gives the written one when
    [confluence] jira_server_id is unset); nothing set, no id is this Jira's."""
    settings = load_settings(None, env=env)
    assert settings.macro_link == link
    assert settings.macro_server_ids == ours
