"""What the share API's main operations take: the models that validate them and
describe them in the OpenAPI document (see api/openstack/bodies.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from shoal.api.openstack.bodies import (
    Body,
    MetadataSet,
    Named,
    Status,
    Update,
    actions,
    body,
    plain,
)
from shoal.api.openstack.body_fields import (
    Description,
    Flag,
    Metadata,
    Name,
    Object,
    Ref,
    Size,
    StrictFlag,
    Text,
    _as_value_error,
    _refs,
)
from shoal.services.common.checks import check_text
from shoal.services.common.quotas import MAX_LIMIT, SHARE_RESOURCES, parse_limit
from shoal.services.share.group_types import check_group_specs
from shoal.services.share.migration import DRIVER_PARAMS
from shoal.services.share.networks import check_int

# Checked where the rule lives (the resource-lock service), so declared here without a type.
LOCK_FIELD = Field(None, description="checked by the resource-lock service (2.82+)")


class ShareCreate(Named):
    size: Size
    share_proto: Ref
    share_type: Ref | None = None
    volume_type: Ref | None = None  # the old name of share_type
    snapshot_id: Ref | None = None
    availability_zone: Ref | None = None
    metadata: Metadata | None = None
    is_public: Flag | None = None
    share_group_id: Ref | None = None
    share_network_id: Ref | None = None


class ShareUpdate(Update):
    is_public: StrictFlag = None  # a JSON boolean; null is refused too


class NewSize(Body):
    new_size: Size
    force: Flag | None = None


class AllowAccess(Body):
    access_type: Ref
    access_to: Ref
    access_level: Ref | None = None
    metadata: Metadata | None = None
    lock_visibility: Any = LOCK_FIELD
    lock_deletion: Any = LOCK_FIELD
    lock_reason: Any = LOCK_FIELD


class DenyAccess(Body):
    access_id: Ref
    unrestrict: Any = LOCK_FIELD


class TaskState(Body):
    task_state: Ref | None = None
    os_task_state: Ref | None = Field(None, alias="os-task_state")


class Revert(Body):
    snapshot_id: Ref


class SnapshotCreate(Named):
    share_id: Ref
    force: Flag | None = None
    metadata: Metadata | None = None


class ShareManage(Named):
    export_path: Text(2000) | Object | None = None  # a path (Manila keeps 2000 characters), or an export location
    service_host: Ref | None = None  # host@backend#pool
    protocol: Ref | None = None
    share_type: Ref | None = None
    driver_options: Object | None = None  # its content (a size): the share service
    is_public: Flag | None = None


class SnapshotManage(Named):
    share_id: Ref
    provider_location: Ref | None = None
    driver_options: Object | None = None


class TypeCreate(Body):
    name: Ref  # not blank either: the type catalog
    description: Text(255) | None = None  # 2.41+
    extra_specs: Object | None = None  # its keys and values: the type catalog's check_specs
    access_is_public: Flag | None = Field(None, alias="share_type_access:is_public")
    old_access_is_public: Flag | None = Field(None, alias="os-share-type-access:is_public")  # the older name


class TypeUpdate(Body):
    """2.50+; Manila's own words for an empty name and a long description: the handler."""

    name: Ref | None = None
    description: Description | None = None
    access_is_public: Flag | None = Field(None, alias="share_type_access:is_public")


class TransferCreate(Body):
    share_id: Ref | None = None  # required: the transfer service says so in Manila's words
    name: Name | None = None


class TransferAccept(Body):
    auth_key: Ref | None = None  # required: the transfer service says so in Manila's words
    clear_access_rules: Flag | None = None


class SnapshotUpdate(Update):
    """A snapshot takes a new name and description only."""


# ---- share networks, their subnets, security services ------------------------------------------

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

# ---- share groups and their snapshots --------------------------------------------------------

def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
        return isinstance(value, str)
    except ValueError:
        return False


def _uuid(value: Any, info: ValidationInfo) -> str:
    if not is_uuid(value):
        raise ValueError(f"The '{info.field_name}' attribute must be a uuid.")
    return value


def _uuids(value: Any, info: ValidationInfo) -> list[str]:
    if not isinstance(value, list) or not all(is_uuid(item) for item in value):
        raise ValueError(f"The '{info.field_name}' attribute must be a list of uuids")
    return value


