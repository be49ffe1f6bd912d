"""share group snapshots and their members (Manila 2.31+); a group made from one, a
share made from a member

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_group_snapshots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('share_group_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_share_group_snapshots_project_id', 'share_group_snapshots', ['project_id'])
    op.create_index('ix_share_group_snapshots_share_group_id', 'share_group_snapshots', ['share_group_id'])
    op.create_table('share_group_snapshot_members',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('share_group_snapshot_id', sa.String(length=36), nullable=False),
    sa.Column('share_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('share_proto', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('provider_location', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['share_group_snapshot_id'], ['share_group_snapshots.id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_share_group_snapshot_members_share_group_snapshot_id', 'share_group_snapshot_members',
                    ['share_group_snapshot_id'])
    op.create_index('ix_share_group_snapshot_members_share_id', 'share_group_snapshot_members', ['share_id'])
    with op.batch_alter_table('share_groups') as batch:
        batch.add_column(sa.Column('source_share_group_snapshot_id', sa.String(length=36), nullable=True))
        batch.create_index('ix_share_groups_source_share_group_snapshot_id', ['source_share_group_snapshot_id'])
    with op.batch_alter_table('shares') as batch:
        batch.add_column(sa.Column('source_share_group_snapshot_member_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.drop_column('source_share_group_snapshot_member_id')
    with op.batch_alter_table('share_groups') as batch:
        batch.drop_index('ix_share_groups_source_share_group_snapshot_id')
        batch.drop_column('source_share_group_snapshot_id')
    op.drop_index('ix_share_group_snapshot_members_share_id', 'share_group_snapshot_members')
    op.drop_index('ix_share_group_snapshot_members_share_group_snapshot_id', 'share_group_snapshot_members')
    op.drop_table('share_group_snapshot_members')
    op.drop_index('ix_share_group_snapshots_share_group_id', 'share_group_snapshots')
    op.drop_index('ix_share_group_snapshots_project_id', 'share_group_snapshots')
    op.drop_table('share_group_snapshots')
