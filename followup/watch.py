"""`followup sync --watch`: one sync per interval, for hosts without a scheduler.

    run ──► wait (interval ± jitter, counted from the start of the run) ──► run ──► ...
     ▲                                                                     │
     └──── SIGTERM / SIGINT: the run stops between pages, then the loop ends, exit 0

- Runs never overlap: the loop is sequential, and a run longer than the interval is
  followed at once by the next one, never joined by it.
- The settings are read again before each run, so a rotated token file is picked up
  without a restart; a setting that became invalid ends the watch (exit 2), a site
  that is down does not (the next run tries again).
- Jitter spreads several watchers started together (shards, replicas) over time.
- The first SIGTERM or SIGINT sets the stop event the engine checks between pages:
  the page being written is finished, no other page is started, the leases are
  released, the report and metrics of that run are written, and the process exits
  0. A second signal interrupts at once (exit 130).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import structlog

from followup.errors import ConfigError, FollowupError

if TYPE_CHECKING:
    from followup.settings import Settings

__all__ = ["DEFAULT_JITTER", "next_delay", "stop_on_signals", "watch"]

log = structlog.get_logger("followup.watch")

DEFAULT_JITTER = 0.1
"""The wait between runs varies by up to this share of the interval, either way."""

RunOnce = Callable[["Settings", threading.Event], int]


def next_delay(interval: float, jitter: float, rng: random.Random) -> float:
    """The interval, moved by a random share of up to `jitter` either way."""
    return max(0.0, interval * (1.0 + rng.uniform(-jitter, jitter)))


@contextmanager
def stop_on_signals(stop: threading.Event, received: list[str]) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (their names are appended to `received`); a
    second one raises KeyboardInterrupt. Outside the main thread (where Python cannot
    install handlers) nothing is installed. A single `followup sync` uses this too, so
    that a CronJob pod being stopped finishes its page and releases its leases."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        # No logging here: the handler may run while the main thread is mid-write.
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch(
    run_once: RunOnce,
    load: Callable[[], Settings],
    *,
    interval: float,
    jitter: float = DEFAULT_JITTER,
    stop: threading.Event | None = None,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call `run_once(load(), stop)` every `interval` seconds (± `jitter`) until `stop`
    is set or a signal arrives; return 0. A `ConfigError` from `load` or a run ends
    the loop (it propagates); any other `FollowupError` of a run is logged and the
    next run goes ahead at its time."""
    stop = stop if stop is not None else threading.Event()
    rng = rng if rng is not None else random.Random()  # spreading runs, not secrecy
    received: list[str] = []
    runs = 0
    with stop_on_signals(stop, received):
        log.info("watch-started", interval_seconds=interval, jitter=jitter)
        while not stop.is_set():
            started = clock()
            settings = load()
            runs += 1
            try:
                code = run_once(settings, stop)
                log.info("watch-run-finished", run=runs, exit_code=code)
            except ConfigError:
                raise
            except FollowupError as exc:
                log.warning(
                    "watch-run-failed",
                    run=runs,
                    outcome="failed",
                    error=exc.show(),
                    hint="trying again at the next interval",
                )
            if stop.is_set():
                break
            delay = max(0.0, next_delay(interval, jitter, rng) - (clock() - started))
            log.info("watch-waiting", next_in_seconds=round(delay, 1))
            stop.wait(delay)
        log.info("watch-stopped", signal=received[0] if received else None, runs=runs)
    return 0
