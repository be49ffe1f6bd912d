"""How each Block Storage resource looks at each microversion."""

from __future__ import annotations

from datetime import timedelta

from shoal.api.share.views import ts
from shoal.db import models

from .call import VolumeCall

MESSAGE_TTL = timedelta(seconds=2592000)  # Cinder's message_ttl: a message is kept 30 days


def attachment_summary(volume: models.Volume, row: models.VolumeAttachment) -> dict:
    """The entry in a volume's `attachments` list."""
    return {
        "id": volume.id, "attachment_id": row.id, "volume_id": volume.id, "server_id": row.instance_uuid,
        "host_name": row.attached_host, "device": row.mountpoint, "attached_at": ts(row.attach_time),
    }


def volume_summary(call: VolumeCall, volume: models.Volume) -> dict:
    return {"id": volume.id, "name": volume.name, "links": call.link("volumes", volume.id, "v3")}


def volume_detail(call: VolumeCall, volume: models.Volume, created: bool = False) -> dict:
    """The volume at the call's microversion. The answer to a create (and to an update) lacks the
    attributes Cinder's extensions add only to shows and lists (tenant, host,
    migration status)."""
    vtype = volume.volume_type
    view = {
        "id": volume.id,
        "name": volume.name,
        "description": volume.description,
        "status": volume.status,
        "size": volume.size,
        "availability_zone": volume.availability_zone,
        "created_at": ts(volume.created_at),
        "updated_at": ts(volume.updated_at),
        "attachments": [attachment_summary(volume, a) for a in volume.attachments if a.attach_status == "attached"],
        "volume_type": vtype.name if vtype else None,
        "snapshot_id": volume.snapshot_id,
        "source_volid": volume.source_volid,
        "metadata": dict(volume.metadata_ or {}),
        "bootable": "true" if volume.bootable else "false",
        "encrypted": False,
        "replication_status": None,
        "consistencygroup_id": None,
        "multiattach": volume.multiattach,
        "user_id": volume.user_id,
        "links": call.link("volumes", volume.id, "v3"),
        "migration_status": volume.migration_status if call.ctx.is_admin else None,  # Cinder's: for admins
    }
    if not created:
        view["os-vol-tenant-attr:tenant_id"] = volume.project_id
        if volume.image_metadata:  # Cinder's os-vol-image-meta: only for a volume made from an image
            view["volume_image_metadata"] = dict(volume.image_metadata)
    if call.ctx.is_admin and not created:
        view["os-vol-host-attr:host"] = f"shoal@{volume.backend}#{volume.pool}" if volume.backend else None
        view["os-vol-mig-status-attr:migstat"] = volume.migration_status
        view["os-vol-mig-status-attr:name_id"] = volume.name_id
        # No migration progress: Cinder's volume has none (Tempest's schemas refuse extra keys);
        # GET /volumes/{volume_id}/progress shows it (api/volume/progress.py).
    if call.v("3.13"):
        view["group_id"] = volume.group_id
    if call.v("3.21"):
        view["provider_id"] = None
    if call.v("3.48"):
        view["shared_targets"] = False
        view["service_uuid"] = None
    if call.v("3.61") and call.ctx.is_admin:
        view["cluster_name"] = None
    if call.v("3.63"):
        view["volume_type_id"] = volume.volume_type_id
    if call.v("3.65"):
        view["consumes_quota"] = not (volume.migration_status or "").startswith("target:")
    return view


def snapshot_detail(call: VolumeCall, snap: models.VolumeSnapshot, extended: bool = True) -> dict:
    """A snapshot at the call's microversion. Cinder's extended-snapshot-attributes
    (`progress`, `project_id`) come only with a show and a detailed list, not with the
    answer to a create or an update, nor in the plain list (`extended=False`)."""
    view = {
        "id": snap.id,
        "name": snap.name,
        "description": snap.description,
        "status": snap.status,
        "size": snap.size,
        "volume_id": snap.volume_id,
        "created_at": ts(snap.created_at),
        "updated_at": ts(snap.updated_at),
        "metadata": dict(snap.metadata_ or {}),
    }
    if extended:
        view["os-extended-snapshot-attributes:project_id"] = snap.project_id
        view["os-extended-snapshot-attributes:progress"] = snap_progress(snap)
    if call.v("3.14"):
        view["group_snapshot_id"] = snap.group_snapshot_id
    if call.v("3.41"):
        view["user_id"] = snap.user_id
    if call.v("3.65"):
        view["consumes_quota"] = True
    return view


def snap_progress(snap: models.VolumeSnapshot) -> str:
    """What Cinder reports: the driver's progress, 100% once available."""
    return snap.progress or ("100%" if snap.status == "available" else "0%")


def snapshot_summary(call: VolumeCall, snap: models.VolumeSnapshot) -> dict:
    return snapshot_detail(call, snap, extended=False)


def volume_type(call: VolumeCall, vtype: models.VolumeType, answer_to: str = "show", qos_id: str | None = None) -> dict:
    """Cinder's shapes: show and list carry `qos_specs_id` (the associated QoS specs'
    id, `qos_id`); the answer to a create does not; the answer to an update has neither
    it nor the type-access flag."""
    view = {"id": vtype.id, "name": vtype.name, "description": vtype.description, "is_public": vtype.is_public,
            "extra_specs": dict(vtype.extra_specs or {})}
    if answer_to != "update":
        view["os-volume-type-access:is_public"] = vtype.is_public
    if answer_to == "show":
        view["qos_specs_id"] = qos_id
    return view


def attachment(call: VolumeCall, row: models.VolumeAttachment, connection_info=None, detail: bool = True) -> dict:
    view = {"id": row.id, "status": row.attach_status, "instance": row.instance_uuid, "volume_id": row.volume_id}
    if detail:
        view.update({
            "attached_at": ts(row.attach_time), "detached_at": None, "attach_mode": row.attach_mode,
            "connection_info": connection_payload(connection_info),
        })
    return view


def connection_payload(info) -> dict | None:
    if info is None:
        return None
    return {"driver_volume_type": info.driver_volume_type, "data": dict(info.data)}


def manageable(call: VolumeCall, backend: str, item, detail: bool, snapshot: bool = False) -> dict:
    view = {"reference": {"source-name": item.reference}, "size": item.size_gb, "safe_to_manage": item.safe_to_manage}
    if snapshot:
        view["source_reference"] = {"source-name": getattr(item, "source_reference", "")}
    if detail:
        view.update({"reason_not_safe": item.reason_not_safe, "cinder_id": item.managed_id, "extra_info": None})
    return view


def message(call: VolumeCall, msg: models.Message) -> dict:
    return {
        "id": msg.id, "request_id": msg.request_id, "resource_type": msg.resource_type,
        "resource_uuid": msg.resource_id, "event_id": f"VOLUME_{msg.resource_type}_{msg.action_id}_{msg.detail_id}",
        "message_level": msg.message_level, "user_message": msg.user_message, "created_at": ts(msg.created_at),
        "guaranteed_until": ts(msg.expires_at or msg.created_at + MESSAGE_TTL),
        "links": call.link("messages", msg.id, "v3"),
    }
