"""Stationary object memory: which detected objects have stood in the same place, and since when.

A blocking object or a parked e-bike does not move; people carrying bags or riding bikes do. Each
track keeps the box where the object was first seen; a detection of the same class overlapping that
box (IoU >= `iou`) continues the track. Tracks unseen for longer than `grace_s` are forgotten."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.vision.boxes import iou_matrix
from vigil.vision.detections import Detections


@dataclass
class Track:
    class_id: int
    box: np.ndarray
    since: float
    last_seen: float
    confidence: float
    last_confidence: float


class StationaryObjects:
    def __init__(self, iou: float = 0.5, grace_s: float = 3.0):
        self.iou, self.grace_s = iou, grace_s
        self.tracks: list[Track] = []

    def update(self, dets: Detections, t: float) -> None:
        if self.tracks and len(dets):
            m = iou_matrix(np.stack([tr.box for tr in self.tracks]), dets.xyxy)
            same = np.array([[tr.class_id == c for c in dets.class_id] for tr in self.tracks])
            m = np.where(same, m, 0.0)
        else:
            m = np.zeros((len(self.tracks), len(dets)))
        used = set()
        for ti, di in sorted(((ti, di) for ti in range(m.shape[0]) for di in range(m.shape[1]) if m[ti, di] >= self.iou),
                             key=lambda p: -m[p]):
            tr = self.tracks[ti]
            if di in used or tr.last_seen == t:
                continue
            used.add(di)
            c = float(dets.confidence[di])
            tr.last_seen, tr.last_confidence, tr.confidence = t, c, max(tr.confidence, c)
        for di in range(len(dets)):
            if di not in used:
                c = float(dets.confidence[di])
                self.tracks.append(Track(int(dets.class_id[di]), dets.xyxy[di].copy(), t, t, c, c))
        self.tracks = [tr for tr in self.tracks if t - tr.last_seen <= self.grace_s]

    def persistent(self, t: float, min_age_s: float, names: dict[int, str]) -> Detections:
        """Objects seen in the same place for at least `min_age_s` (and not lost beyond the grace time)."""
        keep = [tr for tr in self.tracks if t - tr.since >= min_age_s]
        if not keep:
            return Detections.empty(names)
        return Detections(np.stack([tr.box for tr in keep]).astype(np.float32),
                          np.array([tr.confidence for tr in keep], np.float32),
                          np.array([tr.class_id for tr in keep], np.int32), names)
