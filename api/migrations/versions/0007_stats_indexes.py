"""statistics indexes: the ledger's statistics (vigil/ledger/stats.py) count per institution and period

- events (institution_id, started_at, review_status, rule): per institution, per category and the trend are
  index-only scans, one index range per institution of the caller's scope (before: the started_at index and a
  table lookup per event, or a scan of every event of the institutions);
- hazards (institution_id, opened_at, state, closed_at, deadline_at, category): the hazards opened in a period,
  their closing and close durations, per institution or category, without table lookups;
- hazards (institution_id, closed_at, state): hazards closed per trend bucket, and the open ones (closed_at NULL).
`vigil bench stats --compare-indexes` shows the plans and times with and without them (README, Measured).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_events_inst_started": ("events", ["institution_id", "started_at", "review_status", "rule"]),
    "ix_hazards_inst_opened_cover": ("hazards", ["institution_id", "opened_at", "state", "closed_at", "deadline_at",
                                                 "category"]),
    "ix_hazards_inst_closed": ("hazards", ["institution_id", "closed_at", "state"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
