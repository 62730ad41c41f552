"""The thread plumbing of vigil's long-lived loops (the `*Maintainer` classes and the evidence collector).

A `BackgroundLoop` runs its `_loop` on one daemon thread named `thread_name` until `stop()`. `start()` does nothing
while the thread runs (so a second call cannot start a second loop) and starts it again after a `stop()`. `stop()`
sets `_stop`, wakes a loop waiting on `_wake` and joins the thread. `wake()` ends a wait on `_wake` early, for
"there is new work" signals. Subclasses write `_loop` (checking `_stop`, waiting on `_stop` or `_wake`) and may
hook `_before_start` (make what the thread needs) and `_after_stop` (release it, after the thread has ended)."""
from __future__ import annotations

import threading


class BackgroundLoop:
    thread_name = "background-loop"
    join_s = 10.0  # how long stop() waits for the thread by default

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        if not self.running:
            self._stop.clear()
            self._before_start()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.join_s if timeout is None else timeout)
            self._thread = None
        self._after_stop()

    def wake(self) -> None:
        self._wake.set()

    def _before_start(self) -> None:
        pass

    def _after_stop(self) -> None:
        pass

    def _loop(self) -> None:
        raise NotImplementedError
