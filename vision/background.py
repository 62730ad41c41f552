"""Persistent stationary foreground against a learned background (class-agnostic obstacle check).

The model works on a small grey image sampled at the detection rate (about 1-2 Hz), so its cost is
negligible. A pixel is *foreground* when it differs from the learned background; it is *stationary*
when it has also stayed unchanged between samples. Stationary foreground that persists for
`settle_s` seconds is what a left object (box, trolley, mattress) looks like. People are excluded:
their boxes are masked out and never taught into the background."""
from __future__ import annotations

import cv2
import numpy as np

from vigil.vision.detections import Detections

WORK_WIDTH = 160


def _chan_max(diff: np.ndarray) -> np.ndarray:
    return diff.max(axis=2) if diff.ndim == 3 else diff


class StationaryForeground:
    def __init__(self, *, diff_threshold: float = 22.0, still_threshold: float = 10.0, learn_rate: float = 0.05,
                 learn_s: float = 3.0, relearn_ratio: float = 0.7, person_pad: float = 0.1):
        self.diff_threshold = diff_threshold
        self.still_threshold = still_threshold
        self.learn_rate = learn_rate
        self.learn_s = learn_s
        self.relearn_ratio = relearn_ratio
        self.person_pad = person_pad
        self._bg: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._since: np.ndarray | None = None  # time each pixel became stationary foreground (nan = not)
        self._t0: float | None = None
        self.scale = 1.0
        self.size: tuple[int, int] | None = None

    def _prep(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        self.scale = WORK_WIDTH / w
        small = cv2.resize(image, (WORK_WIDTH, max(1, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        # colour, not grey: a brown box on a grey floor can have the floor's brightness
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def _person_mask(self, shape: tuple[int, int], persons: Detections) -> np.ndarray:
        m = np.zeros(shape, bool)
        for x0, y0, x1, y1 in persons.xyxy * self.scale:
            px, py = (x1 - x0) * self.person_pad, (y1 - y0) * self.person_pad
            m[max(0, int(y0 - py)):int(y1 + py) + 1, max(0, int(x0 - px)):int(x1 + px) + 1] = True
        return m

    def reset(self) -> None:
        self._bg = self._prev = self._since = None
        self._t0 = None

    def update(self, image: np.ndarray, t: float, persons: Detections) -> None:
        g = self._prep(image)
        self.size = (image.shape[1], image.shape[0])
        if self._bg is None or self._bg.shape != g.shape:
            self._bg, self._prev, self._t0 = g.copy(), g.copy(), t
            self._since = np.full(g.shape[:2], np.nan, np.float32)
            return
        people = self._person_mask(g.shape[:2], persons)
        valid = ~people  # pixels hidden by people keep their state: a passer-by does not reset a box's clock
        fg = _chan_max(np.abs(g - self._bg)) > self.diff_threshold
        still = _chan_max(np.abs(g - self._prev)) < self.still_threshold
        self._prev[valid] = g[valid]
        if t - self._t0 < self.learn_s:
            # learning: follow the scene quickly, nothing counts yet
            cv2.accumulateWeighted(g, self._bg, 0.5, mask=valid.astype(np.uint8))
            return
        if (fg & valid).sum() > self.relearn_ratio * max(valid.sum(), 1):
            # global change (lights switched, camera moved): learn the scene again
            self._bg, self._t0 = g.copy(), t
            self._since[:] = np.nan
            return
        self._since[valid & ~(fg & still)] = np.nan  # gone or moving: the clock restarts
        newly = valid & fg & still & np.isnan(self._since)
        self._since[newly] = t
        # background follows slow changes (daylight) where nothing stands in front of it
        cv2.accumulateWeighted(g, self._bg, self.learn_rate, mask=(valid & ~fg).astype(np.uint8))

    def stationary_mask(self, t: float, settle_s: float) -> np.ndarray | None:
        """uint8 mask (work resolution) of pixels that have been stationary foreground >= settle_s."""
        if self._since is None:
            return None
        with np.errstate(invalid="ignore"):
            m = (t - self._since) >= settle_s
        m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return m
