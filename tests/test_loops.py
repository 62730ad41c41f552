"""vigil.loops.BackgroundLoop: the thread plumbing every *Maintainer shares (one thread however often it is started,
wake() cuts a wait short, stop() ends and joins the thread and runs the release hook after it, start() again works)."""
from __future__ import annotations

import threading
import time

from vigil.loops import BackgroundLoop


class Counter(BackgroundLoop):
    thread_name = "test-counter"

    def __init__(self):
        super().__init__()
        self.passes = 0
        self.log: list[str] = []

    def _before_start(self):
        self.log.append("before_start")

    def _after_stop(self):
        self.log.append(f"after_stop alive={any(t.name == self.thread_name for t in threading.enumerate())}")

    def _loop(self):
        while not self._stop.is_set():
            self.passes += 1
            self._wake.wait(60)  # only wake() or stop() end this wait within the test
            self._wake.clear()


def wait_for(cond, s=5.0):
    end = time.monotonic() + s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def named(name):
    return [t for t in threading.enumerate() if t.name == name]


def test_one_thread_wake_stop_and_start_again():
    c = Counter()
    assert c.start() is c and c.start() is c  # the second start does nothing while the loop runs
    assert wait_for(lambda: c.passes == 1) and len(named("test-counter")) == 1 and c.running
    t0 = time.monotonic()
    c.wake()
    assert wait_for(lambda: c.passes == 2) and time.monotonic() - t0 < 5  # not the 60 s wait
    c.stop()
    assert not c.running and not named("test-counter")
    assert c.log == ["before_start", "after_stop alive=False"]  # released after the thread ended
    c.start()
    assert wait_for(lambda: c.passes == 3) and c.running
    c.stop(timeout=5)
    assert not named("test-counter") and c.log[-1] == "after_stop alive=False"


def test_stop_before_start_releases_without_a_thread():
    c = Counter()
    c.stop()
    assert c.log == ["after_stop alive=False"] and not c.running and c.passes == 0
