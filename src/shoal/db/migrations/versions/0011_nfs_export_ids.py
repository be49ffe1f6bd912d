"""NFS Export_Ids kept in the database

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nfs_export_ids',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('export_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    sa.UniqueConstraint('export_id')
    )


def downgrade() -> None:
    op.drop_table('nfs_export_ids')
