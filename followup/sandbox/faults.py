"""Misbehaviour on purpose: latency, 429s, 5xx, and writes whose response is lost.

`Faults` holds the configuration set with `PUT /_sandbox/faults` and makes the
decisions; the middleware in `app.py` carries them out. Every decision comes from one
`random.Random(seed)`, so a run with the same seed and the same sequence of requests
sees the same faults. Random numbers are drawn only for the kinds of fault that are
switched on, so switching one kind on does not reshuffle the others.

Kinds, in the order a request meets them:

- hold: requests to the route `hold_route` (a template as the stats count it, e.g.
  `PUT /wiki/rest/api/content/{id}`), after the first `hold_after` of them, wait
  before they are handled until `release()` (`POST /_sandbox/faults/release`). A
  test uses it to stop a client in the middle of a run, deterministically: the
  client is inside that request for as long as the test wants;
- latency: every API request waits `latency_ms` before it is handled;
- 429: with probability `rate_429`, the request is refused with `Retry-After`
  (`retry_after_s`) before it is handled; nothing happens on the server;
- 5xx: with probability `rate_5xx`, the request is refused with a 503 (with
  `Retry-After`) or a 502 before it is handled; nothing happens on the server;
- lost response: a write that succeeded (its transaction committed) has its response
  replaced, with probability `drop_response_after_write` or when it is the k-th
  successful write named in `drop_write_numbers` (1-based, counted from the moment the
  faults were set), by a closed connection (no response bytes at all) or a 502,
  as `drop_mode` says ("close", "502", or "random" to let the seed choose);
- search lag: an issue created through the API stays out of the Cloud JQL search
  (`/rest/api/3/search/jql`) for `search_lag_ms`, as Jira Cloud's search index lags
  its writes, unless its id is in the search's `reconcileIssues` (Atlassian's way to
  read one's own writes). Reads by key or id see it at once;
- webhook deliveries (`webhooks.py`): each delivery is lost with probability
  `webhook_drop`, sent twice (the same delivery, as a site's retry would) with
  probability `webhook_duplicate`, sent `webhook_delay_ms` late; with
  `webhook_reorder` = k (2 or more) they go out in groups of k, newest first (a
  group waits up to 30 s for its k-th);
- clock: every answer's `Date` header is `clock_offset_s` seconds off the real time,
  as if that much time had passed (or, negative, the server's clock were behind).
  Stored timestamps (a property version's `when`) keep the real time, so a positive
  offset ages everything written before it: what tests of time-based expiry need.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from dataclasses import asdict, dataclass
from email.utils import formatdate
from typing import Any, Literal

DropMode = Literal["close", "502", "random"]
DropAction = Literal["close", "502"]
_DROP_MODES: tuple[str, ...] = ("close", "502", "random")


class FaultConfigError(ValueError):
    """A fault configuration that cannot be applied (unknown key, rate outside [0, 1])."""


@dataclass(frozen=True, slots=True)
class FaultConfig:
    latency_ms: int = 0
    rate_429: float = 0.0
    retry_after_s: int = 1
    rate_5xx: float = 0.0
    drop_response_after_write: float = 0.0
    drop_write_numbers: tuple[int, ...] = ()
    drop_mode: DropMode = "random"
    search_lag_ms: int = 0
    hold_route: str | None = None
    hold_after: int = 0
    clock_offset_s: float = 0.0
    webhook_drop: float = 0.0
    webhook_duplicate: float = 0.0
    webhook_delay_ms: int = 0
    webhook_reorder: int = 0
    seed: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        """Build a configuration from the JSON of `PUT /_sandbox/faults` (missing keys: off)."""
        if not isinstance(data, dict):
            raise FaultConfigError("the fault configuration must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultConfigError(
                f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            config = cls(
                latency_ms=int(data.get("latency_ms") or 0),
                rate_429=float(data.get("rate_429") or 0.0),
                retry_after_s=int(data.get("retry_after_s", 1)),
                rate_5xx=float(data.get("rate_5xx") or 0.0),
                drop_response_after_write=float(data.get("drop_response_after_write") or 0.0),
                drop_write_numbers=tuple(int(k) for k in data.get("drop_write_numbers") or ()),
                drop_mode=data.get("drop_mode", "random"),
                search_lag_ms=int(data.get("search_lag_ms") or 0),
                hold_route=None if data.get("hold_route") is None else str(data["hold_route"]),
                hold_after=int(data.get("hold_after") or 0),
                clock_offset_s=float(data.get("clock_offset_s") or 0.0),
                webhook_drop=float(data.get("webhook_drop") or 0.0),
                webhook_duplicate=float(data.get("webhook_duplicate") or 0.0),
                webhook_delay_ms=int(data.get("webhook_delay_ms") or 0),
                webhook_reorder=int(data.get("webhook_reorder") or 0),
                seed=None if data.get("seed") is None else int(data["seed"]),
            )
        except (TypeError, ValueError) as exc:
            raise FaultConfigError(f"invalid fault setting: {exc}") from exc
        config.check()
        return config

    def check(self) -> None:
        for name in (
            "rate_429",
            "rate_5xx",
            "drop_response_after_write",
            "webhook_drop",
            "webhook_duplicate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultConfigError(f"{name} must be between 0 and 1, not {value}")
        if self.latency_ms < 0 or self.retry_after_s < 0 or self.search_lag_ms < 0:
            raise FaultConfigError(
                "latency_ms, retry_after_s and search_lag_ms must not be negative"
            )
        if self.webhook_delay_ms < 0 or self.webhook_reorder < 0:
            raise FaultConfigError("webhook_delay_ms and webhook_reorder must not be negative")
        if self.hold_after < 0:
            raise FaultConfigError("hold_after must not be negative")
        if not math.isfinite(self.clock_offset_s):
            raise FaultConfigError("clock_offset_s must be a number of seconds")
        if any(k < 1 for k in self.drop_write_numbers):
            raise FaultConfigError("drop_write_numbers are 1-based positions")
        if self.drop_mode not in _DROP_MODES:
            raise FaultConfigError(f"drop_mode must be one of {', '.join(_DROP_MODES)}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["drop_write_numbers"] = list(self.drop_write_numbers)
        return data


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused before it is handled: 429, 503 or 502."""

    status: int
    retry_after_s: int | None


