"""image-volume cache entries: the visibility of the image they were filled from

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('image_volume_cache_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_visibility', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('image_volume_cache_entries', schema=None) as batch_op:
        batch_op.drop_column('image_visibility')
