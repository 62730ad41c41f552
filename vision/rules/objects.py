"""Rules about objects standing in a zone: blocked exits and e-bikes indoors.

Both measure the dwell per object: an object counts once it has stood in the same place for
`dwell_s` (a person carrying a bag or riding a bike through does not)."""
from __future__ import annotations

import cv2
import numpy as np

from vigil.rules_config import BlockedExitRule, EbikeIndoorRule
from vigil.vision.detections import Detections
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule
from vigil.vision.tracking import StationaryObjects
from vigil.vision.vocabulary import vigil_name


def _inside_any(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if not len(points) or not len(boxes):
        return np.zeros(len(points), bool)
    x, y = points[:, 0:1], points[:, 1:2]
    return ((x >= boxes[None, :, 0]) & (x <= boxes[None, :, 2]) & (y >= boxes[None, :, 1]) & (y <= boxes[None, :, 3])).any(1)


LEFT_OBJECT = {0: "left object"}  # the class name of a class-agnostic left object in evidence and detail


def left_objects(stationary: np.ndarray, zone: np.ndarray, min_ratio: float,
                 frame_size: tuple[int, int]) -> tuple[Detections, np.ndarray]:
    """The stationary objects in a zone: connected patches of the stationary mask inside the zone mask (both at
    the mask's resolution) of at least `min_ratio` of the frame's area, as boxes in frame pixels (score: the
    share of its box the patch fills), and the mask of those patches. People never make such patches: the
    stationary mask leaves out what person boxes cover (see `StationaryForeground`)."""
    inside = ((stationary > 0) & (zone > 0)).astype(np.uint8)
    mh, mw = inside.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    fx, fy = frame_size[0] / mw, frame_size[1] / mh
    boxes, scores, keep = [], [], np.zeros_like(inside)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_ratio * mw * mh:
            continue
        boxes.append([x * fx, y * fy, (x + w) * fx, (y + h) * fy])
        scores.append(area / (w * h))
        keep[labels == i] = 1
    if not boxes:
        return Detections.empty(LEFT_OBJECT), keep
    return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.zeros(len(boxes), np.int32), LEFT_OBJECT), keep


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
        return self.memory.persistent(ctx.t, self.params.dwell_s * self.dwell_scale(ctx.wall), ctx.detections.names)


class BlockedExit(_StandingObjects):
    """(a) a COCO obstacle (chair, bed, suitcase, bicycle, ...) standing in the exit zone for dwell_s, or
    class-agnostic, from foreground that has stood still for dwell_s (people excluded): (b) covering at least
    area_ratio of the zone, or (c) one left object (a connected patch of it, such as a bag) of at least
    min_object_ratio of the frame, reported with its box."""

    type = "blocked_exit"
    params: BlockedExitRule

    def candidates(self, ctx: FrameContext) -> Detections:
        objs = super().candidates(ctx)
        carried = (np.isin([vigil_name(n) for n in objs.class_names], self.params.carried_classes) if len(objs)
                   else np.zeros(0, bool))
        if carried.any() and len(ctx.persons):
            centres = np.stack([(objs.xyxy[:, 0] + objs.xyxy[:, 2]) / 2, (objs.xyxy[:, 1] + objs.xyxy[:, 3]) / 2], 1)
            objs = objs[~(carried & _inside_any(centres, ctx.persons.xyxy))]
        return objs

    def observe(self, ctx: FrameContext) -> Observation:
        p = self.params
        objs = self.standing(ctx)
        conf = objs.max_confidence()
        detail: dict = {"objects": objs.to_list()}
        mask, covered = None, False
        left = Detections.empty(LEFT_OBJECT)
        m = None
        if (p.area_ratio is not None or p.min_object_ratio is not None) and ctx.background is not None:
            m = ctx.background.stationary_mask(ctx.t, p.dwell_s * self.dwell_scale(ctx.wall))
        if m is not None and p.area_ratio is not None:
            ratio = self.zone(ctx.image).covered_ratio(m)
            detail["covered_ratio"] = round(ratio, 3)
            if ratio >= p.area_ratio:
                covered, mask, conf = True, m, max(conf, min(1.0, ratio))
        if m is not None and p.min_object_ratio is not None:
            left, patches = left_objects(m, self._zone_mask(ctx.image, m.shape), p.min_object_ratio,
                                         (ctx.image.shape[1], ctx.image.shape[0]))
            if len(left):
                detail["left_objects"] = [{"box": o["box"], "fill": o["confidence"]} for o in left.to_list()]
                conf = max(conf, left.max_confidence())
                mask = patches if mask is None else mask
        reasons = [r for r, on in (("object", len(objs) > 0), ("stationary_foreground", covered), ("left_object", len(left) > 0)) if on]
        if reasons:
            detail["reason"] = "+".join(reasons)
        return Observation(bool(reasons), conf, objs.merge(left) if len(left) else objs, mask, detail)

    def _zone_mask(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The zone as a mask at the stationary mask's resolution."""
        cached = getattr(self, "_zone_small", None)
        if cached is None or cached[0] != (image.shape[:2], shape):
            small = cv2.resize(self.zone(image).mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
            self._zone_small = cached = ((image.shape[:2], shape), small)
        return cached[1]


class EbikeIndoor(_StandingObjects):
    """A bicycle / motorcycle (e-bike) parked in an indoor passage zone for dwell_s."""

    type = "ebike_indoor"
    params: EbikeIndoorRule

    def observe(self, ctx: FrameContext) -> Observation:
        vehicles = self.standing(ctx)
        return Observation(len(vehicles) > 0, vehicles.max_confidence(), vehicles, None, {"vehicles": vehicles.to_list()})
