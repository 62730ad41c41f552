"""Tables of the inventory: regions (a row per path, with its parent), institutions, cameras, their zones and the
zones' rules (migration 0004). What a row may hold is decided by the configuration's pydantic models
(vigil/config.py), which vigil/inventory.py applies before anything is written here.

A camera's stream URL is stored as the configuration file holds it (with any password): it is shown only through
`redact_url`. A rule row keeps the rule's type and the parameters the configuration set (`params`, JSON), so loading
the rows back gives the same `Camera` object the YAML gave."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.api.db_base import Base, UTCDateTime, utcnow

REGION_PATH_MAX = 255  # the region path column (and vigil.config.Institution.region)


class RegionRow(Base):
    """One administrative region: `path` from the county down (`示范县/城关镇`), `name` its last part."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(REGION_PATH_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(REGION_PATH_MAX))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), nullable=True,
                                                  index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class InstitutionRow(Base):
    __tablename__ = "institutions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order of the configuration file
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    region: Mapped[RegionRow] = relationship(lazy="joined")


class CameraRow(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)  # as configured, password included: shown only through redact_url
    site_kind: Mapped[str] = mapped_column(String(32))
    detect_fps: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean)
    offline_after_s: Mapped[float] = mapped_column(Float)
    keyframes_only: Mapped[bool] = mapped_column(Boolean)
    loop: Mapped[bool] = mapped_column(Boolean)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    zones: Mapped[list[ZoneRow]] = relationship(order_by="ZoneRow.position", cascade="all, delete-orphan",
                                                passive_deletes=True)


class ZoneRow(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    polygon: Mapped[list[Any]] = mapped_column(JSON)  # [[x, y], ...] in 0..1

    rules: Mapped[list[RuleRow]] = relationship(order_by="RuleRow.position", cascade="all, delete-orphan",
                                                passive_deletes=True)

    __table_args__ = (UniqueConstraint("camera_id", "name", name="uq_zones_camera_name"),)


class RuleRow(Base):
    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # the fields the configuration set, without `type`
