"""shares: task_state (reset_task_state) and the recycle bin (soft delete, Manila 2.69)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.add_column(sa.Column('task_state', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('is_soft_deleted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('scheduled_to_be_deleted_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_shares_is_soft_deleted', ['is_soft_deleted'])


def downgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.drop_index('ix_shares_is_soft_deleted')
        batch.drop_column('scheduled_to_be_deleted_at')
        batch.drop_column('is_soft_deleted')
        batch.drop_column('task_state')
