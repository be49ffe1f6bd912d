"""How each resource looks at each microversion. One function per resource, so
a view change for a microversion is one diff in one place."""

from __future__ import annotations

from datetime import datetime

from shoal.db import models

from .call import ShareCall


def ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def share_summary(call: ShareCall, share: models.Share) -> dict:
    return {"id": share.id, "name": share.name, "links": call.link("shares", share.id)}


def share_host(share: models.Share) -> str | None:
    return f"shoal@{share.backend}#{share.pool}" if share.backend else None


def share_detail(call: ShareCall, share: models.Share, replicated: set[str] | None = None) -> dict:
    """`replicated`: the ids among a list's shares that have replicas, found for the whole
    page at once (None: asked for this share alone)."""
    stype = share.share_type
    view = {
        "id": share.id,
        "name": share.name,
        "description": share.description,
        "size": share.size,
        "status": share.status,
        "availability_zone": share.availability_zone,
        "created_at": ts(share.created_at),
        "updated_at": ts(share.updated_at),
        "project_id": share.project_id,
        "snapshot_id": share.snapshot_id,
        "share_network_id": None,
        "share_proto": share.share_proto,
        # the type's name below 2.6, its id (and share_type_name) from 2.6
        "share_type": share.share_type_id if call.v("2.6") else (stype.name if stype else share.share_type_id),
        "volume_type": stype.name if stype else None,
        "metadata": dict(share.metadata_ or {}),
        "is_public": share.is_public,
        "links": call.link("shares", share.id),
    }
    if call.ctx.is_admin:  # Manila shows these to administrators only
        view["share_server_id"] = None
        view["host"] = share_host(share)
    if call.v("2.2"):
        view["snapshot_support"] = True
    if call.v("2.5"):
        view["task_state"] = share.task_state
    if not call.v("2.9"):
        user_paths = [e.path for e in share.export_locations if not e.is_admin_only]
        view["export_location"] = user_paths[0] if user_paths else None
        view["export_locations"] = user_paths
    if call.v("2.6"):
        view["share_type_name"] = stype.name if stype else None
    if call.v("2.10"):
        view["access_rules_status"] = share.access_rules_status
    if call.v("2.11"):
        replication = (stype.extra_specs or {}).get("replication_type") if stype else None
        view["replication_type"] = replication
        if replicated is None:
            replicated = call.services.replicas.has_replicas([share.id]) if replication else set()
        view["has_replicas"] = bool(replication) and share.id in replicated
    if call.v("2.16"):
        view["user_id"] = share.user_id
    if call.v("2.24"):
        view["create_share_from_snapshot_support"] = True
    if call.v("2.27"):
        view["revert_to_snapshot_support"] = True
    if call.v("2.31"):
        view["share_group_id"] = share.share_group_id
        view["source_share_group_snapshot_member_id"] = share.source_share_group_snapshot_member_id
    if call.v("2.32"):
        view["mount_snapshot_support"] = False
    if call.v("2.54"):
        view["progress"] = "100%" if share.status == "available" else ("0%" if share.status == "creating" else None)
    if call.v("2.69"):
        view["is_soft_deleted"] = share.is_soft_deleted
        view["scheduled_to_be_deleted_at"] = ts(share.scheduled_to_be_deleted_at)
    if call.v("2.80"):
        view["source_backup_id"] = None
    if share.status_reason and share.status.endswith("error") and call.ctx.is_admin:
        view["status_reason"] = share.status_reason
    return view


def export_location(call: ShareCall, share: models.Share, loc: models.ExportLocation, detail: bool = True) -> dict:
    """Manila lists the summary and shows the detail (with the times; a location
    never changed since it was made was updated when it was made)."""
    view = {"id": loc.id, "path": loc.path}
    if detail:
        view["created_at"] = ts(loc.created_at)
        view["updated_at"] = ts(loc.updated_at or loc.created_at)
    if call.v("2.14"):
        view["preferred"] = loc.preferred
    if call.ctx.is_admin:
        view["is_admin_only"] = loc.is_admin_only
        view["share_instance_id"] = share.id
    if call.v("2.87"):
        view["metadata"] = {}
    return view


def visible_locations(call: ShareCall, share: models.Share) -> list[models.ExportLocation]:
    return [e for e in share.export_locations if call.ctx.is_admin or not e.is_admin_only]


