"""flows (taskflow's persistence tables) and share replicas

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00

The tables taskflow's SQLAlchemy persistence backend reads and writes
(`logbooks`, `flowdetails`, `atomdetails`), at the schema of taskflow's own
last migration, made here so that Shoal's one alembic history owns its
database (taskflow's migrations would keep a second `alembic_version`).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# taskflow's JSONType: text holding JSON, native JSON on PostgreSQL.
JSON_TEXT = sa.UnicodeText().with_variant(postgresql.JSON(), 'postgresql')
ATOM_TYPES = ('TASK', 'RETRY')
INTENTIONS = ('EXECUTE', 'IGNORE', 'REVERT', 'RETRY')


def upgrade() -> None:
    op.create_table(
        'logbooks',
        sa.Column('created_at', sa.DateTime()),
        sa.Column('updated_at', sa.DateTime()),
        sa.Column('meta', JSON_TEXT),
        sa.Column('name', sa.String(255)),
        sa.Column('uuid', sa.String(64), primary_key=True, nullable=False),
    )
    op.create_table(
        'flowdetails',
        sa.Column('created_at', sa.DateTime()),
        sa.Column('updated_at', sa.DateTime()),
        sa.Column('parent_uuid', sa.String(64), sa.ForeignKey('logbooks.uuid', ondelete='CASCADE')),
        sa.Column('meta', JSON_TEXT),
        sa.Column('name', sa.String(255)),
        sa.Column('state', sa.String(255)),
        sa.Column('uuid', sa.String(64), primary_key=True, nullable=False),
    )
    op.create_table(
        'atomdetails',
        sa.Column('created_at', sa.DateTime()),
        sa.Column('updated_at', sa.DateTime()),
        sa.Column('meta', JSON_TEXT),
        sa.Column('parent_uuid', sa.String(64), sa.ForeignKey('flowdetails.uuid', ondelete='CASCADE')),
        sa.Column('name', sa.String(255)),
        sa.Column('version', sa.String(64)),
        sa.Column('state', sa.String(255)),
        sa.Column('uuid', sa.String(64), primary_key=True, nullable=False),
        sa.Column('failure', JSON_TEXT),
        sa.Column('results', JSON_TEXT),
        sa.Column('revert_results', JSON_TEXT),
        sa.Column('revert_failure', JSON_TEXT),
        sa.Column('atom_type', sa.Enum(*ATOM_TYPES, name='atom_types')),
        sa.Column('intention', sa.Enum(*INTENTIONS, name='intentions')),
    )
    op.create_index('flowdetails_parent_uuid', 'flowdetails', ['parent_uuid'])
    op.create_index('atomdetails_parent_uuid', 'atomdetails', ['parent_uuid'])

    op.create_table(
        'share_replicas',
        sa.Column('id', sa.String(36), primary_key=True, nullable=False),
        sa.Column('share_id', sa.String(36), sa.ForeignKey('shares.id'), nullable=False, index=True),
        sa.Column('backend', sa.String(255)),
        sa.Column('pool', sa.String(255)),
        sa.Column('availability_zone', sa.String(255)),
        sa.Column('provider_location', sa.String(1024)),
        sa.Column('status', sa.String(32), nullable=False),
        sa.Column('replica_state', sa.String(32)),
        sa.Column('last_tag', sa.String(255)),
        sa.Column('export_locations', sa.JSON(), nullable=False),
        sa.Column('progress', sa.String(16)),
        sa.Column('task_state', sa.String(64)),
        sa.Column('status_reason', sa.Text()),
        sa.Column('task', sa.String(32)),
        sa.Column('flow_id', sa.String(64)),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table('share_replicas')
    op.drop_table('atomdetails')
    op.drop_table('flowdetails')
    op.drop_table('logbooks')
    sa.Enum(name='atom_types').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='intentions').drop(op.get_bind(), checkfirst=True)
