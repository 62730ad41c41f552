"""inventory: regions, institutions, cameras, zones and rules as records

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from vigil.api.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column]:
    return [sa.Column("created_at", UTCDateTime(), nullable=False), sa.Column("updated_at", UTCDateTime(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("regions.id", ondelete="RESTRICT"), nullable=True, index=True),
        *_stamps(),
    )
    op.create_table(
        "institutions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("region_id", sa.Integer, sa.ForeignKey("regions.id", ondelete="RESTRICT"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        *_stamps(),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id", ondelete="RESTRICT"),
                  nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("site_kind", sa.String(32), nullable=False),
        sa.Column("detect_fps", sa.Float, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("offline_after_s", sa.Float, nullable=False),
        sa.Column("keyframes_only", sa.Boolean, nullable=False),
        sa.Column("loop", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        *_stamps(),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), sa.ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("polygon", sa.JSON, nullable=False),
        sa.UniqueConstraint("camera_id", "name", name="uq_zones_camera_name"),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("zone_id", sa.Integer, sa.ForeignKey("zones.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("rules", "zones", "cameras", "institutions", "regions"):
        op.drop_table(table)
