"""The rules' section of the YAML (`cameras[].zones[].rules[]`): each rule type's parameters, its arming schedule
and heightened-alert periods, validated like the rest of vigil/config.py (unknown keys rejected, every field titled
and described), which imports them from here; kept apart so that file stays readable."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from vigil.vision.vocabulary import vigil_class_list  # class names: bicycle and motorcycle are ebike

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Classes that can block a passage (people are never "blocking objects"), in vigil's vocabulary
# (vision/vocabulary.py): COCO's, with bicycle and motorcycle as one class, `ebike`, and backpack, handbag and suitcase
# as one, `bag`; a configuration naming the COCO classes is read so.
BLOCKING_CLASSES: tuple[str, ...] = (
    "chair", "couch", "bed", "dining table", "bench", "ebike", "bag", "potted plant", "refrigerator", "tv", "oven",
    "microwave", "toilet", "sink", "car", "umbrella", "skateboard", "surfboard", "sports ball", "vase", "laptop",
)
EBIKE_CLASSES: tuple[str, ...] = ("ebike",)
# a list of class names, read through vigil's vocabulary (`motorcycle` -> `ebike`, `handbag` -> `bag`, each once)
ClassNames = Annotated[list[str], AfterValidator(vigil_class_list)]
# text a database can store: PostgreSQL's text holds no NUL byte (YAML can write one as "\0")
NO_NUL = r"^[^\x00]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def F(default: Any = ..., *, title: str, description: str, **kw: Any) -> Any:
    return Field(default, title=title, description=description, **kw)


def hhmm(v: str) -> str:
    """`v` when it is a local time HH:MM between 00:00 and 24:00, else ValueError."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v)
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and m.group(2) != "00"):
        raise ValueError(f"'{v}' is not a time HH:MM between 00:00 and 24:00")
    return v


