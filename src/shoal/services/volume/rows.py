"""What the volume services share: rows to driver data, scoped lookups, and
recording the end of background work."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, raiseload

from shoal.db import models
from shoal.drivers.volume import (
    Connector,
    ExportSpec,
    VolumeDriver,
    VolumeRef,
    VolumeSnapshotRef,
)

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import NotFound

# Cinder's message ids (cinder/message/message_field.py): SCHEDULE_ALLOCATE_VOLUME, ATTACH_VOLUME,
# EXTEND_VOLUME, SNAPSHOT_CREATE, SNAPSHOT_DELETE. Cinder has none for a volume's delete, revert or
# manage: those get ids past Cinder's, so that no client takes them for one of its actions.
ACTION_CREATE, ACTION_ATTACH, ACTION_EXTEND = "001", "002", "007"
ACTION_SNAPSHOT_CREATE, ACTION_SNAPSHOT_DELETE = "009", "010"
ACTION_DELETE, ACTION_REVERT, ACTION_MANAGE = "101", "102", "103"
# UNKNOWN_ERROR (Cinder names no driver failure in general: the reason follows), NO_BACKEND_AVAILABLE
DETAIL_UNKNOWN = DETAIL_DRIVER_FAILED = "001"
DETAIL_NO_BACKEND = "003"


def driver(core: c.Core, backend: str | None) -> VolumeDriver:
    if backend not in core.volume_drivers:
        raise NotFound(f"backend {backend!r} is not configured for volumes")
    return core.volume_drivers[backend]


def volume_ref(volume: models.Volume) -> VolumeRef:
    """The volume as its driver takes it. Its id is the one its data is named by on
    the backend: after a migration whose driver could not rename the copy, the
    copy's (Cinder's `_name_id`, which Cinder's volume.name follows too)."""
    specs = dict(volume.volume_type.extra_specs) if volume.volume_type else {}
    return VolumeRef(volume.name_id or volume.id, volume.pool or "", volume.size, volume.provider_location, specs)


def snapshot_ref(snapshot: models.VolumeSnapshot) -> VolumeSnapshotRef:
    return VolumeSnapshotRef(snapshot.id, volume_ref(snapshot.volume), snapshot.provider_location)


def held_volumes(session: Session, backend: str) -> list[VolumeRef]:
    """The volumes Shoal holds on `backend` (those with data there), as its driver takes them."""
    return [ref for ref, _ in held_volumes_with_tasks(session, backend)]


def held_volumes_with_tasks(session: Session, backend: str) -> list[tuple[VolumeRef, str | None]]:
    """held_volumes, each with the task it was in (None when steady)."""
    return [(volume_ref(v), v.task) for v in session.scalars(select(models.Volume).where(
        models.Volume.backend == backend, models.Volume.provider_location.is_not(None)))]


def held_snapshots(session: Session, backend: str) -> list[VolumeSnapshotRef]:
    return [snapshot_ref(s) for s in session.scalars(select(models.VolumeSnapshot).join(models.Volume).where(
        models.Volume.backend == backend, models.VolumeSnapshot.provider_location.is_not(None)))]


def connector_from(data: dict | None) -> Connector:
    data = data or {}
    return Connector(initiator=data.get("initiator"), ip=data.get("ip"), host=data.get("host"),
                     multipath=bool(data.get("multipath")))


def ensure_target_auth(core: c.Core, volume: models.Volume) -> None:
    """Give a volume the target secret its driver makes (CHAP for iSCSI), if it
    has none yet: one made before a driver needed one, or lost."""
    if not volume.provider_auth:
        volume.provider_auth = driver(core, volume.backend).new_target_auth()


