"""volume migration: migration_status and name_id on volumes, volume_migrations

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('migration_status', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('name_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_volumes_migration_status'), ['migration_status'], unique=False)
    op.create_table('volume_migrations',
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('flow_id', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=36), nullable=False),
    sa.Column('backend', sa.String(length=255), nullable=True),
    sa.Column('pool', sa.String(length=255), nullable=True),
    sa.Column('new_type_id', sa.String(length=36), nullable=True),
    sa.Column('previous_status', sa.String(length=32), nullable=False),
    sa.Column('force_host_copy', sa.Boolean(), nullable=False),
    sa.Column('old_backend', sa.String(length=255), nullable=True),
    sa.Column('old_pool', sa.String(length=255), nullable=True),
    sa.Column('old_location', sa.String(length=1024), nullable=True),
    sa.Column('old_name_id', sa.String(length=36), nullable=True),
    sa.Column('copy_started', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['volume_id'], ['volumes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volume_id')
    )


def downgrade() -> None:
    op.drop_table('volume_migrations')
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volumes_migration_status'))
        batch_op.drop_column('name_id')
        batch_op.drop_column('migration_status')
