"""The service's wall clock. Deadlines, escalation and statistics ask `Runtime.clock.now()` instead of the system
time, so tests can move time forward (`ManualClock`) and drive escalation without waiting."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


class Clock:
    """The real clock (UTC, timezone-aware)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None):
        self._t = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._t

    def set(self, t: datetime) -> None:
        with self._lock:
            self._t = t.astimezone(timezone.utc)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._t += timedelta(**delta)
            return self._t
