"""Open flame and smoke: per-class thresholds, minimum box size and k-of-n frame confirmation.
The rule needs a fire/smoke model (detector.fire_model); without one it reports itself disabled."""
from __future__ import annotations

from collections import deque

import numpy as np

from vigil.config import FireSmokeRule
from vigil.vision.detections import Detections
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule


class FireSmoke(ZoneRule):
    type = "fire_smoke"
    params: FireSmokeRule

    def __init__(self, params, zone_name, polygon, model_available: bool = False):
        super().__init__(params, zone_name, polygon)
        self.model_available = model_available
        self._window: deque[bool] = deque(maxlen=params.n)

    on_s = 0.0  # confirmation is the k-of-n window

    @property
    def off_s(self) -> float:  # type: ignore[override]
        return self.params.clear_s

    @property
    def disabled_reason(self) -> str | None:
        if not self.model_available:
            return "no fire/smoke model configured (set detector.fire_model)"
        return super().disabled_reason

    def candidates(self, ctx: FrameContext) -> Detections:
        if ctx.fire is None or not len(ctx.fire):
            return Detections.empty()
        p = self.params
        d = ctx.fire
        names = np.array(d.class_names)
        thr = np.where(names == "smoke", p.smoke_confidence, p.fire_confidence)
        h, w = ctx.image.shape[:2]
        keep = (d.confidence >= thr) & (d.area >= p.min_box_ratio * w * h) & np.isin(names, ["fire", "smoke", "flame"])
        d = d[keep]
        return self.zone(ctx.image).select(d, 0.3)

    def observe(self, ctx: FrameContext) -> Observation:
        hits = self.candidates(ctx)
        self._window.append(len(hits) > 0)
        confirmed = sum(self._window) >= self.params.k
        return Observation(confirmed, hits.max_confidence(), hits, None,
                           {"window": f"{sum(self._window)}/{len(self._window)}", "fire": hits.to_list()})
