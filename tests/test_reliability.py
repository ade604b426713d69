"""Reliability of the sync against the sandbox's fault injection: nothing lost, nothing
duplicated, whatever the network or the people editing the pages do meanwhile.

Every test asserts outcomes: the Jira and Confluence state read back through the APIs.
"""

from __future__ import annotations

import time

import requests

from followup.sandbox.seed import DEMO_ADMIN
from followup.sandbox.server import RunningSandbox


def test_sandbox_answers_without_the_delayed_ack_stall(sandbox: RunningSandbox) -> None:
    """Answers with a body come back in milliseconds, not after the ~40 ms a Nagle /
    delayed-ACK stall adds to each one (which made every fault test ten times slower)."""
    session = requests.Session()
    session.auth = (DEMO_ADMIN.email, DEMO_ADMIN.token or "")
    session.get(f"{sandbox.url}/rest/api/2/serverInfo", timeout=10)  # connect once
    started = time.monotonic()
    for _ in range(30):
        response = session.get(f"{sandbox.url}/rest/api/2/issue/OPS-1", timeout=10)
        assert response.ok
    assert time.monotonic() - started < 0.6
