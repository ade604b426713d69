"""followup's settings: built once at the edge, then passed in explicitly.

Sources, highest priority first: keyword overrides (the CLI), environment variables
(`FOLLOWUP_` prefix, `__` between levels: `FOLLOWUP_JIRA__URL`), the TOML file named
by `--config` or `FOLLOWUP_CONFIG`, the defaults below. Unknown keys are errors, so a
typo is never silently ignored. `load_settings` turns every problem into one
`ConfigError` naming the setting both ways ("FOLLOWUP_JIRA__URL / [jira] url: ...").

The core never imports this module's loader or reads the environment; it receives
the values it needs from the engine.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from followup.core.policy import (
    AdoptedTickets,
    ConflictWinner,
    Direction,
    Directions,
    EngineConfig,
    OrphanPolicy,
    Policy,
    ReminderPolicy,
    WatermarkPolicy,
)
from followup.core.queries import check_space_key
from followup.core.routing import IncidentLink, Route, Routing, Rule
from followup.core.storage_format.dates import DateOrder
from followup.core.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from followup.errors import ConfigError
from followup.logconfig import MIN_SECRET_LENGTH, register_secret
from followup.ports import AuthMethod

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "MIN_TOKEN_LENGTH",
    "ConfluenceSettings",
    "Direction",
    "DirectionSettings",
    "IncidentSettings",
    "JiraSettings",
    "MetricsSettings",
    "PrioritySettings",
    "ReminderSettings",
    "RoutingRule",
    "ServeSettings",
    "Settings",
    "SyncSettings",
    "load_settings",
    "setting_name",
]

_log = structlog.get_logger("followup.settings")


def _core(cls: type[Any], name: str) -> Any:
    """A setting's default: that of the core value it becomes (`followup.core.policy`),
    so that each default is defined once."""
    spec = next(f for f in dataclasses.fields(cls) if f.name == name)
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    raise AssertionError(f"{cls.__name__}.{name} has no default")


ENV_PREFIX = "FOLLOWUP_"
CONFIG_ENV_VAR = "FOLLOWUP_CONFIG"

Product = Literal["jira", "confluence"]

# Hosts where both products share one origin and Confluence lives under /wiki.
_CLOUD_HOST_SUFFIXES = (".atlassian.net", ".jira.com", ".jira-dev.com")
# Jira's default project key pattern is [A-Z][A-Z0-9_]+ (administrators may allow
# one letter); 255 is the longest key its database column takes.
_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}")


def _split_list(value: Any) -> Any:
    """A list from the environment: JSON (`["To Do","Backlog"]`) or comma-separated."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(
                'must be a JSON list such as ["a", "b"] or comma-separated such as a,b'
            ) from None
    return [part.strip() for part in text.split(",") if part.strip()]


StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]

_DURATION = re.compile(
    r"(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?"
)


