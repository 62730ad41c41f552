"""Duty-room staffing: the fire-control room must hold at least `min_persons` people (24 h duty,
at least 2 per shift).

Detectors miss people, most of all from the ceiling, so one frame's count is not trusted. The rule counts
the most people seen on one detection frame of the last `window_s` seconds, and keeps its own clocks:

* the absence is counted from the first frame after the last one that saw enough people, and the event
  starts once it has lasted `absence_s` (any frame that sees enough people restarts it);
* the event ends once frames seeing enough people span `restore_s`, none more than `window_s` apart: one
  stray detection (an empty chair taken for a person) does not end it, so an empty stretch is one event.

The pipeline's timer therefore only passes this rule's decision through (on, off and grace times 0)."""
from __future__ import annotations

from collections import deque

from vigil.rules_config import UnattendedRoomRule
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule


class UnattendedRoom(ZoneRule):
    type = "unattended_room"
    params: UnattendedRoomRule

    on_s = 0.0  # the rule debounces itself (see the module text)
    off_s = 0.0

    def __init__(self, params, zone_name, polygon):
        super().__init__(params, zone_name, polygon)
        self.reset()

    @property
    def grace_s(self) -> float:  # type: ignore[override]
        return 0.0

    def reset(self) -> None:
        self._counts: deque[tuple[float, int]] = deque()  # (t, persons) of the frames inside the window
        self._absent_since: float | None = None  # first frame of the current understaffed stretch
        self._alarm = False
        self._back: tuple[float, float] | None = None  # (first, last) frame seeing enough people, during an alarm

    def observe(self, ctx: FrameContext) -> Observation:
        p = self.params
        need = p.min_persons or 1
        t = ctx.t
        absence = p.absence_s * self.dwell_scale(ctx.wall)
        window = min(p.window_s, absence)
        people = self.zone(ctx.image).select(ctx.persons.above(p.min_confidence), 0.5)
        n = len(people)
        counts = self._counts
        counts.append((t, n))
        while counts and counts[0][0] < t - window:
            counts.popleft()
        most = max(c for _, c in counts)
        staffed_now = n >= need
        if not self._alarm:
            if staffed_now:
                self._absent_since = None
            elif self._absent_since is None:
                self._absent_since = t
            if self._absent_since is not None and most < need and t - self._absent_since >= absence:
                self._alarm, self._back = True, None
        elif most < need:
            self._back = None  # no frame of the window saw enough people: staffing is not back
        elif staffed_now:
            self._back = (self._back[0] if self._back else t, t)
            if self._back[1] - self._back[0] >= p.restore_s:
                self._alarm, self._absent_since, self._back = False, None, None
        # confidence of an absence: the share of the required staff that is missing
        conf = (need - most) / need if most < need else 0.0
        detail = {"persons": most, "persons_this_frame": n, "min_persons": need, "window_s": window}
        if self._absent_since is not None:
            detail["condition_since_s"] = self._absent_since
        return Observation(self._alarm, conf, people, None, detail)
