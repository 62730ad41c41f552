"""Several detectors seen as one, for `vigil models eval --model A+B` and `--model defaults`.

The service runs more than one model on a camera (the objects model, the fire/smoke model, a person model), so the
class names a site's cameras report are those of all of them together: `defaults` is the catalogue's objects and
fire defaults, which together name `person`, `ebike`, `fire`, `smoke` and the obstacle classes. Each model runs at
its own input size; the first model that names a class owns it (a later model's boxes of that class are dropped),
so `person-cctv-yolov8n-640+yolov5n-coco-320` counts people by the person model and everything else by COCO."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.vision.detections import Detections

DEFAULTS = "defaults"


@dataclass(frozen=True)
class Part:
    ref: str  # as given: a catalogue name or a path
    path: Path
    imgsz: int


def parse_parts(spec: str) -> list[Part]:
    """`defaults`, or `A+B+...` (catalogue names or paths), as resolved files with their own input sizes."""
    from vigil.models.catalogue import default_model, model_imgsz, resolve_model

    if spec.strip() == DEFAULTS:
        refs = []
        for purpose in ("objects", "fire"):
            entry = default_model(purpose)
            if entry is None:
                raise ValueError(f"--model defaults: the catalogue names no default {purpose} model")
            refs.append(entry.name)
    else:
        refs = [r.strip() for r in spec.split("+")]
        if any(not r for r in refs):
            raise ValueError(f"--model {spec!r}: an empty name between '+' signs")
    if len(set(refs)) != len(refs):
        raise ValueError(f"--model {spec!r}: a model named twice")
    return [Part(r, resolve_model(r, purpose="objects"), model_imgsz(r, 320)) for r in refs]


class CombinedDetector:
    """The detectors of `parts` as one: names renumbered one model after the other, each class name owned by the first
    model that has it."""

    dynamic_batch = True

    def __init__(self, parts: list[Part], confidence: float, threads: int | None = None):
        from vigil.vision.detector import load_detector

        self.parts = parts
        self.detectors = [load_detector(p.path, imgsz=p.imgsz, confidence=confidence, threads=threads) for p in parts]
        self.names: dict[int, str] = {}
        self._maps: list[dict[int, int]] = []  # per model: its class id -> combined id (owned classes only)
        owner: dict[str, str] = {}
        for part, det in zip(parts, self.detectors):
            offset = max(self.names) + 1 if self.names else 0
            mapping = {}
            for i, name in sorted(det.names.items()):
                if owner.setdefault(name, part.ref) == part.ref:
                    mapping[i] = offset + i
                    self.names[offset + i] = name
            self._maps.append(mapping)
        self.owners = owner
        self.imgsz = {p.ref: getattr(d, "imgsz", p.imgsz) for p, d in zip(parts, self.detectors)}

    def _one(self, k: int, dets: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mapping = self._maps[k]
        keep = np.isin(dets.class_id, list(mapping))
        cls = np.array([mapping[int(c)] for c in dets.class_id[keep]], np.int32)
        return dets.xyxy[keep], dets.confidence[keep], cls

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        from vigil.scheduler import detect_many

        per_model = [detect_many(det, images) for det in self.detectors]
        out = []
        for i in range(len(images)):
            parts = [self._one(k, per_model[k][i]) for k in range(len(self.detectors))]
            out.append(Detections(np.concatenate([p[0] for p in parts]).reshape(-1, 4).astype(np.float32),
                                  np.concatenate([p[1] for p in parts]).astype(np.float32),
                                  np.concatenate([p[2] for p in parts]).astype(np.int32), self.names))
        return out

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]
