"""Rules: small objects with validated parameters, one per zone and rule entry of the config."""
from __future__ import annotations

from vigil.config import Camera
from vigil.vision.rules.base import ConditionTimer, FrameContext, Observation, ZoneRule
from vigil.vision.rules.fire import FireSmoke
from vigil.vision.rules.gate import Gate
from vigil.vision.rules.objects import BlockedExit, EbikeIndoor
from vigil.vision.rules.staffing import UnattendedRoom

RULE_CLASSES: dict[str, type[ZoneRule]] = {
    "blocked_exit": BlockedExit,
    "unattended_room": UnattendedRoom,
    "ebike_indoor": EbikeIndoor,
    "fire_smoke": FireSmoke,
    "gate": Gate,
}


def build_rules(camera: Camera, fire_model_available: bool, fire_reason: str | None = None) -> list[ZoneRule]:
    rules: list[ZoneRule] = []
    for zone in camera.zones:
        for params in zone.rules:
            cls = RULE_CLASSES[params.type]
            if cls is FireSmoke:
                rules.append(FireSmoke(params, zone.name, zone.polygon, model_available=fire_model_available,
                                       unavailable_reason=fire_reason))
            else:
                rules.append(cls(params, zone.name, zone.polygon))
    return rules


__all__ = ["ConditionTimer", "FrameContext", "Observation", "ZoneRule", "RULE_CLASSES", "build_rules",
           "BlockedExit", "EbikeIndoor", "UnattendedRoom", "FireSmoke", "Gate"]
