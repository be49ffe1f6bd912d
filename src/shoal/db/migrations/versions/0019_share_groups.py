"""share groups (Manila 2.31+), and a share's group

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_groups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('share_group_type_id', sa.String(length=36), nullable=False),
    sa.Column('share_type_ids', sa.JSON(), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('backend', sa.String(length=255), nullable=True),
    sa.Column('pool', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_share_groups_project_id', 'share_groups', ['project_id'])
    with op.batch_alter_table('shares') as batch:
        batch.add_column(sa.Column('share_group_id', sa.String(length=36), nullable=True))
        batch.create_index('ix_shares_share_group_id', ['share_group_id'])


def downgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.drop_index('ix_shares_share_group_id')
        batch.drop_column('share_group_id')
    op.drop_index('ix_share_groups_project_id', 'share_groups')
    op.drop_table('share_groups')
