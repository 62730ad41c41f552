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

log = logging.getLogger("vigil.vision")


class Detector(Protocol):
    names: dict[int, str]

    def detect(self, image: np.ndarray) -> Detections: ...


class UltralyticsDetector:
    """Thread-safe wrapper: one model shared by all camera processors, one inference at a time."""

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
        with contextlib.redirect_stdout(sys.stderr):
            self._model = YOLO(str(self.path), task="detect")
            # warm-up also fills `names` for exported formats
            self.detect(np.zeros((imgsz, imgsz, 3), np.uint8))
        self.names: dict[int, str] = dict(self._model.names)
        self.calls, self.total_ms = 0, 0.0
        log.info("detector %s loaded (%d classes, %.0f ms warm-up)", self.path.name, len(self.names), self.last_ms)

    def detect(self, image: np.ndarray) -> Detections:
        with self._lock:
            t = time.perf_counter()
            result = self._model.predict(image, imgsz=self.imgsz, conf=self.confidence, device=self.device, verbose=False)[0]
            self.last_ms = (time.perf_counter() - t) * 1000
            self.calls += 1
            self.total_ms += self.last_ms
        return Detections.from_ultralytics(result)


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
