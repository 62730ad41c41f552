"""`CameraProcessor`: the state of one camera in the detection loop: its reader, pipeline, motion
gate, detection timetable (per model), measured rates and lag, and the `camera_offline` event.

It has no thread of its own: the `DetectionScheduler` (vigil/scheduler.py) serves every camera from
one loop, so detection can be batched across cameras."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from vigil.config import Camera, FIRE_MIN_HZ
from vigil.streams.frames import Frame
from vigil.streams.reader import CameraReader
from vigil.vision.annotate import annotate, encode_jpeg
from vigil.vision.detections import Detections
from vigil.vision.events import EventRecord, EventSink
from vigil.vision.motion import MotionGate
from vigil.vision.pipeline import CameraPipeline
from vigil.vision.vocabulary import rule_zh

log = logging.getLogger("vigil.processor")


class RateMeter:
    """Events per second over a sliding window of the last `window_s` seconds."""

    def __init__(self, window_s: float = 10.0):
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def hz(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class LatestDetections:
    """The detections of the last frame a model ran on: objects (remembered ones on a still scene) and fire (the fire
    model's last answer; None: no fire rule or not run yet), in the pixels of a `width` x `height` frame decoded at
    `wall` (time.time())."""
    wall: float
    width: int
    height: int
    objects: Detections | None
    fire: Detections | None


def _advance(due: float, t: float, interval: float) -> float:
    """Next due time: one interval on (keeps the average rate exact on a coarse frame grid), but no
    burst of catch-up runs after a gap or an overload; the first run (due -inf) starts the grid at t."""
    if not np.isfinite(due):
        return t + interval
    nxt = due + interval
    return nxt if nxt > t else t + interval * 0.5


class CameraProcessor:
    def __init__(self, camera: Camera, reader: CameraReader, pipeline: CameraPipeline, sink: EventSink, tz: ZoneInfo,
                 still_recheck_s: float = 2.0):
        self.camera, self.reader, self.pipeline, self.sink, self.tz = camera, reader, pipeline, sink, tz
        self.offline_event: EventRecord | None = None
        self.motion = MotionGate()
        self.still_recheck_s = still_recheck_s
        self._set_rates()
        self.stopped = False
        self._lock = threading.Lock()  # the pipeline is swapped (reconfigure) only between two evaluations
        self.remembered: Detections | None = None  # last object detections, reused while the scene is still
        self.last_fire: Detections | None = None  # the fire model's last answer
        # what the models last saw, for the live view's overlay (GET /api/cameras/{id}/detections): the values the
        # rules got, by reference (Detections is immutable), never a frame
        self.latest_detections: LatestDetections | None = None
        self.moving = True
        self.objects_rate, self.fire_rate, self.rules_rate = RateMeter(), RateMeter(), RateMeter()
        self.lag_s = 0.0  # capture -> rules done, for the last evaluated frame
        self.lags: deque[float] = deque(maxlen=4096)
        self.objects_count = self.fire_count = 0  # model runs on this camera's frames
        self.skipped_frames = 0  # frames handed on but not needed (between due times)
        self.last_error: str | None = None
        self._last_t: float | None = None
        self._started_mono = time.monotonic()
        # cluster mode, a camera moved here: when its previous node last saw a frame, and the move (for the gap event)
        self._gap_from: datetime | None = None
        self._move: dict = {}
        self._moved = False
        self._started_wall = time.time()
        self.gap_s: float | None = None  # the move's gap, once the first frame here has come
        self.first_rules_wall: float | None = None  # time.time() of the first frame through the rules

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "CameraProcessor":
        if not self.reader.started:  # (a cluster node may have opened it ahead of the camera's move)
            self.reader.start()
        return self

    def stop(self) -> None:
        self.reader.stop()

    def _set_rates(self) -> None:
        camera = self.camera
        self.objects_interval = 1.0 / camera.detect_fps
        self.fire_interval = 1.0 / max(camera.detect_fps, FIRE_MIN_HZ) if self.pipeline.needs_fire else None
        self.rules_interval = 1.0 / camera.effective_detect_fps
        self.next_objects = self.next_fire = self.next_rules = -np.inf

    def _close_events(self, reason: str) -> None:
        t = self._last_t if self._last_t is not None else time.monotonic() - self._started_mono
        self.pipeline.close_events(t, self._now(), reason)

    def reconfigure(self, camera: Camera, pipeline: CameraPipeline) -> None:
        """Use `camera`'s zones and rules (in `pipeline`) from the next frame on, on the same stream; the old rules'
        open events end ("camera reconfigured")."""
        with self._lock:
            self._close_events("camera reconfigured")
            self.camera, self.pipeline = camera, pipeline
            self.remembered = self.last_fire = self.latest_detections = None
            self._set_rates()

    def take_over(self, events: list[EventRecord], last_seen: datetime | None, move: dict) -> list[EventRecord]:
        """Cluster mode: this camera moved here from another node. Its events still open there go on here (the same
        rows: nothing opens twice); the time without frames, from `last_seen` on its old node to the first frame here,
        becomes a camera_offline event when it reaches the camera's `offline_after_s`. Returns the events no rule of
        this pipeline continues (the caller ends them)."""
        offline = [e for e in events if e.rule == "camera_offline"]
        left = self.pipeline.adopt([e for e in events if e.rule != "camera_offline"])
        with self._lock:
            if offline:
                self.offline_event = offline[0]  # ends when frames come, like its own
                left += offline[1:]
            self._gap_from, self._move, self._moved = last_seen, dict(move), True
        return left

    def hand_over(self) -> None:
        """Stop without ending the open events (cluster mode: the camera moves to another node, which continues them)."""
        with self._lock:
            self.stopped = True  # no rule runs and no event is written here from now on
        # the decoder winds down in the background: the maintainer hears at once that the camera is free to move
        threading.Thread(target=self.reader.stop, name=f"hand-over-{self.camera.id}", daemon=True).start()

    def retire(self, reason: str) -> None:
        """Stop for good (the camera was removed or disabled): its open events end with `reason`, then the reader."""
        with self._lock:
            self.stopped = True
            self._close_events(reason)
            if self.offline_event is not None:
                ev, self.offline_event = self.offline_event, None
                ev.ended_t, ev.ended_wall = time.monotonic() - self._started_mono, self._now()
                ev.detail["end_reason"] = reason
                self.sink.ended(ev)
        self.reader.stop()

    def _now(self) -> datetime:
        return datetime.now(self.tz)

    # -- scheduling --------------------------------------------------------------------------
    def plan(self, frame: Frame) -> tuple[bool, bool, bool]:
        """(run the object model, run the fire model, evaluate rules) for this frame."""
        t = frame.pts_s
        if self._last_t is not None and t < self._last_t:  # stream clock restarted
            self.next_objects = self.next_fire = self.next_rules = -np.inf
        self._last_t = t
        self.moving = self.motion.update(frame.image, t)
        obj_iv = self.objects_interval if self.moving else max(self.still_recheck_s, self.objects_interval)
        objects = self.pipeline.needs_objects and t >= self.next_objects
        fire = self.fire_interval is not None and t >= self.next_fire
        rules = objects or fire or t >= self.next_rules
        if objects:
            self.next_objects = _advance(self.next_objects, t, obj_iv)
        if fire:
            iv = self.fire_interval if self.moving else max(self.still_recheck_s, self.fire_interval)
            self.next_fire = _advance(self.next_fire, t, iv)
        if rules:
            self.next_rules = _advance(self.next_rules, t, self.rules_interval)
        else:
            self.skipped_frames += 1
        return objects, fire, rules

    def evaluate(self, frame: Frame, objects: Detections | None, fire: Detections | None) -> None:
        """Run the rules on a planned frame (objects None: reuse the remembered detections)."""
        with self._lock:
            if not self.stopped:
                self._evaluate(frame, objects, fire)

    def _evaluate(self, frame: Frame, objects: Detections | None, fire: Detections | None) -> None:
        now = time.monotonic()
        if objects is not None:
            self.remembered = objects
            self.objects_rate.tick(now)
            self.objects_count += 1
        if fire is not None:
            self.last_fire = fire
            self.fire_rate.tick(now)
            self.fire_count += 1
        if objects is not None or fire is not None:
            h, w = frame.image.shape[:2]
            self.latest_detections = LatestDetections(frame.wall, w, h, self.remembered, self.last_fire)
        self.rules_rate.tick(now)
        if self.first_rules_wall is None:
            self.first_rules_wall = time.time()
        try:
            self.pipeline.process(frame.image, frame.pts_s, datetime.fromtimestamp(frame.wall, self.tz),
                                  precomputed=True, objects=self.remembered, fire=fire,
                                  objects_fresh=objects is not None)
            self.last_error = None
        except Exception as exc:  # one bad frame must not kill the camera
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s: pipeline failed on a frame", self.camera.id)
        self.lag_s = max(0.0, time.time() - frame.captured)
        self.lags.append(self.lag_s)

    # -- camera_offline ----------------------------------------------------------------------
    def check_offline(self) -> None:
        with self._lock:
            if not self.stopped:
                self._check_offline()

    def _check_offline(self) -> None:
        if self._moved and self.gap_s is None and self.reader.last_frame is not None:
            if self._gap_from is not None:  # (a reader opened ahead of the move has frames from before this start)
                self._record_gap(max(self.reader.last_frame.wall, self._started_wall))
            else:  # its old node never reported a frame: the gap counted here is at least this
                self.gap_s = max(0.0, self.reader.last_frame.wall - self._started_wall)
        since = self.reader.health.seconds_since_frame()
        moved = since is None and self._gap_from is not None  # no frame here yet since the camera moved
        if since is None:
            since = time.time() - self._gap_from.timestamp() if moved else time.monotonic() - self._started_mono
        offline = since >= self.camera.offline_after_s
        if offline and self.offline_event is None:
            t = time.monotonic() - self._started_mono
            detail = {"seconds_without_frames": round(since, 1), "last_error": self.reader.health.last_error}
            if moved:  # the time without frames counts from the last frame on the camera's previous node
                detail.update(self._move, last_error="camera moved between nodes")
            ev = EventRecord(self.camera.id, None, "camera_offline", t - (since if moved else 0.0),
                             self._gap_from.astimezone(self.tz) if moved else self._now(), 1.0,
                             {"offline_after_s": self.camera.offline_after_s}, detail)
            self.offline_event = ev
            self.sink.started(ev, self._offline_snapshot())
            log.warning("camera %s: offline for %.0f s, event raised", self.camera.id, since)
        elif not offline and self.offline_event is not None and since < 2.0:
            ev = self.offline_event
            ev.ended_t, ev.ended_wall = time.monotonic() - self._started_mono, self._now()
            ev.detail["end_reason"] = "frames returned"
            self.offline_event = None
            self.sink.ended(ev)
            log.info("camera %s: back online, offline event ended", self.camera.id)

    def _record_gap(self, first_wall: float) -> None:
        gap_from, self._gap_from = self._gap_from, None
        self.gap_s = gap = max(0.0, first_wall - gap_from.timestamp())
        if gap < self.camera.offline_after_s or self.offline_event is not None:
            return
        t = time.monotonic() - self._started_mono
        ev = EventRecord(self.camera.id, None, "camera_offline", t - gap, gap_from.astimezone(self.tz), 1.0,
                         {"offline_after_s": self.camera.offline_after_s},
                         {"seconds_without_frames": round(gap, 1), "last_error": "camera moved between nodes",
                          **self._move})
        self.sink.started(ev, None)
        ev.ended_t, ev.ended_wall = t, datetime.fromtimestamp(first_wall, self.tz)
        ev.detail["end_reason"] = "frames returned on the new node"
        self.sink.ended(ev)
        log.warning("camera %s: %.1f s without frames while it moved, camera_offline event recorded", self.camera.id, gap)

    def _offline_snapshot(self) -> bytes:
        last = self.reader.last_frame
        image = last.image if last is not None else np.full((360, 640, 3), 40, np.uint8)
        image = cv2.addWeighted(image, 0.4, np.zeros_like(image), 0.6, 0)
        return encode_jpeg(annotate(image, polygon_px=None, rule="camera_offline",
                                    title=f"{rule_zh('camera_offline')} | {self.camera.name} | 最后画面"))

    def snapshot_jpeg(self) -> bytes | None:
        last = self.reader.last_frame
        return encode_jpeg(last.image) if last is not None else None

    def status(self) -> dict:
        h = self.reader.health.snapshot()
        now = time.monotonic()
        h["detect_hz"] = round(self.objects_rate.hz(now) if self.pipeline.needs_objects else self.fire_rate.hz(now), 2)
        h["fire_hz"] = round(self.fire_rate.hz(now), 2) if self.fire_interval else None
        h["rules_hz"] = round(self.rules_rate.hz(now), 2)
        h["moving"] = self.moving
        h["lag_s"] = round(self.lag_s, 3)
        h["dropped_frames"] = self.reader.frames.dropped + self.reader.torn_frames
        h["skipped_frames"] = self.skipped_frames
        h["person_checks"] = self.pipeline.person_checks
        h["queue_depth"] = len(self.reader.frames)
        h["detections"] = self.pipeline.frames_processed
        h["offline_event_id"] = self.offline_event.id if self.offline_event else None
        h["pipeline_error"] = self.last_error
        if h["status"] == "online" and (self.reader.health.seconds_since_frame() or 0) > max(5.0, 3 / max(self.camera.detect_fps, 0.1)):
            h["status"] = "stalled"
        return h
