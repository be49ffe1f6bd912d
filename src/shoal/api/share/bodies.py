"""What the share API's main operations take: the models that validate them and
describe them in the OpenAPI document (see api/openstack/bodies.py). Shares, their
snapshots, types (their specs and access lists), transfers and resource locks
here; share networks and security services in network_bodies.py, share groups
and their types in group_bodies.py, replicas, migration, quotas and instances in
admin_bodies.py."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator

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
)
from shoal.services.common.types import check_specs
from shoal.services.share.locks import check_reason

from .admin_bodies import MIGRATION_ACTIONS
from .group_bodies import ProjectAccess

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


class ExtraSpecsSet(Body):
    extra_specs: Object  # its keys and values: the type catalog's check_specs


class SpecItem(Body):
    """`{key: value}` of PUT .../extra_specs/{key}: the one spec, as the type catalog's check_specs
    reads it (that the body is not empty, names the path's key and only it: the handler, in
    Manila's words and order)."""

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra={
        "additionalProperties": {"type": ["string", "boolean"], "maxLength": 255}})

    @model_validator(mode="before")
    @classmethod
    def _spec(cls, data: Any) -> Any:
        return _as_value_error(check_specs, data)


TYPE_ACTIONS = {"addProjectAccess": ProjectAccess, "removeProjectAccess": ProjectAccess}


class TransferCreate(Body):
    share_id: Ref | None = None  # required: the transfer service says so in Manila's words
    name: Name | None = None


class TransferAccept(Body):
    auth_key: Ref | None = None  # required: the transfer service says so in Manila's words
    clear_access_rules: Flag | None = None


# ---- resource locks (2.81+): which resources, actions and states, the resource-lock service --------

LockReason = Annotated[str | None, PlainValidator(lambda value: _as_value_error(check_reason, value)),
                       WithJsonSchema({"type": ["string", "null"], "maxLength": 1023})]


class LockCreate(Body):
    resource_id: Ref | None = None  # required, a UUID: the service says so in Manila's words
    resource_type: Ref | None = None  # share (the default) or access_rule
    resource_action: Ref | None = None  # delete (the default), or show on an access rule
    lock_reason: LockReason = None


class LockUpdate(Body):
    model_config = ConfigDict(extra="forbid", frozen=True)
    UNDECLARED: ClassVar[str] = "Only 'resource_action' and 'lock_reason' can be updated."  # Manila's words
    resource_action: Ref | None = None
    lock_reason: LockReason = None


class SnapshotUpdate(Update):
    """A snapshot takes a new name and description only."""


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
SET_EXTRA_SPECS = plain(ExtraSpecsSet)
PUT_EXTRA_SPEC = plain(SpecItem)
TYPE_ACTION = actions(TYPE_ACTIONS)
CREATE_LOCK = body("resource_lock", LockCreate)
UPDATE_LOCK = body("resource_lock", LockUpdate)
CREATE_TRANSFER = body("transfer", TransferCreate)
ACCEPT_TRANSFER = body("accept", TransferAccept)
CREATE_SNAPSHOT = body("snapshot", SnapshotCreate)
MANAGE_SNAPSHOT = body("snapshot", SnapshotManage)
UPDATE_SNAPSHOT = body("snapshot", SnapshotUpdate)
SNAPSHOT_ACTION = actions({"reset_status": Status, "force_delete": None, "unmanage": None})
METADATA = plain(MetadataSet)
