"""Camera health: online/offline state, last-frame time and measured fps."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

CameraStatus = Literal["connecting", "online", "offline", "stopped"]


@dataclass
class CameraHealth:
    """Mutable health record written by one reader thread, read by anyone (copy with `snapshot`)."""

    camera_id: str
    status: CameraStatus = "connecting"
    last_frame_wall: float | None = None  # time.time() of the last decoded frame
    last_frame_mono: float | None = None  # time.monotonic() of the last decoded frame
    fps: float = 0.0
    frames: int = 0
    reconnects: int = 0
    last_error: str | None = None  # never holds credentials (built from redacted URLs)
    width: int | None = None
    height: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def on_frame(self, width: int, height: int) -> None:
        now_m, now_w = time.monotonic(), time.time()
        with self._lock:
            if self.last_frame_mono is not None:
                dt = now_m - self.last_frame_mono
                if dt > 0:
                    inst = 1.0 / dt
                    # exponential moving average over about 10 frames
                    self.fps = inst if self.fps == 0 else 0.9 * self.fps + 0.1 * inst
            self.last_frame_mono, self.last_frame_wall = now_m, now_w
            self.frames += 1
            self.width, self.height = width, height
            self.status = "online"
            self.last_error = None

    def on_stats(self, *, frames: int, fps: float, last_mono: float, last_wall: float, width: int, height: int) -> None:
        """Counters from a decoder process (its monotonic clock is the same system-wide clock)."""
        with self._lock:
            if frames <= self.frames:
                return  # nothing new decoded (keep an offline state and its zero fps)
            if self.status != "online":
                self.status = "online"
                self.last_error = None
            self.frames, self.fps = frames, fps
            self.last_frame_mono, self.last_frame_wall = last_mono, last_wall
            self.width, self.height = width or self.width, height or self.height

    def on_disconnect(self, error: str) -> None:
        with self._lock:
            self.status = "offline"
            self.last_error = error
            self.fps = 0.0

    def seconds_since_frame(self, now_mono: float | None = None) -> float | None:
        if self.last_frame_mono is None:
            return None
        return (now_mono or time.monotonic()) - self.last_frame_mono

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "camera_id": self.camera_id,
                "status": self.status,
                "last_frame_at": self.last_frame_wall,
                "fps": round(self.fps, 2),
                "frames": self.frames,
                "reconnects": self.reconnects,
                "last_error": self.last_error,
                "width": self.width,
                "height": self.height,
            }
