"""Logging: the renderer chosen for the stream, and secrets never reaching the output."""

from __future__ import annotations

import io
import json
import string
from datetime import datetime

import pytest
import structlog
from hypothesis import assume, given
from hypothesis import strategies as st

from followup.errors import ConfigError
from followup.logconfig import (
    REDACTED,
    configure_logging,
    redact,
    redact_text,
    register_secret,
)

pytestmark = pytest.mark.usefixtures("reset_logging")

TOKEN = "ATATT3xFfGF0s3cr3t-t0ken-value"
# What API tokens and PATs are made of (base64 and URL-safe base64).
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_.=+/"


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_when_the_stream_is_not_a_terminal() -> None:
    """Auto mode writes one JSON object per line, with level and an ISO UTC timestamp."""
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    structlog.get_logger("t").info("page written", page="123", version=8)
    (line,) = lines(stream)
    event = json.loads(line)
    assert event["event"] == "page written"
    assert event["level"] == "info"
    assert event["page"] == "123"
    assert event["version"] == 8
    stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_console_renderer_on_a_terminal() -> None:
    """Auto mode on a TTY is readable key=value text, not JSON."""
    stream = TtyStream()
    configure_logging("info", stream=stream)
    structlog.get_logger("t").info("page written", page="123")
    (line,) = lines(stream)
    assert "page written" in line
    assert "page" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_json_can_be_forced_on_a_terminal() -> None:
    """--log-json overrides the terminal detection."""
    stream = TtyStream()
    configure_logging("info", json=True, stream=stream)
    structlog.get_logger("t").info("hello")
    assert json.loads(lines(stream)[0])["event"] == "hello"


def test_level_filters_lower_events() -> None:
    """At info, debug events are dropped."""
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = structlog.get_logger("t")
    log.debug("noise")
    log.warning("signal")
    assert [json.loads(line)["event"] for line in lines(stream)] == ["signal"]


def test_unknown_level_is_a_config_error() -> None:
    """A typo in the level names the option and the valid choices."""
    with pytest.raises(ConfigError, match="verbose") as caught:
        configure_logging("verbose")
    assert caught.value.hint is not None
    assert "debug" in caught.value.hint


def test_default_stream_follows_sys_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, events go to whatever sys.stderr is when they are written."""
    configure_logging("info", json=True)
    structlog.get_logger("t").info("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["event"] == "to stderr"


@pytest.mark.parametrize("as_json", [True, False])
def test_a_registered_token_never_reaches_the_output(as_json: bool) -> None:
    """Wherever a registered token hides in an event, the rendered output lacks it."""
    register_secret(TOKEN)
    stream = io.StringIO()
    configure_logging("debug", json=as_json, stream=stream)
    log = structlog.get_logger("t")
    log.info(f"auth with {TOKEN}")
    log.info("request", note=f"x{TOKEN}y", nested={"deep": [{"value": TOKEN}]}, tup=(TOKEN,))
    log.info("headers", headers={"Authorization": f"Basic {TOKEN}", "X-Other": "fine"})
    log.info("password", api_key="plain-key-value", password="hunter2!", cookie="c=1")
    log.info("object", thing=ValueError(f"bad {TOKEN}"))
    try:
        raise RuntimeError(f"server said: token {TOKEN} rejected")
    except RuntimeError:
        log.exception("request failed")
    log.error("with exc_info", exc_info=RuntimeError(f"again {TOKEN}"))
    output = stream.getvalue()
    assert TOKEN not in output
    for plain in ("plain-key-value", "hunter2!", "c=1"):
        assert plain not in output
    assert REDACTED in output
    assert "fine" in output
    assert "RuntimeError" in output  # the traceback is there, scrubbed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjp0b2tlbg==", f"Authorization: Basic {REDACTED}"),
        ("{'Authorization': 'Bearer abc.def.ghi'}", f"{{'Authorization': 'Bearer {REDACTED}'}}"),
        ("authorization=Token abc123", f"authorization=Token {REDACTED}"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9 ok", f"sent Bearer {REDACTED} ok"),
        ("https://bot:s3cret@jira.example/x", f"https://bot:{REDACTED}@jira.example/x"),
        ("Basic troubleshooting steps", "Basic troubleshooting steps"),
        ("no secrets here", "no secrets here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    """Credentials in header dumps and URLs are removed; prose is left alone."""
    assert redact_text(text) == expected


def test_redact_sensitive_keys_at_any_depth() -> None:
    """Values under token/password/secret/authorization/api_key/cookie keys are hidden."""
    data = {
        "jira": {"token": "x" * 10, "url": "https://a"},
        "items": [{"client_secret": "s"}, {"Set-Cookie": "sid=1"}],
        "API-Key": "k",
        "token": None,
    }
    assert redact(data) == {
        "jira": {"token": REDACTED, "url": "https://a"},
        "items": [{"client_secret": REDACTED}, {"Set-Cookie": REDACTED}],
        "API-Key": REDACTED,
        "token": None,
    }


def test_short_values_are_not_registered() -> None:
    """A secret too short to be real is not matched inside ordinary text."""
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact_text("abcdef") == "abcdef"


@given(
    secret=st.text(alphabet=TOKEN_ALPHABET, min_size=16, max_size=40),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
)
def test_a_registered_secret_is_removed_from_any_text(secret: str, before: str, after: str) -> None:
    """Property: whatever surrounds it, a registered token does not survive redaction."""
    assume(secret not in REDACTED)
    register_secret(secret)
    assert secret not in redact_text(before + secret + after)


@given(
    secret=st.text(alphabet=TOKEN_ALPHABET, min_size=16, max_size=40),
    text=st.text(alphabet=string.ascii_letters + " ", max_size=200),
)
def test_ordinary_words_are_never_mangled(secret: str, text: str) -> None:
    """Property: with a token as long as the settings accept, text that does not hold
    the token comes out of redaction unchanged ("authentication" stays whole)."""
    assume(secret not in text)
    register_secret(secret)
    assert redact_text(text) == text
    assert redact_text("authentication failed for the user") == (
        "authentication failed for the user"
    )


def test_a_token_is_redacted_whole_in_its_url_encoded_forms() -> None:
    """A token with URL-special characters is replaced whole also where it appears
    URL-encoded (in a query string or a form body), never partly."""
    secret = "ATATT3x/Ff+GF0=s3cr3t t0ken"
    register_secret(secret)
    for form in (
        secret,
        "ATATT3x%2FFf%2BGF0%3Ds3cr3t%20t0ken",
        "ATATT3x%2FFf%2BGF0%3Ds3cr3t+t0ken",
    ):
        assert redact_text(f"GET /x?token={form}&a=1") == f"GET /x?token={REDACTED}&a=1"


def test_the_console_renderer_drops_control_characters() -> None:
    """On a terminal, a log value holding an escape sequence (a page title, a site's
    message) is shown as text: no ESC, no one-byte CSI reaches the terminal."""
    stream = TtyStream()
    configure_logging("info", json=False, stream=stream)
    structlog.get_logger("t").info("page-written", title="Evil \x1b]8;;https://x\x1b\\ \x9b2J")
    out = stream.getvalue()
    assert "Evil" in out
    assert "]8;;https://x" in out  # the text stays, as text
    assert "\x9b" not in out
    assert "\x1b]8;" not in out
