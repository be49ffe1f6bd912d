"""What the volume API's main operations take, for the OpenAPI document (see api/openstack/bodies.py)."""

from __future__ import annotations

from typing import Any

from shoal.api.openstack.bodies import Body, Status, actions, body


class VolumeCreate(Body):
    size: int
    name: str | None = None
    description: str | None = None
    volume_type: str | None = None
    availability_zone: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    imageRef: str | None = None
    metadata: dict[str, str] | None = None
    multiattach: bool | None = None
    group_id: str | None = None


class VolumeUpdate(Body):
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None


class NewSize(Body):
    new_size: int


class Retype(Body):
    new_type: str
    migration_policy: str | None = None


class Bootable(Body):
    bootable: bool


class Readonly(Body):
    readonly: bool


class Connector(Body):
    connector: dict[str, Any]


class Attach(Body):
    instance_uuid: str | None = None
    mountpoint: str | None = None
    mode: str | None = None


class Detach(Body):
    attachment_id: str | None = None


class Revert(Body):
    snapshot_id: str


class SnapshotCreate(Body):
    volume_id: str
    name: str | None = None
    description: str | None = None
    force: bool | None = None
    metadata: dict[str, str] | None = None


class SnapshotUpdate(Body):
    name: str | None = None
    description: str | None = None


class SnapshotStatus(Body):
    status: str
    progress: str | None = None


class AttachmentCreate(Body):
    volume_uuid: str
    instance_uuid: str | None = None
    connector: dict[str, Any] | None = None
    mode: str | None = None


class AttachmentUpdate(Body):
    connector: dict[str, Any]


CREATE_VOLUME = body("volume", VolumeCreate)
UPDATE_VOLUME = body("volume", VolumeUpdate)
VOLUME_ACTION = actions({
    "os-extend": NewSize, "os-reset_status": Status, "os-force_delete": None, "revert": Revert,
    "os-retype": Retype, "os-unmanage": None, "os-set_bootable": Bootable, "os-update_readonly_flag": Readonly,
    "os-reserve": None, "os-unreserve": None, "os-initialize_connection": Connector, "os-attach": Attach,
    "os-begin_detaching": None, "os-roll_detaching": None, "os-detach": Detach,
    "os-terminate_connection": Connector, "os-force_detach": Detach,
})
CREATE_SNAPSHOT = body("snapshot", SnapshotCreate)
UPDATE_SNAPSHOT = body("snapshot", SnapshotUpdate)
SNAPSHOT_ACTION = actions({"os-reset_status": Status, "os-force_delete": None, "os-unmanage": None,
                           "os-update_snapshot_status": SnapshotStatus})
CREATE_ATTACHMENT = body("attachment", AttachmentCreate)
UPDATE_ATTACHMENT = body("attachment", AttachmentUpdate)
ATTACHMENT_ACTION = actions({"os-complete": None})
