"""share transfers (Manila 2.77)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:35:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('share_id', sa.String(length=36), nullable=False),
    sa.Column('source_project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('salt', sa.String(length=255), nullable=False),
    sa.Column('crypt_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('share_transfers') as batch:
        batch.create_index('ix_share_transfers_share_id', ['share_id'])
        batch.create_index('ix_share_transfers_source_project_id', ['source_project_id'])


def downgrade() -> None:
    op.drop_table('share_transfers')
