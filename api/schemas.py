"""API request/response models."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# events.id is an INTEGER column: 32 bits on PostgreSQL, so no id (and no count of rows) passes this
MAX_ID = 2**31 - 1
# camera and institution ids, as vigil.config requires them
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# text that PostgreSQL can store (its text type holds no NUL byte)
TEXT_PATTERN = r"^[^\x00]*$"
USERNAME_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"


def _iso_text(value: Any) -> Any:
    """Pydantic would also read a bare number as Unix time; the API documents ISO 8601 date-times only."""
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T08:00:00Z")
    return value


def _utc_clamped(dt: datetime) -> datetime:
    """Aware UTC (naive means UTC). A time that lies beyond datetime's range once moved to UTC
    (9999-12-31T23:00-05:00) becomes its end: nothing is stored out there either."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:
        edge = datetime.max if dt.year > 1 else datetime.min
        return edge.replace(tzinfo=timezone.utc)


UtcDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc_clamped)]


class UserIdentity(BaseModel):
    """Who a user is and what they may see: the common part of /api/auth/me and /api/users."""
    id: int
    username: str
    display_name: str | None
    role: str
    regions: list[str]
    institutions: list[str]
    scope: str = Field(description="The scope in words, e.g. 'region 示范县/城关镇'.")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where: 'path', 'query' or 'body', then the parameter or field.")
    msg: str
    type: str = Field(description="Pydantic's error type, e.g. 'missing', 'int_parsing', 'literal_error'.")


class ErrorOut(BaseModel):
    """The JSON body of the API's error responses (all but the clip's plain-text Range errors)."""
    detail: str = Field(description="What went wrong, in one line.")
    errors: list[ErrorItem] | None = Field(None, description="422 for invalid input: one entry per wrong field.")


ReasonCode = Literal["misdetection", "allowed_object", "drill_or_test", "camera_fault", "other"]
NOTE = Field(None, max_length=2000, pattern=TEXT_PATTERN, description="Free text shown in the ledger.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirmed"] = Field(description="A real hazard.")
    note: str | None = NOTE


class FalseAlarmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["false_alarm"] = Field(description="Dismiss the event.")
    reason: ReasonCode = Field(description="misdetection, allowed_object, drill_or_test, camera_fault or other "
                                           "(say what in the note).")
    note: str | None = NOTE


class OnsiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["needs_onsite_check"] = Field(description="Someone must look on site; the event stays open "
                                                               "for review.")
    note: str | None = NOTE


ReviewIn = Annotated[ConfirmIn | FalseAlarmIn | OnsiteIn, Field(discriminator="verdict")]


class _Id(BaseModel):
    id: int = Field(ge=1, le=MAX_ID, description="Event id.")


class BulkConfirm(ConfirmIn, _Id):
    pass


class BulkFalseAlarm(FalseAlarmIn, _Id):
    pass


class BulkOnsite(OnsiteIn, _Id):
    pass


class BulkReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Annotated[BulkConfirm | BulkFalseAlarm | BulkOnsite, Field(discriminator="verdict")]] = Field(
        min_length=1, max_length=200, description="One verdict per event.")


class BulkResult(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="What the single review would have answered: 200, 404, 409 or 422.")
    detail: str | None = None
    review_status: str | None = None


class BulkReviewOut(BaseModel):
    results: list[BulkResult]
    reviewed: int
    failed: int


class QueueOut(BaseModel):
    pending: int
    needs_onsite_check: int
    claimed: int = Field(description="Open for review and held by someone's lease now.")
    unclaimed: int
    mine_claimed: int
    mine_reviewed_today: int = Field(description="Verdicts the caller gave since midnight UTC.")


class EventOut(BaseModel):
    id: int
    camera_id: str
    camera_name: str | None
    institution_id: str
    institution_name: str | None
    zone: str | None
    rule: str
    state: Literal["open", "closed"]
    review_status: Literal["pending", "confirmed", "false_alarm", "needs_onsite_check"]
    started_at: datetime
    ended_at: datetime | None
    peak_confidence: float
    params: dict[str, Any]
    detail: dict[str, Any]
    snapshot_url: str | None
    clip_url: str | None = Field(description="MP4 evidence clip (HTTP Range supported); set once the clip is ready.")
    clip_status: Literal["recording", "ready", "failed", "pruned"] | None = Field(
        description="recording: still being written; ready; failed (detail.clip_error says why); pruned: deleted by "
                    "media retention; null: no clip was requested (clips disabled, or the camera kept none).")
    reviewed_at: datetime | None
    reviewer: str | None
    review_note: str | None
    review_reason: str | None = Field(None, description="The false alarm's reason code.")
    claimed_by: str | None = Field(None, description="Who holds the review lease now (null: nobody).")
    claimed_until: datetime | None = None


class EventPage(BaseModel):
    items: list[EventOut]
    total: int
    limit: int
    offset: int


class RuleStatus(BaseModel):
    camera_id: str
    zone: str | None
    rule: str
    status: str = Field(description="ok | alarm | unarmed | disabled | stopped")
    reason: str | None
    open_event_id: int | None


class CameraOut(BaseModel):
    id: str
    name: str
    institution_id: str
    institution_name: str | None = Field(description="None only for a camera whose institution was removed meanwhile.")
    region: str | None
    site_kind: str
    url: str = Field(description="Stream URL with any password replaced by ***.")
    detect_fps: float
    enabled: bool
    zones: list[str]
    status: str
    fps: float
    detect_hz: float
    last_frame_at: float | None
    reconnects: int
    last_error: str | None
    lag_s: float = Field(0.0, description="Decode to rules-done delay of the last detection frame, seconds.")
    dropped_frames: int = Field(0, description="Frames dropped because the processor was busy (newest frame wins).")
    node: str | None = Field(None, description="Cluster mode: the node holding the camera (its status, rates and lag "
                                               "are that node's last report); absent on one box.")
    models: dict[str, str | None] = Field(default_factory=dict, description=(
        "The model files this camera's detection really runs, by purpose (objects, fire; null: no fire rule here). "
        "An int8 file this CPU cannot compute exactly is replaced by its float twin: see Health.models for why."))


class ModelRun(BaseModel):
    purpose: Literal["objects", "fire"]
    requested: str = Field(description="The model file the configuration asks for.")
    used: str = Field(description="The file really loaded (the float twin of an int8 file this CPU cannot run exactly).")
    precision: str = Field(description="float or int8.")
    weights: str | None = Field(description="int8 weight format of the requested file: s7, s8 or u8; null for float.")
    kernel: str = Field(description="ONNX Runtime kernel path on this CPU, e.g. 'u8s8 AVX2 (vpmaddubsw, int16 pair sums)'.")
    reason: str = Field(description="Why this file and kernel, e.g. 'int8 requested, float used: CPU lacks VNNI ...'.")
    loaded: bool = Field(description="false: what would run once a camera needs it (no enabled camera uses it yet).")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the database fails or an enabled camera is not online.")
    database: str
    cameras_enabled: int
    cameras_online: int


class Status(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    cpu: str = Field(description="This machine's CPU and the flags that decide ONNX Runtime's kernels.")
    models: list[ModelRun] = Field(description="Which model file each purpose really runs, on which kernel, and why.")
    cameras: list[CameraOut]
    rules: list[RuleStatus]
