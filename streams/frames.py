"""Frames and the bounded hand-off between a reader and its consumer."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded BGR frame. `pts_s` is the stream's own clock (seconds from the start of the
    source; for live streams the reader's monotonic clock); `wall` is time.time() at decode;
    `capture_wall` estimates when the frame was captured (the stream's start on the wall clock, as
    early as seen, plus its timestamp): lag measured from it includes any backlog in decoding."""

    image: np.ndarray
    pts_s: float
    wall: float
    index: int
    capture_wall: float | None = None

    @property
    def captured(self) -> float:
        return self.capture_wall if self.capture_wall is not None else self.wall


class LatestFrameSlot:
    """A queue of depth `maxsize` that drops the oldest frame instead of building lag.

    The reader never blocks on a slow consumer; `dropped` counts what the consumer never saw.
    Frames are handed on by reference, never copied."""

    def __init__(self, maxsize: int = 1, notify: threading.Event | None = None):
        self._maxsize = maxsize
        self.notify = notify  # set on every put: lets one consumer wait for many slots
        self._items: list[Frame] = []
        self._cv = threading.Condition()
        self.dropped = 0
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cv:
            self._items.append(frame)
            while len(self._items) > self._maxsize:
                self._items.pop(0)
                self.dropped += 1
            self._cv.notify()
        if self.notify is not None:
            self.notify.set()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest waiting frame, or None after `timeout` seconds / once closed."""
        with self._cv:
            if not self._items and not self._closed:
                self._cv.wait(timeout)
            return self._items.pop(0) if self._items else None

    def latest(self) -> Frame | None:
        with self._cv:
            return self._items[-1] if self._items else None

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def __len__(self) -> int:
        with self._cv:
            return len(self._items)
