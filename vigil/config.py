"""The one YAML configuration file, validated by pydantic.

Unknown keys are rejected everywhere; every field has a title and a description (they feed the
configuration reference in the README and `vigil config schema`).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, SecretStr, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from vigil.outbox.config import NotificationsConfig, SpoolConfig  # notifications and the event spool (issue #15)
from vigil.ledger.config import HazardsConfig  # the hazard ledger (issue #16)
from vigil.live_config import LiveConfig  # live viewing: WebRTC relay, MJPEG fallback (issue #17)
from vigil.vision.vocabulary import vigil_class_list  # class names: bicycle and motorcycle are ebike
from vigil.cluster.config import ClusterConfig  # cluster mode on Ray (issue #19)

SiteKind = Literal["gate", "control_room", "corridor", "exit", "stairwell", "lobby", "other"]
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
PASSAGE_KINDS: frozenset[str] = frozenset({"exit", "corridor", "stairwell"})
INDOOR_PASSAGE_KINDS: frozenset[str] = frozenset({"exit", "corridor", "stairwell", "lobby"})
STAFFED_KINDS: frozenset[str] = frozenset({"control_room", "gate"})
GATE_KINDS: frozenset[str] = frozenset({"gate", "exit", "lobby"})
# rule type -> the site kinds a camera holding it must be of, and those kinds in words (rules not named: any kind)
RULE_SITE_KINDS: dict[str, tuple[frozenset[str], str]] = {
    "blocked_exit": (PASSAGE_KINDS, "exit, corridor or stairwell"),
    "ebike_indoor": (INDOOR_PASSAGE_KINDS, "corridor, exit, stairwell or lobby"),
    "unattended_room": (STAFFED_KINDS, "control_room or gate"),
    "gate": (GATE_KINDS, "gate, exit or lobby"),
}
# text a database can store: PostgreSQL's text holds no NUL byte (YAML can write one as "\0")
NO_NUL = r"^[^\x00]*$"
# a region path: at most 255 characters (the database column), at least one part that is not blank
REGION_PATTERN = r"^[^\x00]*[^\x00/\s][^\x00]*$"
# the schema of a polygon point (validated by Zone._poly, which names the point; stated here for API clients)
_POINT_SCHEMA = {"type": "array", "prefixItems": [{"type": "number", "minimum": 0, "maximum": 1}] * 2,
                 "minItems": 2, "maxItems": 2}


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


class Zone(Strict):
    name: str = F(title="Zone name", description="Unique within the camera, e.g. 'east exit'.", min_length=1, max_length=80,
                  pattern=NO_NUL)
    polygon: list[tuple[float, float]] = F(title="Polygon", description="Vertices (x, y) in 0..1 of the frame width/height.",
                                           json_schema_extra={"minItems": 3, "items": _POINT_SCHEMA})
    rules: list[Rule] = F(default_factory=list, title="Rules", description="Rules evaluated inside this zone.")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 3:
            raise ValueError("needs >= 3 points")
        for i, (x, y) in enumerate(v):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point {i} ({x}, {y}) is outside 0..1")
        area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(v, v[1:] + v[:1])))
        if area < 1e-4:
            raise ValueError("polygon has no area")
        return v


FIRE_MIN_HZ = 2.0  # fire/smoke confirmation needs k of n frames inside 3 s
GATE_MIN_HZ = 5.0  # the gate follows walking people from frame to frame (4 Hz lost people in a crowd: 4 in 1 out on street_crowd.mp4, 7 in 0 out at 5)


class Camera(Strict):
    id: str = F(title="Camera id", description="Stable id used in URLs: letters, digits, '-' and '_'.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = F(title="Name", description="Human name shown in the UI, e.g. '一楼东侧安全出口'.", min_length=1, pattern=NO_NUL)
    url: str = F(title="Stream URL", description="rtsp:// (pulled over TCP), http(s):// MJPEG, or a video file path.", pattern=NO_NUL)
    institution: str = F(title="Institution", description="Id of the institution this camera belongs to.")
    site_kind: SiteKind = F(title="Site kind", description="gate | control_room | corridor | exit | stairwell | lobby | other.")
    detect_fps: float = F(1.0, title="Detect rate", description="Frames per second sent to the detector; a camera with a fire_smoke rule runs at least 2 (flame and smoke must be confirmed within 3 s), one with a gate rule at least 5 (it follows walking people).", gt=0, le=30)
    enabled: bool = F(True, title="Enabled", description="Disabled cameras are not pulled.")
    offline_after_s: float = F(60.0, title="Offline after seconds", description="Raise camera_offline after this long without frames.", gt=0)
    keyframes_only: bool = F(False, title="Key frames only", description="Decode key frames alone (skips the rest of each GOP): for low-rate cameras whose key-frame interval is at most 1/detect_fps seconds; cuts decoding cost by the GOP length.")
    loop: bool = F(True, title="Loop file", description="For file sources: start again at the end (demo cameras).")
    zones: list[Zone] = F(default_factory=list, title="Zones", description="Zones with their rules.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme = urlsplit(v).scheme.lower()
        if scheme in ("rtsp", "rtsps", "http", "https"):
            if not urlsplit(v).hostname:
                raise ValueError("stream URL has no host")
            return v
        if scheme in ("", "file"):
            return v
        raise ValueError(f"unsupported scheme '{scheme}': use rtsp://, http(s):// or a file path")

    @model_validator(mode="after")
    def _zones(self) -> "Camera":
        names = [z.name for z in self.zones]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone names must be unique, repeated: {sorted(dup)}")
        for zi, z in enumerate(self.zones):
            for ri, r in enumerate(z.rules):
                where = f"zones[{zi}].rules[{ri}]"
                kinds, in_words = RULE_SITE_KINDS.get(r.type, (None, ""))
                if kinds is not None and self.site_kind not in kinds:
                    raise ValueError(f"{where}: {r.type} needs a camera of site kind {in_words}, not {self.site_kind}")
                if r.type == "unattended_room" and r.min_persons is None:
                    r.min_persons = 2 if self.site_kind == "control_room" else 1
        return self

    @property
    def has_fire_rule(self) -> bool:
        """An enabled fire_smoke rule in any zone of this camera."""
        return any(r.type == "fire_smoke" and r.enabled for z in self.zones for r in z.rules)

    @property
    def people_only(self) -> bool:
        """Every enabled rule looks only at people (unattended_room, gate; fire_smoke's person check), and one of them
        is unattended_room or gate: the person model can stand in for the objects model on this camera."""
        types = {r.type for z in self.zones for r in z.rules if r.enabled}
        return bool(types & {"unattended_room", "gate"}) and types <= {"unattended_room", "gate", "fire_smoke"}

    @property
    def has_gate_rule(self) -> bool:
        return any(r.type == "gate" and r.enabled for z in self.zones for r in z.rules)

    @property
    def effective_detect_fps(self) -> float:
        """detect_fps, raised to FIRE_MIN_HZ when a fire_smoke rule is enabled on this camera and to GATE_MIN_HZ
        when a gate rule is."""
        fps = max(self.detect_fps, FIRE_MIN_HZ) if self.has_fire_rule else self.detect_fps
        return max(fps, GATE_MIN_HZ) if self.has_gate_rule else fps


class Institution(Strict):
    id: str = F(title="Institution id", description="Stable id: letters, digits, '-' and '_'.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = F(title="Name", description="Official name, e.g. 'XX县社会福利中心'.", min_length=1, pattern=NO_NUL)
    region: str = F(title="Region path", description="Administrative path from county down, '/'-separated, e.g. 'XX县/YY镇'.", min_length=1,
                    max_length=255, pattern=REGION_PATTERN)
    kind: Literal["elder_care", "child_welfare", "relief_station", "funeral_home", "other"] = F("elder_care", title="Kind", description="Type of civil-affairs institution.")


class DetectorConfig(Strict):
    model: str | None = F(None, title="Model", description="Catalogue name or path of an ultralytics model (.pt/.onnx/.tflite/OpenVINO dir); default: env VIGIL_MODEL, else the catalogue's coco default.")
    imgsz: int = F(320, title="Input size", description="Detector input size in pixels (exports with a fixed input, such as the default yolov5n-coco-320 or the 640 px TFLite, run at their own size).", ge=64, le=1920)
    confidence: float = F(0.25, title="Detector confidence", description="Lowest score the detector reports; rules apply their own thresholds.", gt=0, le=1)
    person_model: str | None = F(None, title="Person model", description="Catalogue name or path of a person-only model run instead of the objects model on cameras whose rules look only at people (unattended_room, gate, and fire_smoke's person check): people seen from the ceiling or a high corner, which the COCO model misses. It costs no extra model call. null: the objects model everywhere.")
    fire_model: str | None = F("auto", title="Fire/smoke model", description="Catalogue name or path of a fire/smoke model; 'auto' takes the catalogue's default fire model (the one vigil trains and ships); null switches fire_smoke rules off (they then report themselves disabled).")
    threads: int | None = F(None, title="Inference threads", description="Inference calls run side by side, each single-threaded (ONNX Runtime); default: one per core. On small CPUs this beats one call with many threads, whose threads wait on each other and on the decoders.", ge=1, le=256)
    max_batch: int = F(8, title="Maximum batch", description="Frames from different cameras run through a model in one call, at most this many.", ge=1, le=64)
    still_recheck_s: float = F(2.0, title="Still-scene re-check seconds", description="While a camera's picture does not move, its models run only this often (the rules keep their rate with the remembered detections).", gt=0, le=60)
    fire_imgsz: int | None = F(None, title="Fire model input size", description="Input size for the fire/smoke model; default: the size the catalogue entry was trained at, else 320.", ge=64, le=1920)


class ClipsConfig(Strict):
    enabled: bool = F(True, title="Clips enabled", description="Record an MP4 evidence clip per event, cut from the camera's own encoded stream (no re-encoding).")
    pre_s: float = F(5.0, title="Seconds before", description="Clip starts this long before the event (at the key frame at or before that moment).", ge=0, le=300)
    post_s: float = F(10.0, title="Seconds after", description="Clip ends this long after the event started.", gt=0, le=600)
    ring_s: float = F(20.0, title="Ring seconds", description="Seconds of encoded video each camera keeps in memory for clips; must be >= pre_s.", gt=0, le=600, validate_default=True)

    @field_validator("ring_s")
    @classmethod
    def _ring_covers_pre(cls, v: float, info: ValidationInfo) -> float:
        pre = info.data.get("pre_s")
        if pre is not None and v < pre:
            raise ValueError(f"must be >= pre_s ({pre:g}), got {v:g}: the ring could not hold the seconds before an event")
        return v


class RetentionConfig(Strict):
    max_age_days: float = F(30.0, title="Maximum age (days)", description="Snapshots and clips older than this are deleted.", gt=0)
    min_free_mb: float = F(1024.0, title="Minimum free space (MB)", description="While the media disk has less free space than this, the oldest media files are deleted.", ge=0)
    max_media_mb: float | None = F(None, title="Maximum media size (MB)", description="While media (snapshots + clips) take more than this, the oldest files are deleted; null: no limit.", gt=0)
    check_interval_s: float = F(300.0, title="Check interval (s)", description="How often retention runs.", ge=1)


class StorageConfig(Strict):
    database_url: str | None = F(None, title="Database URL", description="SQLAlchemy URL; default: sqlite file under data_dir. postgresql+psycopg://... for PostgreSQL.")
    data_dir: str = F(".vigil-data", title="Data directory", description="Where the SQLite file and media (snapshots, clips) are written.")
    clips: ClipsConfig = F(default_factory=ClipsConfig, title="Evidence clips", description="MP4 clip per event from a ring buffer of the camera's packets.")
    retention: RetentionConfig = F(default_factory=RetentionConfig, title="Media retention", description="Deletes old media by age, free disk space and total size.")
    spool: SpoolConfig = F(default_factory=SpoolConfig, title="Event spool", description="Where event writes wait while the database is unreachable.")


class ServerConfig(Strict):
    host: str = F("127.0.0.1", title="Host", description="Address the API listens on.")
    port: int = F(8470, title="Port", description="Port the API listens on.", ge=1, le=65535)
    timezone: str = F("Asia/Shanghai", title="Time zone", description="Local time zone for schedules and the UI.")
    metrics_token: SecretStr | None = F(None, title="Metrics token", description=(
        "Bearer token Prometheus presents for /metrics (at least 24 characters; an admin's login or API token works "
        "too). Unset: /metrics answers only admins."), min_length=24)
    session_hours: float = F(12, title="Session hours", description="How long a browser login lasts.", gt=0, le=720)
    secure_cookies: bool = F(False, title="Secure cookies", description=(
        "Mark the session cookie Secure (browser sends it over HTTPS only). Turn on behind a TLS proxy."))
    allowed_origins: list[str] = F(default_factory=list, title="Allowed origins", description=(
        "Further origins (scheme://host:port) whose cookie-authenticated writes are accepted, besides the API's own."))


class VigilConfig(Strict):
    institutions: list[Institution] = F(title="Institutions", description="Institutions under supervision.", min_length=1)
    cameras: list[Camera] = F(default_factory=list, title="Cameras", description="Cameras and their zones and rules.")
    detector: DetectorConfig = F(default_factory=DetectorConfig, title="Detector", description="Object detector settings.")
    storage: StorageConfig = F(default_factory=StorageConfig, title="Storage", description="Database and media.")
    server: ServerConfig = F(default_factory=ServerConfig, title="Server", description="HTTP API.")
    notifications: NotificationsConfig = F(default_factory=NotificationsConfig, title="Notifications", description="Webhooks, MQTT and the event stream (transactional outbox).")
    hazards: HazardsConfig = F(default_factory=HazardsConfig, title="Hazards", description="The hazard ledger: deadlines, escalation, the camera re-check, uploads, complaints.")
    live: LiveConfig = F(default_factory=LiveConfig, title="Live view", description="WebRTC relay of the camera's own H.264, viewer caps, ICE addresses, the MJPEG fallback.")
    cluster: ClusterConfig = F(default_factory=ClusterConfig, title="Cluster", description="Cameras spread over a Ray cluster with failover (issue #19); absent: one box.")

    @model_validator(mode="after")
    def _refs(self) -> "VigilConfig":
        ids = [i.id for i in self.institutions]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"institution ids must be unique, repeated: {sorted(dup)}")
        cids = [c.id for c in self.cameras]
        dup = {i for i in cids if cids.count(i) > 1}
        if dup:
            raise ValueError(f"camera ids must be unique, repeated: {sorted(dup)}")
        for i, c in enumerate(self.cameras):
            if c.institution not in ids:
                raise ValueError(f"cameras[{i}].institution: unknown institution '{c.institution}' (known: {', '.join(ids)})")
        return self

    def camera(self, camera_id: str) -> Camera:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)


class ConfigError(Exception):
    """Invalid configuration; `errors` holds one 'path: reason' line per problem."""

    def __init__(self, source: str, errors: list[str]):
        self.source, self.errors = source, errors
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in RULE_TYPES or str(part).startswith("function-"):
            continue  # discriminator tag of the rule union
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for e in exc.errors():
        msg = e["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        elif e["type"] == "union_tag_invalid":
            msg = f"unknown rule type {e.get('input', {}).get('type')!r}; expected one of {', '.join(RULE_TYPES)}" if isinstance(e.get("input"), dict) else msg
        elif e["type"] == "missing":
            msg = "required field is missing"
        path = _format_loc(tuple(e["loc"]))
        # model validators name the sub-path they complain about ("zones[0].rules[1]: ...")
        m = re.match(r"^([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (.+)$", msg, re.S)
        if m and ("[" in m.group(1) or "." in m.group(1)):
            path = m.group(1) if path == "(root)" else f"{path}.{m.group(1)}"
            msg = m.group(2)
        lines.append(f"{path}: {msg}")
    return lines


def parse_config(data: Any, source: str = "<config>") -> VigilConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(root): the file must hold a mapping with at least 'institutions'"])
    try:
        return VigilConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_errors(exc)) from None


def load_config(path: str | Path) -> VigilConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"(file): not a YAML config: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                                      f"at offset {exc.start})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}"]) from None
    cfg = parse_config(data, str(path))
    # relative file camera paths are relative to the config file
    for cam in cfg.cameras:
        if urlsplit(cam.url).scheme in ("",) and not Path(cam.url).is_absolute():
            cam.url = str((path.parent / cam.url).resolve())
    return cfg


def redact_url(url: str) -> str:
    """Replace the password (and user) of a URL by '***' so it can be shown or logged."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return parts._replace(netloc=netloc).geturl()


def parse_hhmm(v: str) -> dtime:
    h, m = v.split(":")
    return dtime(23, 59, 59) if int(h) == 24 else dtime(int(h), int(m))
