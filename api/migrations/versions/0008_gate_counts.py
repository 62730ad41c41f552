"""gate counts: people in and out per camera, zone and UTC hour (the gate rule, issue #18)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from vigil.api.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_counts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=80), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("night_out", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "zone", "hour", name="uq_gate_counts_camera_zone_hour"),
    )
    op.create_index("ix_gate_counts_inst_hour", "gate_counts",
                    ["institution_id", "hour", "entries", "exits", "night_out"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_gate_counts_inst_hour", table_name="gate_counts")
    op.drop_table("gate_counts")
