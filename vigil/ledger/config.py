"""The `hazards:` section of the YAML: deadline policy, escalation schedule, the camera re-check, uploads and the
complaint intake. Validated like the rest of vigil/config.py (unknown keys rejected, every field titled and
described); kept apart so that file stays small (vigil/config.py imports it)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# category -> (zh-CN, en). The rule-found ones first (RULE_CATEGORY), then the seeds' other risk factors.
CATEGORIES: dict[str, tuple[str, str]] = {
    "blocked_passage": ("安全出口/疏散通道堵塞", "blocked exit or escape route"),
    "open_flame": ("明火/烟雾", "open flame or smoke"),
    "ebike_indoor": ("电动车违规入室", "e-bike indoors"),
    "control_room_unstaffed": ("消防控制室脱岗", "fire-control room unstaffed"),
    "monitoring_fault": ("监控设备故障", "monitoring equipment fault"),
    "fire_equipment": ("消防设施器材", "fire equipment"),
    "electrical": ("电气线路", "electrical wiring"),
    "other": ("其他", "other"),
}
Category = Literal["blocked_passage", "open_flame", "ebike_indoor", "control_room_unstaffed", "monitoring_fault",
                   "fire_equipment", "electrical", "other"]
RULE_CATEGORY: dict[str, str] = {"blocked_exit": "blocked_passage", "fire_smoke": "open_flame",
                                 "ebike_indoor": "ebike_indoor", "unattended_room": "control_room_unstaffed",
                                 "camera_offline": "monitoring_fault"}
SEVERITIES: dict[str, tuple[str, str]] = {"major": ("重大隐患", "major"), "general": ("一般隐患", "general")}
Severity = Literal["major", "general"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def F(default: Any = ..., *, title: str, description: str, **kw: Any) -> Any:
    return Field(default, title=title, description=description, **kw)


class Deadline(_Strict):
    major: float = F(title="Major (h)", description="Hours to rectify a major hazard; 0: at once.", ge=0, le=8760)
    general: float = F(title="General (h)", description="Hours to rectify a general hazard; 0: at once.", ge=0, le=8760)


def _d(major: float, general: float) -> Any:
    return Field(default_factory=lambda: Deadline(major=major, general=general))


class Deadlines(_Strict):
    blocked_passage: Deadline = _d(24, 24)
    open_flame: Deadline = _d(0, 1)
    ebike_indoor: Deadline = _d(24, 72)
    control_room_unstaffed: Deadline = _d(1, 1)
    monitoring_fault: Deadline = _d(24, 72)
    fire_equipment: Deadline = _d(72, 168)
    electrical: Deadline = _d(24, 168)
    other: Deadline = _d(72, 168)

    def hours(self, category: str, severity: str) -> float:
        return getattr(getattr(self, category), severity)


for _name, (_zh, _en) in CATEGORIES.items():  # titles and descriptions for the config reference
    Deadlines.model_fields[_name].title = f"{_en} ({_zh})"
    Deadlines.model_fields[_name].description = f"Rectification deadline for {_en} hazards, per severity."
Deadlines.model_rebuild(force=True)


class EscalationStep(_Strict):
    overdue_h: float = F(title="Overdue (h)", description=(
        "Hours past the deadline after which this step applies."), ge=0, le=8760)
    levels_up: int = F(title="Levels up", description=(
        "How far up the region tree the hazard goes: 1 = the institution's own region (the township), 2 = the one "
        "above (the county), ... (capped at the top of the path). The hazard is then supervised-listed (挂牌督办) "
        "by that region."), ge=1, le=10)


class RecheckConfig(_Strict):
    window_s: float = F(12.0, title="Window (s)", description=(
        "How long the camera is watched after a rectification is submitted."), gt=0, le=600)
    sample_fps: float = F(2.0, title="Samples per second", description="Frames taken from the camera per second.",
                          gt=0, le=10)
    min_frames: int = F(4, title="Minimum frames", description=(
        "Fewer fresh frames than this in the window: the re-check is 'unavailable' (camera offline)."), ge=1, le=1000)
    present_ratio: float = F(0.5, title="Present ratio", description=(
        "The hazard is 'still present' when the rule's condition holds on at least this share of the frames."),
        gt=0, le=1)


class UploadsConfig(_Strict):
    max_bytes: int = F(8_000_000, title="Largest photo (bytes)", description="Uploads above this are refused (413).",
                       ge=10_000, le=100_000_000)
    max_per_hazard: int = F(30, title="Photos per hazard", description="At most this many photos on one hazard.",
                            ge=1, le=1000)


class ComplaintsConfig(_Strict):
    per_address_per_hour: int = F(5, title="Complaints per address per hour", description=(
        "The public form accepts this many complaints an hour from one address (then 429 with Retry-After)."),
        ge=1, le=10_000)
    per_token_per_hour: int = F(60, title="Complaints per token per hour", description=(
        "The same, per intake token (a token passed around too widely)."), ge=1, le=100_000)
    max_text: int = F(2000, title="Longest text", description="Characters a complaint may have.", ge=50, le=20_000)


class HazardsConfig(_Strict):
    deadlines: Deadlines = F(default_factory=Deadlines, title="Deadlines", description=(
        "Hours to rectify, per category and severity (open flame at once, blocked exit 24 h, unstaffed room 1 h)."))
    default_severity: dict[Category, Severity] = F(
        default_factory=lambda: {"open_flame": "major", "control_room_unstaffed": "major"},
        title="Default severity", description=(
            "Severity of a camera-found hazard per category (others: general); a reviewer or supervisor may change it."))
    escalation: list[EscalationStep] = F(
        default_factory=lambda: [EscalationStep(overdue_h=0, levels_up=1), EscalationStep(overdue_h=24, levels_up=2)],
        title="Escalation", description=(
            "Overdue hazards go up the region tree: each step names how long past the deadline and how many levels "
            "up (default: the township at once, the county after a day)."))
    escalation_check_s: float = F(60.0, title="Escalation check (s)", description=(
        "How often overdue hazards are looked for."), gt=0, le=86400)
    recheck: RecheckConfig = F(default_factory=RecheckConfig, title="Camera re-check", description=(
        "How the camera checks a submitted rectification."))
    uploads: UploadsConfig = F(default_factory=UploadsConfig, title="Uploads", description="Photos of hazards.")
    complaints: ComplaintsConfig = F(default_factory=ComplaintsConfig, title="Complaints", description=(
        "The public tip-off intake."))

    @model_validator(mode="after")
    def _steps(self) -> "HazardsConfig":
        hs = [s.overdue_h for s in self.escalation]
        lv = [s.levels_up for s in self.escalation]
        if hs != sorted(hs) or lv != sorted(lv) or len(set(lv)) != len(lv):
            raise ValueError("escalation steps must go up: overdue_h not decreasing, levels_up increasing")
        return self

    def deadline_hours(self, category: str, severity: str) -> float:
        return self.deadlines.hours(category, severity)

    def severity_for(self, category: str) -> str:
        return self.default_severity.get(category, "general")  # type: ignore[call-overload]
