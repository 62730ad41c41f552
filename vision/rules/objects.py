"""Rules about objects standing in a zone: blocked exits and e-bikes indoors.

Both measure the dwell per object: an object counts once it has stood in the same place for
`dwell_s` (a person carrying a bag or riding a bike through does not)."""
from __future__ import annotations

import numpy as np

from vigil.config import BlockedExitRule, EbikeIndoorRule
from vigil.vision.detections import Detections
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule
from vigil.vision.tracking import StationaryObjects


def _inside_any(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if not len(points) or not len(boxes):
        return np.zeros(len(points), bool)
    x, y = points[:, 0:1], points[:, 1:2]
    return ((x >= boxes[None, :, 0]) & (x <= boxes[None, :, 2]) & (y >= boxes[None, :, 1]) & (y <= boxes[None, :, 3])).any(1)


class _StandingObjects(ZoneRule):
    """Shared part: objects of some classes, in the zone, stationary for dwell_s."""

    on_s = 0.0  # the dwell is measured per object

    def __init__(self, params, zone_name, polygon):
        super().__init__(params, zone_name, polygon)
        self.memory = StationaryObjects(grace_s=max(params.grace_s, 0.0))

    @property
    def off_s(self) -> float:  # type: ignore[override]
        return self.params.clear_s

    def candidates(self, ctx: FrameContext) -> Detections:
        p = self.params
        return self.zone(ctx.image).select(ctx.detections.of_classes(p.classes).above(p.min_confidence), p.min_overlap)

    def standing(self, ctx: FrameContext) -> Detections:
        self.memory.update(self.candidates(ctx), ctx.t)
        return self.memory.persistent(ctx.t, self.params.dwell_s, ctx.detections.names)


class BlockedExit(_StandingObjects):
    """(a) a COCO obstacle (chair, bed, suitcase, bicycle, ...) standing in the exit zone for dwell_s, or
    (b) class-agnostic: foreground that has stood still for dwell_s (people excluded) covering at least
    area_ratio of the zone."""

    type = "blocked_exit"
    params: BlockedExitRule

    def candidates(self, ctx: FrameContext) -> Detections:
        objs = super().candidates(ctx)
        carried = np.isin(objs.class_names, self.params.carried_classes) if len(objs) else np.zeros(0, bool)
        if carried.any() and len(ctx.persons):
            centres = np.stack([(objs.xyxy[:, 0] + objs.xyxy[:, 2]) / 2, (objs.xyxy[:, 1] + objs.xyxy[:, 3]) / 2], 1)
            objs = objs[~(carried & _inside_any(centres, ctx.persons.xyxy))]
        return objs

    def observe(self, ctx: FrameContext) -> Observation:
        p = self.params
        objs = self.standing(ctx)
        conf = objs.max_confidence()
        detail: dict = {"objects": objs.to_list()}
        mask = None
        if p.area_ratio is not None and ctx.background is not None:
            m = ctx.background.stationary_mask(ctx.t, p.dwell_s)
            if m is not None:
                ratio = self.zone(ctx.image).covered_ratio(m)
                detail["covered_ratio"] = round(ratio, 3)
                if ratio >= p.area_ratio:
                    mask, conf = m, max(conf, min(1.0, ratio))
        active = len(objs) > 0 or mask is not None
        if active:
            detail["reason"] = "+".join(r for r, on in (("object", len(objs) > 0), ("stationary_foreground", mask is not None)) if on)
        return Observation(active, conf, objs, mask, detail)


class EbikeIndoor(_StandingObjects):
    """A bicycle / motorcycle (e-bike) parked in an indoor passage zone for dwell_s."""

    type = "ebike_indoor"
    params: EbikeIndoorRule

    def observe(self, ctx: FrameContext) -> Observation:
        vehicles = self.standing(ctx)
        return Observation(len(vehicles) > 0, vehicles.max_confidence(), vehicles, None, {"vehicles": vehicles.to_list()})
