"""`CameraPipeline`: one camera's sampled frames -> detections -> rules -> events (to a sink).

It knows nothing about where frames come from (live reader or replayed file) nor where events go."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from vigil.config import Camera
from vigil.vision.annotate import annotate, encode_jpeg
from vigil.vision.background import StationaryForeground
from vigil.vision.detector import Detector
from vigil.vision.detections import Detections
from vigil.vision.events import Crossing, EventRecord, EventSink
from vigil.vision.rules import ConditionTimer, FrameContext, ZoneRule, build_rules
from vigil.vision.rules.fire import FlickerMeter
from vigil.vision.vocabulary import rule_zh

log = logging.getLogger("vigil.vision")


@dataclass
class RuleMonitor:
    rule: ZoneRule
    timer: ConditionTimer
    event: EventRecord | None = None
    armed: bool = True


class CameraPipeline:
    def __init__(self, camera: Camera, detector: Detector, sink: EventSink, fire_detector: Detector | None = None,
                 fire_reason: str | None = None):
        self.camera = camera
        self.detector = detector
        self.fire_detector = fire_detector
        self.sink = sink
        self.monitors = [RuleMonitor(r, ConditionTimer(r.on_s, r.off_s, r.grace_s))
                         for r in build_rules(camera, fire_detector is not None, fire_reason)]
        needs_bg = any(m.rule.type == "blocked_exit" and (m.rule.params.area_ratio is not None or m.rule.params.min_object_ratio is not None)
                       for m in self.monitors)
        self.background = StationaryForeground() if needs_bg else None
        self.needs_fire = fire_detector is not None and any(
            m.rule.type == "fire_smoke" and m.rule.disabled_reason is None for m in self.monitors)
        # the object model serves every rule but fire_smoke: a fire-only camera never runs it
        self.needs_objects = any(m.rule.type != "fire_smoke" and m.rule.disabled_reason is None for m in self.monitors)
        # one frame difference per camera for the temporal check of all its fire rules
        self.flicker = FlickerMeter() if self.needs_fire else None
        self.frames_processed = 0
        self.person_checks = 0  # object-model runs a person check asked for (see wants_persons)
        self.last_detections = None

    def wants_persons(self, fire: Detections | None) -> bool:
        """Whether a rule needs this frame's own persons, given its fire detections (the fire rule's person
        check): the object model must then run on the frame before the rules, also on a fire-only camera.
        `process` runs it inline when it did not; the scheduler sends such a frame out for it first."""
        return fire is not None and any(m.rule.disabled_reason is None and m.rule.wants_persons(fire) for m in self.monitors)

    # -- per frame -------------------------------------------------------------------------
    def process(self, image: np.ndarray, t: float, wall: datetime, *, precomputed: bool = False,
                objects: Detections | None = None, fire: Detections | None = None,
                objects_fresh: bool = False) -> list[EventRecord]:
        """Run every rule on one sampled frame; returns events started or ended.

        By default the detectors run here. A scheduler that batches detection across cameras passes
        `precomputed=True` with `objects` (fresh or remembered from the last run on a still scene; say which
        with `objects_fresh`) and `fire` (None when the fire model did not run on this frame: fire rules
        then skip the frame). A frame whose smoke wants a person check (`wants_persons`) and has no fresh
        object detections gets them here."""
        if not precomputed:
            objects = self.detector.detect(image) if self.needs_objects else None
            fire = self.fire_detector.detect(image) if self.needs_fire else None
            objects_fresh = objects is not None
        if not objects_fresh and self.wants_persons(fire):
            objects, objects_fresh = self.detector.detect(image), True
            self.person_checks += 1
        dets = objects if objects is not None else Detections.empty(getattr(self.detector, "names", None))
        flicker = None
        if self.flicker is not None and fire is not None:
            self.flicker.update(image)
            flicker = self.flicker
        ctx = FrameContext(self.camera.id, self.camera.site_kind, image, t, wall, dets, fire, self.background,
                           flicker=flicker, objects_fresh=objects_fresh)
        if self.background is not None:
            self.background.update(image, t, ctx.persons)
        self.frames_processed += 1
        self.last_detections = dets
        changed: list[EventRecord] = []
        for m in self.monitors:
            if m.rule.disabled_reason is not None:
                continue
            m.armed = m.rule.armed(wall)
            m.timer.on_s = m.rule.on_s * m.rule.dwell_scale(wall)  # shorter inside a heightened-alert period
            if not m.armed:
                if m.event is not None:
                    changed.append(self._end(m, t, wall, reason="disarmed by schedule"))
                m.timer.reset()
                m.rule.reset()
                continue
            if m.rule.type == "fire_smoke" and fire is None:
                continue  # the fire model did not run on this frame: nothing new to judge
            obs = m.rule.observe(ctx)
            self._record(m.rule.take_counts())
            change = m.timer.update(t, obs.active)
            if change == "start":
                ev = EventRecord(self.camera.id, m.rule.zone_name, m.rule.type, t, wall, round(float(obs.confidence), 4),
                                 m.rule.params_dict(),
                                 # a rule that debounces itself says since when its condition holds
                                 {"condition_since_s": m.timer.condition_since, **obs.detail})
                m.event = ev
                self.sink.started(ev, self._snapshot(m, image, obs))
                changed.append(ev)
                log.info("event start camera=%s zone=%s rule=%s t=%.1f conf=%.2f", ev.camera_id, ev.zone, ev.rule, t, ev.peak_confidence)
            elif change == "end" and m.event is not None:
                changed.append(self._end(m, t, wall))
            elif m.event is not None and obs.active and (obs.confidence > m.event.peak_confidence + 1e-6 or obs.news):
                m.event.peak_confidence = max(m.event.peak_confidence, round(float(obs.confidence), 4))
                m.event.detail.update(obs.detail)
                self.sink.updated(m.event, self._snapshot(m, image, obs))
        return changed

    def _record(self, crossings: list[Crossing]) -> None:
        """Hand a gate rule's crossings to the sink, when it records them (the rule keeps the totals)."""
        record = getattr(self.sink, "crossed", None)
        if record is not None:
            for c in crossings:
                record(c)

    def adopt(self, events: list[EventRecord]) -> list[EventRecord]:
        """Continue events another node opened for this camera (it moved here): each goes to the monitor of its zone and
        rule, which updates and ends it as its own; returns those no monitor takes (their rule is gone or disabled)."""
        left = []
        for ev in events:
            m = next((m for m in self.monitors if m.event is None and m.rule.disabled_reason is None
                      and (m.rule.zone_name, m.rule.type) == (ev.zone, ev.rule)), None)
            if m is None:
                left.append(ev)
                continue
            m.event = ev
            m.timer.resume_active()
            log.info("event adopted camera=%s zone=%s rule=%s id=%s", ev.camera_id, ev.zone, ev.rule, ev.id)
        return left

    def close_events(self, t: float, wall: datetime, reason: str) -> list[EventRecord]:
        """End every open event (the camera was reconfigured or removed: these rules stop watching)."""
        return [self._end(m, t, wall, reason) for m in self.monitors if m.event is not None]

    def _end(self, m: RuleMonitor, t: float, wall: datetime, reason: str = "cleared") -> EventRecord:
        ev = m.event
        assert ev is not None
        ev.ended_t, ev.ended_wall = t, wall
        ev.detail["end_reason"] = reason
        m.event = None
        self.sink.ended(ev)
        log.info("event end camera=%s zone=%s rule=%s t=%.1f (%s)", ev.camera_id, ev.zone, ev.rule, t, reason)
        return ev

    def _snapshot(self, m: RuleMonitor, image: np.ndarray, obs) -> bytes:
        zone = m.rule.zone(image)
        # read by Chinese reviewers and printed into bulletins: the rule's and the camera's names, not their codes
        title = f"{rule_zh(m.rule.type)} | {self.camera.name} | {m.rule.zone_name} | 置信度 {obs.confidence:.2f}"
        return encode_jpeg(annotate(image, polygon_px=zone.points, rule=m.rule.type, title=title, boxes=obs.evidence, mask=obs.mask))

    # -- status ------------------------------------------------------------------------------
    def rule_status(self) -> list[dict[str, Any]]:
        out = []
        for m in self.monitors:
            reason = m.rule.disabled_reason
            status = "disabled" if reason else ("unarmed" if not m.armed else ("alarm" if m.event else "ok"))
            out.append({"camera_id": self.camera.id, "zone": m.rule.zone_name, "rule": m.rule.type, "status": status,
                        "reason": reason, "open_event_id": m.event.id if m.event else None})
        return out
