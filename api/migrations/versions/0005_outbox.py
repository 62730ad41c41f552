"""outbox: notifications written in the same transaction as the change they announce, and their deliveries

Also `events.event_key`: a stable key per event (camera, zone, rule, start) so that a write replayed from the
on-disk spool after a database outage finds its row instead of adding a second one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from vigil.api.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(36), nullable=False, unique=True),
        sa.Column("seq", sa.Integer, nullable=True, unique=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("institution_id", sa.String(64), nullable=True, index=True),
        sa.Column("region", sa.String(255), nullable=True),
        sa.Column("camera_id", sa.String(64), nullable=True),
        sa.Column("event_id", sa.Integer, nullable=True, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "outbox_channels",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dead", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_delivered_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outbox_dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(80), nullable=False, index=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("redelivered_at", UTCDateTime(), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("channel", "outbox_id", name="uq_dead_letters_channel_outbox"),
    )
    with op.batch_alter_table("events") as b:  # batch: SQLite rebuilds the table, PostgreSQL alters it
        b.add_column(sa.Column("event_key", sa.String(36), nullable=True))
        b.create_index("ix_events_event_key", ["event_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("events") as b:
        b.drop_index("ix_events_event_key")
        b.drop_column("event_key")
    op.drop_table("outbox_dead_letters")
    op.drop_table("outbox_channels")
    op.drop_table("outbox")
