"""resource locks (Manila 2.81)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 00:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('resource_locks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('lock_context', sa.String(length=10), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('resource_action', sa.String(length=32), nullable=False),
    sa.Column('lock_reason', sa.String(length=1023), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_resource_locks_project_id'), 'resource_locks', ['project_id'], unique=False)
    op.create_index(op.f('ix_resource_locks_resource_id'), 'resource_locks', ['resource_id'], unique=False)


def downgrade() -> None:
    op.drop_table('resource_locks')
