"""Tables of the hazard ledger (issue #16): hazards, the events seen as their sightings, their history, their
photos, complaints (tip-offs) and the intake tokens that guard the public complaint form.

- `hazards`: one row per hazard. A camera-found hazard keeps its camera, zone and rule; while it is not closed,
  a new confirmed event of the same camera, zone and rule joins it (`hazard_events`) instead of opening another.
- `hazard_history`: every step (opened, sighting, assigned, started, submitted, recheck, rejected, verified, closed,
  reopened, comment, photo, escalated, supervised) with who, when, from and to state. Append-only by convention:
  vigil never updates or deletes it (the audit log, with its triggers, holds the same steps).
- `hazard_photos`: uploads (before, after, inspection, complaint) and the camera re-check's annotated picture,
  as files under the media folder; they are kept while the hazard is not closed, whatever media retention says.
- `complaints`: a tip-off from the public form or the API, triaged into a hazard or dismissed with a reason.
- `intake_tokens`: one per institution or region; only the secret's SHA-256 is kept.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.api.db_base import Base, UTCDateTime, utcnow


class HazardRow(Base):
    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    institution_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    zone: Mapped[str | None] = mapped_column(String(80), nullable=True)
    rule: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the rule that found it (camera hazards)
    category: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(8))  # major | general
    source: Mapped[str] = mapped_column(String(16))  # camera | inspection | complaint
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # open | rectifying | submitted | verified | closed
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    responsible: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the person who must fix it
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    opened_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    # the camera's re-check of the fix: pending | clear | still_present | unavailable
    recheck_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    recheck_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recheck_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # escalation: 0 = the institution, 1 = one region level up (township), 2 = two up (county), ...
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False, index=True)  # 挂牌督办
    supervised_region: Mapped[str | None] = mapped_column(String(255), nullable=True)
    supervisor: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who owns the supervision
    complaint_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_hazards_open_key", "camera_id", "zone", "rule", "state"),
        Index("ix_hazards_inst_opened", "institution_id", "opened_at"),
        Index("ix_hazards_state_deadline", "state", "deadline_at"),
        # statistics (migration 0007): hazards opened / closed per institution and period, without table lookups
        Index("ix_hazards_inst_opened_cover", "institution_id", "opened_at", "state", "closed_at", "deadline_at",
              "category"),
        Index("ix_hazards_inst_closed", "institution_id", "closed_at", "state"),
    )


class HazardEventRow(Base):
    """An event seen as a sighting of a hazard (an event belongs to one hazard at most)."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HazardHistoryRow(Base):
    __tablename__ = "hazard_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)  # or "system", "camera"
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class HazardPhotoRow(Base):
    __tablename__ = "hazard_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id", ondelete="CASCADE"), nullable=True, index=True)
    complaint_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # before | after | inspection | recheck | complaint
    path: Mapped[str] = mapped_column(String(255))  # relative to the media folder
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintRow(Base):
    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    institution_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(120), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    via: Mapped[str] = mapped_column(String(16))  # form | api
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)  # new | hazard | dismissed
    triaged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    hazard_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class IntakeTokenRow(Base):
    """Guards the public complaint form of one institution or region: `vgc_<id>_<secret>`."""

    __tablename__ = "intake_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))  # institution | region
    value: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
