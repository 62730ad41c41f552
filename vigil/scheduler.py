"""`DetectionScheduler`: the one long-lived detection loop for every camera of the service.

Each turn it takes the newest frame each camera has handed on, asks the camera's processor what is
due (object model at the camera's rate, fire model at >= 2 Hz, both slowed to a re-check every
`still_recheck_s` while the motion gate sees a still scene), runs each model once over a batch of
frames from many cameras (spread over `workers` single-threaded inference calls that run side by side,
one per core: on a small CPU that beats one multi-threaded call, whose threads wait on each other), then
evaluates each camera's rules. On a still scene the rules keep their
rate with the remembered detections (Frigate keeps stationary objects the same way).

One loop instead of a thread per camera: inference never competes with itself for the two cores,
batches amortise the per-call cost, and a slow turn shows up as dropped (stale) frames instead of lag.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from vigil.processor import CameraProcessor
from vigil.vision.detections import Detections

log = logging.getLogger("vigil.scheduler")


def detect_many(detector, images: list) -> list[Detections]:
    """One batched call when the detector has one, else one call per image."""
    if hasattr(detector, "detect_batch"):
        return detector.detect_batch(images)
    return [detector.detect(im) for im in images]


class DetectionScheduler:
    def __init__(self, processors: list[CameraProcessor], detector, fire_detector=None, *, max_batch: int = 8,
                 workers: int = 1, wake: threading.Event | None = None):
        self.processors = processors
        self.detector, self.fire_detector = detector, fire_detector
        self.max_batch = max_batch
        self.workers = max(1, workers)  # inference calls run side by side (single-threaded sessions, one per core)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="inference") if self.workers > 1 else None
        self.wake = wake or threading.Event()
        self.turns = 0
        self.busy_s = 0.0  # time spent in detection and rules (the rest is waiting for frames)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_offline_check = 0.0

    def start(self) -> "DetectionScheduler":
        self._thread = threading.Thread(target=self._run, name="detection-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread:
            self._thread.join(10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(0.25)
            self.wake.clear()
            now = time.monotonic()
            if now >= self._next_offline_check:
                self._next_offline_check = now + 0.5
                for p in self.processors:
                    try:
                        p.check_offline()
                    except Exception:  # noqa: BLE001 - a sink failure must not stop every camera
                        log.exception("camera %s: offline check failed", p.camera.id)
            try:
                self.turn()
            except Exception:  # noqa: BLE001
                log.exception("detection turn failed")

    def turn(self) -> int:
        """One pass over the cameras; returns how many frames had rules evaluated."""
        work = []
        for p in self.processors:
            frame = p.reader.frames.get(timeout=0)
            if frame is None:
                continue
            objects, fire, rules = p.plan(frame)
            if rules:
                work.append((p, frame, objects, fire))
        if not work:
            return 0
        t0 = time.perf_counter()
        obj_results: dict[int, Detections] = {}
        fire_results: dict[int, Detections] = {}
        jobs = []  # (detector, indexes, results): spread over the workers, at most max_batch frames each
        for want, detector, results in ((2, self.detector, obj_results), (3, self.fire_detector, fire_results)):
            idx = [i for i, w in enumerate(work) if w[want]]
            if not idx:
                continue
            size = min(self.max_batch, -(-len(idx) // self.workers))
            jobs += [(detector, idx[k:k + size], results) for k in range(0, len(idx), size)]

        def run(job):
            detector, idx, results = job
            for i, dets in zip(idx, detect_many(detector, [work[i][1].image for i in idx])):
                results[i] = dets

        if self._pool is None or len(jobs) == 1:
            for job in jobs:
                run(job)
        else:
            for fut in [self._pool.submit(run, job) for job in jobs]:
                fut.result()
        for i, (p, frame, _, _) in enumerate(work):
            p.evaluate(frame, obj_results.get(i), fire_results.get(i))
        self.busy_s += time.perf_counter() - t0
        self.turns += 1
        return len(work)
