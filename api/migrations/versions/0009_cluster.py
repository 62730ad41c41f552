"""cluster mode: nodes, the node holding each camera, moves (issue #19)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from vigil.api.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_nodes",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("ray_node_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=80), nullable=True),
        sa.Column("capacity", sa.Float(), nullable=False),
        sa.Column("alive", sa.Boolean(), nullable=False),
        sa.Column("cameras", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=True),
        sa.Column("lost_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "camera_holders",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=80), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("last_frame_at", UTCDateTime(), nullable=True),
        sa.Column("lag_s", sa.Float(), nullable=True),
        sa.Column("detect_hz", sa.Float(), nullable=True),
        sa.Column("reported_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("camera_id"),
    )
    op.create_index("ix_camera_holders_node", "camera_holders", ["node"], unique=False)
    op.create_table(
        "cluster_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("src", sa.String(length=80), nullable=True),
        sa.Column("dst", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("gap_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_cluster_moves_at", "cluster_moves", ["at"], unique=False)
    op.create_index("ix_cluster_moves_camera", "cluster_moves", ["camera_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cluster_moves_camera", table_name="cluster_moves")
    op.drop_index("ix_cluster_moves_at", table_name="cluster_moves")
    op.drop_table("cluster_moves")
    op.drop_index("ix_camera_holders_node", table_name="camera_holders")
    op.drop_table("camera_holders")
    op.drop_table("cluster_nodes")