def snapshot_summary(call: ShareCall, snap: models.ShareSnapshot) -> dict:
    return {"id": snap.id, "name": snap.name, "links": call.link("snapshots", snap.id)}


def snapshot_detail(call: ShareCall, snap: models.ShareSnapshot) -> dict:
    view = {
        "id": snap.id,
        "share_id": snap.share_id,
        "share_size": snap.share.size if snap.share else None,
        "share_proto": snap.share.share_proto if snap.share else "NFS",
        "size": snap.size,
        "status": snap.status,
        "name": snap.name,
        "description": snap.description,
        "created_at": ts(snap.created_at),
        "links": call.link("snapshots", snap.id),
    }
    if call.v("2.12") and call.ctx.is_admin:
        view["provider_location"] = snap.provider_location
    if call.v("2.17"):
        view["project_id"] = snap.project_id
        view["user_id"] = snap.user_id
    if call.v("2.73"):
        view["metadata"] = dict(snap.metadata_ or {})
    return view


_PRE_228_STATES = {"queued_to_apply": "new", "applying": "new", "queued_to_deny": "active", "denying": "active"}


def access_rule(call: ShareCall, rule: models.AccessRule, with_share: bool = True, hidden: bool = False) -> dict:
    """`hidden`: a visibility lock (2.82) keeps access_to and access_key from this caller."""
    state = rule.state if call.v("2.28") else _PRE_228_STATES.get(rule.state, rule.state)
    view = {
        "id": rule.id,
        "access_type": rule.access_type,
        "access_to": rule.access_to,
        "access_level": rule.access_level,
        "state": state,
    }
    if with_share:
        view["share_id"] = rule.share_id
    if call.v("2.21"):
        view["access_key"] = None
    if call.v("2.33"):
        view["created_at"] = ts(rule.created_at)
        view["updated_at"] = ts(rule.updated_at)
    if call.v("2.45"):
        view["metadata"] = dict(rule.metadata_ or {})
    if hidden:  # Manila's _redact_restricted_fields
        view["access_to"] = view["access_key"] = "******"
    return view


# Manila's ExtraSpecs.TENANT_VISIBLE: what a non-administrator sees of a type's specs;
# and INFERRED_OPTIONAL_MAP: what such a caller sees for an optional spec not set (2.24+).
TENANT_VISIBLE_SPECS = (
    "driver_handles_share_servers", "snapshot_support", "create_share_from_snapshot_support",
    "revert_to_snapshot_support", "replication_type", "mount_snapshot_support", "mount_point_name_support",
    "snapshot_inherit_share_access_support", "availability_zones", "encryption_support",
    "provisioning:max_share_size", "provisioning:min_share_size", "provisioning:max_share_extend_size",
    "provisioning:mount_point_prefix", "default_qos_type",
)
INFERRED_SPECS = ("snapshot_support", "create_share_from_snapshot_support", "revert_to_snapshot_support",
                  "mount_snapshot_support")


def share_type(call: ShareCall, stype: models.ShareType) -> dict:
    specs = dict(stype.extra_specs or {})
    required = {k: v for k, v in specs.items() if k == "driver_handles_share_servers"}
    if not call.ctx.is_admin:
        specs = {k: v for k, v in specs.items() if k in TENANT_VISIBLE_SPECS}
        if call.v("2.24"):
            specs.update({k: False for k in INFERRED_SPECS if k not in specs})
    view = {
        "id": stype.id,
        "name": stype.name,
        "extra_specs": specs,
        "required_extra_specs": required,
    }
    # The access flag moved from an extension into the core view at 2.7.
    view["share_type_access:is_public" if call.v("2.7") else "os-share-type-access:is_public"] = stype.is_public
    if call.v("2.41"):
        view["description"] = stype.description
    if call.v("2.46"):
        view["is_default"] = stype.is_default
    return view


def message(call: ShareCall, msg: models.Message) -> dict:
    return {
        "id": msg.id, "project_id": msg.project_id, "request_id": msg.request_id,
        "resource_type": msg.resource_type, "resource_id": msg.resource_id, "action_id": msg.action_id,
        "detail_id": msg.detail_id, "message_level": msg.message_level, "user_message": msg.user_message,
        "created_at": ts(msg.created_at), "expires_at": ts(msg.expires_at),
        "links": call.link("messages", msg.id),
    }
