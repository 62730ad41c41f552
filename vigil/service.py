"""`Runtime`: everything the running service holds (config, database, detectors, cameras)."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from vigil.api.db import default_sqlite_url, make_engine, make_sessionmaker
from vigil.api.migrate import upgrade
from vigil.api.retention import MediaMaintainer
from vigil.api.store import EventStore
from vigil.outbox.service import Notifications
from vigil.config import VigilConfig, redact_url
from vigil.models.catalogue import resolve_fire_model, resolve_model
from vigil.processor import CameraProcessor
from vigil.scheduler import DetectionScheduler
from vigil.streams.reader import CameraReader, ReaderSettings
from vigil.vision.detector import load_detector
from vigil.evidence import EvidenceSink
from vigil.vision.events import EventSink, FanoutSink
from vigil.vision.pipeline import CameraPipeline

log = logging.getLogger("vigil.service")


class Runtime:
    def __init__(self, cfg: VigilConfig, *, start_cameras: bool = True, reader_settings: ReaderSettings | None = None,
                 extra_sink: EventSink | None = None):
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.server.timezone)
        self.data_dir = Path(cfg.storage.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = cfg.storage.database_url or default_sqlite_url(self.data_dir)
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.store = EventStore(self.sessions, self.data_dir / "media", {c.id: c.institution for c in cfg.cameras})
        self.notify = Notifications(self)  # event spool (replayed before stale events close); outbox dispatcher
        closed = self.store.close_stale_open_events()
        if closed:
            log.info("closed %d event(s) left open by a previous run", closed)
        self.maintainer = MediaMaintainer(self.store, cfg.storage.retention)
        self.institutions = {i.id: i for i in cfg.institutions}
        from vigil.accounts import LoginLimiter
        self.login_limiter = LoginLimiter()
        self.processors: dict[str, CameraProcessor] = {}
        self.reader_settings = reader_settings or ReaderSettings()
        self.extra_sink = extra_sink
        self.detector = None
        self.fire_detector = None
        self.scheduler: DetectionScheduler | None = None
        self.fire_path, self.fire_imgsz, self.fire_reason = resolve_fire_model(cfg.detector.fire_model, cfg.detector.fire_imgsz)
        if self.fire_reason:
            log.warning("fire_smoke rules disabled: %s", self.fire_reason)
        if start_cameras:
            self.start()

    def _sink(self) -> EventSink:
        """The store first (it assigns event ids), then clip requests, then any extra sink."""
        sinks = [self.store, EvidenceSink(self.store, self.processors, self.cfg.storage.clips)]
        if self.extra_sink is not None:
            sinks.append(self.extra_sink)
        return FanoutSink(*sinks)

    def start(self) -> None:
        self.maintainer.start()
        self.notify.start()
        cams = [c for c in self.cfg.cameras if c.enabled]
        if not cams:
            return
        det = self.cfg.detector
        workers = det.threads or os.cpu_count() or 1  # parallel single-threaded inference calls
        self.detector = load_detector(resolve_model(det.model), det.imgsz, det.confidence, 1)
        if self.fire_path is not None and any(c.has_fire_rule for c in cams):
            self.fire_detector = load_detector(self.fire_path, self.fire_imgsz, det.confidence, 1)
        sink = self._sink()
        wake = threading.Event()
        for cam in cams:
            pipeline = CameraPipeline(cam, self.detector, sink, self.fire_detector, self.fire_reason)
            reader = CameraReader(cam.id, cam.url, self._reader_settings(cam), on_clip=self.store.clip_finished)
            reader.frames.notify = wake
            self.processors[cam.id] = CameraProcessor(cam, reader, pipeline, sink, self.tz, det.still_recheck_s).start()
            log.info("camera %s (%s) started: %s", cam.id, cam.site_kind, redact_url(cam.url))
        self.scheduler = DetectionScheduler(list(self.processors.values()), self.detector, self.fire_detector,
                                            max_batch=det.max_batch, workers=workers, wake=wake).start()

    def _reader_settings(self, cam) -> ReaderSettings:
        """Hand frames on at twice the camera's fastest rule rate (at least 4 per second): fine enough for
        the motion gate and for exact 1 Hz / 2 Hz timetables, far below the stream's own rate."""
        publish = max(4.0, 2 * cam.effective_detect_fps)
        clips = self.cfg.storage.clips
        return ReaderSettings(**{**self.reader_settings.__dict__, "loop_files": cam.loop, "publish_fps": publish,
                                 "keyframes_only": cam.keyframes_only,
                                 "clip_ring_s": clips.ring_s if clips.enabled else None})

    def stop(self) -> None:
        self.maintainer.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        for p in self.processors.values():
            p.stop()
        self.processors.clear()
        self.notify.stop()
        self.engine.dispose()

    def camera_info(self, cam_id: str) -> dict:
        cam = self.cfg.camera(cam_id)
        inst = self.institutions[cam.institution]
        proc = self.processors.get(cam.id)
        status = proc.status() if proc else {"status": "disabled" if not cam.enabled else "stopped", "fps": 0.0,
                                             "last_frame_at": None, "detect_hz": 0.0, "reconnects": 0, "last_error": None,
                                             "lag_s": 0.0, "dropped_frames": 0}
        runs = {m["purpose"]: m["used"] for m in self.model_status()} if proc else {}
        models = {"objects": runs.get("objects"), "fire": runs.get("fire") if cam.has_fire_rule else None} if proc else {}
        return {
            "id": cam.id, "name": cam.name, "institution_id": cam.institution, "institution_name": inst.name,
            "region": inst.region, "site_kind": cam.site_kind, "url": redact_url(cam.url), "detect_fps": cam.detect_fps,
            "enabled": cam.enabled, "zones": [z.name for z in cam.zones], "models": models, **status,
        }

    def regions_by_institution(self) -> dict[str, str]:
        """Institution id -> region path: what scopes are resolved against."""
        from vigil.access import normalise_region
        return {i.id: normalise_region(i.region) for i in self.institutions.values()}

    def model_status(self) -> list[dict]:
        """Which file each purpose really runs (loaded detectors' own choice; else what load_detector would pick),
        on which kernel, and why (models/precision.py)."""
        from vigil.models.catalogue import ModelNotFound
        from vigil.models.precision import choose

        out = []
        for purpose, det, ref in (("objects", self.detector, None), ("fire", self.fire_detector, self.fire_path)):
            choice = getattr(det, "choice", None)
            if choice is None:
                try:
                    path = resolve_model(self.cfg.detector.model) if purpose == "objects" else ref
                except ModelNotFound:
                    path = None
                if path is None:
                    continue
                choice = choose(path)
            out.append({"purpose": purpose, "requested": Path(choice.requested).name, "used": Path(choice.used).name,
                        "precision": choice.precision, "weights": choice.weights, "kernel": choice.kernel,
                        "reason": choice.reason, "loaded": det is not None})
        return out

    def rule_status(self) -> list[dict]:
        out = []
        for cam in self.cfg.cameras:
            proc = self.processors.get(cam.id)
            if proc is not None:
                out.extend(proc.pipeline.rule_status())
                continue
            fire_ok = self.fire_reason is None
            for z in cam.zones:
                for r in z.rules:
                    reason = (self.fire_reason if r.type == "fire_smoke" and not fire_ok
                              else None if r.enabled else "disabled in configuration")
                    out.append({"camera_id": cam.id, "zone": z.name, "rule": r.type,
                                "status": "disabled" if reason else "stopped", "reason": reason, "open_event_id": None})
        return out
