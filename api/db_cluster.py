"""Cluster mode's record (issue #19): which node holds each camera, the nodes, and every move with its reason.

The `ClusterMaintainer` (vigil/cluster/maintainer.py) writes them; `vigil cluster status`, `/metrics` and the API's
camera list read them, so any API process (they are stateless) and an operator without a Ray connection see the
same picture. PostgreSQL stays the system of record: a restarted maintainer takes the holders back from here."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.api.db_base import Base, UTCDateTime, utcnow


class ClusterNodeRow(Base):
    """A node that declared capacity for cameras (a Ray node's `vigil_cameras` resource, or one of the virtual nodes
    a raylet stands for, `vigil_node_<name>`)."""
    __tablename__ = "cluster_nodes"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    ray_node_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(80), nullable=True)
    capacity: Mapped[float] = mapped_column(Float, default=0.0)  # camera units
    alive: Mapped[bool] = mapped_column(Boolean, default=True)
    cameras: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # last answer of its worker
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CameraHolderRow(Base):
    """The node holding a camera now, since when, and what its worker last said about it."""
    __tablename__ = "camera_holders"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)  # None: no node has room
    generation: Mapped[int] = mapped_column(Integer, default=0)  # +1 at each move
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the reader's: online, offline, ...
    last_frame_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lag_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    detect_hz: Mapped[float | None] = mapped_column(Float, nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClusterMoveRow(Base):
    __tablename__ = "cluster_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    camera_id: Mapped[str] = mapped_column(String(64))
    src: Mapped[str | None] = mapped_column(String(80), nullable=True)
    dst: Mapped[str | None] = mapped_column(String(80), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))  # new camera | node lost | node full | rebalance | worker restarted
    # seconds from the camera's last frame on its old node to its first on the new one (set once it is known)
    gap_s: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_cluster_moves_at", "at"), Index("ix_cluster_moves_camera", "camera_id", "at"))
