"""volumes: image metadata and image-copy progress

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_metadata', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('progress', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.drop_column('progress')
        batch_op.drop_column('image_metadata')
