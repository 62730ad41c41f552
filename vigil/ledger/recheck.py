"""The camera checks the fix: when a camera-found hazard is submitted as rectified, fresh frames of that camera are
taken over a short window (`hazards.recheck`), the same rule is run on the same zone, and the verdict
(`clear` / `still_present`, or `unavailable` when the camera gives too few frames) is attached to the hazard with
an annotated picture.

The rule is the zone's own rule with its parameters, built afresh for the window, with its time thresholds taken
out: the re-check asks "is it there now?", not "has it been there for dwell_s?" (a 30 s dwell cannot be seen in a
12 s window). Schedules are ignored (a fix is checked at any hour). The class-agnostic part of blocked_exit reads
the live pipeline's background model (what has stood still in the zone), which only the live pipeline updates.
A frame counts as "present" when the rule's condition holds on it; the verdict is `still_present` when at least
`present_ratio` of the frames do.

`RecheckProcessor` runs the re-checks one at a time on a worker thread (`submit`), or inline (`run`, tests)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update

from vigil.api.db_ledger import HazardRow
from vigil.ledger.hazards import Actor, announce, history
from vigil.ledger.photos import store_photo
from vigil.vision.annotate import annotate, encode_jpeg
from vigil.vision.detections import Detections
from vigil.vision.rules import FrameContext, build_rules
from vigil.vision.rules.fire import FlickerMeter

log = logging.getLogger("vigil.ledger")
ACTOR = Actor(name="camera")
# restore_s 0: unattended_room keeps its own clocks; with no absence and no restore time it judges each frame alone
INSTANT = {"dwell_s": 0.0, "absence_s": 0.0, "restore_s": 0.0, "grace_s": 0.0, "schedule": None, "enabled": True}


@dataclass
class RecheckResult:
    verdict: str  # clear | still_present | unavailable
    frames: int = 0
    present: int = 0
    reason: str | None = None
    picture: bytes | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_detail(self) -> dict[str, Any]:
        ratio = round(self.present / self.frames, 3) if self.frames else None
        return {"verdict": self.verdict, "frames": self.frames, "present_frames": self.present, "ratio": ratio,
                "reason": self.reason, **self.detail}


class RecheckProcessor:
    def __init__(self, rt):
        self.rt = rt
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.done = 0

    # -- running ---------------------------------------------------------------------------
    def start(self) -> "RecheckProcessor":
        self._thread = threading.Thread(target=self._loop, name="hazard-recheck", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(self.rt.cfg.hazards.recheck.window_s + 15)
            self._thread = None

    def submit(self, hazard_id: int) -> None:
        if self._thread is None:
            self.start()
        self._queue.put(hazard_id)

    def _loop(self) -> None:
        while True:
            hid = self._queue.get()
            if hid is None:
                return
            try:
                self.run(hid)
            except Exception:  # noqa: BLE001 - one failed re-check must not stop the next
                log.exception("re-check of hazard %s failed", hid)
                self._record(hid, RecheckResult("unavailable", reason="the re-check failed (see the service log)"))

    def run(self, hazard_id: int) -> RecheckResult:
        """Watch the hazard's camera now and record the verdict on the hazard (when it still waits for one)."""
        with self.rt.sessions() as s:
            h = s.get(HazardRow, hazard_id)
            if h is None or not h.camera_id or not h.rule:
                return RecheckResult("unavailable", reason="not a camera-found hazard")
            camera_id, zone, rule = h.camera_id, h.zone, h.rule
        result = self.observe(camera_id, zone, rule)
        self._record(hazard_id, result)
        self.done += 1
        return result

    # -- looking -----------------------------------------------------------------------------
    def observe(self, camera_id: str, zone: str | None, rule_type: str) -> RecheckResult:
        cfg = self.rt.cfg.hazards.recheck
        proc = self.rt.processors.get(camera_id)
        if proc is None:
            return RecheckResult("unavailable", reason=f"camera {camera_id} is not running (removed or disabled)")
        cam = proc.camera
        zones = [z for z in cam.zones if z.name == zone]
        if not zones:
            return RecheckResult("unavailable", reason=f"camera {camera_id} has no zone '{zone}' any more")
        rules = [r for r in zones[0].rules if r.type == rule_type]
        if not rules:
            return RecheckResult("unavailable", reason=f"zone '{zone}' has no {rule_type} rule any more")
        params = rules[0].model_copy(update={k: v for k, v in INSTANT.items() if k in type(rules[0]).model_fields})
        one = cam.model_copy(update={"zones": [zones[0].model_copy(update={"rules": [params]})]})
        fire_det = self.rt.fire_detector
        built = build_rules(one, fire_det is not None, self.rt.fire_reason)
        rule = built[0]
        if rule.disabled_reason is not None:
            return RecheckResult("unavailable", reason=f"the rule cannot run: {rule.disabled_reason}")
        frames = self._frames(proc, cfg.window_s, cfg.sample_fps)
        if len(frames) < cfg.min_frames:
            return RecheckResult("unavailable", frames=len(frames),
                                 reason=f"only {len(frames)} fresh frame(s) in {cfg.window_s:g} s (camera offline?)")
        flicker = FlickerMeter() if rule_type == "fire_smoke" else None
        background = getattr(proc.pipeline, "background", None)
        present, best, last = 0, None, None
        for fr in frames:
            image = fr.image
            fire = fire_det.detect(image) if rule_type == "fire_smoke" else None
            objects = self.rt.detector.detect(image) if rule_type != "fire_smoke" or rule.wants_persons(fire) \
                else Detections.empty(getattr(self.rt.detector, "names", None))
            if flicker is not None:
                flicker.update(image)
            ctx = FrameContext(cam.id, cam.site_kind, image, fr.pts_s, datetime.fromtimestamp(fr.wall, self.rt.tz),
                               objects, fire, background, flicker=flicker, objects_fresh=True)
            obs = rule.observe(ctx)
            last = (image, obs)
            if obs.active:
                present += 1
                if best is None or obs.confidence >= best[1].confidence:
                    best = (image, obs)
        verdict = "still_present" if present >= cfg.present_ratio * len(frames) else "clear"
        image, obs = best if (verdict == "still_present" and best is not None) else last
        label = "复查：隐患仍在" if verdict == "still_present" else "复查：已消除"
        title = f"{label} | {cam.name} | {zone} | {present}/{len(frames)}"
        picture = encode_jpeg(annotate(image, polygon_px=rule.zone(image).points, rule=rule_type, title=title,
                                       boxes=obs.evidence if verdict == "still_present" else None,
                                       mask=obs.mask if verdict == "still_present" else None))
        detail = {"window_s": cfg.window_s, "present_ratio": cfg.present_ratio, "zone": zone, "rule": rule_type,
                  "objects": obs.detail.get("objects") if verdict == "still_present" else None}
        return RecheckResult(verdict, len(frames), present, None, picture, detail)

    @staticmethod
    def _frames(proc, window_s: float, fps: float) -> list:
        """Distinct fresh frames from the camera's reader over the window (at most `fps` a second)."""
        out, seen = [], set()
        end = time.monotonic() + window_s
        start_wall = time.time()
        while time.monotonic() < end:
            fr = proc.reader.last_frame
            if fr is not None and fr.wall >= start_wall - 1.0 and fr.pts_s not in seen:
                seen.add(fr.pts_s)
                out.append(fr)
            time.sleep(1.0 / fps)
        return out

    # -- recording ---------------------------------------------------------------------------
    def _record(self, hazard_id: int, result: RecheckResult) -> None:
        rt = self.rt
        now = rt.clock.now()
        with rt.sessions() as s:
            res = s.execute(update(HazardRow).where(HazardRow.id == hazard_id, HazardRow.state == "submitted",
                                                    HazardRow.recheck_status == "pending")
                            .values(recheck_status=result.verdict, recheck_at=now, recheck_detail=result.as_detail(),
                                    updated_at=now).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                s.rollback()
                log.info("re-check of hazard %d: %s, but the hazard no longer waits for it", hazard_id, result.verdict)
                return
            h = s.get(HazardRow, hazard_id)
            s.refresh(h)
            data = result.as_detail()
            if result.picture is not None:
                photo = store_photo(s, rt.store.media_dir, now, data=result.picture, kind="recheck",
                                    uploaded_by="camera", hazard_id=hazard_id,
                                    max_bytes=max(rt.cfg.hazards.uploads.max_bytes, len(result.picture)))
                data["photo_id"] = photo.id
                h.recheck_detail = dict(data)
            region = rt.regions_by_institution().get(h.institution_id)
            history(s, h, ACTOR, "recheck", now, note={"clear": "摄像头复查：隐患已消除",
                                                       "still_present": "摄像头复查：隐患仍在",
                                                       "unavailable": "摄像头复查无法完成"}[result.verdict],
                    data=data)
            announce(s, h, "hazard.changed", region, change="recheck", recheck_status=result.verdict)
            s.commit()
        log.info("re-check of hazard %d: %s (%d/%d frames)", hazard_id, result.verdict, result.present, result.frames)

