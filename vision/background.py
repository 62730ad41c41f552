"""Persistent stationary foreground against a learned background (class-agnostic obstacle check).

The model works on a small colour image sampled at the detection rate (about 1-2 Hz), so its cost is
negligible. A pixel is *foreground* when it differs from the learned background; it is *stationary*
when it has also stayed unchanged between samples. Stationary foreground that persists for
`settle_s` seconds is what a left object (box, trolley, mattress, a bag) looks like.

People are excluded: their boxes (and, for `person_memory_s`, the boxes of the frames just before: the detector
misses a standing person now and then) are masked out and never taught into the background, and the pixels they
hide keep their state, so a passer-by does not restart a left bag's clock. Where people stood when learning
began, the background is learned later, from the first person-free view that holds still (else the empty street
they leave would stand as foreground for ever, a "ghost").

Made for busy scenes (measured on a crowded street crossing, `vision/bench_left_object.py`): a stationary pixel
keeps its clock while something no person box covers (a leg, a wheel) passes in front for less than `hold_s`;
it counts only once `min_views` person-free views have shown it alike; its clock starts at the earliest of the
last `backdate_s` seconds' views from which it showed through whenever it could be seen (between passers-by's legs,
under their boxes: a bag put down behind a crowd is timed from when it came, not from the crowd's leaving); and a
crowd hiding most of the picture is not taken for a global change (lights, camera moved) that makes the model learn
the scene again."""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from vigil.vision.detections import Detections

WORK_WIDTH = 160


def _chan_max(diff: np.ndarray) -> np.ndarray:
    return diff.max(axis=2) if diff.ndim == 3 else diff


def _gradient(img: np.ndarray) -> np.ndarray:
    grey = img.mean(axis=2) if img.ndim == 3 else img
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))


