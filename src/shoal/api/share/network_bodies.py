"""What share networks, their subnets and security services take (see api/openstack/bodies.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, ValidationInfo, WithJsonSchema

from shoal.api.openstack.bodies import Body, Status, actions, body
from shoal.api.openstack.body_fields import (
    Description,
    Metadata,
    Name,
    Ref,
    Text,
    _as_value_error,
)
from shoal.services.share.networks import check_int


def _integer(value: Any, info: ValidationInfo) -> int:
    return _as_value_error(check_int, info.field_name, value)


Integer = Annotated[int, PlainValidator(_integer), WithJsonSchema(
    {"type": "integer", "minimum": -(2**31) + 1, "maximum": 2**31 - 1})]


class NetworkFields(Body):
    """A subnet's network, as Manila records it (nothing is asked of Neutron: no share servers)."""

    neutron_net_id: Ref | None = None
    neutron_subnet_id: Ref | None = None  # both or neither: the share network service
    network_type: Text(32) | None = None
    segmentation_id: Integer | None = None
    cidr: Text(64) | None = None
    gateway: Text(64) | None = None
    ip_version: Integer | None = None
    mtu: Integer | None = None


class ShareNetworkUpdate(NetworkFields):
    name: Name | None = None
    description: Description | None = None
    nova_net_id: Any = Field(None, description="refused: nova networking is gone (Manila's 400)")


class ShareNetworkCreate(ShareNetworkUpdate):
    availability_zone: Ref | None = None  # 2.51+, its default subnet's
    created_at: Ref | None = None  # Manila stores what the body says (ISO 8601: the service reads it)
    updated_at: Ref | None = None


class SubnetCreate(NetworkFields):
    availability_zone: Ref | None = None
    metadata: Metadata | None = None  # 2.78+


class SecurityServiceLink(Body):
    security_service_id: Ref


class SecurityServiceSwap(Body):
    current_service_id: Ref
    new_service_id: Ref


class SecurityServiceFields(Body):
    """A security service's create or update (which types exist, default_ad_site's rules: the service)."""

    type: Ref | None = None
    name: Name | None = None
    description: Text(255) | None = None  # Manila's column
    dns_ip: Text(64) | None = None
    server: Ref | None = None
    domain: Ref | None = None
    user: Ref | None = None
    password: Ref | None = None
    ou: Ref | None = None  # 2.44+
    default_ad_site: Ref | None = None  # 2.76+


SHARE_NETWORK_ACTIONS = {
    "add_security_service": SecurityServiceLink, "remove_security_service": SecurityServiceLink,
    "update_security_service": SecurityServiceSwap, "add_security_service_check": SecurityServiceLink,
    "update_security_service_check": SecurityServiceSwap, "share_network_subnet_create_check": SubnetCreate,
    "reset_status": Status,
}


CREATE_SHARE_NETWORK = body("share_network", ShareNetworkCreate)
UPDATE_SHARE_NETWORK = body("share_network", ShareNetworkUpdate)
SHARE_NETWORK_ACTION = actions(SHARE_NETWORK_ACTIONS)
CREATE_SUBNET = body("share-network-subnet", SubnetCreate)
SECURITY_SERVICE = body("security_service", SecurityServiceFields)
