"""Tables of the transactional outbox (issue #15, notifications): one row per notification, written in the same
transaction as the change it announces; per-channel delivery progress; dead letters.

- `outbox`: the notification. `delivery_id` is unique and stable (receivers dedupe by it). `seq` is NULL until the
  one dispatcher publishes the row: it numbers rows in the order their transactions became visible, so a channel's
  progress is a single number (`outbox_channels.last_seq`) with no gaps even when two transactions commit in an
  order other than their ids (PostgreSQL).
- `outbox_channels`: one row per delivery channel (`webhook:<name>`, `mqtt`): the last delivered `seq`, the
  failed attempts on the row at its head and when to try it again.
- `outbox_dead_letters`: a notification a channel gave up on after its attempts (admins see and redeliver them).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.api.db_base import Base, UTCDateTime, utcnow


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)  # set when published
    kind: Mapped[str] = mapped_column(String(32), index=True)  # event.opened | ... | camera.status
    institution_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(255), nullable=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OutboxChannelRow(Base):
    __tablename__ = "outbox_channels"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # webhook:<name> | mqtt
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # delivered (or skipped, or dead-lettered) up to here
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failed tries of the row after last_seq
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    dead: Mapped[int] = mapped_column(Integer, default=0)
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeadLetterRow(Base):
    __tablename__ = "outbox_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(80), index=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="dead", index=True)  # dead | redeliver | redelivered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    redelivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (UniqueConstraint("channel", "outbox_id", name="uq_dead_letters_channel_outbox"),)