def _seconds(value: Any) -> Any:
    """A duration: a number of seconds, or text such as `90s`, `5m`, `12h`, `1d`,
    `1h30m`."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise ValueError(f"expected a duration such as 90s, 5m, 12h or 1d (got {value!r})")
        return (
            int(match["d"] or 0) * 86400
            + int(match["h"] or 0) * 3600
            + int(match["m"] or 0) * 60
            + int(match["s"] or 0)
        )
    return value


Seconds = Annotated[int, BeforeValidator(_seconds)]
"""A list of strings, settable from the environment as JSON or as a,b,c."""


def _section_config() -> ConfigDict:
    return ConfigDict(extra="forbid", validate_default=True)


def _check_http_url(value: str | None) -> str | None:
    """Strip, drop a trailing slash, insist on http(s)://host with nothing else in it.

    The messages never quote the value: a token pasted into a URL setting, or a URL
    carrying a password, must not be printed back."""
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("must be an http(s) URL such as https://acme.atlassian.net") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://acme.atlassian.net")
    if "@" in parts.netloc:
        # https://user:token@host would put the credential into every link, report
        # and log line that shows the URL.
        raise ValueError(
            "must not contain a user name or password (user@ or user:password@); "
            "give the account in email and the token in token or token_file"
        )
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL without ?query or #fragment")
    return value


MIN_TOKEN_LENGTH = MIN_SECRET_LENGTH
"""Shorter tokens are refused: Atlassian's API tokens and personal access tokens are
far longer, and log redaction replaces a token wherever it appears in text, which for a
short value would garble ordinary words."""


def _read_token_file(path: Path, *, check: bool = True) -> SecretStr:
    # The path is not quoted in the messages: a token put into token_file by mistake
    # is the "path" here.
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ValueError("the file it names does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ValueError(f"the file it names cannot be read: {reason}") from None
    if not text:
        raise ValueError("the file it names is empty")
    return _check_token_length(SecretStr(text)) if check else SecretStr(text)


def _check_token_length(token: SecretStr) -> SecretStr:
    if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"is shorter than {MIN_TOKEN_LENGTH} characters, so it is not an API token or "
            "a personal access token; check that the right value is set (on Data Center, "
            'a password this short cannot be used: use a personal access token, auth = "pat")'
        )
    return token


class _SiteSettings(BaseModel):
    """What both products need to be reached: where, who, and how to authenticate."""

    model_config = _section_config()

    url: str | None = None
    email: str | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    # "basic": email (Cloud) or username (Data Center) with an API token or password;
    # "pat": a Data Center personal access token, sent as `Authorization: Bearer`.
    # None: "basic" for Jira, Jira's choice for Confluence.
    auth: AuthMethod | None = None
    verify_tls: bool = True
    timeout_seconds: float = Field(default=30, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("email")
    @classmethod
    def _strip_email(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("token")
    @classmethod
    def _empty_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return _check_token_length(SecretStr(value.get_secret_value().strip()))

    @field_validator("token_file")
    @classmethod
    def _token_file_readable(cls, value: Path | None) -> Path | None:
        # Checked here (not only when used) so that the error names token_file.
        if value is not None:
            _read_token_file(value)
        return value

    @model_validator(mode="after")
    def _token_from_file(self) -> _SiteSettings:
        # An explicit token wins; the file (a mounted Kubernetes secret) fills the gap.
        if self.token is None and self.token_file is not None:
            self.token = _read_token_file(self.token_file)
        return self

    @field_validator("auth")
    @classmethod
    def _pat_is_for_data_center(
        cls, value: AuthMethod | None, info: ValidationInfo
    ) -> AuthMethod | None:
        url = info.data.get("url")
        host = (urlsplit(url).hostname or "").lower() if url else ""
        if value == "pat" and host.endswith(_CLOUD_HOST_SUFFIXES):
            raise ValueError(
                "personal access tokens are a Data Center feature; Atlassian Cloud "
                'takes the account\'s email and an API token (auth = "basic")'
            )
        return value

    @property
    def uses_pat(self) -> bool:
        """Whether this site is reached with a personal access token (no email)."""
        return self.auth == "pat"


def _project_key(value: str) -> str:
    # The value is not quoted: a token pasted into a [jira] setting must not be echoed.
    key = value.strip().upper()
    if not _PROJECT_KEY.fullmatch(key):
        raise ValueError("is not a Jira project key: a letter, then letters, digits or _, e.g. OPS")
    return key


class JiraSettings(_SiteSettings):
    """[jira]: the Jira site and how tickets are created and moved.

    `project` is where tickets are created; `adopt_projects` are further projects
    whose tickets a page may link by hand (and followup then adopts). No other ticket
    is ever touched. `macro_server_ids` are further `serverId`s of this Jira in
    Confluence (an older application link, say), besides `[confluence]
    jira_server_id`: a jira macro naming any other server names another Jira.
    """

    # No default: a real site's tickets must go where its team says, never into
    # whatever project happens to be called OPS.
    project: str | None = None
    adopt_projects: StrList = Field(default_factory=list)
    macro_server_ids: StrList = Field(default_factory=list)
    issue_type: str = Field(default=_core(Policy, "issue_type"), min_length=1)
    done_transitions: StrList = Field(
        default_factory=lambda: list(_core(Policy, "done_transitions")), min_length=1
    )
    reopen_transitions: StrList = Field(
        default_factory=lambda: list(_core(Policy, "reopen_transitions"))
    )
    labels: StrList = Field(default_factory=list)
    default_priority: str | None = None

    @field_validator("project")
    @classmethod
    def _project_is_a_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _project_key(value)

    @field_validator("adopt_projects")
    @classmethod
    def _adopt_projects_are_keys(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_project_key(key) for key in value))

    @field_validator("macro_server_ids")
    @classmethod
    def _server_ids_are_ids(cls, value: list[str]) -> list[str]:
        ids = [v.strip() for v in value]
        if not all(ids):
            raise ValueError("server ids cannot be empty")
        return ids

    @field_validator("labels")
    @classmethod
    def _labels_have_no_spaces(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or any(c.isspace() for c in label):
                raise ValueError("Jira labels cannot be empty or contain spaces")
        return value

    @property
    def project_key(self) -> str:
        """`project`, which every command that talks to Jira needs (ConfigError if unset)."""
        if self.project is None:
            raise ConfigError(
                f"{setting_name(('jira', 'project'))}: field required",
                hint="the key of the Jira project followup creates tickets in, e.g. OPS",
            )
        return self.project


class ConfluenceSettings(_SiteSettings):
    """[confluence]: the Confluence site and which pages are postmortems.

    `email` and `token` default to the Jira ones when unset (one Atlassian account).
    `jira_server` / `jira_server_id` are the name and id of Confluence's application
    link to the Jira site: followup writes them into every jira macro it adds, as
    Confluence's editor does, and takes a macro carrying that id for one of this Jira
    (`followup doctor` shows the values the pages' own macros carry).
    """

    cql: str = Field(default=_core(EngineConfig, "cql"), min_length=1)
    spaces: StrList = Field(default_factory=list)
    jira_server: str | None = None
    # Checked even when unset: it is required once jira_server is set.
    jira_server_id: str | None = Field(default=None, validate_default=True)

    @field_validator("jira_server", "jira_server_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("jira_server_id")
    @classmethod
    def _id_goes_with_the_server(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A macro naming a server but no serverId would read back as another Jira's
        # (an unknown link is foreign), so followup would disown its own tickets.
        if value is None and info.data.get("jira_server") is not None:
            raise ValueError(
                "required with jira_server: set both (`followup doctor` shows the values "
                "the pages' jira macros carry), or neither"
            )
        return value

    @field_validator("spaces")
    @classmethod
    def _spaces_are_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            try:
                check_space_key(key)
            except ValueError:
                raise ValueError(
                    "space keys are letters and digits (such as SRE), or ~ and a user "
                    "name for a personal space"
                ) from None
        return value

    @field_validator("url")
    @classmethod
    def _cloud_url_ends_in_wiki(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        if host.endswith(_CLOUD_HOST_SUFFIXES) and not parts.path.endswith("/wiki"):
            raise ValueError(
                "must be the Confluence base URL ending in /wiki, "
                "e.g. https://acme.atlassian.net/wiki"
            )
        return value


class DirectionSettings(BaseModel):
    """[sync.directions]: which way each synced field flows."""

    model_config = _section_config()

    summary: Direction = _core(Directions, "summary")
    assignee: Direction = _core(Directions, "assignee")
    due: Direction = _core(Directions, "due")
    status: Direction = _core(Directions, "status")


class SyncSettings(BaseModel):
    """[sync]: the policy of a run."""

    model_config = _section_config()

    timezone: str = "UTC"
    label: str = Field(default=_core(Policy, "label"), min_length=1)
    # Every number has a range a run can live with (docs/configuration.md): a value
    # outside it is refused at start-up, naming the setting, never met mid-run.
    default_due_days: int | None = Field(default=_core(Policy, "default_due_days"), ge=0, le=3650)
    fallback_assignee: str | None = _core(Policy, "fallback_assignee")
    close_on_tick: bool = _core(Policy, "close_on_tick")
    orphans: OrphanPolicy = _core(Policy, "orphans")
    duplicates: OrphanPolicy = _core(Policy, "duplicates")
    adopt: bool = _core(Policy, "adopt")
    adopted_tickets: AdoptedTickets = _core(Policy, "adopted_tickets")
    conflict_winner: ConflictWinner = _core(Policy, "conflict_winner")
    directions: DirectionSettings = Field(default_factory=DirectionSettings)
    date_order: DateOrder = _core(EngineConfig, "date_order")
    concurrency: int = Field(default=_core(EngineConfig, "concurrency"), ge=1, le=64)
    # Above what the default 4 workers reach even against a 20 ms site (docs/performance.md):
    # a guard for raised concurrency, not a brake on an ordinary run.
    rate_limit: float = Field(default=200.0, ge=0.1, le=10_000)
    lease_seconds: int = Field(default=_core(EngineConfig, "lease_seconds"), ge=10, le=3600)
    max_page_retries: int = Field(default=_core(EngineConfig, "max_page_retries"), ge=0, le=10)
    run_budget_seconds: int = Field(default=600, ge=1, le=86_400)
    search_settle_seconds: float = Field(
        default=_core(EngineConfig, "search_settle_seconds"), ge=0, le=120
    )
    max_page_bytes: int = Field(default=_core(EngineConfig, "max_page_bytes"), ge=1, le=100_000_000)
    max_items_per_page: int = Field(
        default=_core(EngineConfig, "max_items_per_page"), ge=1, le=100_000
    )
    # Incremental runs (docs/performance.md): the page holding the watermark; unset,
    # every run is a full pass.
    state_page: str | None = _core(WatermarkPolicy, "state_page")
    full_every: Seconds = Field(
        default=_core(WatermarkPolicy, "full_every_seconds"), ge=600, le=30 * 86_400
    )
    incremental_overlap: Seconds = Field(
        default=_core(WatermarkPolicy, "overlap_seconds"), ge=60, le=86_400
    )

    @field_validator("state_page")
    @classmethod
    def _state_page_is_an_id(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.isdigit() or not value.isascii():
            raise ValueError(
                "a Confluence page id: the digits in the page's address (…/pages/12345/…)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown time zone; use an IANA name such as 'UTC' or 'Europe/Berlin'"
            ) from None
        return value

    @field_validator("label")
    @classmethod
    def _label_has_no_spaces(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError("Jira labels cannot contain spaces")
        return value


def _default_words(name: str) -> Any:
    """A field of the `[extract]` section defaulting to the English vocabulary's list."""
    return Field(default_factory=lambda: list(getattr(DEFAULT_VOCABULARY, name)))


class ExtractSettings(BaseModel):
    """[extract]: the words followup looks for on pages (English by default). See
    docs/storage-format.md for how each list is matched."""

    model_config = _section_config()

    section_headings: StrList = _default_words("section_headings")
    non_action_headings: StrList = _default_words("non_action_headings")
    action_columns: StrList = _default_words("action_columns")
    owner_columns: StrList = _default_words("owner_columns")
    due_columns: StrList = _default_words("due_columns")
    status_columns: StrList = _default_words("status_columns")
    ticket_columns: StrList = _default_words("ticket_columns")
    priority_columns: StrList = _default_words("priority_columns")
    team_columns: StrList = _default_words("team_columns")
    non_action_columns: StrList = _default_words("non_action_columns")
    weak_columns: StrList = _default_words("weak_columns")
    done_words: StrList = _default_words("done_words")
    open_words: StrList = _default_words("open_words")
    date_words: StrList = _default_words("date_words")
    incident_rows: StrList = _default_words("incident_rows")

    @field_validator("*")
    @classmethod
    def _words_have_text(cls, value: list[str]) -> list[str]:
        if any(not word.strip() for word in value):
            raise ValueError("every word must have some text (an empty string matches nothing)")
        return value

    def vocabulary(self) -> Vocabulary:
        """The vocabulary extraction is given."""
        return Vocabulary(**{name: tuple(words) for name, words in self.model_dump().items()})


class MetricsSettings(BaseModel):
    """[metrics]: where run metrics go (a Prometheus Pushgateway and/or a textfile)."""

    model_config = _section_config()

    pushgateway_url: str | None = None
    textfile: Path | None = None
    job: str = Field(default="followup", min_length=1)

    @field_validator("pushgateway_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        return _check_http_url(value)


class ReminderSettings(BaseModel):
    """[reminders]: comments on overdue and soon-due tickets, and escalation."""

    model_config = _section_config()

    enabled: bool = _core(ReminderPolicy, "enabled")
    overdue_every_days: int = Field(
        default=_core(ReminderPolicy, "overdue_every_days"), ge=1, le=365
    )
    before_due_days: int = Field(default=_core(ReminderPolicy, "before_due_days"), ge=0, le=365)
    escalate_after: int = Field(default=_core(ReminderPolicy, "escalate_after"), ge=1, le=100)
    escalate_to: str | None = _core(ReminderPolicy, "escalate_to")
    escalate_label: str = Field(default=_core(ReminderPolicy, "escalate_label"), min_length=1)


class ServeSettings(BaseModel):
    """[serve]: `followup serve`, the webhook receiver (docs/deploy.md).

    `webhook_secret` (or `webhook_secret_file`, a mounted secret) is the shared secret
    Jira and Confluence sign their deliveries with; `public_url` is where the sites
    reach this process (what `followup serve --register` registers)."""

    model_config = _section_config()

    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None
    public_url: str | None = None
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    # Pages waiting for a run (each counted once, however many events name it); an
    # event for a page not already waiting is answered 503 with Retry-After when full.
    queue_size: int = Field(default=1000, ge=1, le=100_000)
    # The largest request body taken (Jira's issue events are a few kB; 1 MiB is plenty).
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=50_000_000)
    # Page runs carried out side by side (each under its page's lease).
    workers: int = Field(default=2, ge=1, le=32)
    # A page another run held the lease of is run again after this long, so that an
    # event arriving while a sync or another replica wrote the page is not lost.
    leased_retry_seconds: float = Field(default=5.0, ge=0.1, le=3600)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return _check_webhook_secret(SecretStr(value.get_secret_value().strip()))

    @field_validator("webhook_secret_file")
    @classmethod
    def _secret_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            _check_webhook_secret(_read_token_file(value, check=False))
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://followup.acme.example")
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be a base URL without user@, ?query or #fragment")
        return value

    @model_validator(mode="after")
    def _secret_from_file(self) -> ServeSettings:
        if self.webhook_secret is None and self.webhook_secret_file is not None:
            self.webhook_secret = _check_webhook_secret(
                _read_token_file(self.webhook_secret_file, check=False)
            )
        return self

    def secret(self) -> str:
        """The webhook secret (ConfigError when neither setting gives one)."""
        if self.webhook_secret is None:
            raise ConfigError(
                f"{setting_name(('serve', 'webhook_secret'))}: field required",
                hint="followup serve verifies every delivery with it; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'` and give it by "
                "environment or webhook_secret_file",
            )
        return self.webhook_secret.get_secret_value()


MIN_WEBHOOK_SECRET_LENGTH = 16


def _check_webhook_secret(secret: SecretStr) -> SecretStr:
    if len(secret.get_secret_value()) < MIN_WEBHOOK_SECRET_LENGTH:
        raise ValueError(
            f"is shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters: a secret this short "
            "can be guessed; use 32 random hex characters or more"
        )
    return secret


FieldValue = str | int | float | bool | list[str]


class RoutingRule(BaseModel):
    """One `[[routing]]` rule: where the tickets of matching pages and items go.

    Matchers (every one given must match): `space` (a page's space key), `label` (one
    of the page's labels), `ancestor` (the title or id of a page above it), `team` (the
    item's Team or Project cell). Then the route: `project`, `issue_type` (else
    `[jira] issue_type`), `components`, `labels` (added beside followup's own) and
    `fields` (custom fields by name or id, with fixed values). Rules are tried in
    order; the first match wins; no match: `[jira] project`.
    """

    model_config = _section_config()

    space: str | None = None
    label: str | None = None
    ancestor: str | None = None
    team: str | None = None
    project: str
    issue_type: str | None = Field(default=None, min_length=1)
    components: StrList = Field(default_factory=list)
    labels: StrList = Field(default_factory=list)
    fields: dict[str, FieldValue] = Field(default_factory=dict)

    @field_validator("space", "label", "ancestor", "team")
    @classmethod
    def _blank_matcher_is_unset(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("space")
    @classmethod
    def _space_is_a_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_space_key(value)
            except ValueError:
                raise ValueError("is not a space key: letters and digits, such as PAY") from None
        return value

    @field_validator("project")
    @classmethod
    def _project_is_a_key(cls, value: str) -> str:
        return _project_key(value)

    @field_validator("labels")
    @classmethod
    def _labels_have_no_spaces(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or any(c.isspace() for c in label):
                raise ValueError("Jira labels cannot be empty or contain spaces")
        return value

    @field_validator("components")
    @classmethod
    def _components_have_names(cls, value: list[str]) -> list[str]:
        if any(not c.strip() for c in value):
            raise ValueError("component names cannot be empty")
        return [c.strip() for c in value]

    @field_validator("fields")
    @classmethod
    def _fields_have_names(cls, value: dict[str, FieldValue]) -> dict[str, FieldValue]:
        if any(not name.strip() for name in value):
            raise ValueError("field names or ids cannot be empty")
        return {name.strip(): v for name, v in value.items()}

    @model_validator(mode="after")
    def _matches_something(self) -> RoutingRule:
        if all(m is None for m in (self.space, self.label, self.ancestor, self.team)):
            raise ValueError(
                "a rule needs at least one of space, label, ancestor or team; tickets "
                "no rule matches go to [jira] project"
            )
        return self


class PrioritySettings(BaseModel):
    """[priorities]: a Priority column's words as Jira priorities, and due dates by
    priority.

    `map` takes a page's word (compared without case, spaces or dashes: `Sev-1` is
    `sev1`) to a Jira priority name; a word that is already a priority of the
    ticket's project needs no entry. `due_days` gives, per Jira priority, the days
    after the postmortem an item without a due date is due (else
    `sync.default_due_days`).
    """

    model_config = _section_config()

    map: dict[str, str] = Field(default_factory=dict)
    due_days: dict[str, Annotated[int, Field(ge=0, le=3650)]] = Field(default_factory=dict)

    @field_validator("map")
    @classmethod
    def _words_have_text(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k.strip() or not v.strip() for k, v in value.items()):
            raise ValueError("page words and Jira priority names cannot be empty")
        return {k.strip(): v.strip() for k, v in value.items()}


class IncidentSettings(BaseModel):
    """[incident]: follow-ups tied to the incident ticket their page names.

    With `link_type` set (a Jira issue link type, such as "Relates"), every ticket of
    a page whose header table names an incident ticket ("Incident | INC-2264") is
    linked to it; with `parent = true` instead, each new ticket is created as the
    incident's child (Jira's `parent` field: the incident must be a level above, an
    Epic say). Only tickets of `projects` are used (a page's text is anyone's).
    """

    model_config = _section_config()

    link_type: str | None = None
    parent: bool = False
    projects: StrList = Field(default_factory=list)

    @field_validator("link_type")
    @classmethod
    def _blank_is_off(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @field_validator("projects")
    @classmethod
    def _projects_are_keys(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_project_key(key) for key in value))

    @model_validator(mode="after")
    def _projects_with_link(self) -> IncidentSettings:
        if self.link_type is not None and self.parent:
            raise ValueError(
                "link_type and parent = true are two ways to tie a follow-up to its "
                "incident: set one of them"
            )
        if (self.link_type is not None or self.parent) and not self.projects:
            what = "link_type" if self.link_type is not None else "parent"
            raise ValueError(
                f"{what} needs projects: the keys of the projects incident tickets live "
                'in, e.g. projects = ["INC"]'
            )
        return self

    @property
    def enabled(self) -> bool:
        return self.link_type is not None or self.parent


# The TOML file for the next Settings() built in this context (see load_settings).
_toml_file: ContextVar[Path | None] = ContextVar("followup_toml_file", default=None)
# The environment for the next Settings() built in this context; None = os.environ.
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("followup_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


class _TomlSource(TomlConfigSettingsSource):
    """The TOML source, turning unreadable or malformed files into ConfigError."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"config file {file_path}: invalid TOML: {exc}",
                hint="fix the syntax at that line; the example is config/followup.example.toml",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"config file {file_path}: cannot read: {exc.strerror or exc}"
            ) from None


class Settings(BaseSettings):
    """Everything followup can be told. See docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        case_sensitive=False,
    )

    jira: JiraSettings = Field(default_factory=JiraSettings)
    confluence: ConfluenceSettings = Field(default_factory=ConfluenceSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    owners: dict[str, str] = Field(default_factory=dict)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    routing: list[RoutingRule] = Field(default_factory=list)
    priorities: PrioritySettings = Field(default_factory=PrioritySettings)
    incident: IncidentSettings = Field(default_factory=IncidentSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file and no secrets directory: token_file covers mounted secrets, and
        # a stray .env in the working directory must not change what a run does.
        environ = _environ.get()
        env = env_settings if environ is None else _MappingEnvSource(settings_cls, environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(_TomlSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("owners")
    @classmethod
    def _owners_are_nonempty(cls, value: dict[str, str]) -> dict[str, str]:
        for name, user in value.items():
            if not name.strip() or not user.strip():
                raise ValueError("names and Jira user ids must not be empty")
        return {name.strip(): user.strip() for name, user in value.items()}

    @model_validator(mode="after")
    def _confluence_defaults_to_jira_account(self) -> Settings:
        if self.jira.auth is None:
            self.jira.auth = "basic"
        if self.confluence.auth is None:
            self.confluence.auth = self.jira.auth
        if self.confluence.email is None:
            self.confluence.email = self.jira.email
        if self.confluence.token is None:
            self.confluence.token = self.jira.token
        if (
            self.confluence.url is not None
            and self.confluence.url == self.jira.url
            and urlsplit(self.confluence.url).path in ("", "/")
        ):
            raise ValueError(
                f"{setting_name(('confluence', 'url'))}: is the same as the Jira URL; "
                "where both products share one address, Confluence lives under /wiki, "
                "e.g. https://acme.atlassian.net/wiki"
            )
        return self

    @property
    def macro_link(self) -> tuple[str | None, str | None]:
        """The (server, serverId) followup's own jira macros name: `[confluence]
        jira_server` / `jira_server_id`, else the first of `jira.macro_server_ids`
        (no name), else none (Confluence then uses its primary Jira link)."""
        c = self.confluence
        if c.jira_server_id is not None:
            return c.jira_server, c.jira_server_id
        ids = self.jira.macro_server_ids
        return None, (ids[0] if ids else None)

    @property
    def macro_server_ids(self) -> frozenset[str]:
        """Every jira macro `serverId` taken for this Jira: the one followup writes
        (always its own) and `jira.macro_server_ids`. Any other is foreign."""
        written = self.confluence.jira_server_id
        return frozenset({*self.jira.macro_server_ids, *((written,) if written else ())})

    def require_sites(self, *products: Product) -> None:
        """Raise ConfigError unless url, email and token (and Jira's project) are set
        for `products` (both when none are named; no email with a personal access
        token). Commands that talk to a site call this first."""
        missing: list[str] = []
        for product in products or ("jira", "confluence"):
            site: _SiteSettings = getattr(self, product)
            fields = ["url", "token"] if site.uses_pat else ["url", "email", "token"]
            if product == "jira":
                fields.append("project")
            for field in fields:
                if getattr(site, field) is None:
                    missing.append(f"{setting_name((product, field))}: field required")
        if missing:
            raise ConfigError(
                _one_message(missing, "settings are missing"),
                hint="set them in the config file or the environment; "
                "the token may come from token_file; see docs/configuration.md",
            )

    @property
    def routes_configured(self) -> bool:
        """Whether any of `[[routing]]`, `[priorities]` or `[incident]` is set (each
        sync then checks them against Jira's create metadata before it writes)."""
        p = self.priorities
        return bool(self.routing or p.map or p.due_days or self.incident.enabled)

    def routing_config(self) -> Routing | None:
        """The routing these settings describe (`followup.core.routing`), None when
        none is configured: every ticket goes to `[jira] project`, as it always did."""
        if not self.routes_configured:
            return None
        j = self.jira
        rules = tuple(
            Rule(
                route=Route(
                    project=r.project,
                    issue_type=r.issue_type or j.issue_type,
                    components=tuple(r.components),
                    labels=tuple(r.labels),
                    fields=tuple(r.fields.items()),
                    rule=number,
                ),
                space=r.space,
                label=r.label,
                ancestor=r.ancestor,
                team=r.team,
            )
            for number, r in enumerate(self.routing, start=1)
        )
        link = self.incident
        return Routing(
            default=Route(j.project_key, j.issue_type),
            rules=rules,
            priority_map=tuple(self.priorities.map.items()),
            due_days=dict(self.priorities.due_days),
            default_priority=j.default_priority,
            incident=(
                IncidentLink(link.link_type, frozenset(link.projects), parent=link.parent)
                if link.enabled
                else None
            ),
        )

    def secrets(self) -> Iterator[str]:
        """Every secret value these settings hold, and the Basic credentials built from
        them (what an Authorization header would carry), for log redaction."""
        for site in (self.jira, self.confluence):
            if site.token is None:
                continue
            token = site.token.get_secret_value()
            yield token
            if site.email and not site.uses_pat:
                yield base64.b64encode(f"{site.email}:{token}".encode()).decode("ascii")
        if self.serve.webhook_secret is not None:
            yield self.serve.webhook_secret.get_secret_value()


def setting_name(loc: tuple[int | str, ...]) -> str:
    """A setting's name in both its env form and its TOML form.

    >>> setting_name(("jira", "url"))
    'FOLLOWUP_JIRA__URL / [jira] url'
    >>> setting_name(("sync", "directions", "status"))
    'FOLLOWUP_SYNC__DIRECTIONS__STATUS / [sync.directions] status'
    """
    if loc and loc[0] == "routing":
        # [[routing]] is a list of tables: rule n's key, or the list as one JSON value.
        rule = f" rule {int(loc[1]) + 1}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        key = " " + ".".join(str(p) for p in loc[2:]) if len(loc) > 2 else ""
        return f"{ENV_PREFIX}ROUTING / [[routing]]{rule}{key}"
    names = [str(p) for p in loc if not isinstance(p, int)]
    index = "".join(f"[{p}]" for p in loc[len(names) :] if isinstance(p, int))
    if not names:
        return "settings"
    if names[0] == "owners":
        # Owner names are free text (spaces, @): settable as one JSON env var.
        key = f' "{names[1]}"' if len(names) > 1 else ""
        return f"{ENV_PREFIX}OWNERS / [owners]{key}"
    env = ENV_PREFIX + "__".join(n.upper() for n in names)
    if len(names) == 1:
        return f"{env} / [{names[0]}]"
    return f"{env} / [{'.'.join(names[:-1])}] {names[-1]}{index}"


def _one_message(lines: list[str], what: str) -> str:
    """One line for one problem; a count and an indented list for several."""
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} {what}:\n" + "\n".join(f"  - {line}" for line in lines)


# Echoed values are never a secret: nothing from the sections holding the sites and
# their credentials (a token pasted into url, auth, email or timeout_seconds), and
# nothing as long as the shortest token accepted; nothing from [serve] (its secret).
_SECRET_SECTIONS = ("jira", "confluence", "serve")


def _may_echo(loc: tuple[Any, ...], value: Any) -> bool:
    if not loc or str(loc[0]) in _SECRET_SECTIONS:
        return False
    return isinstance(value, str | int | float | bool) and len(str(value)) < MIN_TOKEN_LENGTH


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "extra_forbidden":
        msg = "unknown setting" + _suggestion(loc)
    elif kind == "missing":
        msg = "field required"
    elif _may_echo(loc, error.get("input")):
        msg = f"{msg} (got {error.get('input')!r})"
    if kind == "value_error" and len(loc) == 0:
        return msg
    return f"{setting_name(loc)}: {msg}"


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The location of every setting (leaf) under `model`, e.g. ("jira", "url")."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, (*prefix, name))
        else:
            yield (*prefix, name)


def _env_name(loc: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in loc)


def _nearest(loc: tuple[Any, ...]) -> tuple[str, ...] | None:
    """The real setting nearest to the unknown one at `loc`: the same key in another
    section (a timeout set under [sync] belongs to [jira] or [confluence]), else the
    most similar name, within the section first."""
    parts = tuple(str(p) for p in loc if not isinstance(p, int))
    if not parts:
        return None
    if len(parts) == 1:
        close = difflib.get_close_matches(parts[0], list(Settings.model_fields), n=1)
        return (close[0],) if close else None
    leaves = [leaf for leaf in _leaves(Settings) if leaf[0] != "owners"]
    same_key = [leaf for leaf in leaves if leaf[-1] == parts[-1]]
    if same_key:
        return same_key[0]
    siblings = {leaf[-1]: leaf for leaf in leaves if leaf[:-1] == parts[:-1]}
    close = difflib.get_close_matches(parts[-1], list(siblings), n=1)
    if close:
        return siblings[close[0]]
    dotted = {".".join(leaf): leaf for leaf in leaves}
    close = difflib.get_close_matches(".".join(parts), list(dotted), n=1, cutoff=0.75)
    return dotted[close[0]] if close else None


def _suggestion(loc: tuple[Any, ...]) -> str:
    found = _nearest(loc)
    return f" (did you mean {setting_name(found)}?)" if found else " (a typo?)"


# Variables with the prefix that are not settings: options of the command line, those
# followup's own test suite and tools read (so that a developer's shell with them set
# still runs followup), and what Kubernetes injects for a Service named "followup...".
_COMMAND_LINE_VARIABLES = (
    CONFIG_ENV_VAR,
    "FOLLOWUP_LOG_LEVEL",
    "FOLLOWUP_SPECS_DIR",
    "FOLLOWUP_RECORD_CASSETTES",
    "FOLLOWUP_UPDATE_GOLDEN",
    "FOLLOWUP_CHROMIUM",
)
_SERVICE_LINK = re.compile(
    r"FOLLOWUP\w*_(?:SERVICE_HOST|SERVICE_PORT\w*|PORT|PORT_\d+_(?:TCP|UDP|SCTP)\w*)"
)


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each FOLLOWUP_ variable that names no setting (a misspelt name is
    otherwise silently ignored: `FOLLOWUP_JIRA_URL` with one underscore), with the
    real setting it most likely meant. Variables under a known section
    (`FOLLOWUP_JIRA__...`) are left to the model, which names them itself."""
    sections = {_env_name((name,)) for name in Settings.model_fields}
    known = {_env_name(leaf) for leaf in _leaves(Settings)} | sections
    known |= {_env_name(leaf[:-1]) for leaf in _leaves(Settings) if len(leaf) > 2}
    lines: list[str] = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if upper in _COMMAND_LINE_VARIABLES or _SERVICE_LINK.fullmatch(upper):
            continue
        if any(upper.startswith(section + "__") for section in sections):
            continue
        by_env = {_env_name(leaf): leaf for leaf in _leaves(Settings) if leaf[0] != "owners"}
        close = difflib.get_close_matches(upper, list(by_env), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}?" if close else "see docs/configuration.md"
        lines.append(f"{name}: unknown setting ({hint})")
    return sorted(lines)


def load_settings(
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from `overrides`, the environment and the TOML file.

    `config_path` None means the path in `FOLLOWUP_CONFIG`, if set, else no file.
    `env` None means `os.environ`. Every token loaded is registered for log
    redaction. Raises ConfigError with one message naming each offending setting.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if config_path is None and environ.get(CONFIG_ENV_VAR):
        config_path = Path(environ[CONFIG_ENV_VAR])
    if config_path is not None:
        config_path = config_path.expanduser()
        if not config_path.is_file():
            what = "is a directory" if config_path.is_dir() else "does not exist"
            raise ConfigError(
                f"--config / {CONFIG_ENV_VAR}: config file {str(config_path)!r} {what}",
                hint="start from config/followup.example.toml",
            )

    unknown = _unknown_variables(environ)
    file_token = _toml_file.set(config_path)
    env_token = _environ.set(env)
    try:
        settings = Settings(**overrides)
        if unknown:
            raise ConfigError(
                _one_message(unknown, "settings are wrong"),
                hint="settings are FOLLOWUP_ + section + __ + key, with two underscores: "
                "FOLLOWUP_JIRA__URL; see docs/configuration.md",
            )
    except SettingsError as exc:
        # The environment held a value that should be JSON and is not.
        found = re.search(r'field "(\w+)"', str(exc))
        name = setting_name((found.group(1),)) if found else "a FOLLOWUP_ variable"
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(
            f"{name}: a value from the environment is not valid JSON{cause}",
            hint="dicts and nested sections are JSON in the environment, "
            'e.g. FOLLOWUP_OWNERS=\'{"Priya Natarajan": "5b10a2844c20165700ede21g"}\'',
        ) from None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = list(dict.fromkeys([*(_describe(e) for e in errors), *unknown]))
        where = f" (config file {config_path})" if config_path is not None else ""
        raise ConfigError(
            _one_message(lines, "settings are wrong"),
            hint=f"see docs/configuration.md{where}",
        ) from None
    finally:
        _toml_file.reset(file_token)
        _environ.reset(env_token)

    for secret in settings.secrets():
        register_secret(secret)
    _warn_if_tls_unverified(settings)
    return settings


def _warn_if_tls_unverified(settings: Settings) -> None:
    """TLS certificates are checked unless a setting turns that off; when one does,
    every load of the settings says so, naming the setting."""
    for product in ("jira", "confluence"):
        site: _SiteSettings = getattr(settings, product)
        if not site.verify_tls:
            _log.warning(
                "tls-verification-off",
                setting=setting_name((product, "verify_tls")),
                url=site.url,
                hint="the site's certificate is not checked, so anyone on the network "
                "path can read the API token and change what followup reads and writes; "
                "trust your CA instead (REQUESTS_CA_BUNDLE) and turn verification back on",
            )
