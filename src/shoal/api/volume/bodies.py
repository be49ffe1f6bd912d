"""What the volume API's main operations take: the models that validate them and
describe them in the OpenAPI document (see api/openstack/bodies.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, ValidationInfo, WithJsonSchema

from shoal.api.openstack.bodies import Body, Named, Status, Strict, Update, actions, body
from shoal.api.openstack.body_fields import Description, Flag, Metadata, Name, Object, Ref, Refs, Size, Text
from shoal.services.common.checks import check_text
from shoal.services.common.errors import Invalid
from shoal.services.volume.images import CONTAINER_FORMATS, UPLOAD_FORMATS, VISIBILITIES


def Choice(values: tuple[str, ...], message: str):  # noqa: N802 - a factory of types, named as one
    """One of `values`, else `message` (the services' words; `{value}` is the value given)."""

    def validate(value: Any) -> str:
        if value not in values:
            raise ValueError(message.format(value=repr(value)))
        return value

    return Annotated[str, PlainValidator(validate), WithJsonSchema({"type": "string", "enum": list(values)})]


def _non_blank(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{info.field_name} must be a string of 1-255 characters")
    try:
        check_text(info.field_name, value, 255)
    except Invalid as exc:
        raise ValueError(str(exc)) from None
    return value


# A name (or a provider) that is more than spaces, at most 255 characters, no NUL.
NonBlank = Annotated[str, PlainValidator(_non_blank), WithJsonSchema({"type": "string", "minLength": 1,
                                                                       "maxLength": 255})]


class VolumeCreate(Named):
    size: Size | None = None  # from a snapshot or a volume: theirs when not given
    volume_type: Ref | None = None
    availability_zone: Ref | None = None
    snapshot_id: Ref | None = None
    source_volid: Ref | None = None
    imageRef: Ref | None = None  # noqa: N815 - Cinder's name
    image_id: Ref | None = None
    backup_id: Ref | None = None
    consistencygroup_id: Ref | None = None
    metadata: Metadata | None = None
    multiattach: Flag | None = None
    group_id: Ref | None = None


class VolumeUpdate(Update):
    metadata: Metadata | None = None


class NewSize(Body):
    new_size: Size


class ResetStatus(Body):
    status: Ref | None = None
    attach_status: Ref | None = None
    migration_status: Ref | None = None


class Retype(Body):
    new_type: Ref
    migration_policy: Ref | None = None


class Bootable(Body):
    bootable: Flag


class Readonly(Body):
    readonly: Flag


class Connector(Body):
    connector: Object  # its content: the attachment service's check_connector


class Attach(Body):
    instance_uuid: Ref | None = None
    host_name: Ref | None = None
    mountpoint: Ref | None = None
    mode: Ref | None = None


class Detach(Body):
    attachment_id: Ref | None = None


class ForceDetach(Body):
    attachment_id: Ref | None = None
    connector: Object | None = None


class MigrateVolume(Strict):
    host: Ref | None = None  # shoal@backend#pool
    cluster: Ref | None = None  # 3.16+, instead of host; Shoal has no clusters
    force_host_copy: Flag | None = None
    lock_volume: Flag | None = None


class Revert(Body):
    snapshot_id: Ref


class SnapshotCreate(Named):
    volume_id: Ref | None = None  # none: Cinder looks the volume up first and answers 404
    force: Flag | None = None
    metadata: Metadata | None = None


class VolumeManage(Named):
    host: Ref | None = None  # shoal@backend[#pool]
    service_host: Ref | None = None  # the same, under the name Shoal also takes
    ref: Object  # {"source-name": ...} or {"source-id": ...}: the driver reads it
    volume_type: Ref | None = None
    availability_zone: Ref | None = None
    metadata: Metadata | None = None
    bootable: Flag | None = None


class SnapshotManage(Named):
    volume_id: Ref | None = None  # none: Cinder looks the volume up first and answers 404
    ref: Object
    metadata: Metadata | None = None


class TypeCreate(Body):
    name: Ref  # not blank either: the type catalog
    description: Text(255) | None = None
    extra_specs: Object | None = None  # its keys and values: the type catalog's check_specs
    is_public: Flag | None = None
    access_is_public: Flag | None = Field(None, alias="os-volume-type-access:is_public")  # the older name


class TypeUpdate(Strict):
    name: Ref | None = None
    description: Text(255) | None = None
    is_public: Flag | None = None


class GroupCreate(Body):
    name: Name | None = None
    description: Description | None = None
    group_type: Ref | None = None  # none: the group service's 404, as Cinder's
    volume_types: Refs | None = None  # not empty: the group service
    availability_zone: Ref | None = None


class GroupUpdate(Body):
    name: Name | None = None
    description: Description | None = None
    add_volumes: Text(65535) | None = None  # comma-separated volume ids, as Cinder takes them
    remove_volumes: Text(65535) | None = None


class GroupFromSource(Body):
    """create-from-src: one of group_snapshot_id and source_group_id (the group service)."""

    name: Name | None = None
    description: Description | None = None
    group_snapshot_id: Ref | None = None
    source_group_id: Ref | None = None


class GroupDelete(Strict):
    delete_volumes: Flag | None = Field(None, alias="delete-volumes")  # whether its volumes go with it


class GroupStatus(Strict):
    """reset_status of a group or a group snapshot (which statuses: the services)."""

    status: Ref


class GroupSnapshotCreate(Body):
    group_id: Ref | None = None  # none: the group service's 404
    name: Name | None = None
    description: Description | None = None


class TransferCreate(Body):
    volume_id: Ref | None = None  # required: the transfer service says so in Cinder's words
    name: Name | None = None
    no_snapshots: Flag | None = None  # 3.55+


class TransferAccept(Body):
    auth_key: Ref | None = None  # required: the transfer service says so in Cinder's words


class SnapshotUpdate(Update):
    """A snapshot takes a new name and description only."""


class SnapshotStatus(Body):
    status: Ref
    progress: Text(16) | None = None  # such as '80%'


class AttachmentCreate(Body):
    volume_uuid: Ref
    instance_uuid: Ref | None = None
    connector: Object | None = None  # its content: the attachment service's check_connector
    mode: Ref | None = None  # 3.54+


class AttachmentUpdate(Body):
    connector: Object


class UploadImage(Strict):
    """os-volume_upload_image before 3.1: Cinder's schema, nothing else."""

    image_name: NonBlank
    force: Flag | None = None
    disk_format: Choice(UPLOAD_FORMATS, f"disk_format {{value}} is not one of {', '.join(UPLOAD_FORMATS)}") = None
    container_format: Choice(CONTAINER_FORMATS,
                             f"container_format {{value}} is not one of {', '.join(CONTAINER_FORMATS)}") = None


class UploadImageV31(UploadImage):
    """3.1+: the new image's visibility and protection too."""

    visibility: Choice(VISIBILITIES, f"visibility must be one of {', '.join(VISIBILITIES)}") = None
    protected: Flag | None = None


class SetImageMetadata(Strict):
    metadata: Metadata  # not empty: the image service


class UnsetImageMetadata(Strict):
    key: Ref


# The volume image actions (api/volume/image_actions.py handles them); the upload's as at 3.1+.
IMAGE_ACTIONS = {"os-volume_upload_image": UploadImageV31, "os-set_image_metadata": SetImageMetadata,
                 "os-unset_image_metadata": UnsetImageMetadata, "os-show_image_metadata": None}
# The other volume actions whose argument is declared here.
VOLUME_ACTIONS = {
    "os-extend": NewSize, "os-reset_status": ResetStatus, "os-force_delete": None, "revert": Revert,
    "os-retype": Retype, "os-unmanage": None, "os-set_bootable": Bootable, "os-update_readonly_flag": Readonly,
    "os-reserve": None, "os-unreserve": None, "os-initialize_connection": Connector, "os-attach": Attach,
    "os-begin_detaching": None, "os-roll_detaching": None, "os-detach": Detach,
    "os-terminate_connection": Connector, "os-force_detach": ForceDetach, "os-migrate_volume": MigrateVolume,
    "os-migrate_volume_completion": None,
}
CREATE_VOLUME = body("volume", VolumeCreate)
UPDATE_VOLUME = body("volume", VolumeUpdate)
VOLUME_ACTION = actions({**VOLUME_ACTIONS, **IMAGE_ACTIONS})
MANAGE_VOLUME = body("volume", VolumeManage)
CREATE_TYPE = body("volume_type", TypeCreate)
UPDATE_TYPE = body("volume_type", TypeUpdate)
CREATE_GROUP = body("group", GroupCreate)
UPDATE_GROUP = body("group", GroupUpdate)
GROUPS_ACTION = actions({"create-from-src": GroupFromSource})
GROUP_ACTIONS = {"delete": GroupDelete, "reset_status": GroupStatus}  # Shoal has no group replication
GROUP_ACTION = actions(GROUP_ACTIONS)
GROUP_SNAPSHOT_ACTION = actions({"reset_status": GroupStatus})
CREATE_GROUP_SNAPSHOT = body("group_snapshot", GroupSnapshotCreate)
CREATE_TRANSFER = body("transfer", TransferCreate)
ACCEPT_TRANSFER = body("accept", TransferAccept)
CREATE_SNAPSHOT = body("snapshot", SnapshotCreate)
MANAGE_SNAPSHOT = body("snapshot", SnapshotManage)
UPDATE_SNAPSHOT = body("snapshot", SnapshotUpdate)
SNAPSHOT_ACTION = actions({"os-reset_status": Status, "os-force_delete": None, "os-unmanage": None,
                           "os-update_snapshot_status": SnapshotStatus})
CREATE_ATTACHMENT = body("attachment", AttachmentCreate)
UPDATE_ATTACHMENT = body("attachment", AttachmentUpdate)
ATTACHMENT_ACTION = actions({"os-complete": None})
