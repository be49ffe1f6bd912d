"""volume QoS specs, encryption types, transfers, group types, snapshot progress

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _timestamps() -> list:
    return [sa.Column('created_at', sa.DateTime(), nullable=False), sa.Column('updated_at', sa.DateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table('volume_qos_specs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('consumer', sa.String(length=16), nullable=False),
    sa.Column('specs', sa.JSON(), nullable=False),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('volume_type_qos',
    sa.Column('type_id', sa.String(length=36), nullable=False),
    sa.Column('qos_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['type_id'], ['volume_types.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['qos_id'], ['volume_qos_specs.id']),
    sa.PrimaryKeyConstraint('type_id')
    )
    with op.batch_alter_table('volume_type_qos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volume_type_qos_qos_id'), ['qos_id'], unique=False)
    op.create_table('volume_type_encryption',
    sa.Column('type_id', sa.String(length=36), nullable=False),
    sa.Column('encryption_id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=255), nullable=False),
    sa.Column('cipher', sa.String(length=255), nullable=True),
    sa.Column('key_size', sa.Integer(), nullable=True),
    sa.Column('control_location', sa.String(length=16), nullable=False),
    *_timestamps(),
    sa.ForeignKeyConstraint(['type_id'], ['volume_types.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('type_id'),
    sa.UniqueConstraint('encryption_id')
    )
    op.create_table('volume_transfers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('source_project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('salt', sa.String(length=255), nullable=False),
    sa.Column('crypt_hash', sa.String(length=255), nullable=False),
    sa.Column('no_snapshots', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['volume_id'], ['volumes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('volume_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volume_transfers_volume_id'), ['volume_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volume_transfers_source_project_id'), ['source_project_id'], unique=False)
    op.create_table('volume_group_types',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('group_specs', sa.JSON(), nullable=False),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )


    with op.batch_alter_table('volume_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('volume_snapshots', schema=None) as batch_op:
        batch_op.drop_column('progress')
    op.drop_table('volume_group_types')
    with op.batch_alter_table('volume_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_transfers_source_project_id'))
        batch_op.drop_index(batch_op.f('ix_volume_transfers_volume_id'))
    op.drop_table('volume_transfers')
    op.drop_table('volume_type_encryption')
    with op.batch_alter_table('volume_type_qos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_type_qos_qos_id'))
    op.drop_table('volume_type_qos')
    op.drop_table('volume_qos_specs')
