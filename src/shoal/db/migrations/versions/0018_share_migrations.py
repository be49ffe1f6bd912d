"""share migrations (Manila 2.29+ migration_start/complete/cancel/get_progress)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 00:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_migrations',
    sa.Column('share_id', sa.String(length=36), nullable=False),
    sa.Column('flow_id', sa.String(length=64), nullable=True),
    sa.Column('dest_key', sa.String(length=36), nullable=False),
    sa.Column('backend', sa.String(length=255), nullable=False),
    sa.Column('pool', sa.String(length=255), nullable=False),
    sa.Column('new_type_id', sa.String(length=36), nullable=True),
    sa.Column('writable', sa.Boolean(), nullable=False),
    sa.Column('last_tag', sa.String(length=255), nullable=True),
    sa.Column('bytes_sent', sa.BigInteger(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('old_backend', sa.String(length=255), nullable=False),
    sa.Column('old_pool', sa.String(length=255), nullable=True),
    sa.Column('old_location', sa.String(length=1024), nullable=True),
    sa.Column('switched', sa.Boolean(), nullable=False),
    sa.Column('cancelling', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('share_id')
    )


def downgrade() -> None:
    op.drop_table('share_migrations')
