"""SQLAlchemy 2 models and engine/session setup. The schema is created by Alembic migrations."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from vigil.api.db_base import Base, UTCDateTime, utc, utcnow
from vigil.api import db_access as _db_access  # noqa: F401  (registers the account tables on Base)
from vigil.api import db_inventory as _db_inventory  # noqa: F401  (registers the inventory tables on Base)
from vigil.api import db_outbox as _db_outbox  # noqa: F401  (registers the outbox tables on Base)
from vigil.api import db_ledger as _db_ledger  # noqa: F401  (registers the hazard ledger tables on Base)
from vigil.api import db_gate as _db_gate  # noqa: F401  (registers the gate counts table on Base)
from vigil.api import db_cluster as _db_cluster  # noqa: F401  (registers the cluster tables on Base)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    institution_id: Mapped[str] = mapped_column(String(64), index=True)
    zone: Mapped[str | None] = mapped_column(String(80), nullable=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed
    # pending | confirmed | false_alarm | needs_onsite_check
    review_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stream_start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    stream_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    clip_path: Mapped[str | None] = mapped_column(String(255), nullable=True)  # relative to the media dir
    clip_status: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)  # recording | ready | failed | pruned
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the reviewing user's name
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    review_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # false_alarm reason code
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # user id holding the claim
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # stable key of the event (camera, zone, rule, start): a replayed write finds its row instead of adding one
    event_key: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True, index=True)

    __table_args__ = (Index("ix_events_open_key", "camera_id", "zone", "rule", "state"),
                      # statistics (migration 0007): index-only counting per institution and period
                      Index("ix_events_inst_started", "institution_id", "started_at", "review_status", "rule"))


def default_sqlite_url(data_dir: str | Path) -> str:
    p = Path(data_dir).resolve()
    p.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{p / 'vigil.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _rec):  # WAL: readers do not block the event writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=PG_CONNECT_ARGS if url.startswith("postgres") else {})


# libpq: give up on a connection attempt after 5 s; find a silent link by TCP keepalives (after 10 s idle, 3 probes
# 5 s apart) and by data left unacknowledged for 20 s, instead of the kernel's ~15 minutes
PG_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                   "keepalives_count": 3, "tcp_user_timeout": 20000}


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def as_utc(dt: datetime | None) -> datetime | None:
    """`utc`, passing None through (nullable columns)."""
    return None if dt is None else utc(dt)
