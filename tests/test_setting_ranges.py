"""Every numeric setting has a range a run can live with, checked at start-up.

`FOLLOWUP_SYNC__DEFAULT_DUE_DAYS=36500000` used to be accepted and then fail every page
with OverflowError. Now a number outside its range stops `followup` before it does
anything (exit 2, the setting named), and the largest accepted values run clean.
"""

from __future__ import annotations

import math
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from reliability_support import Site, fresh_demo
from typer.testing import CliRunner

from followup.cli import app
from followup.sandbox.server import RunningSandbox
from followup.settings import Settings, setting_name

SITE_ENV = {
    "FOLLOWUP_JIRA__URL": "http://127.0.0.1:9",
    "FOLLOWUP_JIRA__EMAIL": "bot@example.com",
    "FOLLOWUP_JIRA__TOKEN": "not-used-because-nothing-runs",
    "FOLLOWUP_CONFLUENCE__URL": "http://127.0.0.1:9/wiki",
}


def _numeric_fields() -> list[tuple[tuple[str, ...], FieldInfo]]:
    """Every int or float setting (optional ones too), with its location."""
    out: list[tuple[tuple[str, ...], FieldInfo]] = []

    def walk(model: type[BaseModel], loc: tuple[str, ...]) -> None:
        for name, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                walk(kind, (*loc, name))
            elif kind in (int, float, int | None, float | None):
                out.append(((*loc, name), info))

    walk(Settings, ())
    return out


def _bounds(info: FieldInfo) -> tuple[float, bool, float]:
    """(lowest, lowest is allowed, highest allowed)."""
    low: float | None = None
    low_allowed, high = True, None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = float(meta.ge)  # type: ignore[arg-type]
        elif isinstance(meta, annotated_types.Gt):
            low, low_allowed = float(meta.gt), False  # type: ignore[arg-type]
        elif isinstance(meta, annotated_types.Le):
            high = float(meta.le)  # type: ignore[arg-type]
    assert low is not None, info
    assert high is not None, info
    return low, low_allowed, high


NUMERIC = _numeric_fields()


def test_every_numeric_setting_has_both_bounds() -> None:
    """No number can be set without a lowest and a highest value (so a new setting
    without a range fails here)."""
    assert len(NUMERIC) >= 14
    for loc, info in NUMERIC:
        low, _, high = _bounds(info)
        assert low < high, loc


def _outside(info: FieldInfo) -> list[str]:
    low, low_allowed, high = _bounds(info)
    below = low if not low_allowed else low - 1
    is_int = info.annotation in (int, int | None)
    values = [below, high + 1, high * 10_000, -36_500_000]
    shown = [str(int(v)) if is_int else repr(float(v)) for v in values]
    if not is_int:
        shown += ["inf", "nan", "1e308"]
    return shown


CASES = [
    pytest.param(loc, value, id=f"{'.'.join(loc)}={value}")
    for loc, info in NUMERIC
    for value in _outside(info)
]


@pytest.mark.parametrize(("loc", "value"), CASES)
def test_a_number_outside_its_range_stops_the_command_at_start_up(
    loc: tuple[str, ...], value: str
) -> None:
    """`followup sync` with any numeric setting past either end of its range (or not
    a finite number) exits 2 naming the setting, before it reaches any site."""
    env_name = setting_name(loc).split()[0]
    result = CliRunner().invoke(app, ["sync"], env={**SITE_ENV, env_name: value})
    assert result.exit_code == 2, result.output
    assert env_name in result.output
    assert "Traceback" not in result.output
    assert "Overflow" not in result.output


def _largest(info: FieldInfo) -> Any:
    _, _, high = _bounds(info)
    return int(high) if info.annotation in (int, int | None) else high


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_the_largest_values_run_clean(
    flavor: str, sandbox_server: RunningSandbox, dc_sandbox_server: RunningSandbox
) -> None:
    """With every numeric [sync] and [reminders] setting at the top of its range,
    reminders on, syncs of the demo complete without a failure: an item without a due
    date gets the page's creation date + 3650 days, the next run sends its reminders,
    and the one after has nothing to do."""
    site = fresh_demo(sandbox_server if flavor == "cloud" else dc_sandbox_server)
    settings = site.settings.model_copy(deep=True)
    for loc, info in NUMERIC:
        if loc[0] in ("sync", "reminders") and loc[-1] not in ("concurrency", "rate_limit"):
            section = getattr(settings, loc[0])
            setattr(section, loc[-1], _largest(info))
    settings.reminders.enabled = True
    assert settings.sync.default_due_days == 3650
    site = Site(site.server, settings, site.env)
    result = site.sync()
    assert not result.failed, [o.error for o in result.failures]
    dues = [a.data.due for a in result.actions if str(a.op) == "create" and a.data.due]
    assert dues
    assert max(dues).year >= 2036
    reminded = site.sync()
    assert not reminded.failed, [o.error for o in reminded.failures]
    assert "comment" in {str(a.op) for a in reminded.actions}
    assert not site.state().duplicates
    assert site.sync().actions == []


def test_settings_refuse_what_is_not_a_finite_number() -> None:
    """The float settings take no infinity and no NaN, from any source."""
    floats = [loc for loc, info in NUMERIC if info.annotation in (float, float | None)]
    assert floats
    for loc in floats:
        for value in (math.inf, -math.inf, math.nan):
            section: dict[str, Any] = {loc[-1]: value}
            for part in reversed(loc[:-1]):
                section = {part: section}
            with pytest.raises(Exception, match=loc[-1]):
                Settings(**section)
