"""The gate's hourly counts (issue #18, the gate rule): people in and out per camera, zone and hour.

One row per (camera, zone, UTC hour); `night_out` counts the exits inside the rule's night window (each also counted
in `exits`). The statistics (vigil/ledger/stats.py) sum them per institution and period."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.api.db_base import Base, UTCDateTime


class GateCountRow(Base):
    __tablename__ = "gate_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    institution_id: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(80))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())  # start of the UTC hour
    entries: Mapped[int] = mapped_column(Integer, default=0)
    exits: Mapped[int] = mapped_column(Integer, default=0)
    night_out: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("camera_id", "zone", "hour", name="uq_gate_counts_camera_zone_hour"),
                      Index("ix_gate_counts_inst_hour", "institution_id", "hour", "entries", "exits", "night_out"))
