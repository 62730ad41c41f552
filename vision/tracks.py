"""`PersonTracks`: moving people followed from one detection frame to the next (the gate's in/out count).

A small tracker in the manner of ByteTrack, without its Kalman filter: each track predicts its box from its last
velocity; detections are matched to the predictions, first the confident ones, then the weak ones (a person half
hidden in a crowd scores low but still continues their track; a weak detection never starts one). A pair matches on
box overlap (IoU), or, for a fast walker at a low detection rate whose boxes no longer overlap, on the distance of the
box centres relative to the box size; never two boxes of very different heights (in a crowd, the person behind).
Tracks unseen for `max_age_s` end.

Ids are unique for the tracker's life; `update` returns, per detection, its track (None for a weak detection that
continues nothing)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.vision.boxes import iou_matrix
from vigil.vision.detections import Detections


@dataclass
class Track:
    id: int
    box: np.ndarray  # last matched box, xyxy px
    t: float  # time of the last match
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))  # box px per second
    hits: int = 1
    confidence: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)  # what a rule remembers about this person

    def predict(self, t: float) -> np.ndarray:
        return self.box + self.velocity * min(t - self.t, 1.0)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): distance of the box centres over the larger box height of each pair."""
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    d = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    ha = np.maximum(a[:, 3] - a[:, 1], 1.0)
    hb = np.maximum(b[:, 3] - b[:, 1], 1.0)
    return d / np.maximum(ha[:, None], hb[None, :])


class PersonTracks:
    def __init__(self, *, high: float = 0.5, low: float = 0.2, max_age_s: float = 1.5, min_iou: float = 0.2,
                 max_distance: float = 0.4, max_scale: float = 1.25):
        """`high`: lowest score that may start a track; `low`: lowest that may continue one; `max_distance`: the
        largest centre distance (in box heights) of a match without overlap; `max_scale`: the largest change of
        box height between two frames of one track (either way)."""
        self.high, self.low, self.max_age_s, self.min_iou, self.max_distance = high, low, max_age_s, min_iou, max_distance
        self.max_scale = max_scale
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks = []

    def _match(self, tracks: list[Track], boxes: np.ndarray, t: float) -> list[tuple[int, int]]:
        """Greedy pairs (track index, box index), best first: overlap above `min_iou` first, then near centres."""
        if not tracks or not len(boxes):
            return []
        pred = np.stack([tr.predict(t) for tr in tracks]).astype(np.float32)
        iou = iou_matrix(pred, boxes)
        dist = _centre_distance(pred, boxes)
        # one cost scale: an overlap pair costs 1 - IoU (< 0.8), a distance pair 1 + distance
        cost = np.where(iou >= self.min_iou, 1.0 - iou, np.where(dist <= self.max_distance, 1.0 + dist, np.inf))
        # a person does not change size much from one frame to the next: a box of another height is someone else
        # (in a crowd, the person behind), whatever the overlap
        hp = np.maximum(pred[:, 3] - pred[:, 1], 1.0)
        hb = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        ratio = hb[None, :] / hp[:, None]
        cost = np.where((ratio >= 1 / self.max_scale) & (ratio <= self.max_scale), cost, np.inf)
        pairs, used_t, used_b = [], set(), set()
        for ti, bi in zip(*np.unravel_index(np.argsort(cost, axis=None), cost.shape)):
            if not np.isfinite(cost[ti, bi]):
                break
            if ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            pairs.append((int(ti), int(bi)))
        return pairs

    def _continue(self, tr: Track, box: np.ndarray, conf: float, t: float) -> None:
        dt = t - tr.t
        if dt > 0:
            v = (box - tr.box) / dt
            tr.velocity = (0.5 * tr.velocity + 0.5 * v).astype(np.float32) if tr.hits > 1 else v.astype(np.float32)
        tr.box, tr.t, tr.confidence = box.astype(np.float32), t, conf
        tr.hits += 1

    def update(self, people: Detections, t: float) -> list[Track | None]:
        """Match this frame's people (one class) to the tracks; returns each detection's track (None: a weak
        detection that continues nothing)."""
        self.tracks = [tr for tr in self.tracks if t - tr.t <= self.max_age_s]
        out: list[Track | None] = [None] * len(people)
        strong = np.flatnonzero(people.confidence >= self.high)
        weak = np.flatnonzero((people.confidence >= self.low) & (people.confidence < self.high))
        free = list(range(len(self.tracks)))
        for group in (strong, weak):
            if not len(group) or not free:
                continue
            cand = [self.tracks[i] for i in free]
            pairs = self._match(cand, people.xyxy[group], t)
            for ti, bi in pairs:
                det = int(group[bi])
                self._continue(cand[ti], people.xyxy[det], float(people.confidence[det]), t)
                out[det] = cand[ti]
            taken = {ti for ti, _ in pairs}
            free = [free[k] for k in range(len(free)) if k not in taken]
        for det in strong:
            if out[det] is None:
                tr = Track(self._next_id, people.xyxy[det].astype(np.float32), t,
                           confidence=float(people.confidence[det]))
                self._next_id += 1
                self.tracks.append(tr)
                out[det] = tr
        return out
