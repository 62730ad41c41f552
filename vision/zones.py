"""Zone geometry: a normalised polygon rendered into a pixel mask for one frame size."""
from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np

from vigil.vision.detections import Detections


class ZoneGeometry:
    def __init__(self, name: str, polygon: list[tuple[float, float]], width: int, height: int):
        self.name = name
        self.polygon = polygon
        self.width, self.height = width, height
        self.points = np.array([[x * width, y * height] for x, y in polygon], np.float32)

    @cached_property
    def mask(self) -> np.ndarray:
        m = np.zeros((self.height, self.width), np.uint8)
        cv2.fillPoly(m, [np.round(self.points).astype(np.int32)], 1)
        return m

    @cached_property
    def _integral(self) -> np.ndarray:
        return cv2.integral(self.mask)

    @cached_property
    def area(self) -> int:
        return int(self.mask.sum())

    def overlap(self, dets: Detections) -> np.ndarray:
        """Share of each box's area that lies inside the zone (0..1)."""
        if not len(dets):
            return np.zeros((0,), np.float32)
        ii = self._integral
        b = np.round(dets.xyxy).astype(np.int32)
        x0 = np.clip(b[:, 0], 0, self.width); x1 = np.clip(b[:, 2], 0, self.width)
        y0 = np.clip(b[:, 1], 0, self.height); y1 = np.clip(b[:, 3], 0, self.height)
        inside = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
        area = np.maximum((x1 - x0) * (y1 - y0), 1)
        return (inside / area).astype(np.float32)

    def contains_anchor(self, dets: Detections) -> np.ndarray:
        """Whether each box's bottom-centre point (where it stands) is inside the zone."""
        pts = dets.bottom_center
        return np.array([cv2.pointPolygonTest(self.points, (float(x), float(min(y, self.height - 1))), False) >= 0 for x, y in pts], bool)

    def select(self, dets: Detections, min_overlap: float) -> Detections:
        """Detections standing in the zone: anchor inside, or at least `min_overlap` of the box inside."""
        if not len(dets):
            return dets
        return dets[self.contains_anchor(dets) | (self.overlap(dets) >= min_overlap)]

    def covered_ratio(self, binary: np.ndarray) -> float:
        """Share of the zone's pixels that are set in `binary` (same size as the frame or scaled)."""
        if binary.shape[:2] != (self.height, self.width):
            binary = cv2.resize(binary, (self.width, self.height), interpolation=cv2.INTER_NEAREST)
        return float(np.count_nonzero(binary[self.mask > 0])) / max(self.area, 1)
