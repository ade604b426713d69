"""Fixtures shared by the whole suite. Keep this file small: a fixture used by one
test module belongs in that module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from followup.logconfig import clear_secrets

# No property test may depend on how fast this machine is: Hypothesis' per-example
# deadline and its too-slow health check both fail a correct test on a busy machine.
settings.register_profile("followup", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("followup")

# The sandbox server fixtures (one server per session, reset per test).
pytest_plugins = ["sandbox_support"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FOLLOWUP_* variables from the machine running the tests leak into settings."""
    for name in list(os.environ):
        if name.startswith("FOLLOWUP_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def reset_logging() -> Iterator[None]:
    """structlog's configuration and the registered secrets are restored afterwards."""
    yield
    structlog.reset_defaults()
    clear_secrets()