class Faults:
    """The active fault configuration and its random source. Thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._config.check()
        self._rng = random.Random(self._config.seed)
        self._successful_writes = 0
        self._unindexed: dict[int, float] = {}  # issue id -> when searches see it
        self._hold_seen = 0
        self._released = threading.Event()

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration; restarts the random source and the write count.
        Requests held under the old configuration are let go."""
        config.check()
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._successful_writes = 0
            self._unindexed.clear()
            self._hold_seen = 0
            self._released.set()
            self._released = threading.Event()

    def should_hold(self, route: str) -> threading.Event | None:
        """Whether a request to `route` (method and template) is to wait: the event
        that lets it go, or None."""
        with self._lock:
            config = self._config
            if config.hold_route is None or route != config.hold_route:
                return None
            if self._released.is_set():
                return None
            self._hold_seen += 1
            if self._hold_seen <= config.hold_after:
                return None
            return self._released

    @staticmethod
    async def wait(released: threading.Event) -> None:
        """Wait (without blocking the server's event loop) until `released` is set."""
        while not released.is_set():
            await asyncio.sleep(0.005)

    def release(self) -> None:
        """Let every held request go, and hold no more until faults are set again."""
        with self._lock:
            self._released.set()

    def clear(self) -> None:
        self.configure(FaultConfig())

    @property
    def latency_s(self) -> float:
        return self._config.latency_ms / 1000.0

    def http_date(self) -> str:
        """The `Date` header of an answer: the real time, moved by `clock_offset_s`."""
        return formatdate(time.time() + self._config.clock_offset_s, usegmt=True)

    def refusal(self) -> Refusal | None:
        """Whether to refuse the next API request before handling it (429 or 5xx)."""
        with self._lock:
            config = self._config
            if config.rate_429 and self._rng.random() < config.rate_429:
                return Refusal(429, config.retry_after_s)
            if config.rate_5xx and self._rng.random() < config.rate_5xx:
                if self._rng.random() < 0.5:
                    return Refusal(503, config.retry_after_s)
                return Refusal(502, None)
        return None

    def after_successful_write(self) -> DropAction | None:
        """Count a write that succeeded; whether its response is to be lost, and how."""
        with self._lock:
            config = self._config
            self._successful_writes += 1
            drop = self._successful_writes in config.drop_write_numbers
            if config.drop_response_after_write:
                drop = self._rng.random() < config.drop_response_after_write or drop
            if not drop:
                return None
            if config.drop_mode == "random":
                return "close" if self._rng.random() < 0.5 else "502"
            return config.drop_mode

    def webhook_fate(self) -> tuple[int, float, int]:
        """How one webhook delivery goes out: (copies: 0 lost, 1, or 2 duplicated;
        seconds late; the size of the groups sent newest first, 0 or 1 for none)."""
        with self._lock:
            config = self._config
            copies = 1
            if config.webhook_drop and self._rng.random() < config.webhook_drop:
                copies = 0
            elif config.webhook_duplicate and self._rng.random() < config.webhook_duplicate:
                copies = 2
            return copies, config.webhook_delay_ms / 1000.0, config.webhook_reorder

    def note_created(self, issue_id: int) -> None:
        """An issue was created: with a search lag, searches miss it for a while."""
        with self._lock:
            if self._config.search_lag_ms:
                lag = self._config.search_lag_ms / 1000.0
                self._unindexed[issue_id] = time.monotonic() + lag

    def unindexed(self, reconciled: set[int]) -> list[int]:
        """The ids a search does not see yet (those in `reconciled` it does)."""
        with self._lock:
            if not self._unindexed:
                return []
            now = time.monotonic()
            for issue_id in [i for i, t in self._unindexed.items() if t <= now]:
                del self._unindexed[issue_id]
            return [i for i in self._unindexed if i not in reconciled]