Uuid = Annotated[str, PlainValidator(_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]
Uuids = Annotated[list[str], PlainValidator(_uuids), WithJsonSchema(
    {"type": "array", "items": {"type": "string", "format": "uuid"}})]


class GroupBody(Body):
    """Manila's share group controllers take their fields and no others; their words name the
    others as a Python set (share_groups.group_body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    UNDECLARED: ClassVar[str] = "The fields {} are invalid."


class ShareGroupCreate(GroupBody):
    """Which fields go together, the default share type, the zone's existence: the handler; the
    rest (types within the group type, no share network with DHSS=False): the group service."""

    name: Name | None = None
    description: Description | None = None
    share_types: Uuids | None = None
    # not null either (Manila's "must be a uuid"); share_group_type_id is required, in Manila's words: the handler
    share_group_type_id: Uuid = None
    source_share_group_snapshot_id: Uuid = None
    share_network_id: Uuid = None
    availability_zone: Ref | None = None


class GroupSnapshotCreate(GroupBody):
    share_group_id: Uuid | None = None  # required, in Manila's words: the handler
    name: Name | None = None
    description: Description | None = None


class GroupRename(GroupBody):
    """A group's or group snapshot's update: a new name and description only."""

    UNDECLARED: ClassVar[str] = "The fields {} are invalid or not allowed to be updated."
    name: Name | None = None
    description: Description | None = None


GROUP_ACTIONS = {"reset_status": Status, "force_delete": None}


# ---- share group types ------------------------------------------------------------------------

def _group_type_name(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value or len(value) > 255:
        raise ValueError("Share group type name is not valid.")  # Manila's words
    _as_value_error(check_text, info.field_name, value, 255)  # and text that can be stored
    return value


def _share_types(value: Any, info: ValidationInfo) -> list[str]:
    if not value or not isinstance(value, list):
        raise ValueError("Supported share types must be provided.")  # Manila's words
    return _refs(value, info)  # names or ids: the service finds them


def _group_specs(value: Any) -> dict[str, str]:
    if value is None:  # where None is allowed, the field is declared `GroupSpecs | None`
        raise ValueError("group_specs must be an object")
    return _as_value_error(check_group_specs, value)


GroupSpecs = Annotated[dict[str, str], PlainValidator(_group_specs), WithJsonSchema(
    {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255}})]


class GroupTypeCreate(Body):
    """Which share types exist, a unique name: the group type service."""

    # both required, in Manila's words when missing too (a default of None is validated), in its order
    share_types: Annotated[list[str], PlainValidator(_share_types), WithJsonSchema(
        {"type": "array", "minItems": 1, "items": {"type": "string", "maxLength": 255}})] = Field(
        None, validate_default=True)
    name: Annotated[str, PlainValidator(_group_type_name), WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 255})] = Field(None, validate_default=True)
    group_specs: GroupSpecs | None = None
    is_public: Flag = True


class GroupSpecsSet(Body):
    group_specs: GroupSpecs


class GroupSpecItem(Body):
    """`{key: value}` of PUT .../group-specs/{key}: the one spec, as check_group_specs reads it
    (that it is the key of the path, and the only one: the handler)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255}})

    @model_validator(mode="before")
    @classmethod
    def _specs(cls, data: Any) -> Any:
        return _as_value_error(check_group_specs, data)


class ProjectAccess(Body):
    project: Ref  # a UUID: the service says so in Manila's words

# ---- share replicas ---------------------------------------------------------------------------

def _wait_time(value: Any, info: ValidationInfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError(f"{info.field_name} must be a non-negative integer")
    return value


class ReplicaCreate(Body):
    share_id: Ref | None = None  # required: the replica service says so
    availability_zone: Ref | None = None
    share_network_id: Ref | None = None  # refused when given: no share servers here (the handler)


class Promote(Body):
    """2.75+ (below, the argument is ignored, as Manila does)."""

    quiesce_wait_time: Annotated[int, PlainValidator(_wait_time), WithJsonSchema(
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1})] | None = None


class ReplicaState(Body):
    replica_state: Ref  # which states: the replica service


REPLICA_ACTIONS = {"promote": Promote, "resync": None, "reset_status": Status,
                   "reset_replica_state": ReplicaState, "force_delete": None}

# ---- share migration --------------------------------------------------------------------------

class MigrationStart(Body):
    """migration_start (2.29+). The flags and the host are required, in Manila's words ("'host' is
    missing."): the migration service says so, the schema declares it; the flags are oslo's strict
    booleans and not null. Which flags and hosts are offered: the service."""

    model_config = ConfigDict(json_schema_extra={"required": [*DRIVER_PARAMS, "host"]})
    host: Ref = None  # host@backend#pool
    preserve_metadata: Flag = None
    writable: Flag = None
    nondisruptive: Flag = None
    preserve_snapshots: Flag = None
    force_host_assisted_migration: Flag = False
    new_share_type_id: Ref | None = None
    new_share_network_id: Ref | None = None


MIGRATION_ACTIONS = {"migration_start": MigrationStart, "migration_complete": None, "migration_cancel": None,
                     "migration_get_progress": None}

