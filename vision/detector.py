"""Detectors behind one interface. `UltralyticsDetector` loads any ultralytics format
(.pt, .onnx, .tflite, OpenVINO folder) and returns `Detections`; `load_detector` hands `.onnx` files to
`OnnxDetector` (vision/onnx_detector.py: ONNX Runtime without ultralytics' per-call overhead)."""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil.models.ultralytics_env import ensure_env, logs_to_stderr
from vigil.vision.detections import Detections
from vigil.vision.vocabulary import canonical_ids, vigil_names

log = logging.getLogger("vigil.vision")


class Detector(Protocol):
    names: dict[int, str]

    def detect(self, image: np.ndarray) -> Detections: ...


class UltralyticsDetector:
    """Thread-safe wrapper: one model shared by all camera processors, one inference at a time."""

    iou = 0.7  # ultralytics' NMS default, also used across the classes that share a vigil name

    def __init__(self, model_path: str | Path, imgsz: int = 640, confidence: float = 0.25, device: str = "cpu"):
        ensure_env()
        from ultralytics import YOLO  # heavy import, deferred

        self.path = Path(model_path)
        self.imgsz, self.confidence, self.device = imgsz, confidence, device
        self._lock = threading.Lock()
        self.last_ms = 0.0
        self.calls = 0  # inferences since load (warm-up excluded)
        self.total_ms = 0.0
        logs_to_stderr()  # stdout belongs to our own output (`vigil replay --json`)
        self.names: dict[int, str] = {}
        self._canonical = None
        with contextlib.redirect_stdout(sys.stderr):
            self._model = YOLO(str(self.path), task="detect")
            # warm-up also fills `names` for exported formats
            self.detect(np.zeros((imgsz, imgsz, 3), np.uint8))
        # in vigil's vocabulary (vision/vocabulary.py): COCO's bicycle and motorcycle are both `ebike`
        self.names = vigil_names(self._model.names)
        self._canonical = canonical_ids(self.names)
        self.calls, self.total_ms = 0, 0.0
        log.info("detector %s loaded (%d classes, %.0f ms warm-up)", self.path.name, len(self.names), self.last_ms)

    def detect(self, image: np.ndarray) -> Detections:
        with self._lock:
            t = time.perf_counter()
            result = self._model.predict(image, imgsz=self.imgsz, conf=self.confidence, device=self.device, verbose=False)[0]
            self.last_ms = (time.perf_counter() - t) * 1000
            self.calls += 1
            self.total_ms += self.last_ms
        dets = Detections.from_ultralytics(result)
        if not self.names:  # the warm-up call, before the names are known
            return dets
        return merged_names(dets, self.names, self._canonical, self.iou)


def merged_names(dets: Detections, names: dict[int, str], canonical: np.ndarray | None, iou: float) -> Detections:
    """`dets` under vigil's `names`; where several classes share a name, their ids become one and NMS runs over
    them as over one class (one e-bike scored both bicycle and motorcycle is one box)."""
    if canonical is None or not len(dets):
        return Detections(dets.xyxy, dets.confidence, dets.class_id, names)
    from vigil.vision.onnx_detector import MAX_WH, nms

    cls = canonical[dets.class_id]
    keep = nms(dets.xyxy + (cls[:, None] * MAX_WH).astype(np.float32), dets.confidence, iou)
    return Detections(dets.xyxy[keep], dets.confidence[keep], cls[keep].astype(np.int32), names)


_cache: dict[tuple, Detector] = {}
_cache_lock = threading.Lock()


def load_detector(model_path: str | Path, imgsz: int = 640, confidence: float = 0.25,
                  threads: int | None = None) -> Detector:
    """One detector instance per (file, size, confidence, threads) in this process: `OnnxDetector` (ONNX
    Runtime directly, `threads` intra-op threads, default the CPU count) for `.onnx` files, else
    `UltralyticsDetector` (`threads` does not apply there).

    An int8 `.onnx` file this CPU cannot compute exactly is replaced by its float twin (models/precision.py); the
    detector's `choice` says which file runs, on which kernel, and why."""
    from vigil.models.precision import choose

    key = (str(Path(model_path).resolve()), imgsz, confidence, threads)
    with _cache_lock:
        if key not in _cache:
            choice = choose(model_path)
            if choice.substituted:
                log.warning("%s: %s", Path(model_path).name, choice.reason)
            if Path(model_path).suffix.lower() == ".onnx":
                from vigil.vision.onnx_detector import OnnxDetector
                det = OnnxDetector(choice.used, imgsz, confidence, threads=threads)
            else:
                det = UltralyticsDetector(model_path, imgsz, confidence)
            det.choice = choice
            _cache[key] = det
        return _cache[key]
