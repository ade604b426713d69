"""Webhook signatures: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

Jira signs the deliveries of an admin webhook registered with a secret this way
(Atlassian, "Webhooks", section "Secure admin webhooks":
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks,
the WebSub `method=signature` format); Confluence Data Center signs webhooks that
have a secret with the same header and HMAC-SHA256 ("Managing Webhooks", section
"Securing the webhook": https://confluence.atlassian.com/doc/managing-webhooks-1021225606.html).
The HMAC is over the raw bytes received, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HEADER", "sign", "verify"]

HEADER = "X-Hub-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value a site sends for `body`: `sha256=<hex>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret`. The comparison
    takes the same time wherever the first differing character is (no timing oracle
    for forging a signature byte by byte); a missing header, another algorithm or a
    malformed value is simply not valid."""
    if not header:
        return False
    value = header.strip()
    if not value.lower().startswith(_PREFIX):
        return False
    given = value[len(_PREFIX) :].strip().lower()
    expected = sign(secret, body)[len(_PREFIX) :]
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))
