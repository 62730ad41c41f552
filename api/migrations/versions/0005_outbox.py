"""outbox: notifications written in the same transaction as the change they announce, and their deliveries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder in the revision chain; the outbox tables land here


def downgrade() -> None:
    pass
