"""Motion gating: is anything moving in the picture? Decides whether a camera needs detection now.

Works on a 64-pixel-wide blurred grey thumbnail of each frame handed on (about 0.1 ms for 640x360):
a pixel moved when its grey level changed by more than `level` since the previous thumbnail; the
scene moves when more than `min_ratio` of the pixels moved. Motion is held for `hold_s` seconds so a
person who stops for a moment keeps the camera at its full rate. Sensor noise and compression
flicker stay below `level` after the blur; a person crossing a 640x360 corridor at 3 m moves about
1-3 % of the thumbnail between two frames 0.2 s apart."""
from __future__ import annotations

import cv2
import numpy as np

THUMB_WIDTH = 64


class MotionGate:
    def __init__(self, level: int = 12, min_ratio: float = 0.004, hold_s: float = 3.0):
        self.level, self.min_ratio, self.hold_s = level, min_ratio, hold_s
        self._prev: np.ndarray | None = None
        self.last_motion_t: float | None = None
        self.ratio = 0.0  # share of moved thumbnail pixels in the last update

    def update(self, image: np.ndarray, t: float) -> bool:
        """Feed one frame (time `t` on the camera's clock); True while the scene moves."""
        h, w = image.shape[:2]
        small = cv2.resize(image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small, (3, 3), 0)
        if self._prev is None or self._prev.shape != grey.shape or (self.last_motion_t is not None and t < self.last_motion_t):
            self._prev = grey
            self.last_motion_t = t  # a new scene (or a restarted clock) counts as motion
            return True
        self.ratio = float(np.count_nonzero(cv2.absdiff(grey, self._prev) > self.level)) / grey.size
        self._prev = grey
        if self.ratio > self.min_ratio:
            self.last_motion_t = t
        return self.moving(t)

    def moving(self, t: float) -> bool:
        return self.last_motion_t is not None and t - self.last_motion_t <= self.hold_s
