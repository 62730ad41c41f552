"""evidence clip per event: clip_path (relative to the media dir) and clip_status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as b:  # batch: SQLite rebuilds the table, PostgreSQL alters it
        b.add_column(sa.Column("clip_path", sa.String(255), nullable=True))
        b.add_column(sa.Column("clip_status", sa.String(16), nullable=True))
        b.create_index("ix_events_clip_status", ["clip_status"])


def downgrade() -> None:
    with op.batch_alter_table("events") as b:
        b.drop_index("ix_events_clip_status")
        b.drop_column("clip_status")
        b.drop_column("clip_path")
