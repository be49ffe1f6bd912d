"""The image-volume cache's entries

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('image_volume_cache_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('backend', sa.String(length=255), nullable=False),
    sa.Column('pool', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=36), nullable=False),
    sa.Column('image_updated_at', sa.DateTime(), nullable=False),
    sa.Column('image_checksum', sa.String(length=32), nullable=True),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('virtual_size', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('backend', 'pool', 'image_id'),
    sa.UniqueConstraint('volume_id')
    )
    op.create_index(op.f('ix_image_volume_cache_entries_backend'), 'image_volume_cache_entries', ['backend'],
                    unique=False)
    op.create_index(op.f('ix_image_volume_cache_entries_image_id'), 'image_volume_cache_entries', ['image_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_image_volume_cache_entries_image_id'), table_name='image_volume_cache_entries')
    op.drop_index(op.f('ix_image_volume_cache_entries_backend'), table_name='image_volume_cache_entries')
    op.drop_table('image_volume_cache_entries')
