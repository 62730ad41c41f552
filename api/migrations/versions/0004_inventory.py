"""inventory: regions, institutions, cameras, zones and rules as records (filled in by the inventory work)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder in the revision chain; the inventory tables land here


def downgrade() -> None:
    pass
