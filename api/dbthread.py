"""The event store's database calls, each on one thread of their own so that a caller can stop waiting on a database
that took the connection and went silent (api/store.py), and what counts as the database being away."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def unreachable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (not: it refused the data)."""
    return isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


class DatabaseStalled(Exception):
    """The database has not answered a call of the store within its wait (or an earlier call still hangs)."""


class DbThread:
    """One daemon thread that runs the store's database calls in order, so that a caller can stop waiting on one that
    hangs (a daemon: a call stuck on a dead link never holds up the process's exit)."""

    def __init__(self, name: str = "event-store-db"):
        self.name = name
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, fn: Callable[[], Any]) -> Future:
        fut: Future = Future()
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._q.put((fn, fut))
        return fut

    def _run(self) -> None:
        while True:
            fn, fut = self._q.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)