def export_spec(volume: models.Volume, extra: dict | None = None, without: str | None = None) -> ExportSpec:
    """Who may reach the volume: every attachment with a connector (plus `extra`,
    minus the attachment `without`), and the target secret its driver made."""
    connectors = [connector_from(a.connector) for a in volume.attachments if a.connector and a.id != without]
    if extra is not None:
        connectors.append(connector_from(extra))
    return ExportSpec(auth=volume.provider_auth, connectors=tuple(connectors))


def get_volume(session: Session, ctx: RequestContext, volume_id: str, attachments: bool = True) -> models.Volume:
    """`attachments=False` skips loading them (one query less) where nothing reads
    them: reading them then raises."""
    volume = session.get(models.Volume, volume_id,
                         options=None if attachments else [raiseload(models.Volume.attachments)])
    # Another project's volume is "not found", never "forbidden" (no existence leak);
    # see RequestContext.reaches for admins.
    if volume is None or not ctx.reaches(volume.project_id):
        raise NotFound(f"Volume {volume_id} could not be found.")
    return volume


@dataclass(frozen=True)
class VolumeFacts:
    """A volume as a request reads it to start work on it, in one plain SELECT
    (no ORM objects): owner, state, and its driver ref."""

    ref: VolumeRef
    project_id: str
    status: str
    backend: str | None
    volume_type_id: str | None
    migration_status: str | None = None


_V, _T = models.Volume, models.VolumeType
_VOLUME_FACTS = (
    select(_V.id, _V.project_id, _V.status, _V.size, _V.pool, _V.provider_location, _V.backend,
           _V.volume_type_id, _T.extra_specs, _V.name_id, _V.migration_status)
    .outerjoin(_T, _V.volume_type_id == _T.id)
    .where(_V.id == bindparam("volume_id"))
)


def volume_facts(session: Session, ctx: RequestContext, volume_id: str) -> VolumeFacts:
    """What get_volume finds, as plain data, for the requests that only start work."""
    row = session.connection().execute(_VOLUME_FACTS, {"volume_id": volume_id}).one_or_none()
    if row is None or not ctx.reaches(row.project_id):
        raise NotFound(f"Volume {volume_id} could not be found.")
    ref = VolumeRef(row.name_id or row.id, row.pool or "", row.size, row.provider_location,
                    dict(row.extra_specs or {}))
    return VolumeFacts(ref, row.project_id, row.status, row.backend, row.volume_type_id, row.migration_status)


def get_snapshot(session: Session, ctx: RequestContext, snapshot_id: str) -> models.VolumeSnapshot:
    snap = session.get(models.VolumeSnapshot, snapshot_id)
    if snap is None or not ctx.reaches(snap.project_id):
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return snap


def set_volume(core: c.Core, volume_id: str, **fields) -> None:
    core.update_row(models.Volume, volume_id, **fields)


def fail_volume(core: c.Core, volume_id: str, status: str, action_id: str, detail_id: str, reason: str) -> None:
    core.fail_row(models.Volume, volume_id, status, "VOLUME", action_id, detail_id, reason, task_arg=None)


def note_volume(core: c.Core, volume_id: str, action_id: str, detail_id: str, reason: str) -> None:
    """A user message about the volume, its status unchanged (an attached volume
    stays `in-use` whatever its export does: its attachments are still to end)."""
    with core.db.session() as session:
        volume = session.get(models.Volume, volume_id)
        if volume is not None:
            core.message(session, volume.project_id, "VOLUME", volume.id, action_id, detail_id, reason)


def fail_snapshot(core: c.Core, snapshot_id: str, status: str, action_id: str, reason: str) -> None:
    """The snapshot to `status` with the reason, and a user message saying it
    (Cinder's snapshot view has no status reason: the message is what users see)."""
    core.fail_row(models.VolumeSnapshot, snapshot_id, status, "VOLUME_SNAPSHOT", action_id, DETAIL_DRIVER_FAILED, reason)


def set_snapshot(core: c.Core, snapshot_id: str, **fields) -> None:
    core.update_row(models.VolumeSnapshot, snapshot_id, **fields)
