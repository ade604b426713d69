"""The real sandbox for tests: started once per session in a thread, reset per test, and
every JSON answer checked against Atlassian's OpenAPI documents as it arrives.

Use it as a pytest plugin (`pytest_plugins = ["sandbox_support"]` in a test module or
the root conftest). Fixtures:

    sandbox_server     session   RunningSandbox (cloud), demo seed (empty without seed.py)
    sandbox            function  sandbox_server reset to the demo seed, faults and stats cleared
    dc_sandbox_server  session   RunningSandbox on the Data Center flavor
    openapi            session   OpenApiValidator over Atlassian's documents (see below)
    jira_site          function  JiraSite: the cloud sandbox holding MINI_DATASET
    dc_jira_site       function  JiraSite: the Data Center sandbox holding MINI_DATASET

The OpenAPI documents are Atlassian's and are not copied into the repository: they are
read from `FOLLOWUP_SPECS_DIR`, else `../shared/specs` beside the checkout, else
`.followup/specs`, which `make specs` fills from Atlassian's published addresses.
`require_specs()` skips a test when none is there, and fails it (as the `openapi`
fixture does) when the CI environment variable is set: CI checks responses, never
skips checking.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from jira import JIRA

from followup.sandbox import control
from followup.sandbox.dataset import Dataset, SeedIssue, SeedProject
from followup.sandbox.server import RunningSandbox, open_state, start_in_thread
from followup.sandbox.state import Flavor, User

REPO = Path(__file__).resolve().parents[1]
# Atlassian's OpenAPI documents are read, not vendored: from FOLLOWUP_SPECS_DIR, else the
# shared reference copy beside the checkout, else the cache `make specs` downloads into.
SPEC_FILES = (
    "jira-platform-v3.openapi.json",
    "confluence-v1.openapi.json",
    "confluence-v2.openapi.json",
)
SPECS_CANDIDATES = tuple(
    Path(p)
    for p in (
        os.environ.get("FOLLOWUP_SPECS_DIR"),
        REPO.parent / "shared" / "specs",
        REPO / ".followup" / "specs",
    )
    if p
)


def _find_specs() -> Path | None:
    for candidate in SPECS_CANDIDATES:
        if all((candidate / name).is_file() for name in SPEC_FILES):
            return candidate
    return None


SPECS_DIR = _find_specs()

# -- a small dataset whose every value the tests know -----------------------------------

ADMIN = User("557058:ada-0001", "ada", "JIRAUSER10000", "Ada Admin", "ada@example.com", "ada-token")
ALICE = User(
    "557058:alice-0002", "alice", "JIRAUSER10001", "Alice Owner", "alice@example.com", "alice-t"
)
BOB = User("557058:bob-0003", "bob", "JIRAUSER10002", "Bob Builder", "bob@example.com", None)
READER = User(
    "557058:rita-0004", "rita", "JIRAUSER10003", "Rita Reader", "rita@example.com", "rita-t",
    read_only=True,
)  # fmt: skip
GONE = User(
    "557058:gone-0005", "gone", "JIRAUSER10004", "Gus Gone", "gus@example.com", "gus-t",
    active=False,
)  # fmt: skip

SEED_CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def mini_dataset() -> Dataset:
    """Five users (admin first), projects OPS and SEC, and four issues OPS-1..3, SEC-1."""
    return Dataset(
        users=(ADMIN, ALICE, BOB, READER, GONE),
        projects=(
            SeedProject("OPS", "Operations", ADMIN.account_id, ("Task", "Bug")),
            SeedProject("SEC", "Security", ALICE.account_id, ("Task",)),
        ),
        issues=(
            SeedIssue(
                "OPS",
                "Add an alert on replica lag",
                ADMIN.account_id,
                SEED_CREATED,
                assignee=ALICE.account_id,
                duedate=date(2024, 6, 1),
                labels=("followup", "followup-1001"),
                properties={"followup": {"item": "1001:task:1", "page": "1001"}},
            ),
            SeedIssue(
                "OPS",
                "Write the runbook",
                ADMIN.account_id,
                SEED_CREATED,
                status="Done",
                resolution="Done",
                labels=("followup", "followup-1001"),
            ),
            SeedIssue("OPS", "Unrelated chore", ADMIN.account_id, SEED_CREATED),
            SeedIssue("SEC", "Rotate keys", ALICE.account_id, SEED_CREATED, labels=("followup",)),
        ),
    )


# -- response validation against the OpenAPI documents ----------------------------------


_NO_SPECS = (
    "Atlassian's OpenAPI documents were not found (looked in "
    + ", ".join(str(c) for c in SPECS_CANDIDATES)
    + "); run `make specs` to download them, or set FOLLOWUP_SPECS_DIR"
)


def require_specs() -> Path:
    """The specs directory; skip (or, on CI, fail) when it is not there."""
    if SPECS_DIR is not None:
        return SPECS_DIR
    message = _NO_SPECS
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: this must not be skipped)")
    pytest.skip(message)


# Jira writes timestamps as 2024-01-15T10:30:00.000+0000: its documents call that a
# `date-time`, which strictly needs +00:00. Real clients expect Jira's form, so it is kept.
_JIRA_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")


def _jira_timestamp(error: Any) -> bool:
    return (
        getattr(error, "validator", None) == "format"
        and getattr(error, "validator_value", None) == "date-time"
        and isinstance(getattr(error, "instance", None), str)
        and bool(_JIRA_TIME.match(error.instance))
    )


# A changelog item's from/to values are null where there is nothing to show: the
# document's own example of GET issue/{key}/changelog has `"from": null`, though its
# ChangeDetails schema calls them non-nullable strings.
_CHANGE_VALUES = {"from", "fromString", "to", "toString"}


def _null_change_value(error: Any) -> bool:
    path = list(getattr(error, "absolute_path", None) or ())
    return getattr(error, "instance", 0) is None and bool(path) and path[-1] in _CHANGE_VALUES


_JIRA_ERROR_KEYS = {"errorMessages", "errors", "warningMessages", "status"}
_UNMATCHED_KEYS = {"message", "status-code"}
_CONFLUENCE_ERROR_KEYS = {"statusCode", "data", "message", "reason"}


class OpenApiValidator:
    """Checks each JSON answer of the Jira and Confluence APIs against Atlassian's documents.

    2xx answers are validated against the operation's response schema (a /rest/api/2
    path is checked as its /rest/api/3 twin: same shapes, rich text aside, and the v3
    `fields` and comment bodies are untyped). Confluence error answers must have its
    error shape (its documents describe none). Jira error answers must be an
    ErrorCollection (or the REST framework's `{message, status-code}` for a path or
    method no resource takes), or the schema the
    document gives for that status. Known mistakes of the document (Jira's timestamps,
    null changelog values) are let through. Raises AssertionError, so a bad answer fails
    the test that received it.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory if directory and directory.is_dir() else None
        self._specs: dict[str, Any] = {}
        self.checked: Counter[str] = Counter()

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _spec(self, name: str) -> Any:
        if name not in self._specs:
            from openapi_core import Config, OpenAPI

            assert self.directory is not None
            path = self.directory / f"{name}.openapi.json"
            self._specs[name] = OpenAPI.from_file_path(
                str(path), config=Config(spec_validator_cls=None)
            )
        return self._specs[name]

    def hook(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        """A `requests` response hook: `session.hooks["response"].append(v.hook)`."""
        self.check(response)

    def attach(self, session: requests.Session) -> requests.Session:
        session.hooks["response"].append(self.hook)
        return session

    def check(self, response: requests.Response) -> None:
        if not self.enabled or not response.content:
            return
        if "json" not in response.headers.get("content-type", ""):
            return
        path = urlsplit(response.url).path
        method = (response.request.method or "GET").upper()
        if path.startswith("/rest/api/"):
            parts = path.split("/", 4)
            path = "/rest/api/3/" + (parts[4] if len(parts) > 4 else "")
            self._validate(
                "jira-platform-v3", "https://your-domain.atlassian.net", method, path, response
            )
        elif path.startswith("/wiki/rest/api/"):
            self._validate("confluence-v1", "//your-domain.atlassian.net", method, path, response)
        elif path.startswith("/wiki/api/v2/"):
            self._validate(
                "confluence-v2", "https://your-domain.atlassian.net", method, path, response
            )

    def _validate(
        self, name: str, host: str, method: str, path: str, response: requests.Response
    ) -> None:
        from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from openapi_core.testing import MockRequest, MockResponse

        status = response.status_code
        body = response.json()
        where = f"{method} {urlsplit(response.url).path} -> {status}"
        if name.startswith("jira") and status >= 400:
            self._check_jira_error(where, body)
        elif status >= 400:
            self._check_confluence_error(where, name, body)
        bodies = [body]
        if (
            name.startswith("jira")
            and method == "GET"
            and path.endswith("/remotelink")
            and isinstance(body, list)
        ):
            # The document describes GET .../remotelink as one link; without `globalId`
            # Jira answers a list of them. Check each element as the one link it describes.
            bodies = body
        spec = self._spec(name)
        for item in bodies:
            try:
                spec.validate_response(
                    MockRequest(host, method.lower(), path),
                    MockResponse(json.dumps(item).encode(), status_code=status),
                )
            except ResponseNotFound:
                if 200 <= status < 300:
                    raise AssertionError(f"{where}: the document has no {status} answer") from None
                return  # an error status the document does not list (410, 429, 503...)
            except (PathNotFound, OperationNotFound) as exc:
                if status >= 400:
                    return  # a path or method no resource takes: its error is checked above
                raise AssertionError(f"{where}: not an operation of {name}") from exc
            except Exception as exc:
                if status >= 400 and isinstance(exc.__cause__, MediaTypeNotFound):
                    return  # the document describes no body for this error: checked above
                errors = list(getattr(exc.__cause__, "schema_errors", None) or ())
                if errors and all(_jira_timestamp(e) or _null_change_value(e) for e in errors):
                    continue
                detail = "; ".join(str(e.message) for e in errors) or str(exc)
                raise AssertionError(f"{where}: does not match {name}: {detail}") from exc
        self.checked[f"{method} {path}"] += 1

    @staticmethod
    def _check_confluence_error(where: str, name: str, body: Any) -> None:
        """Confluence errors: v1 `{statusCode, data, message, reason}`, v2 `{errors: [...]}`
        (the documents describe no error bodies)."""
        if name == "confluence-v2":
            assert isinstance(body, dict), where
            assert isinstance(body.get("errors"), list), where
            return
        assert isinstance(body, dict), where
        assert {"statusCode", "message"} <= set(body) <= _CONFLUENCE_ERROR_KEYS, (where, body)

    @staticmethod
    def _check_jira_error(where: str, body: Any) -> None:
        if isinstance(body, dict) and set(body) and set(body) <= _JIRA_ERROR_KEYS:
            assert isinstance(body.get("errorMessages", []), list), where
            assert isinstance(body.get("errors", {}), dict), where
            return
        if isinstance(body, dict) and set(body) == _UNMATCHED_KEYS:
            return
        if isinstance(body, dict) and set(body) <= {"issues", "errors"}:
            return  # bulk create: CreatedIssues, checked against the document
        raise AssertionError(f"{where}: not a Jira error body: {body!r}")


# -- the sites --------------------------------------------------------------------------


@dataclass
class JiraSite:
    """A running sandbox holding `mini_dataset()`, with validated clients for it."""

    server: RunningSandbox
    validator: OpenApiValidator

    @property
    def url(self) -> str:
        return self.server.url

    def session(self, user: User = ADMIN) -> requests.Session:
        """A `requests` session logged in as `user`, its answers checked against the spec."""
        session = requests.Session()
        session.auth = (user.email, user.token or "")
        return self.validator.attach(session)

    def jira(self, user: User = ADMIN) -> JIRA:
        """The real `jira` client as `user`, without its own retries."""
        client = JIRA(server=self.url, basic_auth=(user.email, user.token or ""), max_retries=0)
        self.validator.attach(client._session)
        return client

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        assert response.ok, response.text
        return response.json()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.control("GET", "stats")
        return stats

    def set_faults(self, **config: Any) -> None:
        self.control("PUT", "faults", json=config)


def reset_server(server: RunningSandbox, dataset: Dataset | None = None) -> None:
    """Back to a fresh start: the demo seed (or `dataset`), no faults, zeroed stats."""
    if dataset is None:
        control.reset(server.state, "demo")
    else:
        control.reset(server.state, "empty")
        control.load_dataset(server.state, dataset)
    server.faults.clear()
    server.stats.reset()


def _start(flavor: Flavor) -> RunningSandbox:
    return start_in_thread(open_state(":memory:", flavor=flavor, seed="demo"))


@pytest.fixture(scope="session")
def openapi() -> OpenApiValidator:
    if SPECS_DIR is None and os.environ.get("CI"):
        pytest.fail(_NO_SPECS + " (CI is set: responses must be checked)")
    return OpenApiValidator(SPECS_DIR)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningSandbox]:
    server = _start("cloud")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dc_sandbox_server() -> Iterator[RunningSandbox]:
    server = _start("datacenter")
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: RunningSandbox) -> RunningSandbox:
    reset_server(sandbox_server)
    return sandbox_server


@pytest.fixture
def jira_site(sandbox_server: RunningSandbox, openapi: OpenApiValidator) -> JiraSite:
    reset_server(sandbox_server, mini_dataset())
    return JiraSite(sandbox_server, openapi)


@pytest.fixture
def dc_jira_site(dc_sandbox_server: RunningSandbox, openapi: OpenApiValidator) -> JiraSite:
    reset_server(dc_sandbox_server, mini_dataset())
    return JiraSite(dc_sandbox_server, openapi)
