"""API request/response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirmed", "false_alarm"] = Field(description="confirmed: a real hazard; false_alarm: dismiss.")
    note: str | None = Field(None, max_length=2000, description="Free text shown in the ledger.")
    reviewer: str | None = Field(None, max_length=64, description="Who reviewed (until accounts exist).")


class EventOut(BaseModel):
    id: int
    camera_id: str
    camera_name: str | None
    institution_id: str
    institution_name: str | None
    zone: str | None
    rule: str
    state: Literal["open", "closed"]
    review_status: Literal["pending", "confirmed", "false_alarm"]
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
    institution_name: str
    region: str
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


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    cameras: list[CameraOut]
    rules: list[RuleStatus]
