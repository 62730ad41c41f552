"""`SlidingWindows`: timestamps per key within the last `window_s` seconds, the common part of vigil's in-process
rate limits (login failures in vigil/accounts.py, complaints in vigil/ledger/complaints.py). Not locked itself: each
limiter holds its own lock around a check and the record that follows it."""
from __future__ import annotations

from collections import defaultdict, deque

MAX_KEYS = 100_000  # bound the memory many addresses can make a limiter hold


class SlidingWindows:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def prune(self, key: str, t: float) -> deque[float]:
        """The key's timestamps still inside the window at `t` (older ones dropped)."""
        q = self.seen[key]
        while q and q[0] <= t - self.window_s:
            q.popleft()
        return q

    def wait(self, key: str, limit: int, t: float) -> float:
        """Seconds until the key is under `limit` again (0: it is now)."""
        q = self.prune(key, t)
        return q[len(q) - limit] + self.window_s - t if len(q) >= limit else 0.0

    def record(self, key: str, t: float) -> None:
        self.prune(key, t).append(t)
        if len(self.seen) > MAX_KEYS:
            for k in [k for k, q in self.seen.items() if not q]:
                del self.seen[k]
