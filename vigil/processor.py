"""`CameraProcessor`: the long-lived loop of one camera. Takes frames from its reader at the
camera's detect rate, runs the `CameraPipeline`, and raises `camera_offline` when frames stop."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from vigil.config import Camera
from vigil.streams.reader import CameraReader
from vigil.vision.annotate import annotate, encode_jpeg
from vigil.vision.events import EventRecord, EventSink
from vigil.vision.pipeline import CameraPipeline

log = logging.getLogger("vigil.processor")


class CameraProcessor:
    def __init__(self, camera: Camera, reader: CameraReader, pipeline: CameraPipeline, sink: EventSink, tz: ZoneInfo):
        self.camera, self.reader, self.pipeline, self.sink, self.tz = camera, reader, pipeline, sink, tz
        self.offline_event: EventRecord | None = None
        self.detect_hz = 0.0
        self.lag_s = 0.0  # decode -> rules done, for the last detection frame
        self.last_error: str | None = None
        self._last_detect_pts: float | None = None
        self._last_detect_mono: float | None = None
        self._started_mono = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "CameraProcessor":
        self.reader.start()
        self._thread = threading.Thread(target=self._run, name=f"processor-{self.camera.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.reader.stop()
        if self._thread:
            self._thread.join(5)

    def _now(self) -> datetime:
        return datetime.now(self.tz)

    def _run(self) -> None:
        interval = 1.0 / self.camera.effective_detect_fps
        while not self._stop.is_set():
            frame = self.reader.frames.get(timeout=0.5)
            self._check_offline()
            if frame is None:
                continue
            if self._last_detect_pts is not None and frame.pts_s - self._last_detect_pts < interval * 0.95:
                continue
            if self._last_detect_pts is not None and frame.pts_s < self._last_detect_pts:
                self._last_detect_pts = None  # stream clock restarted
            self._last_detect_pts = frame.pts_s
            now = time.monotonic()
            if self._last_detect_mono is not None:
                inst = 1.0 / max(now - self._last_detect_mono, 1e-3)
                self.detect_hz = inst if self.detect_hz == 0 else 0.8 * self.detect_hz + 0.2 * inst
            self._last_detect_mono = now
            try:
                self.pipeline.process(frame.image, frame.pts_s, datetime.fromtimestamp(frame.wall, self.tz))
                self.last_error = None
                self.lag_s = max(0.0, time.time() - frame.wall)
            except Exception as exc:  # one bad frame or a model hiccup must not kill the camera
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("camera %s: pipeline failed on a frame", self.camera.id)

    # -- camera_offline ----------------------------------------------------------------------
    def _check_offline(self) -> None:
        since = self.reader.health.seconds_since_frame()
        if since is None:
            since = time.monotonic() - self._started_mono
        offline = since >= self.camera.offline_after_s
        if offline and self.offline_event is None:
            t = time.monotonic() - self._started_mono
            ev = EventRecord(self.camera.id, None, "camera_offline", t, self._now(), 1.0,
                             {"offline_after_s": self.camera.offline_after_s},
                             {"seconds_without_frames": round(since, 1), "last_error": self.reader.health.last_error})
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

    def _offline_snapshot(self) -> bytes:
        last = self.reader.last_frame
        image = last.image if last is not None else np.full((360, 640, 3), 40, np.uint8)
        image = cv2.addWeighted(image, 0.4, np.zeros_like(image), 0.6, 0)
        return encode_jpeg(annotate(image, polygon_px=None, rule="camera_offline",
                                    title=f"camera_offline | {self.camera.id} | last frame shown"))

    def snapshot_jpeg(self) -> bytes | None:
        last = self.reader.last_frame
        return encode_jpeg(last.image) if last is not None else None

    def status(self) -> dict:
        h = self.reader.health.snapshot()
        h["detect_hz"] = round(self.detect_hz, 2)
        h["lag_s"] = round(self.lag_s, 3)
        h["dropped_frames"] = self.reader.frames.dropped
        h["queue_depth"] = len(self.reader.frames)
        h["detections"] = self.pipeline.frames_processed
        h["offline_event_id"] = self.offline_event.id if self.offline_event else None
        h["pipeline_error"] = self.last_error
        if h["status"] == "online" and (self.reader.health.seconds_since_frame() or 0) > max(5.0, 3 / max(self.camera.detect_fps, 0.1)):
            h["status"] = "stalled"
        return h
