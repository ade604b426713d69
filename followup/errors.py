"""The one error tree of followup. Third-party errors are translated into it once, at
the adapter boundary; no other code sees `JIRAError` or `requests.HTTPError`.

    FollowupError                     exit 1 unless said otherwise
    ├── ConfigError                   exit 2: a setting is missing or wrong
    ├── UsageError                    exit 2: an option names something that is not there
    ├── SetupError                    exit 2: a site or the credentials failed before
    │                                 anything was written
    ├── ApiError                      a Jira or Confluence request failed
    │   ├── ConnectivityError         no answer (reset, timeout, dropped): ambiguous
    │   │   ├── ConnectionFailedError no connection (refused, DNS, connect timeout):
    │   │   │                         nothing was sent
    │   │   └── CertificateError      the site's TLS certificate failed verification: exit 2
    │   ├── ServerError               5xx: ambiguous for writes
    │   ├── RateLimitedError          429 (retry_after seconds, when the server said)
    │   └── ClientError               4xx: the request itself is wrong
    │       ├── BadRequestError       400 (Jira names the bad field in `errors`)
    │       ├── AuthenticationError   401: exit 2
    │       ├── ForbiddenError        403
    │       ├── NotFoundError         404
    │       ├── ConflictError         409 (stale page or property version)
    │       └── GoneError             410 (an API the site removed)
    └── PlanError                     the plan could not be carried out as stated

An error knows how to present itself (`show()`) and its exit code; the CLI is the
one place that turns errors into exit codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class FollowupError(Exception):
    """Base of every error followup raises on purpose. `hint` says what to do about it."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(FollowupError):
    """A setting is missing or invalid; nothing was done."""

    exit_code: ClassVar[int] = 2


class UsageError(FollowupError):
    """An option names something that is not there (a folder, a space, a page);
    nothing was done."""

    exit_code: ClassVar[int] = 2


class SetupError(FollowupError):
    """A site or the credentials failed before anything was written."""

    exit_code: ClassVar[int] = 2


class PlanError(FollowupError):
    """An action could not be carried out as the plan stated it."""


class ApiError(FollowupError):
    """A request to Jira or Confluence failed.

    `ambiguous` is true when the server may have carried out the request although we
    saw no success (no answer, or a 5xx): a create must then be checked, not repeated.
    """

    ambiguous: ClassVar[bool] = False
    retryable: ClassVar[bool] = False

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


class ConnectivityError(ApiError):
    ambiguous = True
    retryable = True


class ConnectionFailedError(ConnectivityError):
    """No connection could be made (refused, a name that does not resolve, a connect
    timeout): nothing was sent, so nothing can have been carried out."""

    ambiguous = False


class CertificateError(ConnectivityError):
    """The TLS handshake failed verification: nothing was sent, and repeating it will
    not help."""

    exit_code: ClassVar[int] = 2
    ambiguous = False
    retryable = False


class ServerError(ApiError):
    ambiguous = True

    @property
    def is_retryable(self) -> bool:
        return self.status in (502, 503, 504)


class RateLimitedError(ApiError):
    retryable = True


class ClientError(ApiError):
    pass


class BadRequestError(ClientError):
    pass


class AuthenticationError(ClientError):
    exit_code: ClassVar[int] = 2


class ForbiddenError(ClientError):
    pass


class NotFoundError(ClientError):
    pass


class ConflictError(ClientError):
    pass


class GoneError(ClientError):
    exit_code: ClassVar[int] = 2


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


def is_retryable(error: BaseException) -> bool:
    """Whether repeating the same safe request may succeed (429, 502-504, no answer)."""
    if isinstance(error, ServerError):
        return error.is_retryable
    return isinstance(error, ApiError) and error.retryable


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
