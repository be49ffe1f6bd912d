"""the lists' indexes: a project's shares, volumes and snapshots in their default
order (services/common/paging.py)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_shares_listing', 'shares', ['project_id', 'is_soft_deleted', 'created_at', 'id'])
    op.create_index('ix_share_snapshots_listing', 'share_snapshots', ['project_id', 'created_at', 'id'])
    op.create_index('ix_volumes_listing', 'volumes', ['project_id', sa.text('created_at DESC'), 'id'])
    op.create_index('ix_volume_snapshots_listing', 'volume_snapshots', ['project_id', sa.text('created_at DESC'), 'id'])


def downgrade() -> None:
    op.drop_index('ix_volume_snapshots_listing', table_name='volume_snapshots')
    op.drop_index('ix_volumes_listing', table_name='volumes')
    op.drop_index('ix_share_snapshots_listing', table_name='share_snapshots')
    op.drop_index('ix_shares_listing', table_name='shares')
