"""`followup sync --watch`: one sync per interval, for hosts without a scheduler.

    run ──► wait (interval ± jitter, counted from the start of the run) ──► run ──► ...
     ▲                                                                     │
     └──── SIGTERM / SIGINT: the run stops between pages, then the loop ends, exit 0

- Runs never overlap: the loop is sequential, and a run longer than the interval is
  followed at once by the next one, never joined by it.
- The settings are read again before each run, so a rotated token file is picked up
  without a restart; a setting that became invalid ends the watch (exit 2). Nothing
  else does: a site that is down, or a run that failed for any other reason, a bug
  included, is logged (`watch-run-failed`, recorded as a failed run in the metrics)
  and the next run goes ahead at its time.
- Jitter spreads several watchers started together (shards, replicas) over time.
- The first SIGTERM or SIGINT sets the stop event the engine checks between pages:
  the page being written is finished, no other page is started, the leases are
  released, the report and metrics of that run are written, and the process exits
  0. The signal is acknowledged at once with a `stop-requested` log line (written by a
  helper thread, never by the handler itself). A second signal interrupts at once
  (exit 130).
"""

from __future__ import annotations

import os
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

log = structlog.get_logger("followup.commands.watch")

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
    # The handler may run while the main thread is in the middle of writing a log
    # line, so it does not log: it writes one byte to a pipe, and a helper thread logs.
    read_end, write_end = os.pipe()

    def announce() -> None:
        if os.read(read_end, 1) == b"s":
            log.info(
                "stop-requested",
                signal=received[0] if received else None,
                hint="finishing the page being written; no other page is started "
                "(a second signal stops at once)",
            )

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        stop.set()
        os.write(write_end, b"s")

    announcer = threading.Thread(target=announce, name="followup-stop", daemon=True)
    announcer.start()
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.write(write_end, b"q")  # ends the helper if no signal came
        announcer.join()
        os.close(read_end)
        os.close(write_end)


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
    the loop (it propagates); any other error of a run (a `FollowupError`, or an
    unexpected one: a bug) is logged and the next run goes ahead at its time."""
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
            except Exception as exc:
                # A bug in one run (one odd page, one odd answer) must not stop the
                # daemon; the traceback goes to the log, since it may never recur.
                log.error(
                    "watch-run-failed",
                    run=runs,
                    outcome="failed",
                    error=f"internal error: {type(exc).__name__}: {exc}",
                    hint="trying again at the next interval; please report this with the "
                    "traceback (secrets are redacted from it)",
                    exc_info=exc,
                )
            if stop.is_set():
                break
            delay = max(0.0, next_delay(interval, jitter, rng) - (clock() - started))
            log.info("watch-waiting", next_in_seconds=round(delay, 1))
            stop.wait(delay)
    # After the signal handlers are restored and the `stop-requested` line is out, so
    # that a log always reads in the order things happened.
    log.info("watch-stopped", signal=received[0] if received else None, runs=runs)
    return 0
