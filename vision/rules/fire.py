"""Open flame and smoke: per-class thresholds, minimum box size, a temporal check and k-of-n frame
confirmation. The rule needs a fire/smoke model (detector.fire_model); without one it reports itself
disabled.

The temporal check is what separates a flame from a red fire extinguisher, an orange lamp, a patch of
evening sun or a poster of a fire: inside a real flame or smoke plume the picture changes from one
detection frame to the next (flicker, drift). A box counts only if at least `min_motion` of its pixels
changed by more than `motion_level` grey levels since the previous detection frame.

The person check drops smoke boxes that mostly lie on a detected person: a grey jacket or a pale
uniform is what a smoke model most often mistakes for smoke (it moves, so the temporal check passes it).
Flame boxes are never dropped: a person on fire is a fire."""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from vigil.rules_config import FireSmokeRule
from vigil.vision.boxes import covered_share
from vigil.vision.detections import Detections
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule

MOTION_WIDTH = 320  # the temporal check works on a grey copy this wide


class FlickerMeter:
    """Share of changed pixels inside boxes between consecutive frames (one grey copy kept).

    One per camera, fed every frame the fire model ran on, shared by all the camera's fire rules (each
    zone asks with its own `motion_level`), so the frame difference is made once per frame."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._diff: np.ndarray | None = None
        self._scale = 1.0

    def update(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self._scale = min(1.0, MOTION_WIDTH / w)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if self._scale < 1.0:
            grey = cv2.resize(grey, (int(round(w * self._scale)), int(round(h * self._scale))), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(grey, (3, 3), 0)
        self._diff = None if self._prev is None or self._prev.shape != grey.shape else cv2.absdiff(grey, self._prev)
        self._prev = grey

    def motion(self, xyxy: np.ndarray, level: int) -> np.ndarray:
        """Per box: share of pixels whose grey level changed by more than `level` (NaN when there is no
        previous frame yet)."""
        out = np.full(len(xyxy), np.nan, np.float32)
        if self._diff is None or not len(xyxy):
            return out
        changed = self._diff > level
        hh, ww = changed.shape
        for i, (x0, y0, x1, y1) in enumerate(np.asarray(xyxy, np.float64) * self._scale):
            a, b = int(np.clip(np.floor(x0), 0, ww - 1)), int(np.clip(np.ceil(x1), 1, ww))
            c, d = int(np.clip(np.floor(y0), 0, hh - 1)), int(np.clip(np.ceil(y1), 1, hh))
            patch = changed[c:max(d, c + 1), a:max(b, a + 1)]
            out[i] = float(patch.mean()) if patch.size else 0.0
        return out


class FireSmoke(ZoneRule):
    type = "fire_smoke"
    params: FireSmokeRule

    def __init__(self, params, zone_name, polygon, model_available: bool = False, unavailable_reason: str | None = None):
        super().__init__(params, zone_name, polygon)
        self.model_available = model_available
        self.unavailable_reason = unavailable_reason or "no fire/smoke model configured (set detector.fire_model)"
        self._window: deque[bool] = deque(maxlen=params.n)
        self._own_flicker: FlickerMeter | None = None  # when the context brings none (a rule used on its own)
        self.rejected_static = 0  # boxes the temporal check turned down (for tuning and tests)
        self.rejected_person = 0  # smoke boxes the person check turned down

    on_s = 0.0  # confirmation is the k-of-n window

    @property
    def off_s(self) -> float:  # type: ignore[override]
        return self.params.clear_s

    @property
    def disabled_reason(self) -> str | None:
        if not self.model_available:
            return self.unavailable_reason
        return super().disabled_reason

    def candidates(self, ctx: FrameContext, meter: FlickerMeter) -> tuple[Detections, np.ndarray]:
        """Boxes that pass thresholds, size and zone, with their motion share (from `meter`, fed this frame)."""
        if ctx.fire is None or not len(ctx.fire):
            return Detections.empty(), np.zeros(0, np.float32)
        p = self.params
        d = ctx.fire
        names = np.array(d.class_names)
        thr = np.where(names == "smoke", p.smoke_confidence, p.fire_confidence)
        h, w = ctx.image.shape[:2]
        keep = (d.confidence >= thr) & (d.area >= p.min_box_ratio * w * h) & np.isin(names, ["fire", "smoke", "flame"])
        d = self.without_persons(ctx, self.zone(ctx.image).select(d[keep], 0.3))
        return d, meter.motion(d.xyxy, p.motion_level)

    def wants_persons(self, fire: Detections) -> bool:
        p = self.params
        if p.person_overlap is None or not len(fire):
            return False
        smoke = fire.of_classes(["smoke"])
        return bool(len(smoke)) and float(smoke.confidence.max()) >= p.smoke_confidence

    def without_persons(self, ctx: FrameContext, d: Detections) -> Detections:
        """`d` less the smoke boxes a person detected on this same frame covers by `person_overlap` or more
        (persons remembered from an earlier frame are not trusted: without fresh ones nothing is dropped; the
        pipeline provides them whenever `wants_persons`)."""
        p = self.params
        if p.person_overlap is None or not ctx.objects_fresh or not len(d):
            return d
        smoke = np.array(d.class_names) == "smoke"
        if not smoke.any():
            return d
        persons = ctx.persons.above(p.person_confidence)
        drop = smoke & (covered_share(d.xyxy, persons.xyxy) >= p.person_overlap)
        self.rejected_person += int(drop.sum())
        return d[~drop]

    def _flicker(self, ctx: FrameContext) -> FlickerMeter:
        if ctx.flicker is not None:
            return ctx.flicker  # the pipeline's, already fed this frame
        if self._own_flicker is None:
            self._own_flicker = FlickerMeter()
        self._own_flicker.update(ctx.image)
        return self._own_flicker

    def observe(self, ctx: FrameContext) -> Observation:
        boxes, motion = self.candidates(ctx, self._flicker(ctx))
        if self.params.min_motion is not None and len(boxes):
            moving = np.nan_to_num(motion, nan=0.0) >= self.params.min_motion
            self.rejected_static += int((~moving).sum())
            hits = boxes[moving]
        else:
            hits = boxes
        self._window.append(len(hits) > 0)
        confirmed = sum(self._window) >= self.params.k
        return Observation(confirmed, hits.max_confidence(), hits, None,
                           {"window": f"{sum(self._window)}/{len(self._window)}", "fire": hits.to_list(),
                            "motion": [round(float(m), 3) for m in np.nan_to_num(motion, nan=-1.0)]})
