"""Rule building blocks: the per-frame context, a rule's observation, and the timer that turns a
flickering per-frame condition into one event with dwell (on) and clear (off) times."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from vigil.vision.background import StationaryForeground
from vigil.vision.detections import Detections
from vigil.vision.zones import ZoneGeometry

if TYPE_CHECKING:
    from vigil.vision.rules.fire import FlickerMeter


@dataclass
class FrameContext:
    """Everything a rule may look at for one sampled frame."""

    camera_id: str
    site_kind: str
    image: np.ndarray
    t: float  # stream clock, seconds
    wall: datetime  # local wall time, for schedules
    detections: Detections  # object model (COCO)
    fire: Detections | None = None  # fire/smoke model, when configured
    background: StationaryForeground | None = None
    persons: Detections | None = None
    flicker: FlickerMeter | None = None  # the camera's frame difference, fed this frame, when the fire model ran
    # the object model ran on this very frame (`detections` are not remembered from an earlier one)
    objects_fresh: bool = False

    def __post_init__(self) -> None:
        if self.persons is None:
            self.persons = self.detections.of_classes(["person"])


@dataclass
class Observation:
    """The raw condition of one rule on one frame."""

    active: bool
    confidence: float = 0.0
    evidence: Detections | None = None
    mask: np.ndarray | None = None  # optional evidence mask (any resolution)
    detail: dict[str, Any] = field(default_factory=dict)
    news: bool = False  # something the open event should record changed (its detail), whatever the confidence


class ConditionTimer:
    """Debounces a per-frame condition.

    Starts after the condition held for `on_s` (gaps shorter than `grace_s` do not restart the
    count: detectors miss frames) and ends after it has been false for `off_s` (again tolerating
    `grace_s` blips). Times are on the stream's clock."""

    def __init__(self, on_s: float, off_s: float, grace_s: float = 0.0):
        self.on_s, self.off_s, self.grace_s = on_s, off_s, grace_s
        self.active = False
        self._since: float | None = None  # condition run start (inactive state)
        self._last_true: float | None = None
        self._clear_since: float | None = None  # clear run start (active state)
        self._last_false: float | None = None

    def reset(self) -> None:
        self.active = False
        self._since = self._last_true = self._clear_since = self._last_false = None

    def resume_active(self) -> None:
        """Take over an event already open (cluster mode: the camera moved here): active from now on, ending once the
        condition has been false for `off_s`, as if this timer had started it."""
        self.reset()
        self.active = True

    @property
    def condition_since(self) -> float | None:
        return self._since

    def update(self, t: float, cond: bool) -> Literal["start", "end"] | None:
        if not self.active:
            if cond:
                if self._since is None or (self._last_true is not None and t - self._last_true > self.grace_s):
                    self._since = t
                self._last_true = t
                if t - self._since >= self.on_s:
                    self.active, self._clear_since = True, None
                    return "start"
            elif self._since is not None and self._last_true is not None and t - self._last_true > self.grace_s:
                self._since = None
            return None
        if not cond:
            if self._clear_since is None or (self._last_false is not None and t - self._last_false > self.grace_s):
                self._clear_since = t
            self._last_false = t
            if t - self._clear_since >= self.off_s:
                self.active, self._since = False, None
                return "end"
        elif self._clear_since is not None and self._last_false is not None and t - self._last_false > self.grace_s:
            self._clear_since = None
        return None


class ZoneRule(ABC):
    """A rule bound to one zone of one camera. Subclasses implement `observe`."""

    type: ClassVar[str]

    def __init__(self, params, zone_name: str, polygon: list[tuple[float, float]]):
        self.params = params
        self.zone_name = zone_name
        self.polygon = polygon
        self._geom: ZoneGeometry | None = None

    # timer settings; subclasses map their parameters onto these
    on_s: float = 0.0
    off_s: float = 0.0

    @property
    def grace_s(self) -> float:
        return self.params.grace_s

    @property
    def disabled_reason(self) -> str | None:
        """Why the rule cannot run (shown in health and API), or None when it runs."""
        return None if self.params.enabled else "disabled in configuration"

    def armed(self, wall: datetime) -> bool:
        return self.params.schedule is None or self.params.schedule.armed(wall)

    def dwell_scale(self, wall: datetime) -> float:
        """< 1 inside a heightened-alert period of the schedule (dwell and absence times shrink), else 1."""
        return 1.0 if self.params.schedule is None else self.params.schedule.dwell_scale(wall)

    def reset(self) -> None:
        """Forget what earlier frames showed (the pipeline calls this when it resets the rule's timer, e.g. while
        the schedule disarms the rule). Rules that keep their own clocks override it."""

    def take_counts(self) -> list:
        """What the rule counted since the last call (the gate's crossings, `Crossing`); most rules count nothing."""
        return []

    def zone(self, image: np.ndarray) -> ZoneGeometry:
        h, w = image.shape[:2]
        if self._geom is None or (self._geom.width, self._geom.height) != (w, h):
            self._geom = ZoneGeometry(self.zone_name, self.polygon, w, h)
        return self._geom

    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    def wants_persons(self, fire: Detections) -> bool:
        """Whether this rule needs this frame's own persons on a frame with these fire/smoke detections (the
        pipeline, or the scheduler ahead of it, then runs the object model on the frame before the rules)."""
        return False

    @abstractmethod
    def observe(self, ctx: FrameContext) -> Observation: ...