# ---- quota sets and quota class sets ---------------------------------------------------------

def _limit(value: Any, info: ValidationInfo) -> int:
    return _as_value_error(parse_limit, info.field_name, value)  # the quota service's words


def _force(value: Any, info: ValidationInfo) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"Invalid input received: {info.field_name} must be a boolean, not {value!r}")
    return str(value).lower() in ("true", "1")


Limit = Annotated[int, PlainValidator(_limit), WithJsonSchema({"type": "integer", "minimum": -1,
                                                               "maximum": MAX_LIMIT})]


class QuotaValues(Body):
    """Limits by resource (not null either). Other keys are kept for the quota service, which ignores
    Manila's (id, tenant_id) and says 'Bad key(s) ...' for the rest and for a resource this
    microversion or a share type's quota does not take."""

    model_config = ConfigDict(extra="allow")
    shares: Limit = None
    gigabytes: Limit = None
    snapshots: Limit = None
    snapshot_gigabytes: Limit = None
    share_networks: Limit = None
    share_groups: Limit = None  # 2.40+
    share_group_snapshots: Limit = None
    share_replicas: Limit = None  # 2.53+
    replica_gigabytes: Limit = None
    per_share_gigabytes: Limit = None  # 2.62+


class QuotaSetUpdate(QuotaValues):
    force: Annotated[bool, PlainValidator(_force), WithJsonSchema({"type": "boolean"})] = False


INSTANCE_ACTIONS = {"reset_status": Status, "force_delete": None}  # and their os- names below 2.7

SHARE_ACTIONS = {
    "extend": NewSize, "shrink": NewSize, "allow_access": AllowAccess, "deny_access": DenyAccess,
    "access_list": None, "revert": Revert, "reset_status": Status, "reset_task_state": TaskState,
    "force_delete": None, "unmanage": None, "soft_delete": None, "restore": None,
}
CREATE_SHARE = body("share", ShareCreate)
UPDATE_SHARE = body("share", ShareUpdate)
SHARE_ACTION = actions({**SHARE_ACTIONS, **MIGRATION_ACTIONS})
MANAGE_SHARE = body("share", ShareManage)
CREATE_TYPE = body("share_type", TypeCreate)
UPDATE_TYPE = body("share_type", TypeUpdate)
CREATE_TRANSFER = body("transfer", TransferCreate)
ACCEPT_TRANSFER = body("accept", TransferAccept)
CREATE_SNAPSHOT = body("snapshot", SnapshotCreate)
MANAGE_SNAPSHOT = body("snapshot", SnapshotManage)
UPDATE_SNAPSHOT = body("snapshot", SnapshotUpdate)
SNAPSHOT_ACTION = actions({"reset_status": Status, "force_delete": None, "unmanage": None})
METADATA = plain(MetadataSet)
CREATE_SHARE_NETWORK = body("share_network", ShareNetworkCreate)
UPDATE_SHARE_NETWORK = body("share_network", ShareNetworkUpdate)
SHARE_NETWORK_ACTION = actions(SHARE_NETWORK_ACTIONS)
CREATE_SUBNET = body("share-network-subnet", SubnetCreate)
SECURITY_SERVICE = body("security_service", SecurityServiceFields)
CREATE_GROUP = body("share_group", ShareGroupCreate)
UPDATE_GROUP = body("share_group", GroupRename)
CREATE_GROUP_SNAPSHOT = body("share_group_snapshot", GroupSnapshotCreate)
UPDATE_GROUP_SNAPSHOT = body("share_group_snapshot", GroupRename)
GROUP_ACTION = actions(GROUP_ACTIONS)
CREATE_GROUP_TYPE = body("share_group_type", GroupTypeCreate)
SET_GROUP_SPECS = plain(GroupSpecsSet)
PUT_GROUP_SPEC = plain(GroupSpecItem)
GROUP_TYPE_ACTION = actions({"addProjectAccess": ProjectAccess, "removeProjectAccess": ProjectAccess})
CREATE_REPLICA = body("share_replica", ReplicaCreate)
REPLICA_ACTION = actions(REPLICA_ACTIONS)
UPDATE_QUOTA_SET = body("quota_set", QuotaSetUpdate)
UPDATE_QUOTA_CLASS = body("quota_class_set", QuotaValues)
assert set(SHARE_RESOURCES) <= set(QuotaValues.model_fields)  # every resource the quota service knows is declared
INSTANCE_ACTION = actions({**INSTANCE_ACTIONS, **{f"os-{name}": model for name, model in INSTANCE_ACTIONS.items()}})
SNAPSHOT_INSTANCE_ACTION = actions({"reset_status": Status})
