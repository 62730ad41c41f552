"""The gate: people going in and out, and residents going out at night.

The zone is the institution's side of the gate. Each person is followed from frame to frame (`PersonTracks`) and
their feet (the bottom centre of their box) are placed inside the zone, outside it, or on its edge (within
`margin` of it: undecided, so someone standing on the line is not counted again and again). A person whose feet go
from outside to inside has gone in; from inside to outside, out. Each crossing is handed to the pipeline
(`take_counts`), which passes it to the sinks for the statistics.

A crossing out inside the night window raises the night-exit event; it stays open `hold_s` after the last such
exit, so a group going out together makes one event. The rule debounces itself (the pipeline's timer passes its
decision through)."""
from __future__ import annotations

import cv2
import numpy as np

from vigil.rules_config import GateRule
from vigil.vision.detections import Detections
from vigil.vision.events import Crossing
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule
from vigil.vision.tracks import PersonTracks


SHRINK = 0.8  # a crossing's box keeps at least this share of its height on the old side (else: lower body hidden)


class Gate(ZoneRule):
    type = "gate"
    params: GateRule

    on_s = 0.0
    off_s = 0.0

    def __init__(self, params, zone_name, polygon):
        super().__init__(params, zone_name, polygon)
        self.tracks = PersonTracks(high=params.min_confidence, low=params.min_confidence / 2, max_age_s=params.max_gap_s)
        self.totals = {"in": 0, "out": 0}  # crossings since the rule was built
        self._pending: list[Crossing] = []
        self._last_night_exit: float | None = None
        self._event_exits = 0
        self._exit_boxes = Detections.empty({0: "person"})
        self._exit_conf = 0.0

    @property
    def grace_s(self) -> float:  # type: ignore[override]
        return 0.0

    def reset(self) -> None:
        self.tracks.reset()
        self._last_night_exit = None
        self._event_exits = 0

    def take_counts(self) -> list[Crossing]:
        out, self._pending = self._pending, []
        return out

    def _side(self, points: np.ndarray, x: float, y: float, margin_px: float) -> int:
        d = cv2.pointPolygonTest(points, (float(x), float(y)), True)
        return 1 if d > margin_px else (-1 if d < -margin_px else 0)

    def observe(self, ctx: FrameContext) -> Observation:
        p = self.params
        geom = self.zone(ctx.image)
        people = ctx.persons.above(p.min_confidence / 2)
        tracks = self.tracks.update(people, ctx.t)
        margin_px = p.margin * geom.height
        exits: list[int] = []
        for i, track in enumerate(tracks):
            if track is None:
                continue
            x0, y0, x1, y1 = (float(v) for v in people.xyxy[i])
            # a box cut by the frame's bottom edge does not show the feet: where the person stands is unknown
            side = 0 if y1 >= geom.height - 2 else self._side(geom.points, (x0 + x1) / 2, y1, margin_px)
            if not side:
                continue
            prev = track.state.get("side")
            height = y1 - y0
            # a new side counts once the person's feet stay there for confirm_frames frames in a row (a box whose
            # bottom jumps for a frame, behind someone else, changes nothing)
            run = track.state["run"] = (side, track.state["run"][1] + 1) if track.state.get("run", (0, 0))[0] == side \
                else (side, 1)
            if side == prev or prev is None:
                track.state["side"], track.state["height"] = side, height
                continue
            if run[1] < p.confirm_frames:
                continue
            # feet that only seem to cross because the lower body went behind someone (the box shrinks from below) do
            # not count: the person's box must keep most of its height since the last frame on the old side
            whole = height >= SHRINK * track.state["height"]
            track.state["side"], track.state["height"] = side, height
            if whole:
                direction = "in" if side > 0 else "out"
                night = p.is_night(ctx.wall)
                self.totals[direction] += 1
                if p.count:
                    self._pending.append(Crossing(ctx.camera_id, self.zone_name, direction, ctx.t, ctx.wall, night, track.id))
                if direction == "out" and night:
                    exits.append(i)
        if exits and p.night_exit_alarm:
            if self._last_night_exit is None or ctx.t - self._last_night_exit > p.hold_s:
                self._event_exits = 0
            self._last_night_exit = ctx.t
            self._event_exits += len(exits)
            self._exit_boxes = people[np.array(exits)]
            self._exit_conf = float(self._exit_boxes.confidence.max())
        active = self._last_night_exit is not None and ctx.t - self._last_night_exit <= p.hold_s
        detail = dict(self.totals)
        if active:
            detail |= {"alarm": "night_exit", "exits": self._event_exits, "night": f"{p.night_start}-{p.night_end}",
                       "condition_since_s": self._last_night_exit}
        return Observation(active, self._exit_conf if active else 0.0, self._exit_boxes if active else None, None, detail,
                           news=bool(exits))