class ScheduleWindow(Strict):
    days: list[Weekday] = F(list(WEEKDAYS), title="Days", description="Weekdays this window applies to (mon..sun).")
    start: str = F("00:00", title="Start", description="Local start time HH:MM.")
    end: str = F("24:00", title="End", description="Local end time HH:MM; earlier than start means overnight.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        return hhmm(v)

    @staticmethod
    def _minutes(v: str) -> int:
        h, m = v.split(":")
        return int(h) * 60 + int(m)

    def contains(self, when: datetime) -> bool:
        s, e = self._minutes(self.start), self._minutes(self.end)
        now = when.hour * 60 + when.minute
        day = WEEKDAYS[when.weekday()]
        prev_day = WEEKDAYS[(when.weekday() - 1) % 7]
        if s <= e:
            return day in self.days and s <= now < e
        # overnight window: the part after midnight belongs to the previous day's window
        return (day in self.days and now >= s) or (prev_day in self.days and now < e)


class AlertPeriod(Strict):
    """A period of heightened alert (Spring Festival, National Day golden week, a typhoon warning): the rule is armed
    around the clock and raises its event sooner."""
    name: str = F(title="Name", description="What the period is, e.g. '春节' or '国庆'.", min_length=1, max_length=40, pattern=NO_NUL)
    start: date = F(title="First day", description="First local day of the period (YYYY-MM-DD).")
    end: date = F(title="Last day", description="Last local day of the period, included (YYYY-MM-DD).")
    dwell_scale: float = F(0.5, title="Dwell scale", description="Dwell and absence seconds are multiplied by this inside the period (0.5: events are raised in half the time); 1 keeps them.", gt=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> "AlertPeriod":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def contains(self, when: datetime) -> bool:
        return self.start <= when.date() <= self.end


class Schedule(Strict):
    windows: list[ScheduleWindow] = F(title="Arming windows", description="The rule is armed inside any of these windows.", min_length=1)
    alert_periods: list[AlertPeriod] = F(default_factory=list, title="Heightened-alert periods", description="Holidays and other periods in which the rule is armed all day, whatever the windows say, with shorter dwell times.")

    def alert(self, when: datetime) -> AlertPeriod | None:
        """The heightened-alert period `when` (local time) falls in, if any."""
        return next((p for p in self.alert_periods if p.contains(when)), None)

    def armed(self, when: datetime) -> bool:
        return self.alert(when) is not None or any(w.contains(when) for w in self.windows)

    def dwell_scale(self, when: datetime) -> float:
        period = self.alert(when)
        return period.dwell_scale if period is not None else 1.0


class RuleBase(Strict):
    enabled: bool = F(True, title="Enabled", description="Switch the rule off without deleting it.")
    schedule: Schedule | None = F(None, title="Schedule", description="Weekly arming schedule; armed all the time when absent.")
    min_confidence: float = F(0.35, title="Minimum confidence", description="Detections below this score are ignored.", ge=0.01, le=1.0)
    grace_s: float = F(3.0, title="Grace seconds", description="A gap in the condition shorter than this does not restart the dwell timer (detector misses).", ge=0)


class BlockedExitRule(RuleBase):
    type: Literal["blocked_exit"] = F(title="Rule type", description="Blocked evacuation route / exit.")
    dwell_s: float = F(30.0, title="Dwell seconds", description="The exit must stay blocked this long before an event is raised.", ge=0)
    clear_s: float = F(5.0, title="Clear seconds", description="The exit must stay clear this long before the event ends.", ge=0)
    classes: ClassNames = F(list(BLOCKING_CLASSES), title="Blocking classes", description="Detector classes counted as obstacles (people never count), in vigil's class names: COCO's, except that bicycle and motorcycle are one class, ebike, and backpack, handbag and suitcase one class, bag (the COCO names are read so).", min_length=1)
    min_overlap: float = F(0.3, title="Minimum overlap", description="Share of an object's box that must lie inside the zone.", gt=0, le=1)
    area_ratio: float | None = F(0.4, title="Area ratio", description="Class-agnostic check: share of the zone covered by stationary foreground that counts as blocked; null switches the check off.", gt=0, le=1)
    min_object_ratio: float | None = F(0.003, title="Minimum left object", description="Left-object check (class-agnostic): one stationary object in the zone (a connected patch of foreground that has stood still for dwell_s, people excluded) at least this share of the frame's area raises the event with its box: 0.003 is a 25 x 25 px bag in a 640 x 360 frame. null switches the check off.", gt=0, le=1)
    carried_classes: ClassNames = F(["bag", "umbrella"], title="Carried classes", description="Objects ignored while their centre lies inside a person's box (being carried); vigil's class names (bag: COCO's backpack, handbag and suitcase, those names read as bag).")

    @field_validator("classes")
    @classmethod
    def _no_person(cls, v: list[str]) -> list[str]:
        if "person" in v:
            raise ValueError("'person' cannot be a blocking class")
        return v


class UnattendedRoomRule(RuleBase):
    type: Literal["unattended_room"] = F(title="Rule type", description="Duty room staffed by fewer than min_persons.")
    min_persons: int | None = F(None, title="Minimum persons", description="Required people on duty; default 2 for a control_room camera (24 h duty, at least 2 per shift), 1 otherwise.", ge=1, le=20)
    absence_s: float = F(120.0, title="Absence seconds", description="Understaffing must last this long before an event is raised, counted from the first detection frame after the last one that saw enough people: any frame that sees them restarts the count.", ge=0)
    restore_s: float = F(10.0, title="Restore seconds", description="Staffing must be back this long before the event ends: frames seeing enough people over restore_s, none more than window_s apart (one stray detection, such as a chair taken for a person, does not end it).", ge=0)
    window_s: float = F(10.0, title="Window seconds", description="People on duty are counted as the most seen on one detection frame of the last window_s seconds, not on the current frame alone: a person the detector misses for a few frames still counts. It is the count an event reports, and the longest gap between sightings while staffing comes back (restore_s). Never longer than the absence time; 0 judges each frame alone.", ge=0, le=120)
    min_confidence: float = F(0.5, title="Minimum confidence", description="Person detections below this score are ignored. Higher than other rules: a false person (an empty chair) would keep a deserted room staffed, and the window keeps the highest count it saw.", ge=0.01, le=1.0)


class EbikeIndoorRule(RuleBase):
    type: Literal["ebike_indoor"] = F(title="Rule type", description="E-bike / bicycle / motorcycle parked indoors.")
    dwell_s: float = F(60.0, title="Dwell seconds", description="The vehicle must stay this long before an event is raised.", ge=0)
    clear_s: float = F(5.0, title="Clear seconds", description="The zone must stay free of vehicles this long before the event ends.", ge=0)
    classes: ClassNames = F(list(EBIKE_CLASSES), title="Vehicle classes", description="Detector classes counted as e-bikes, in vigil's class names (ebike: COCO's bicycle and motorcycle; those two names are read as ebike).", min_length=1)
    min_overlap: float = F(0.3, title="Minimum overlap", description="Share of the vehicle's box that must lie inside the zone.", gt=0, le=1)


class FireSmokeRule(RuleBase):
    type: Literal["fire_smoke"] = F(title="Rule type", description="Open flame or smoke.")
    k: int = F(3, title="Confirm frames k", description="Positive frames needed among the last n.", ge=1)
    n: int = F(5, title="Window frames n", description="Size of the confirmation window in detection frames.", ge=1)
    fire_confidence: float = F(0.4, title="Fire confidence", description="Score threshold for the fire class.", ge=0.01, le=1)
    smoke_confidence: float = F(0.4, title="Smoke confidence", description="Score threshold for the smoke class.", ge=0.01, le=1)
    min_box_ratio: float = F(0.0005, title="Minimum box ratio", description="Boxes smaller than this share of the frame are ignored.", ge=0, le=1)
    clear_s: float = F(10.0, title="Clear seconds", description="No confirmed fire/smoke for this long ends the event.", ge=0)
    min_motion: float | None = F(0.04, title="Minimum motion", description="Temporal check: share of a box's pixels that must change between two detection frames (flames flicker, smoke drifts); rejects static red/orange objects, lamps, sunlight and pictures of fire. null switches it off.", ge=0, le=1)
    motion_level: int = F(10, title="Motion level", description="Grey-level change (0-255, after a light blur) that counts a pixel as changed; above sensor noise.", ge=1, le=255)
    person_overlap: float | None = F(0.6, title="Person overlap", description="Smoke boxes of which one detected person covers at least this share are dropped: grey or pale clothing is the smoke model's commonest false alarm. On a frame with such a smoke candidate the object model runs too (also on fire-only cameras). Flame boxes are never dropped. null switches the check off.", gt=0, le=1)
    person_confidence: float = F(0.35, title="Person confidence", description="Lowest person score the smoke person check trusts.", ge=0.01, le=1)

    @model_validator(mode="after")
    def _k_le_n(self) -> "FireSmokeRule":
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        return self


class GateRule(RuleBase):
    """People going in and out of the institution through a gate or door, and residents going out at night.

    The zone is the institution's side of the gate (the yard or hall behind it): a person whose feet move from
    outside the zone into it has gone in, from inside it to outside has gone out. People are followed from frame to
    frame (tracking), so the camera runs at least GATE_MIN_HZ detection frames a second."""
    type: Literal["gate"] = F(title="Rule type", description="Gate: count people going in and out; alarm on a night-time exit.")
    min_confidence: float = F(0.45, title="Minimum confidence", description="Lowest person score that starts following a person; weaker detections (down to half this) only continue someone already followed (a person half hidden in a crowd).", ge=0.05, le=1.0)
    margin: float = F(0.03, title="Margin", description="A person counts as inside (or outside) the zone only when their feet are at least this share of the frame height away from its edge: someone standing on the line is not counted again and again.", ge=0, le=0.25)
    count: bool = F(True, title="Count", description="Record the people going in and out (hourly counts in the statistics).")
    night_exit_alarm: bool = F(True, title="Night exit alarm", description="Raise an event when someone goes out between night_start and night_end (a resident leaving unnoticed).")
    night_start: str = F("21:00", title="Night start", description="Local time HH:MM from which going out raises the alarm.")
    night_end: str = F("06:00", title="Night end", description="Local time HH:MM until which going out raises the alarm (earlier than night_start: the next morning).")
    hold_s: float = F(60.0, title="Hold seconds", description="A night-exit event stays open this long after the last exit: people going out together make one event.", ge=1, le=3600)
    confirm_frames: int = F(2, title="Confirm frames", description="A person's feet must be on the new side of the zone's edge on this many detection frames in a row before the crossing counts (a box that jumps for one frame, half hidden behind someone, counts nothing).", ge=1, le=10)
    max_gap_s: float = F(1.5, title="Tracking gap seconds", description="A person not detected for longer than this is forgotten (someone seen again later counts as new).", gt=0, le=30)

    @field_validator("night_start", "night_end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        return hhmm(v)

    def is_night(self, when: datetime) -> bool:
        """Whether local wall time `when` lies in the night window (an overnight window when end < start), every day."""
        return ScheduleWindow(start=self.night_start, end=self.night_end).contains(when)


Rule = Annotated[Union[BlockedExitRule, UnattendedRoomRule, EbikeIndoorRule, FireSmokeRule, GateRule], Field(discriminator="type")]
RULE_TYPES: tuple[str, ...] = ("blocked_exit", "unattended_room", "ebike_indoor", "fire_smoke", "gate")
