"""What the share API's main operations take, for the OpenAPI document (see api/openstack/bodies.py)."""

from __future__ import annotations

from shoal.api.openstack.bodies import Body, Status, actions, body, plain


class ShareCreate(Body):
    size: int
    share_proto: str
    name: str | None = None
    description: str | None = None
    share_type: str | None = None
    snapshot_id: str | None = None
    availability_zone: str | None = None
    metadata: dict[str, str] | None = None
    is_public: bool | None = None
    share_group_id: str | None = None
    share_network_id: str | None = None


class ShareUpdate(Body):
    display_name: str | None = None
    display_description: str | None = None
    is_public: bool | None = None


class NewSize(Body):
    new_size: int
    force: bool | None = None


class AllowAccess(Body):
    access_type: str
    access_to: str
    access_level: str | None = None
    metadata: dict[str, str] | None = None


class DenyAccess(Body):
    access_id: str


class TaskState(Body):
    task_state: str | None = None


class Revert(Body):
    snapshot_id: str


class SnapshotCreate(Body):
    share_id: str
    name: str | None = None
    description: str | None = None
    force: bool | None = None
    metadata: dict[str, str] | None = None


class SnapshotUpdate(Body):
    display_name: str | None = None
    display_description: str | None = None


class AccessMetadata(Body):
    metadata: dict[str, str]


CREATE_SHARE = body("share", ShareCreate)
UPDATE_SHARE = body("share", ShareUpdate)
SHARE_ACTION = actions({
    "extend": NewSize, "shrink": NewSize, "allow_access": AllowAccess, "deny_access": DenyAccess,
    "access_list": None, "revert": Revert, "reset_status": Status, "reset_task_state": TaskState,
    "force_delete": None, "unmanage": None, "soft_delete": None, "restore": None,
})
CREATE_SNAPSHOT = body("snapshot", SnapshotCreate)
UPDATE_SNAPSHOT = body("snapshot", SnapshotUpdate)
SNAPSHOT_ACTION = actions({"reset_status": Status, "force_delete": None, "unmanage": None})
ACCESS_METADATA = plain(AccessMetadata)
