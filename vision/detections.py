"""`Detections`: the one value type that flows from the detector through zones and rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from vigil.vision.vocabulary import vigil_name


@dataclass(frozen=True)
class Detections:
    """N boxes in pixel xyxy with score and class. Immutable; filtering returns a new value that
    shares nothing mutable with the old one."""

    xyxy: np.ndarray  # (N, 4) float32
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32
    names: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(f"inconsistent Detections shapes {self.xyxy.shape} {self.confidence.shape} {self.class_id.shape}")

    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32), names or {})

    @classmethod
    def from_ultralytics(cls, result) -> "Detections":
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls.empty(dict(result.names))
        return cls(
            boxes.xyxy.cpu().numpy().astype(np.float32),
            boxes.conf.cpu().numpy().astype(np.float32),
            boxes.cls.cpu().numpy().astype(np.int32),
            dict(result.names),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, idx) -> "Detections":
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        return Detections(self.xyxy[idx], self.confidence[idx], self.class_id[idx], self.names)

    @property
    def class_names(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    def of_classes(self, names: Iterable[str]) -> "Detections":
        """The boxes of these classes, named in vigil's vocabulary or the detector's (`motorcycle` means `ebike`)."""
        asked = {vigil_name(n) for n in names}
        wanted = {i for i, n in self.names.items() if vigil_name(n) in asked}
        return self[np.isin(self.class_id, list(wanted))] if wanted else self[np.zeros(len(self), bool)]

    def above(self, min_confidence: float) -> "Detections":
        return self[self.confidence >= min_confidence]

    @property
    def area(self) -> np.ndarray:
        w = np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None)
        h = np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)
        return w * h

    @property
    def bottom_center(self) -> np.ndarray:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1) if len(self) else np.zeros((0, 2), np.float32)

    def max_confidence(self) -> float:
        return float(self.confidence.max()) if len(self) else 0.0

    def merge(self, other: "Detections") -> "Detections":
        """Concatenate two sets from different models: class ids of `other` are remapped after ours."""
        if not len(other):
            return self
        offset = (max(self.names) + 1) if self.names else 0
        names = dict(self.names) | {k + offset: v for k, v in other.names.items()}
        return Detections(
            np.concatenate([self.xyxy, other.xyxy]), np.concatenate([self.confidence, other.confidence]),
            np.concatenate([self.class_id, other.class_id + offset]).astype(np.int32), names,
        )

    def to_list(self) -> list[dict]:
        return [
            {"label": n, "confidence": round(float(c), 3), "box": [round(float(v), 1) for v in b]}
            for n, c, b in zip(self.class_names, self.confidence, self.xyxy)
        ]
