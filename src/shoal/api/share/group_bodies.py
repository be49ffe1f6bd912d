"""What share groups, their snapshots and their types take (see api/openstack/bodies.py):
Manila's share group controllers' fields, in their words."""

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

from shoal.api.openstack.bodies import Body, Status, actions, body, plain
from shoal.api.openstack.body_fields import (
    Description,
    Flag,
    Name,
    Ref,
    _as_value_error,
    _refs,
)
from shoal.services.common.checks import check_text
from shoal.services.share.group_types import check_group_specs


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


CREATE_GROUP = body("share_group", ShareGroupCreate)
UPDATE_GROUP = body("share_group", GroupRename)
CREATE_GROUP_SNAPSHOT = body("share_group_snapshot", GroupSnapshotCreate)
UPDATE_GROUP_SNAPSHOT = body("share_group_snapshot", GroupRename)
GROUP_ACTION = actions(GROUP_ACTIONS)
CREATE_GROUP_TYPE = body("share_group_type", GroupTypeCreate)
SET_GROUP_SPECS = plain(GroupSpecsSet)
PUT_GROUP_SPEC = plain(GroupSpecItem)
GROUP_TYPE_ACTION = actions({"addProjectAccess": ProjectAccess, "removeProjectAccess": ProjectAccess})
