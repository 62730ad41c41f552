"""Duty-room staffing: the fire-control room must hold at least `min_persons` people (24 h duty,
at least 2 per shift)."""
from __future__ import annotations

from vigil.config import UnattendedRoomRule
from vigil.vision.rules.base import FrameContext, Observation, ZoneRule


class UnattendedRoom(ZoneRule):
    type = "unattended_room"
    params: UnattendedRoomRule

    @property
    def on_s(self) -> float:  # type: ignore[override]
        return self.params.absence_s

    @property
    def off_s(self) -> float:  # type: ignore[override]
        return self.params.restore_s

    def observe(self, ctx: FrameContext) -> Observation:
        p = self.params
        need = p.min_persons or 1
        zone = self.zone(ctx.image)
        people = zone.select(ctx.persons.above(p.min_confidence), 0.5)
        n = len(people)
        # confidence of an absence: the share of the required staff that is missing
        conf = (need - n) / need if n < need else 0.0
        return Observation(n < need, conf, people, None, {"persons": n, "min_persons": need})
