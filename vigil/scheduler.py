"""`DetectionScheduler`: the one long-lived detection loop for every camera of the service.

Each turn it evaluates the rules of the cameras whose detections came back, then takes the newest frame
of every camera with nothing in flight, asks its processor what is due (object model at the camera's
rate, fire model at >= 2 Hz, both slowed to a re-check every `still_recheck_s` while the motion gate sees
a still scene) and hands the model calls, a few frames per call, to `workers` single-threaded inference
threads, one per core (on a small CPU that beats one multi-threaded call, whose threads wait on each
other). The turn does not wait for them: the workers never idle behind a slow batch or behind the rules,
which run in this thread while inference runs in the others. A frame whose fire result holds a smoke box
the fire rule wants checked against persons goes back out for the object model (when that did not already run
on it) before its rules run, so the check never blocks this thread. One frame per camera is in flight at a time,
so a slow box drops stale frames instead of queueing them. On a still scene the rules keep their rate with
the remembered detections (Frigate keeps stationary objects the same way).

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
        self.evaluations = 0  # frames whose rules ran
        self.busy_s = 0.0  # inference worker-seconds / workers: the share of the inference capacity in use
        self.rules_s = 0.0  # time this thread spent evaluating rules
        self._lock = threading.Lock()  # guards busy_s, _done and the items' results (workers write them)
        self._done: list[_Item] = []  # items whose model calls have all come back
        self._inflight: set[CameraProcessor] = set()  # scheduler thread only
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
        """Evaluate the cameras whose detections came back, then plan and hand out new work for every camera
        that has none in flight. Returns how many frames had their rules evaluated in this turn."""
        done = self._drain()
        work: list[_Item] = []
        for p in self.processors:
            if p in self._inflight:
                continue  # one frame per camera in flight: its newest frame waits (or is replaced) in its slot
            frame = p.reader.frames.get(timeout=0)
            if frame is None:
                continue
            objects, fire, rules = p.plan(frame)
            if not rules:
                continue
            item = _Item(p, frame, objects, fire)
            if item.pending:
                work.append(item)
            else:  # rules only: the remembered detections, no model call
                self._evaluate(item)
                done += 1
        if not work:
            return done
        self._inflight.update(item.processor for item in work)
        self._submit_objects([item for item in work if item.want_objects])
        self._submit(self.fire_detector, [(item, "fire") for item in work if item.want_fire])
        if self._pool is None:
            done += self._drain()
        return done

    def _submit_objects(self, items: list["_Item"]) -> None:
        """The object-model calls, batched per model: a camera whose rules look only at people may run the person
        model (`detector.person_model`) instead of the objects model."""
        groups: dict[int, tuple[object, list[tuple["_Item", str]]]] = {}
        for item in items:
            det = item.processor.pipeline.detector or self.detector
            groups.setdefault(id(det), (det, []))[1].append((item, "objects"))
        for det, todo in groups.values():
            self._submit(det, todo)

    def _submit(self, detector, todo: list[tuple["_Item", str]]) -> None:
        """Hand one model's calls out: at most max_batch frames per call, spread over the workers (inline
        without a pool)."""
        if not todo:
            return
        size = min(self.max_batch, -(-len(todo) // self.workers))
        for k in range(0, len(todo), size):
            if self._pool is None:
                self._run_job(detector, todo[k:k + size])
            else:
                self._pool.submit(self._run_job, detector, todo[k:k + size])

    def _run_job(self, detector, todo: list[tuple["_Item", str]]) -> None:
        """Worker side: one model over a few frames; a finished item goes back to the scheduler thread."""
        t0 = time.perf_counter()
        try:
            results = detect_many(detector, [item.frame.image for item, _ in todo])
        except Exception:  # noqa: BLE001 - a failed call must not leave its cameras in flight forever
            log.exception("inference failed on %d frame(s)", len(todo))
            results = [None] * len(todo)
        with self._lock:
            self.busy_s += (time.perf_counter() - t0) / self.workers
            for (item, which), dets in zip(todo, results):
                item.failed |= dets is None
                setattr(item, which, dets)
                item.pending -= 1
                if item.pending == 0:
                    self._done.append(item)
        self.wake.set()

    def _drain(self) -> int:
        """Evaluate the rules of every item whose model calls have all come back (scheduler thread); an item
        whose smoke wants a person check goes out once more, for the object model."""
        evaluated = 0
        while True:
            with self._lock:
                ready, self._done = self._done, []
            again = []
            for item in ready:
                if not item.failed and item.objects is None and not item.want_objects \
                        and item.processor.pipeline.wants_persons(item.fire):
                    item.want_objects, item.pending = True, 1
                    item.processor.pipeline.person_checks += 1
                    again.append((item, "objects"))
                    continue
                self._inflight.discard(item.processor)
                if not item.failed:
                    self._evaluate(item)
                evaluated += 1
            self._submit_objects([item for item, _ in again])
            if not again or self._pool is not None:  # with workers the follow-ups come back in a later turn
                return evaluated

    def _evaluate(self, item: "_Item") -> None:
        t0 = time.perf_counter()
        item.processor.evaluate(item.frame, item.objects, item.fire)
        self.evaluations += 1
        self.rules_s += time.perf_counter() - t0


class _Item:
    """One camera's planned frame while its model calls are in flight."""

    __slots__ = ("processor", "frame", "pending", "want_objects", "want_fire", "objects", "fire", "failed")

    def __init__(self, processor: CameraProcessor, frame, objects: bool, fire: bool):
        self.processor, self.frame = processor, frame
        self.want_objects, self.want_fire = objects, fire
        self.pending = int(objects) + int(fire)
        self.objects: Detections | None = None
        self.fire: Detections | None = None
        self.failed = False
