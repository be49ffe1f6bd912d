"""share networks, share network subnets, security services (Manila records)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 00:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _timestamps() -> list:
    return [sa.Column('created_at', sa.DateTime(), nullable=False), sa.Column('updated_at', sa.DateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table('security_services',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('dns_ip', sa.String(length=64), nullable=True),
    sa.Column('server', sa.String(length=255), nullable=True),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.Column('user', sa.String(length=255), nullable=True),
    sa.Column('password', sa.String(length=255), nullable=True),
    sa.Column('ou', sa.String(length=255), nullable=True),
    sa.Column('default_ad_site', sa.String(length=255), nullable=True),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_security_services_project_id'), 'security_services', ['project_id'], unique=False)
    op.create_table('share_networks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_share_networks_project_id'), 'share_networks', ['project_id'], unique=False)
    op.create_table('share_network_subnets',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('share_network_id', sa.String(length=36), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('neutron_net_id', sa.String(length=255), nullable=True),
    sa.Column('neutron_subnet_id', sa.String(length=255), nullable=True),
    sa.Column('network_type', sa.String(length=32), nullable=True),
    sa.Column('segmentation_id', sa.Integer(), nullable=True),
    sa.Column('cidr', sa.String(length=64), nullable=True),
    sa.Column('ip_version', sa.Integer(), nullable=True),
    sa.Column('gateway', sa.String(length=64), nullable=True),
    sa.Column('mtu', sa.Integer(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    *_timestamps(),
    sa.ForeignKeyConstraint(['share_network_id'], ['share_networks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_share_network_subnets_share_network_id'), 'share_network_subnets', ['share_network_id'],
                    unique=False)
    op.create_table('share_network_security_services',
    sa.Column('share_network_id', sa.String(length=36), nullable=False),
    sa.Column('security_service_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['security_service_id'], ['security_services.id'], ),
    sa.ForeignKeyConstraint(['share_network_id'], ['share_networks.id'], ),
    sa.PrimaryKeyConstraint('share_network_id', 'security_service_id')
    )
    op.create_index(op.f('ix_share_network_security_services_security_service_id'), 'share_network_security_services',
                    ['security_service_id'], unique=False)


def downgrade() -> None:
    op.drop_table('share_network_security_services')
    op.drop_table('share_network_subnets')
    op.drop_table('share_networks')
    op.drop_table('security_services')
