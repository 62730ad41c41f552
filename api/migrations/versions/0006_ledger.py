"""hazard ledger: hazards, their sightings (events), history and photos; complaints and intake tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from vigil.api.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=120), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('triaged_by', sa.String(length=64), nullable=True),
    sa.Column('triaged_at', UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_complaints_institution_id'), 'complaints', ['institution_id'], unique=False)
    op.create_index(op.f('ix_complaints_received_at'), 'complaints', ['received_at'], unique=False)
    op.create_index(op.f('ix_complaints_status'), 'complaints', ['status'], unique=False)
    op.create_table('hazards',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=True),
    sa.Column('zone', sa.String(length=80), nullable=True),
    sa.Column('rule', sa.String(length=32), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('location', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('responsible', sa.String(length=80), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=True),
    sa.Column('deadline_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=True),
    sa.Column('sightings', sa.Integer(), nullable=False),
    sa.Column('submitted_at', UTCDateTime(), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', UTCDateTime(), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_by', sa.String(length=64), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('recheck_status', sa.String(length=16), nullable=True),
    sa.Column('recheck_at', UTCDateTime(), nullable=True),
    sa.Column('recheck_detail', sa.JSON(), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', UTCDateTime(), nullable=True),
    sa.Column('supervised', sa.Boolean(), nullable=False),
    sa.Column('supervised_region', sa.String(length=255), nullable=True),
    sa.Column('supervisor', sa.String(length=64), nullable=True),
    sa.Column('complaint_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hazards_category'), 'hazards', ['category'], unique=False)
    op.create_index(op.f('ix_hazards_closed_at'), 'hazards', ['closed_at'], unique=False)
    op.create_index(op.f('ix_hazards_deadline_at'), 'hazards', ['deadline_at'], unique=False)
    op.create_index('ix_hazards_inst_opened', 'hazards', ['institution_id', 'opened_at'], unique=False)
    op.create_index(op.f('ix_hazards_institution_id'), 'hazards', ['institution_id'], unique=False)
    op.create_index('ix_hazards_open_key', 'hazards', ['camera_id', 'zone', 'rule', 'state'], unique=False)
    op.create_index(op.f('ix_hazards_opened_at'), 'hazards', ['opened_at'], unique=False)
    op.create_index(op.f('ix_hazards_state'), 'hazards', ['state'], unique=False)
    op.create_index('ix_hazards_state_deadline', 'hazards', ['state', 'deadline_at'], unique=False)
    op.create_index(op.f('ix_hazards_supervised'), 'hazards', ['supervised'], unique=False)
    op.create_table('intake_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('hazard_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index(op.f('ix_hazard_events_hazard_id'), 'hazard_events', ['hazard_id'], unique=False)
    op.create_table('hazard_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hazard_history_hazard_id'), 'hazard_history', ['hazard_id'], unique=False)
    op.create_table('hazard_photos',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('complaint_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=True),
    sa.Column('uploaded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hazard_photos_complaint_id'), 'hazard_photos', ['complaint_id'], unique=False)
    op.create_index(op.f('ix_hazard_photos_hazard_id'), 'hazard_photos', ['hazard_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_hazard_photos_hazard_id'), table_name='hazard_photos')
    op.drop_index(op.f('ix_hazard_photos_complaint_id'), table_name='hazard_photos')
    op.drop_table('hazard_photos')
    op.drop_index(op.f('ix_hazard_history_hazard_id'), table_name='hazard_history')
    op.drop_table('hazard_history')
    op.drop_index(op.f('ix_hazard_events_hazard_id'), table_name='hazard_events')
    op.drop_table('hazard_events')
    op.drop_table('intake_tokens')
    op.drop_index(op.f('ix_hazards_supervised'), table_name='hazards')
    op.drop_index('ix_hazards_state_deadline', table_name='hazards')
    op.drop_index(op.f('ix_hazards_state'), table_name='hazards')
    op.drop_index(op.f('ix_hazards_opened_at'), table_name='hazards')
    op.drop_index('ix_hazards_open_key', table_name='hazards')
    op.drop_index(op.f('ix_hazards_institution_id'), table_name='hazards')
    op.drop_index('ix_hazards_inst_opened', table_name='hazards')
    op.drop_index(op.f('ix_hazards_deadline_at'), table_name='hazards')
    op.drop_index(op.f('ix_hazards_closed_at'), table_name='hazards')
    op.drop_index(op.f('ix_hazards_category'), table_name='hazards')
    op.drop_table('hazards')
    op.drop_index(op.f('ix_complaints_status'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_received_at'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_institution_id'), table_name='complaints')
    op.drop_table('complaints')
