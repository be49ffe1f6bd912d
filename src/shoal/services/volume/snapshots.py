"""Volume snapshots: create, delete, manage, unmanage, in the background."""

from __future__ import annotations

from typing import Any

from shoal.db import models
from shoal.drivers.base import UnsafeToManage
from shoal.drivers.volume import VolumeSnapshotRef

from ..common import core as c
from ..common import paging
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from ..common.tasks import Gate, early_start
from . import rows as vr
from .listing import SNAPSHOT_SORT_KEYS as SORT_KEYS
from .listing import check_sort, snapshot_query
from .migrations import MIGRATING
from .service_states import VolumeServiceStates

SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "unmanaging", "restoring",
                     "backing-up")


class VolumeSnapshots:
    def __init__(self, core: c.Core, states: VolumeServiceStates):
        self.core = core
        self.states = states  # a frozen backend's volumes take no snapshots

    def create(self, ctx: RequestContext, volume_id: Any, name: str | None = None, description: str | None = None,
               force: Any = False, metadata: dict | None = None,
               group_snapshot_id: str | None = None) -> models.VolumeSnapshot:
        if volume_id is None:  # Cinder looks the volume up first: no id, no volume (404)
            raise NotFound("Volume None could not be found.")
        metadata = dict(metadata or {})  # the fields' types and bounds: api/volume/bodies.py
        snap_id = models.new_id()
        with early_start() as gate, self.core.db.session() as session:
            volume = vr.volume_facts(session, ctx, volume_id)
            self.states.assert_not_frozen(volume.backend)
            allowed = ("available", "in-use") if force else ("available",)
            if volume.status not in allowed:
                raise Invalid(f"Invalid volume: Volume {volume_id} status must be available, but current status "
                              f"is: {volume.status}.")
            if volume.migration_status in MIGRATING:  # a migration takes the snapshots it found at its start
                raise Invalid("Invalid volume: Snapshot cannot be created while volume is migrating.")
            q.check_volume(self.core, session, volume.project_id, volume.volume_type_id, snapshots=1,
                           gigabytes=volume.ref.size_gb)
            # The backend work starts now, overlapping the insert and the commit.
            self.core.tasks.start(self._create, snap_id, VolumeSnapshotRef(snap_id, volume.ref), volume.backend, gate)
            snap = models.VolumeSnapshot(id=snap_id, volume_id=volume_id, project_id=volume.project_id,
                                         user_id=ctx.user_id, name=name, description=description,
                                         size=volume.ref.size_gb, status="creating", task="create",
                                         metadata_=metadata, group_snapshot_id=group_snapshot_id)
            c.insert_new(session, snap)
        return snap

    def _create(self, snapshot_id: str, ref: VolumeSnapshotRef, backend: str, gate: Gate) -> None:
        try:
            drv = vr.driver(self.core, backend)
            result = drv.create_snapshot(ref)
        except Exception as exc:
            if gate.wait():
                vr.fail_snapshot(self.core, snapshot_id, "error", vr.ACTION_SNAPSHOT_CREATE, f"snapshot failed: {exc}")
            return
        self.core.record_made(
            "snapshot", snapshot_id, gate,
            lambda: self.core.settle(models.VolumeSnapshot, snapshot_id, "creating", {"status": "available", "task": None},
                                     {"provider_location": result.provider_location, "size": result.size_gb}),
            lambda: drv.delete_snapshot(VolumeSnapshotRef(ref.id, ref.volume, result.provider_location)))

    def get(self, ctx: RequestContext, snapshot_id: str) -> models.VolumeSnapshot:
        with self.core.db.session() as session:
            return vr.get_snapshot(session, ctx, snapshot_id)

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort_key: str = "created_at", sort_dir: str = "desc", limit: int | None = None,
             offset: int | None = None, marker: str | None = None) -> list[models.VolumeSnapshot]:
        """One page, filtered, ordered and cut by the database (see listing and paging)."""
        check_sort([(sort_key, sort_dir)], SORT_KEYS)
        keys = paging.sort_keys(models.VolumeSnapshot, [(sort_key, sort_dir)], "asc")
        with self.core.db.session() as session:
            return paging.page(session, snapshot_query(ctx, all_tenants, filters), keys, marker=marker,
                               missing=lambda: NotFound(f"Marker {marker} could not be found."),
                               offset=offset, limit=limit)

    def count(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None) -> int:
        """How many snapshots the list's filters match (Cinder's `count`, 3.45+)."""
        with self.core.db.session() as session:
            return paging.count(session, snapshot_query(ctx, all_tenants, filters))

    def update(self, ctx: RequestContext, snapshot_id: str, fields: dict) -> models.VolumeSnapshot:
        """`fields` as the API's SnapshotUpdate model let them through (names, descriptions)."""
        attrs = {"display_name": "name", "display_description": "description"}
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            for key, value in fields.items():
                setattr(snap, attrs.get(key, key), value)
            return snap

    def set_metadata(self, ctx: RequestContext, snapshot_id: str, metadata: dict[str, str], replace: bool) -> dict:
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            snap.metadata_ = metadata if replace else {**snap.metadata_, **metadata}
            return dict(snap.metadata_)

    def delete(self, ctx: RequestContext, snapshot_id: str, force: bool = False) -> None:
        if force and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:snapshot_force_delete to be performed.")
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            if not force and snap.status not in ("available", "error", "error_deleting"):
                raise Invalid(f"Invalid snapshot: Volume Snapshot status must be available or error, not {snap.status}")
            if snap.volume is not None and snap.volume.migration_status in MIGRATING:  # it may be on its way
                raise Invalid("Invalid snapshot: Snapshot cannot be deleted while its volume is migrating.")
            snap.status, snap.task = "deleting", "delete"
        self.core.tasks.start(self._delete, snapshot_id)

    def _delete(self, snapshot_id: str) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.VolumeSnapshot, snapshot_id)
            if snap is None or snap.status != "deleting":
                return
            ref, backend, placed = vr.snapshot_ref(snap), snap.volume.backend, snap.provider_location
        try:
            if backend is not None and placed:
                vr.driver(self.core, backend).delete_snapshot(ref)
        except Exception as exc:
            vr.set_snapshot(self.core, snapshot_id, status="error_deleting", task=None, status_reason=f"delete failed: {exc}")
            return
        with self.core.db.session() as session:
            snap = session.get(models.VolumeSnapshot, snapshot_id)
            if snap is not None:
                session.delete(snap)

    def delete_metadata(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            if key not in snap.metadata_:
                raise NotFound(f"Metadata item was not found: {key}")
            snap.metadata_ = {k: v for k, v in snap.metadata_.items() if k != key}

    # Cinder's os-update_snapshot_status (what an assisted snapshot's creator reports):
    # from each status, the statuses it may report.
    STATUS_UPDATES = {"creating": ("creating", "available", "error"), "deleting": ("deleting", "error_deleting")}

    def update_status(self, ctx: RequestContext, snapshot_id: str, status: str, progress: str | None = None) -> None:
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            allowed = self.STATUS_UPDATES.get(snap.status)
            if allowed is None:
                raise Invalid(f"Invalid snapshot: Snapshot status {snap.status} not allowed for "
                              f"update_snapshot_status")
            if status not in allowed:
                raise Invalid(f"Invalid snapshot: Provided snapshot status {status} not allowed for snapshot "
                              f"with status {snap.status}.")
            snap.status = status
            if progress:
                snap.progress = progress

    def reset_status(self, ctx: RequestContext, snapshot_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:snapshot_reset_status to be performed.")
        if status not in SNAPSHOT_STATUSES:
            raise Invalid(f"Invalid input received: status {status!r} is not a snapshot status")
        self.get(ctx, snapshot_id)
        vr.set_snapshot(self.core, snapshot_id, status=status, task=None)

    # ---- manage ----------------------------------------------------------------------

    def manage(self, ctx: RequestContext, *, volume_id: Any, ref: Any, name: str | None = None,
               description: str | None = None, metadata: dict | None = None) -> models.VolumeSnapshot:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:manage_snapshot to be performed.")
        if not ref:  # its type and the other fields': the API's body model (api/volume/bodies.py)
            raise Invalid("Invalid input received: ref must be an object such as {'source-name': ...}")
        if volume_id is None:  # Cinder looks the volume up first: no id, no volume (404)
            raise NotFound("Volume None could not be found.")
        metadata = dict(metadata or {})
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if volume.status not in ("available", "in-use"):
                raise Invalid(f"Invalid volume: status must be available, not {volume.status}")
            q.check_volume(self.core, session, volume.project_id, volume.volume_type_id, snapshots=1,
                           gigabytes=volume.size)
            snap = models.VolumeSnapshot(volume_id=volume_id, project_id=volume.project_id, user_id=ctx.user_id,
                                         name=name, description=description, size=volume.size, status="creating",
                                         task="manage", metadata_=metadata)
            session.add(snap)
            session.flush()
            session.refresh(snap)
            created = snap
        self.core.tasks.start(self._manage, created.id, dict(ref))
        return created

    def _manage(self, snapshot_id: str, reference: dict) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.VolumeSnapshot, snapshot_id)
            ref, backend = vr.snapshot_ref(snap), snap.volume.backend
        try:
            result = vr.driver(self.core, backend).manage_existing_snapshot(ref, reference)
        except (UnsafeToManage, Exception) as exc:
            vr.fail_snapshot(self.core, snapshot_id, "error", vr.ACTION_MANAGE, f"cannot manage: {exc}")
            return
        vr.set_snapshot(self.core, snapshot_id, status="available", task=None,
                        provider_location=result.provider_location, size=result.size_gb)

    def unmanage(self, ctx: RequestContext, snapshot_id: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:unmanage_snapshot to be performed.")
        with self.core.db.session() as session:
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            if snap.status not in ("available", "error"):
                raise Invalid(f"Invalid snapshot: status must be available or error, not {snap.status}")
            ref, backend = vr.snapshot_ref(snap), snap.volume.backend
            snap.status = "unmanaging"
        try:
            if snap.provider_location:
                vr.driver(self.core, backend).unmanage_snapshot(ref)
        except Exception as exc:
            vr.set_snapshot(self.core, snapshot_id, status="error", status_reason=f"unmanage failed: {exc}")
            return
        with self.core.db.session() as session:
            snap = session.get(models.VolumeSnapshot, snapshot_id)
            if snap is not None:
                session.delete(snap)
