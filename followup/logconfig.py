"""Structured logging for followup, with secrets redacted before anything is rendered.

Logs go through structlog alone (no stdlib `logging` handlers): a readable console
renderer when the stream is a terminal, one JSON object per line otherwise, ISO
timestamps in UTC. Every event passes the redaction processor last before rendering,
so an API token cannot reach a terminal, a log file or a log shipper, whether it was
logged as a value, nested in a dict, embedded in a header dump or in an exception's
text.

Usage::

    configure_logging("info")               # once, at the edge (the CLI does it)
    log = structlog.get_logger("followup.sync")
    log.info("page written", page="123", version=8)
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import quote, quote_plus

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from followup.errors import ConfigError
from followup.reports.escaping import terminal_text

__all__ = [
    "LEVELS",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "clear_secrets",
    "configure_logging",
    "redact",
    "redact_processor",
    "redact_text",
    "register_secret",
]

REDACTED = "[REDACTED]"
LEVELS = ("debug", "info", "warning", "error", "critical")

MIN_SECRET_LENGTH = 16
"""A registered secret shorter than this is not matched inside text: replacing every
occurrence of a short value would garble ordinary words ("authentication" with the
token "the") without protecting anything real. The settings refuse tokens this short."""

_SENSITIVE_KEY = re.compile(
    r"token|passw(?:or)?d|secret|authori[sz]ation|api[_-]?key|cookie|credential",
    re.IGNORECASE,
)
# "Authorization: Basic dXNlcjp0b2tlbg==", "'Authorization': 'Bearer abc'",
# "authorization=Token abc": keep the scheme, drop the credential.
_AUTH_HEADER = re.compile(
    r"""(?P<head>authori[sz]ation["']?\s*[:=]\s*["']?)"""
    r"""(?:(?P<scheme>basic|bearer|token)\s+)?"""
    r"""(?P<cred>[^\s"',;}\]]+)""",
    re.IGNORECASE,
)
# A bare "Bearer eyJhbGciOi..." or "Basic dXNlcjp0b2tlbg==" outside a header dump.
# The credential must look like one (long, with a digit or base64 symbol) so that
# prose such as "Basic troubleshooting" is left alone.
_BARE_SCHEME = re.compile(
    r"\b(?P<scheme>basic|bearer)\s+(?=[A-Za-z0-9+/=._~-]*[0-9+/=])[A-Za-z0-9+/=._~-]{12,}",
    re.IGNORECASE,
)
# https://user:password@host
_URL_CREDENTIALS = re.compile(r"(?P<head>://[^/\s:@]+:)[^@\s/]+@")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_sorted: tuple[str, ...] = ()


def register_secret(value: str | SecretStr | None) -> None:
    """Make `value` redacted wherever it appears in a log event from now on.

    The settings loader registers every token it loads (and the Basic credential
    built from it). The value is replaced whole wherever it appears, also in its
    URL-encoded forms (a token in a query string). Empty values and values shorter
    than MIN_SECRET_LENGTH are ignored.
    """
    global _secrets_sorted
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
    with _secrets_lock:
        _secrets.update(forms)
        # Longest first, so a secret that contains another is replaced whole.
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _secrets_sorted
    with _secrets_lock:
        _secrets.clear()
        _secrets_sorted = ()


def redact_text(text: str) -> str:
    """`text` with registered secrets, Authorization credentials and URL passwords removed."""
    for secret in _secrets_sorted:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _AUTH_HEADER.sub(_auth_header_replacement, text)
    text = _BARE_SCHEME.sub(lambda m: f"{m.group('scheme')} {REDACTED}", text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{REDACTED}@", text)


def _auth_header_replacement(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{match.group('head')}{scheme + ' ' if scheme else ''}{REDACTED}"


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SENSITIVE_KEY.search(key))


def redact(value: Any) -> Any:
    """A copy of `value` safe to log: nested dicts, lists, tuples and sets are walked,
    values under sensitive keys replaced, strings scrubbed with `redact_text`.

    Anything that is not plain data (an exception, a model, a URL object) is turned
    into its redacted `str`, since its repr could carry a secret the renderer would
    otherwise print verbatim.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if _is_sensitive_key(k) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", errors="replace"))
    return redact_text(str(value))


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return terminal_text(value, keep_lines=True)
    if isinstance(value, Mapping):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def printable_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor for the console renderer: control characters (an ANSI
    escape sequence in a page title or a site's answer) are dropped from every string,
    so a log line shows text and never drives the terminal. JSON lines escape them."""
    printable: EventDict = _printable(event_dict)
    return printable


def redact_processor(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `redact` applied to the whole event.

    Runs after `format_exc_info`, so the rendered traceback in `exception` is scrubbed
    like any other string.
    """
    redacted: EventDict = redact(event_dict)
    return redacted


class _CurrentStderr:
    """A stream that writes to whatever `sys.stderr` is at the time of writing.

    Binding the logger to the stream object at configure time would break as soon
    as something swaps `sys.stderr` (a test runner capturing output, then closing it).
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: IO[str] | None = None
) -> None:
    """Configure structlog for the whole process.

    `level` is one of LEVELS. `json=None` picks JSON lines unless `stream` is a
    terminal. `stream` defaults to standard error (so that a report written to
    standard output stays clean).
    """
    level = level.lower()
    if level not in LEVELS:
        raise ConfigError(
            f"--log-level / FOLLOWUP_LOG_LEVEL: unknown log level {level!r}",
            hint=f"use one of {', '.join(LEVELS)}",
        )
    out: Any = stream if stream is not None else _CurrentStderr()
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    use_json = (not is_tty) if json is None else json

    renderer: Processor
    if use_json:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=is_tty,
            # Plain text only: a rich traceback with locals would print secrets.
            exception_formatter=structlog.dev.plain_traceback,
        )

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_processor,
            *(() if use_json else (printable_processor,)),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        # Not cached: the CLI and tests reconfigure, and module-level loggers must follow.
        cache_logger_on_first_use=False,
    )
