"""The state of one sync run, apart from the engine that carries the run out.

`RunState` holds what the run learns as it goes and its workers share: its id, the
hand-linked tickets already read, the tickets it created per page and those the run
before created (Jira's search lags its writes, so a search soon after may not show
them yet), and the one worker pool of the run, `sync.concurrency` threads.

`map` runs a function over items in that pool. A worker of the pool that needs to
map again (a page write that meets a newer version and creates what a person added
meanwhile) runs the items itself, one after the other: no pool is opened inside
another, so `sync.concurrency` caps the run's threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from followup.core.model import Ticket

__all__ = ["RunState"]

_T = TypeVar("_T")
_R = TypeVar("_R")

_worker = threading.local()


@dataclass(slots=True)
class RunState:
    """One run's shared state; `lock` guards the dictionaries."""

    run_id: str
    concurrency: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    linked: dict[str, Ticket | None] = field(default_factory=dict)
    created_on: dict[str, set[str]] = field(default_factory=dict)
    recent_on: dict[str, set[str]] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None

    @contextmanager
    def pool(self) -> Iterator[None]:
        """Open the run's worker pool for the duration of the block."""
        with ThreadPoolExecutor(
            max_workers=max(1, self.concurrency),
            thread_name_prefix=f"followup-{self.run_id}",
            initializer=_mark_worker,
        ) as pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[_R]:
        """`fn` over `items`, in the run's pool, results in order. Outside an open pool,
        or from one of its own workers, the items run here, one after the other."""
        pool = self._pool
        if pool is None or getattr(_worker, "busy", False):
            return (fn(item) for item in items)
        return pool.map(fn, items)

    def submit(self, fn: Callable[[], _R]) -> Future[_R]:
        """`fn` started in the run's pool (run here at once when no pool is open)."""
        pool = self._pool
        if pool is None or getattr(_worker, "busy", False):
            done: Future[_R] = Future()
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller by result(), as a pool does
                done.set_exception(exc)
            return done
        return pool.submit(fn)

    def created(self, page_id: str) -> Sequence[str]:
        with self.lock:
            return sorted(self.created_on.get(page_id, set()))


def _mark_worker() -> None:
    _worker.busy = True
