"""The one error tree of followup. Third-party errors are translated into it once, at
the adapter boundary; no other code sees `JIRAError` or `requests.HTTPError`.

    FollowupError                     something went wrong that a person can act on
    ├── ConfigError               (S) a setting is missing or wrong
    ├── UsageError                (S) an option or argument names something that is not there
    ├── SetupError                (S) a site or the credentials failed before anything
    │                                 was written
    ├── ListenError               (S) the sandbox cannot listen where it was asked to
    ├── StorageFormatError            a page body is not storage format followup can read
    ├── PlanError                     the plan could not be carried out as stated
    └── ApiError                      a Jira or Confluence request failed
        ├── ConnectivityError     A R no answer (reset, timeout, dropped)
        │   ├── ConnectionFailedError R no connection (refused, DNS, connect timeout):
        │   │                         nothing was sent
        │   └── CertificateError  (S) the site's TLS certificate failed verification
        ├── ServerError           A   5xx (R for 502, 503, 504)
        ├── RateLimitedError        R 429, refused before anything was done
        │                             (`retry_after`: seconds, when the server said)
        └── ClientError               4xx: the request itself is wrong
            ├── BadRequestError       400 (Jira names the bad field in `details`)
            ├── AuthenticationError (S) 401
            ├── ForbiddenError        403
            ├── NotFoundError         404
            ├── ConflictError         409 (stale page or property version)
            └── GoneError         (S) 410 (an API the site removed)

    (S) `setup_problem`: the usage, the settings, the credentials or the site must be
        fixed before followup can work; the CLI exits 2 for these, 1 for the others.
    A   `ambiguous`: the server may have carried the request out although no success
        was seen; a create must be looked for, never sent again blindly.
    R   `retryable`: the same request may succeed if sent again. Whether it *is* sent
        again depends on the request (`followup.adapters.retry.Safety`).

An error presents itself with `show()` (the message and a hint). The CLI
(`followup.cli`) is the one place that turns errors, and every command's outcome, into
exit codes.

The sandbox's server-side errors (a JQL parse error, a refused field) are not here:
they become the HTTP answers of the emulated site and never reach followup's own code.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any, ClassVar


class FollowupError(Exception):
    """Base of every error followup raises on purpose. `hint` says what to do about it."""

    setup_problem: ClassVar[bool] = False
    """True when the usage, the settings, the credentials or a site must be fixed
    before followup can work at all (the CLI exits 2); false for a failure of the work
    itself (exit 1)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(FollowupError):
    """A setting is missing or invalid; nothing was done."""

    setup_problem = True


class UsageError(FollowupError):
    """An option or argument names something that is not there (a folder, a space, a
    page, an item or ticket key); nothing was done."""

    setup_problem = True


class SetupError(FollowupError):
    """A site or the credentials failed before anything was written."""

    setup_problem = True


class ListenError(FollowupError):
    """The sandbox cannot listen where it was asked to; nothing was started."""

    setup_problem = True

    def __init__(self, host: str, port: int, error: OSError) -> None:
        if error.errno == errno.EADDRINUSE:
            why = "the port is in use (by another sandbox, or another program)"
            hint = (
                f"stop whatever listens on port {port}, or choose another port: "
                f"--port {port + 1 if 0 < port < 65535 else 8090} (--port 0 takes any free one)"
            )
        elif error.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
            hint = "choose a port above 1023, e.g. --port 8089 (--port 0 takes any free one)"
        else:
            why = error.strerror or str(error)
            hint = "check --host (an address of this machine, such as 127.0.0.1) and --port"
        super().__init__(f"followup sandbox cannot listen on {host}:{port}: {why}", hint=hint)
        self.errno = error.errno


class StorageFormatError(FollowupError):
    """A page body is not storage format that followup can read, so it cannot be edited
    (the sandbox raises it too, for a body it refuses to store). `str()` says where
    and why."""


class PlanError(FollowupError):
    """An action could not be carried out as the plan stated it."""


class ApiError(FollowupError):
    """A request to Jira or Confluence failed.

    Two facts about the failure decide what may follow it (the tree above marks them):
    `ambiguous`, the server may have carried the request out although no success was
    seen (no answer, or a 5xx), so a create must then be checked, not repeated; and
    `retryable`, sending the same request again may succeed (no answer, 429, 502-504).
    """

    ambiguous: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        method: str = "",
        path: str = "",
        hint: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f"{method} {path}".strip()
        prefix = f"{service} " if service else ""
        status_txt = f" -> {status}" if status is not None else ""
        full = f"{prefix}{where}{status_txt}: {message}" if where else f"{prefix}{message}"
        super().__init__(full, hint=hint)
        self.service = service
        self.status = status
        self.method = method
        self.path = path
        self.details = dict(details or {})
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed. Whether it is sent again
        is the request's business (`followup.adapters.retry.Safety`)."""
        return False


class ConnectivityError(ApiError):
    """No answer: the connection was reset, timed out or dropped after the request was
    sent, so the server may have carried it out."""

    ambiguous = True

    @property
    def retryable(self) -> bool:
        return True


class ConnectionFailedError(ConnectivityError):
    """No connection could be made (refused, a name that does not resolve, a connect
    timeout): nothing was sent, so nothing can have been carried out."""

    ambiguous = False


class CertificateError(ConnectivityError):
    """The TLS handshake failed verification: nothing was sent, and repeating it will
    not help."""

    setup_problem = True
    ambiguous = False

    @property
    def retryable(self) -> bool:
        return False


class ServerError(ApiError):
    """5xx: the server failed, possibly after carrying the request out."""

    ambiguous = True

    @property
    def retryable(self) -> bool:
        return self.status in (502, 503, 504)


class RateLimitedError(ApiError):
    """429: the server refused the request before doing anything."""

    @property
    def retryable(self) -> bool:
        return True


class ClientError(ApiError):
    pass


class BadRequestError(ClientError):
    pass


class AuthenticationError(ClientError):
    setup_problem = True


class ForbiddenError(ClientError):
    pass


class NotFoundError(ClientError):
    pass


class ConflictError(ClientError):
    pass


class GoneError(ClientError):
    setup_problem = True


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    429: RateLimitedError,
}

_HINTS: dict[int, str] = {
    401: "check the email and API token settings "
    "(FOLLOWUP_JIRA__TOKEN / FOLLOWUP_CONFLUENCE__TOKEN)",
    403: "the account lacks a permission; `followup doctor` lists what it needs",
    410: "this API was removed by the site; upgrade followup",
    429: "the site is rate limiting; lower sync.rate_limit or sync.concurrency",
}


def error_for_status(
    status: int,
    message: str,
    *,
    service: str,
    method: str = "",
    path: str = "",
    details: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """The error class for an HTTP status, with a hint where one helps."""
    cls: type[ApiError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    elif status >= 400:
        cls = ClientError
    else:
        cls = ApiError
    return cls(
        message,
        service=service,
        status=status,
        method=method,
        path=path,
        hint=_HINTS.get(status),
        details=details,
        retry_after=retry_after,
    )
