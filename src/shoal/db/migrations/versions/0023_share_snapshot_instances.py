"""snapshot instances of replicated shares: one row per (snapshot, replica)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 02:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'share_snapshot_instances',
        sa.Column('id', sa.String(36), primary_key=True, nullable=False),
        sa.Column('snapshot_id', sa.String(36), sa.ForeignKey('share_snapshots.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('replica_id', sa.String(36), sa.ForeignKey('share_replicas.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('status', sa.String(32), nullable=False),
        sa.Column('provider_location', sa.String(1024)),
        sa.Column('status_reason', sa.Text()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table('share_snapshot_instances')
