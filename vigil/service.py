"""`Runtime`: everything the running service holds (config, database, detectors, cameras).

The inventory (institutions, cameras with zones and rules) lives in the database (vigil/inventory.py). At start an
empty database takes the config's institutions and cameras; afterwards the database is the source of truth and
`cfg.institutions` / `cfg.cameras` are its in-memory view. `apply_inventory()` (called by the API after each
committed change) reloads it and makes the cameras match: a camera added starts, one removed or disabled stops, one
whose zones or rules changed gets a new pipeline from its next frame (same stream), one whose stream changed
restarts; institutions' regions, and so every scope, follow at once.

Cluster mode (issue #19, vigil/cluster) splits the same Runtime by `role`: `control` (the API processes and the
cluster maintainer: everything but cameras) and `cameras` (one per node: only the cameras in `only`, which the
maintainer sets; no inventory seeding, no dispatcher, ledger or media pruning, which the control side runs)."""
from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from vigil.api.db import default_sqlite_url, make_engine, make_sessionmaker
from vigil.api.media_files import media_dir_of
from vigil.api.migrate import upgrade
from vigil.api.retention import MediaMaintainer
from vigil.api.store import EventStore
from vigil.outbox.service import Notifications
from vigil.config import Camera, VigilConfig, redact_url
from vigil.models.catalogue import model_imgsz, resolve_fire_model, resolve_model
from vigil.processor import CameraProcessor
from vigil.scheduler import DetectionScheduler
from vigil.streams.reader import CameraReader, ReaderSettings
from vigil.vision.detector import load_detector
from vigil.evidence import EvidenceSink
from vigil.vision.events import EventSink, FanoutSink
from vigil.vision.pipeline import CameraPipeline
from vigil import audit, inventory
from vigil.clock import Clock

log = logging.getLogger("vigil.service")