class StationaryForeground:
    def __init__(self, *, diff_threshold: float = 22.0, still_threshold: float = 10.0, learn_rate: float = 0.05,
                 learn_s: float = 3.0, relearn_ratio: float = 0.7, person_pad: float = 0.1, hold_s: float = 4.0,
                 person_memory_s: float = 2.0, min_views: int = 3, ghost_edges: float = 0.6, backdate_s: float = 30.0):
        self.diff_threshold = diff_threshold
        self.still_threshold = still_threshold
        self.learn_rate = learn_rate
        self.learn_s = learn_s
        self.relearn_ratio = relearn_ratio
        self.person_pad = person_pad
        # a person's box also hides the pixels for this long after (the detector misses a standing person now and then)
        self.person_memory_s = person_memory_s
        self._boxes: deque[tuple[float, np.ndarray]] = deque()
        self.hold_s = hold_s  # a stationary pixel looking different for less than this keeps its clock
        # person-free views that must show a stationary pixel alike before it counts: two views of a passer-by's coat
        # a crowd then hides (its clock runs on while hidden) are not an object
        self.min_views = min_views
        # a stationary patch whose outline shows weaker edges in the picture than in the background, by this factor, is
        # a ghost: something the background learned has gone (an obstacle there when the camera started), not come
        self.ghost_edges = ghost_edges
        # a patch first seen person-free now may have been there behind the passers-by: its clock starts at the
        # earliest of the last backdate_s seconds' views from which it showed through every time it could be seen
        self.backdate_s = backdate_s
        self._history: deque[tuple[float, np.ndarray, np.ndarray]] = deque()  # (t, picture as uint8, person mask)
        self._bg: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._since: np.ndarray | None = None  # time each pixel became stationary foreground (nan = not)
        self._known: np.ndarray | None = None  # the background of the pixel was learned from a person-free view
        self._seen: np.ndarray | None = None  # time of each pixel's last person-free view (the one in _prev)
        self._held: np.ndarray | None = None  # what a stationary pixel looks like (its object)
        self._lost: np.ndarray | None = None  # since when a stationary pixel looks different (nan = it does not)
        self._views: np.ndarray | None = None  # person-free views that showed a stationary pixel as it is held
        self._t0: float | None = None
        self.scale = 1.0
        self.size: tuple[int, int] | None = None

    def _prep(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        self.scale = WORK_WIDTH / w
        small = cv2.resize(image, (WORK_WIDTH, max(1, round(h * self.scale))), interpolation=cv2.INTER_AREA)
        # colour, not grey: a brown box on a grey floor can have the floor's brightness
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def _person_mask(self, shape: tuple[int, int], boxes: np.ndarray) -> np.ndarray:
        m = np.zeros(shape, bool)
        for x0, y0, x1, y1 in boxes.reshape(-1, 4) * self.scale:
            px, py = (x1 - x0) * self.person_pad, (y1 - y0) * self.person_pad
            m[max(0, int(y0 - py)):int(y1 + py) + 1, max(0, int(x0 - px)):int(x1 + px) + 1] = True
        return m

    def reset(self) -> None:
        self._bg = self._prev = self._since = self._known = self._seen = self._held = self._lost = self._views = None
        self._t0 = None
        self._boxes.clear()
        self._history.clear()

    def _learn_anew(self, g: np.ndarray, t: float, people: np.ndarray) -> None:
        self._bg, self._prev, self._t0 = g.copy(), g.copy(), t
        self._since = np.full(g.shape[:2], np.nan, np.float32)
        self._known = ~people
        self._seen = np.full(g.shape[:2], t, np.float32)
        self._held = g.copy()
        self._lost = np.full(g.shape[:2], np.nan, np.float32)
        self._views = np.zeros(g.shape[:2], np.int32)
        self._history.clear()

    def update(self, image: np.ndarray, t: float, persons: Detections) -> None:
        g = self._prep(image)
        self.size = (image.shape[1], image.shape[0])
        self._boxes.append((t, persons.xyxy))
        while self._boxes and (self._boxes[0][0] < t - self.person_memory_s or self._boxes[0][0] > t):
            self._boxes.popleft()
        people = self._person_mask(g.shape[:2], np.concatenate([b for _, b in self._boxes]))
        if self._bg is None or self._bg.shape != g.shape:
            self._learn_anew(g, t, people)
        else:
            self._update(g, t, people)
        self._remember(g, t, people)

    def _remember(self, g: np.ndarray, t: float, people: np.ndarray) -> None:
        if self.backdate_s <= 0:
            return
        while self._history and self._history[-1][0] >= t:  # the stream went back (a replay restarted)
            self._history.pop()
        self._history.append((t, np.round(g).astype(np.uint8), people))
        while self._history and self._history[0][0] < t - self.backdate_s:
            self._history.popleft()

    def _update(self, g: np.ndarray, t: float, people: np.ndarray) -> None:
        valid = ~people  # pixels hidden by people keep their state: a passer-by does not reset a box's clock
        fg = _chan_max(np.abs(g - self._bg)) > self.diff_threshold
        still = _chan_max(np.abs(g - self._prev)) < self.still_threshold
        self._prev[valid] = g[valid]
        seen_before = self._seen.copy()
        self._seen[valid] = t
        # a pixel a person hid when learning began: its first person-free view that holds still is its background
        fresh = valid & ~self._known & (still | (t - self._t0 < self.learn_s))
        self._bg[fresh] = g[fresh]
        self._known |= fresh
        judged = valid & self._known & ~fresh
        if t - self._t0 < self.learn_s:
            # learning: follow the scene quickly, nothing counts yet
            cv2.accumulateWeighted(g, self._bg, 0.5, mask=judged.astype(np.uint8))
            return
        # global change (lights switched, camera moved): learn the scene again. Judged against at least half the
        # picture: where a crowd hides most of it, the few pixels left are mostly the legs and bags the boxes miss
        if (fg & judged).sum() > self.relearn_ratio * max(judged.sum(), fg.size // 2, 1):
            self._learn_anew(g, t, people)
            return
        standing = judged & ~np.isnan(self._since)
        same = _chan_max(np.abs(g - self._held)) < self.still_threshold
        self._lost[standing & same] = np.nan
        self._views[standing & same] += 1
        self._lost[standing & ~same & np.isnan(self._lost)] = t
        # gone, or hidden by something no person box covers for longer than hold_s: the clock restarts. (A leg or a
        # wheel passing in front for a moment does not restart it.)
        with np.errstate(invalid="ignore"):
            gone = standing & (t - self._lost > self.hold_s)
        self._since[gone] = self._lost[gone] = np.nan
        newly = judged & fg & still & np.isnan(self._since)
        # it already looked so at its last person-free view, when that was a moment ago (a longer gap proves nothing)
        self._since[newly] = np.where(t - seen_before[newly] <= self.hold_s, seen_before[newly], t)
        self._held[newly] = g[newly]
        self._views[newly] = 2  # this view and the one before it
        if self.backdate_s > 0 and newly.any():
            self._backdate(newly, g)
        self._heal_ghosts(g, judged & same)
        # background follows slow changes (daylight) where nothing stands in front of it
        cv2.accumulateWeighted(g, self._bg, self.learn_rate, mask=(judged & ~fg).astype(np.uint8))

    def _backdate(self, newly: np.ndarray, g: np.ndarray) -> None:
        """Start the clock of each new stationary patch at the earliest remembered view from which it showed through:
        walking back, a view where at least half of the patch looks as it does now moves the start back; a view
        where a person box covers the patch and it looks otherwise proves nothing (a passer-by in front); a view where
        at least half of it is person-free and looks otherwise (the floor before the bag came) ends the walk."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(newly.astype(np.uint8), connectivity=8)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < 4:
                continue
            x, y, w, h = stats[i, :4]
            sl = (slice(y, y + h), slice(x, x + w))
            patch = labels[sl] == i
            start = None
            for tk, gk, people in reversed(self._history):
                alike = (_chan_max(np.abs(gk[sl].astype(np.float32) - g[sl])) < self.still_threshold)[patch]
                if alike.mean() >= 0.5:
                    start = tk
                elif (~people[sl][patch] & ~alike).mean() >= 0.5:
                    break
            if start is not None:
                px = labels == i
                self._since[px] = np.fmin(self._since[px], start)

    def _heal_ghosts(self, g: np.ndarray, visible: np.ndarray) -> None:
        """Learn the picture as background where a stationary patch is a ghost: an object leaves edges along its
        outline in the picture; the floor showing where an object stood when the background was learned does not
        (measured: edge ratio picture/background 0.25 for a motorcycle taken away, 1.35-2.5 for a bag, boxes and a
        motorcycle put down). Judged only while the patch shows itself (`visible`: person-free and looking as it is
        held): a passer-by's plain coat in front of a bag has no edges either."""
        standing = (~np.isnan(self._since)).astype(np.uint8)
        if not standing.any():
            return
        n, labels, stats, _ = cv2.connectedComponentsWithStats(standing, connectivity=8)
        grad_now = grad_bg = None
        kernel = np.ones((3, 3), np.uint8)
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] < 9:
                continue
            patch = (labels == i).astype(np.uint8)
            if visible[patch > 0].mean() < 0.9:
                continue
            ring = cv2.dilate(patch, kernel) > cv2.erode(patch, kernel)
            if grad_now is None:
                grad_now, grad_bg = _gradient(g), _gradient(self._bg)
            if grad_now[ring].mean() < self.ghost_edges * grad_bg[ring].mean():
                ghost = patch > 0
                self._bg[ghost] = g[ghost]
                self._since[ghost] = self._lost[ghost] = np.nan
                self._views[ghost] = 0

    def stationary_mask(self, t: float, settle_s: float) -> np.ndarray | None:
        """uint8 mask (work resolution) of pixels that have been stationary foreground >= settle_s."""
        if self._since is None:
            return None
        with np.errstate(invalid="ignore"):
            # and it looks like its object now, and did so often enough
            m = ((t - self._since) >= settle_s) & np.isnan(self._lost) & (self._views >= self.min_views)
        m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return m