class Runtime:
    def __init__(self, cfg: VigilConfig, *, start_cameras: bool = True, reader_settings: ReaderSettings | None = None,
                 extra_sink: EventSink | None = None, import_inventory: bool = False, role: str = "all",
                 data_dir: Path | None = None):
        """`import_inventory`: upsert the config's institutions and cameras into the database even when it holds an
        inventory already (the demo, whose camera URLs change per run); else only an empty database takes them.
        `role`: all (one box, the default), control or cameras (cluster mode, see above); `data_dir` overrides
        storage.data_dir (a cluster node's own media and spool)."""
        if role not in ("all", "control", "cameras"):
            raise ValueError(f"role must be all, control or cameras, not {role!r}")
        self.role = role
        self.only: set[str] | None = None  # cameras role: the cameras this node holds (the maintainer sets them)
        self.handover: dict[str, dict] = {}  # camera id -> {last_seen, from, reason}: a camera taken from another node
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.server.timezone)
        self.clock: Clock = Clock()  # deadlines, escalation, statistics (tests put a ManualClock here)
        self.data_dir = Path(data_dir or cfg.storage.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = cfg.storage.database_url or default_sqlite_url(self.data_dir)
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self._inventory_lock = threading.RLock()
        self._watch_stop = threading.Event()
        self.inventory_poll_s = 5.0
        self.cameras_live = False  # start() turns it on: from then on apply_inventory starts and stops cameras
        if role != "cameras":
            self._seed_inventory(cfg, import_inventory)
        with self.sessions() as s:
            institutions, cameras = inventory.load(s)
        self.cfg = cfg = cfg.model_copy(update={"institutions": institutions, "cameras": cameras})
        self.store = EventStore(self.sessions, media_dir_of(self.data_dir), {c.id: c.institution for c in cfg.cameras})
        self.notify = Notifications(self)  # event spool (replayed before stale events close); outbox dispatcher
        # one box: what a previous run left open is closed; in a cluster the node that takes a camera continues them
        closed = self.store.close_stale_open_events() if role == "all" else 0
        if closed:
            log.info("closed %d event(s) left open by a previous run", closed)
        self.maintainer = MediaMaintainer(self.store, cfg.storage.retention)
        self.institutions = {i.id: i for i in cfg.institutions}
        from vigil.ledger.service import Ledger
        self.ledger = Ledger(self)  # hazards: escalation, camera re-checks (issue #16)
        from vigil.accounts import LoginLimiter
        self.login_limiter = LoginLimiter()
        from vigil.ledger.complaints import IntakeLimiter
        self.intake_limiter = IntakeLimiter()  # the public complaint form's limits (per address, per token)
        self.snapshot_views = audit.ViewCoalescer(window_s=300.0)  # live-wall thumbnails: one audit row per 5 min
        from vigil.live import LiveRelay
        self.live = LiveRelay(cfg.live)  # WebRTC viewers and MJPEG streams (vigil/live.py); its loop starts on first use
        from vigil.live_feed import LocalFeed
        self.feed = LocalFeed(self)  # what the live endpoints read; cluster mode: the holding node's (NodeFeed)
        self.processors: dict[str, CameraProcessor] = {}
        self.warm: dict[str, CameraReader] = {}  # cluster node: readers opened ahead of a camera's move (warm_up)
        self.reader_settings = reader_settings or ReaderSettings()
        self.extra_sink = extra_sink
        self.detector = None
        self.person_detector = None  # detector.person_model, for cameras whose rules look only at people
        self.fire_detector = None
        self.scheduler: DetectionScheduler | None = None
        self._wake = threading.Event()
        self._evidence = EvidenceSink(self.store, self.processors, cfg.storage.clips)
        from vigil.api.gate_counts import GateCounter
        self.gate_counts = GateCounter(self.sessions, lambda: self.store.institution_of)  # the gate rule's hourly counts
        self.sink = FanoutSink(*[x for x in (self.store, self._evidence, self.gate_counts, extra_sink) if x is not None])
        self.fire_path, self.fire_imgsz, self.fire_reason = resolve_fire_model(cfg.detector.fire_model, cfg.detector.fire_imgsz)
        if self.fire_reason:
            log.warning("fire_smoke rules disabled: %s", self.fire_reason)
        if start_cameras:
            self.start()

    def _seed_inventory(self, cfg: VigilConfig, always: bool) -> None:
        """An empty database takes the config's institutions and cameras (audited as done by the service)."""
        from vigil.inventory_sync import import_inventory

        with self.sessions() as s:
            empty = inventory.is_empty(s)
            if not (empty or always):
                stored = inventory.load(s)
                if cfg.institutions and (stored[0], stored[1]) != (cfg.institutions, cfg.cameras):
                    log.info("inventory from the database (%d institutions, %d cameras); the config's institutions and "
                             "cameras are not used (`vigil inventory import` loads them)", *map(len, stored))
                return
            rep = import_inventory(s, cfg.institutions, cfg.cameras, actor="service start", client="config")
            s.commit()
        if rep.added or rep.changed:
            log.info("inventory imported from the config: %s", rep.lines()[-1])

    def start(self) -> None:
        if self.role == "cameras":
            self.notify.spool_maintainer.start()  # event writes survive a database blink; the control side dispatches
            self.maintainer.start()  # the node's own media
        else:
            self.maintainer.start()
            self.notify.start()
            self.ledger.start()
        self.cameras_live = self.role != "control"
        self.apply_inventory()
        self._watch_stop.clear()
        threading.Thread(target=self._watch_inventory, name="inventory-watch", daemon=True).start()

    def _watch_inventory(self) -> None:
        """Changes made by another process (`vigil inventory import`, a second API process) reach the cameras within
        `inventory_poll_s`; the API's own changes are applied at once, after their commit."""
        while not self._watch_stop.wait(self.inventory_poll_s):
            try:
                self.apply_inventory()
            except Exception:  # noqa: BLE001 - a database blink: the next round tries again
                log.warning("reading the inventory failed; the cameras keep running as they are", exc_info=True)

    def apply_inventory(self) -> dict[str, list[str]]:
        """Make the service match the inventory in the database (after a committed change): the in-memory view
        (`cfg.institutions`, `cfg.cameras`, `institutions`, the store's camera -> institution map) at once, and, once
        started, the cameras: which started, stopped, restarted (stream settings changed) or got new zones and rules
        from their next frame (reconfigured)."""
        with self._inventory_lock:
            with self.sessions() as s:
                institutions, cameras = inventory.load(s)
            self.cfg = self.cfg.model_copy(update={"institutions": institutions, "cameras": cameras})
            self.institutions = {i.id: i for i in institutions}
            self.store.institution_of = {c.id: c.institution for c in cameras}
            done: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "reconfigured": []}
            if not self.cameras_live:
                return done
            running, want = dict(self.processors), {c.id: c for c in cameras if c.enabled}
            if self.only is not None:  # a cluster node: a camera held elsewhere is handed over, its events left open
                for cid in [cid for cid in running if cid in want and cid not in self.only]:
                    running.pop(cid).hand_over()
                    self.live.close_camera(cid)
                    done.setdefault("handed_over", []).append(cid)
                want = {cid: c for cid, c in want.items() if cid in self.only}
            retired = [(running.pop(cid), "camera removed or disabled") for cid in list(running) if cid not in want]
            done["stopped"] = [p.camera.id for p, _ in retired]
            if want:
                self._load_models(list(want.values()))
            for cam in want.values():
                proc = running.get(cam.id)
                if proc is not None and proc.camera == cam:
                    continue
                if proc is not None and self._same_stream(proc.camera, cam):
                    proc.reconfigure(cam, self._pipeline(cam))
                    done["reconfigured"].append(cam.id)
                    log.info("camera %s: zones and rules replaced (%d zone(s))", cam.id, len(cam.zones))
                    continue
                if proc is not None:
                    retired.append((proc, "camera stream settings changed"))
                    done["restarted"].append(cam.id)
                else:
                    done["started"].append(cam.id)
                running[cam.id] = self._start_camera(cam)
            self.processors = running
            self._evidence.processors = running
            if self.scheduler is not None:
                self.scheduler.processors = list(running.values())
            elif running:
                det = self.cfg.detector
                self.scheduler = DetectionScheduler(list(running.values()), self.detector, self.fire_detector,
                                                    max_batch=det.max_batch, workers=det.threads or os.cpu_count() or 1,
                                                    wake=self._wake).start()
            for proc, why in retired:
                self.live.close_camera(proc.camera.id)  # its viewers reconnect to the new stream, if any
                proc.retire(why)
                log.info("camera %s stopped: %s", proc.camera.id, why)
            return done

    @staticmethod
    def _same_stream(a: Camera, b: Camera) -> bool:
        """The reader can stay: same source, looping, key-frame decoding and publishing rate."""
        return (a.url, a.loop, a.keyframes_only, a.effective_detect_fps) == \
            (b.url, b.loop, b.keyframes_only, b.effective_detect_fps)

    def _load_models(self, cams: list[Camera]) -> None:
        det = self.cfg.detector
        if self.detector is None and self.role == "cameras" and self.cfg.cluster.inference == "serve":
            from vigil.cluster.serve_detector import RemoteDetector  # the cluster's Serve deployment infers
            self.detector = RemoteDetector(det.imgsz, self.cfg.cluster.jpeg_quality)
        if self.detector is None:
            self.detector = load_detector(resolve_model(det.model), det.imgsz, det.confidence, 1)
        if self.person_detector is None and det.person_model and any(c.people_only for c in cams):
            self.person_detector = load_detector(resolve_model(det.person_model), model_imgsz(det.person_model, det.imgsz),
                                                 det.confidence, 1)
        if self.fire_detector is None and self.fire_path is not None and any(c.has_fire_rule for c in cams):
            self.fire_detector = load_detector(self.fire_path, self.fire_imgsz, det.confidence, 1)
            if self.scheduler is not None:
                self.scheduler.fire_detector = self.fire_detector

    def _pipeline(self, cam: Camera) -> CameraPipeline:
        objects = self.person_detector if self.person_detector is not None and cam.people_only else self.detector
        return CameraPipeline(cam, objects, self.sink, self.fire_detector, self.fire_reason)

    def warm_up(self, cameras: set[str]) -> dict[str, bool]:
        """Cluster node: open the readers of cameras about to move here (make before break: the maintainer lets the
        old node go only once this one has frames), close those no longer coming. Returns camera -> has a frame."""
        with self._inventory_lock:
            for cid in [c for c in self.warm if c not in cameras]:
                self.warm.pop(cid).stop()
            cams = {c.id: c for c in self.cfg.cameras}
            for cid in cameras:
                if cid not in self.warm and cid not in self.processors and cid in cams and self.cameras_live:
                    cam = cams[cid]
                    self.warm[cid] = CameraReader(cam.id, cam.url, self._reader_settings(cam),
                                                  on_clip=self.store.clip_finished).start()
        return self.warm_status()

    def warm_status(self) -> dict[str, bool]:
        """The readers opened ahead of a move: camera -> whether it has a frame yet (make-before-break waits on it)."""
        return {cid: r.last_frame is not None for cid, r in list(self.warm.items())}

    def _start_camera(self, cam: Camera) -> CameraProcessor:
        reader = self.warm.pop(cam.id, None)
        if reader is None or reader.url != cam.url:
            if reader is not None:
                reader.stop()
            reader = CameraReader(cam.id, cam.url, self._reader_settings(cam), on_clip=self.store.clip_finished)
        reader.frames.notify = self._wake
        proc = CameraProcessor(cam, reader, self._pipeline(cam), self.sink, self.tz, self.cfg.detector.still_recheck_s)
        if self.role == "cameras":
            self._take_over(proc)
        log.info("camera %s (%s) started: %s", cam.id, cam.site_kind, redact_url(cam.url))
        return proc.start()

    def _take_over(self, proc: CameraProcessor) -> None:
        """A cluster node starting a camera continues the events its previous node left open (whatever the reason it
        came here: a lost node, a rebalance, a restart of the cluster), and records the gap (CameraProcessor.take_over)."""
        cam = proc.camera
        move = self.handover.pop(cam.id, {})
        last_seen = move.pop("last_seen", None)
        events = self.store.open_events(cam.id)
        for ev in events:  # written with its next update or its end: how many times a node took it over
            ev.detail["taken_over"] = int(ev.detail.get("taken_over", 0)) + 1
        left = proc.take_over(events, last_seen, move)
        for ev in left:  # their rule is no longer configured on the camera
            ev.ended_t, ev.ended_wall = ev.started_t, datetime.now(self.tz)
            ev.detail["end_reason"] = "rule no longer configured when the camera moved"
            self.sink.ended(ev)

    def _reader_settings(self, cam) -> ReaderSettings:
        """Hand frames on at twice the camera's fastest rule rate (at least 4 per second): fine enough for
        the motion gate and for exact 1 Hz / 2 Hz timetables, far below the stream's own rate."""
        publish = max(4.0, 2 * cam.effective_detect_fps)
        clips = self.cfg.storage.clips
        return ReaderSettings(**{**self.reader_settings.__dict__, "loop_files": cam.loop, "publish_fps": publish,
                                 "keyframes_only": cam.keyframes_only,
                                 "clip_ring_s": clips.ring_s if clips.enabled else None})

    def stop(self) -> None:
        self.cameras_live = False
        self._watch_stop.set()
        self.live.close_all()
        self.maintainer.stop()
        if self.role != "cameras":
            self.ledger.stop()
        with self._inventory_lock:  # no apply_inventory half way
            for reader in self.warm.values():
                reader.stop()
            self.warm = {}
            if self.scheduler is not None:
                self.scheduler.stop()
                self.scheduler = None
            for p in self.processors.values():
                p.stop()
            self.processors = {}
            self._evidence.processors = self.processors
        if not self.gate_counts.flush():
            log.error("gate counts: %d crossing(s) could not be written before stopping", self.gate_counts.waiting)
        self.notify.stop()
        self.engine.dispose()

    def camera_info(self, cam_id: str | Camera) -> dict:
        """A camera's status; given the Camera itself, it holds even while apply_inventory swaps the inventory (a
        listing of a camera removed meanwhile shows it as it was, instead of failing)."""
        cam = cam_id if isinstance(cam_id, Camera) else self.cfg.camera(cam_id)
        inst = self.institutions.get(cam.institution)
        proc = self.processors.get(cam.id)
        status = proc.status() if proc else {"status": "disabled" if not cam.enabled else "stopped", "fps": 0.0,
                                             "last_frame_at": None, "detect_hz": 0.0, "reconnects": 0, "last_error": None,
                                             "lag_s": 0.0, "dropped_frames": 0}
        if proc is None and self.role == "control" and cam.enabled:  # cluster mode: as its node last reported it
            status.update(self._cluster_holders().get(cam.id, {"status": "unplaced", "node": None}))
        runs = {m["purpose"]: m["used"] for m in self.model_status()} if proc else {}
        models = {"objects": runs.get("objects"), "fire": runs.get("fire") if cam.has_fire_rule else None} if proc else {}
        return {
            "id": cam.id, "name": cam.name, "institution_id": cam.institution,
            "institution_name": inst.name if inst else None, "region": inst.region if inst else None, "site_kind": cam.site_kind, "url": redact_url(cam.url), "detect_fps": cam.detect_fps,
            "enabled": cam.enabled, "zones": [z.name for z in cam.zones], "models": models, **status,
        }

    def _cluster_holders(self) -> dict[str, dict]:
        """Cluster mode: each camera's node and status from the maintainer's record, read at most every 2 s."""
        import time

        cached = getattr(self, "_holders", None)
        if cached is not None and time.monotonic() - cached[0] < 2.0:
            return cached[1]
        from sqlalchemy import select

        from vigil.api.db_cluster import CameraHolderRow

        with self.sessions() as s:
            rows = s.scalars(select(CameraHolderRow)).all()
            out = {r.camera_id: {"status": r.status or ("starting" if r.node else "unplaced"), "node": r.node,
                                 "lag_s": r.lag_s or 0.0, "detect_hz": r.detect_hz or 0.0,
                                 "last_frame_at": r.last_frame_at.timestamp() if r.last_frame_at else None}
                   for r in rows}
        self._holders = (time.monotonic(), out)
        return out

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
