"""Volume lifecycle: which status may go where, and the background work that
takes a volume from a transitional status to a steady one."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, select

from shoal.db import models
from shoal.drivers.base import InvalidRequest, UnsafeToManage
from shoal.drivers.volume import VolumeRef

from ..common import core as c
from ..common import paging
from ..common import quotas as q
from ..common.checks import parse_service_host
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound, OverQuota
from ..common.scheduler import (
    VOLUME_BACKEND_KEY,
    NoValidPool,
    choose_pool,
    choose_pool_now,
    growth_refused,
    wants_thin,
)
from ..common.tasks import Gate, early_start
from ..common.types import TypeCatalog
from . import rows as vr
from .groups import joinable
from .listing import SORT_KEYS, check_sort, volume_query
from .service_states import VolumeServiceStates

log = logging.getLogger(__name__)
VOLUME_STATUSES = (
    "creating", "available", "reserved", "attaching", "detaching", "in-use", "maintenance", "deleting",
    "awaiting-transfer", "error", "error_deleting", "backing-up", "restoring-backup", "error_backing-up",
    "error_restoring", "error_extending", "downloading", "uploading", "retyping", "extending", "reverting",
    "error_managing", "unmanaging",
)
ATTACH_STATUSES = ("attached", "detached", "attaching", "detaching", "reserved")
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing", "error_deleting")


def spec_true(specs: dict, key: str) -> bool:
    value = str(specs.get(key, "")).strip().split()
    return bool(value) and value[-1].lower() in ("true", "1", "yes", "on")


class Volumes:
    def __init__(self, core: c.Core, types: TypeCatalog, states: VolumeServiceStates):
        self.core = core
        self.types = types
        self.states = states  # disabled and frozen backends get no new volumes
        self.migrations = None  # services/volume/migrations.VolumeMigrations, set by the wiring

    # ---- create ---------------------------------------------------------------------

    def create(self, ctx: RequestContext, *, size: Any = None, name: str | None = None, description: str | None = None,
               volume_type: str | None = None, snapshot_id: str | None = None, source_volid: str | None = None,
               availability_zone: str | None = None, metadata: dict | None = None,
               multiattach: bool | None = None, group_id: str | None = None, populate=None,
               make=None) -> models.Volume:
        """`populate(volume_id, ref, driver)`, when given, fills the volume once made
        (an image copy: services/volume/images.py); the volume is `downloading` meanwhile.
        `make(ref, driver) -> VolumeResult`, when given, makes a volume of no snapshot
        or source volume instead of the driver's create_volume (a clone of an
        image-volume cache entry)."""
        # the fields' types and bounds: the API's body model (api/volume/bodies.py)
        metadata = dict(metadata or {})
        if snapshot_id and source_volid:
            raise Invalid("give snapshot_id or source_volid, not both")
        with early_start() as gate, self.core.db.session() as session:
            parent_backend = parent_pool = parent_type = None
            min_size = 1
            if snapshot_id:
                snap = vr.get_snapshot(session, ctx, snapshot_id)
                if snap.status != "available":
                    raise Invalid(f"Invalid snapshot: Originating snapshot status must be one of 'available' values, not {snap.status}")
                parent_backend, parent_pool, parent_type = snap.volume.backend, snap.volume.pool, snap.volume.volume_type
                min_size = snap.size
            if source_volid:
                src = vr.get_volume(session, ctx, source_volid)
                if src.status not in ("available", "in-use"):
                    raise Invalid(f"Invalid volume: source volume status must be available or in-use, not {src.status}")
                parent_backend, parent_pool, parent_type = src.backend, src.pool, src.volume_type
                min_size = src.size
            if size is None and (snapshot_id or source_volid):
                size = min_size
            if size is None:
                raise Invalid("Invalid input received: size must be a positive integer, not None")
            if size < min_size:
                raise Invalid(f"Invalid input received: size {size} is smaller than the source's {min_size} GiB")
            if volume_type:
                vtype = self.types.find(session, ctx, volume_type)
            else:
                vtype = parent_type or self.types.default(session)
            specs = dict(vtype.extra_specs) if vtype else {}
            zones = {d.availability_zone for d in self.core.volume_drivers.values()}
            if availability_zone and availability_zone not in zones:
                raise Invalid(f"Invalid input received: Availability zone '{availability_zone}' is invalid.")
            volume = models.Volume(
                id=models.new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description, size=size,
                status="creating", volume_type_id=vtype.id if vtype else None, snapshot_id=snapshot_id,
                source_volid=source_volid, availability_zone=availability_zone, metadata_=metadata, task="create",
                multiattach=bool(multiattach) or spec_true(specs, "multiattach"),
            )
            if group_id is not None:  # a group takes volumes of its types only
                volume.group_id = joinable(session, ctx, group_id, volume.volume_type_id).id
            if parent_backend is not None:  # clones live next to their source
                self.states.assert_not_frozen(parent_backend)
                volume.backend, volume.pool = parent_backend, parent_pool
                volume.availability_zone = self.core.volume_drivers[parent_backend].availability_zone \
                    if parent_backend in self.core.volume_drivers else None
            elif placed := choose_pool_now(self.states.placeable(self.core.volume_drivers), size, specs,
                                           availability_zone,
                                           "volume_backend_name", self.core.pool_stats):
                volume.backend, volume.pool = placed.backend, placed.pool
                volume.availability_zone = self.core.volume_drivers[placed.backend].availability_zone
            q.check_volume(self.core, session, ctx.project_id, volume.volume_type_id, volumes=1, gigabytes=size,
                           size=size)
            # What the view reads, set here instead of re-reading the new row.
            volume.volume_type, volume.attachments = vtype, []
            # The task gets what it needs from here instead of reading the row again,
            # and starts the backend work while this inserts and commits; a volume not
            # placed yet is read, placed and recorded by the task once committed.
            plan = None
            if volume.backend is not None:
                plan = (vr.volume_ref(volume), vr.snapshot_ref(snap) if snapshot_id else None,
                        vr.volume_ref(src) if source_volid else None, volume.backend)
            self.core.tasks.start(self._create, volume.id, plan, gate, populate, make)
            c.insert_new(session, volume)
            created = volume
        return created

    def _create(self, volume_id: str, plan: tuple | None, gate: Gate, populate=None, make=None) -> None:
        if plan is None and (not gate.wait() or (plan := self._place(volume_id)) is None):
            return
        ref, snap_ref, src_ref, backend = plan
        with self.core.volume_lock(volume_id):
            try:
                drv = vr.driver(self.core, backend)
                if snap_ref is not None:
                    result = drv.create_volume_from_snapshot(ref, snap_ref)
                elif src_ref is not None:
                    result = drv.create_cloned_volume(ref, src_ref)
                elif make is not None:
                    result = make(ref, drv)
                else:
                    result = drv.create_volume(ref)
            except Exception as exc:
                if gate.wait():
                    vr.fail_volume(self.core, volume_id, "error", vr.ACTION_CREATE, vr.DETAIL_DRIVER_FAILED,
                                   f"create failed: {exc}")
                return
            # One statement. The target secret (CHAP, if the driver's targets have one) is
            # made here, only while the row is still `creating`: nothing can have exported it yet.
            self.core.record_made(
                "volume", volume_id, gate,
                lambda: self.core.settle(
                    models.Volume, volume_id, "creating",
                    {"status": "available", "status_reason": None, "task": None, "provider_auth": drv.new_target_auth()}
                    if populate is None else {"status": "downloading", "progress": "0%"},
                    {"provider_location": result.provider_location, "size": result.size_gb}),
                lambda: drv.delete_volume(
                    VolumeRef(ref.id, ref.pool, ref.size_gb, result.provider_location, ref.extra_specs)))
            if populate is not None:
                populate(volume_id, VolumeRef(ref.id, ref.pool, result.size_gb, result.provider_location,
                                              ref.extra_specs), drv)

    def _place(self, volume_id: str) -> tuple | None:
        """Read a creating volume, place it and record where: (ref, snapshot ref, source ref, backend)."""
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None or volume.status != "creating":
                return
            specs = dict(volume.volume_type.extra_specs) if volume.volume_type else {}
            if volume.backend is None:
                try:
                    placed = choose_pool(self.states.placeable(self.core.volume_drivers), volume.size, specs,
                                         volume.availability_zone,
                                         backend_key="volume_backend_name", cache=self.core.pool_stats)
                except NoValidPool as exc:
                    volume.status, volume.status_reason, volume.task = "error", str(exc), None
                    self.core.message(session, volume.project_id, "VOLUME", volume.id, vr.ACTION_CREATE,
                                      vr.DETAIL_NO_BACKEND, str(exc))
                    return
                volume.backend, volume.pool = placed.backend, placed.pool
                volume.availability_zone = self.core.volume_drivers[placed.backend].availability_zone
            snap = session.get(models.VolumeSnapshot, volume.snapshot_id) if volume.snapshot_id else None
            src = session.get(models.Volume, volume.source_volid) if volume.source_volid else None
            return (vr.volume_ref(volume), vr.snapshot_ref(snap) if snap is not None else None,
                    vr.volume_ref(src) if src is not None else None, volume.backend)

    # ---- read ---------------------------------------------------------------------------

    def get(self, ctx: RequestContext, volume_id: str) -> models.Volume:
        with self.core.db.session() as session:
            return vr.get_volume(session, ctx, volume_id)

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort: list[tuple[str, str]] | None = None, limit: int | None = None, offset: int | None = None,
             marker: str | None = None) -> list[models.Volume]:
        """One page, filtered, ordered and cut by the database (see listing and paging)."""
        sort = sort or [("created_at", "desc")]
        check_sort(sort, SORT_KEYS)
        query, metadata = volume_query(ctx, all_tenants, filters)
        keys = paging.sort_keys(models.Volume, sort, "asc")
        return paging.listed(self.core.db, query, metadata, keys, marker=marker, offset=offset, limit=limit,
                             missing=lambda: NotFound(f"Marker {marker} could not be found."))

    def count(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None) -> int:
        """How many volumes the list's filters match (Cinder's `count`, 3.45+)."""
        return paging.counted(self.core.db, *volume_query(ctx, all_tenants, filters))

    def summary(self, ctx: RequestContext, all_tenants: bool = False) -> dict:
        rows = self.list(ctx, all_tenants=all_tenants)
        return {"total_count": len(rows), "total_size": sum(v.size for v in rows),
                "metadata": {k: sorted({v.metadata_[k] for v in rows if k in v.metadata_})
                             for k in {k for v in rows for k in v.metadata_}}}

    def update(self, ctx: RequestContext, volume_id: str, fields: dict) -> models.Volume:
        """`fields` as the API's VolumeUpdate model let them through (names, descriptions, metadata)."""
        attrs = {"display_name": "name", "display_description": "description", "metadata": "metadata_"}
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            for key, value in fields.items():
                if key == "metadata" and value is None:
                    value = {}
                setattr(volume, attrs.get(key, key), value)
            return volume

    # ---- delete ----------------------------------------------------------------------------

    def delete(self, ctx: RequestContext, volume_id: str, cascade: bool = False, force: bool = False) -> None:
        if force and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:force_delete to be performed.")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self.states.assert_not_frozen(volume.backend)
            if self.migrations is not None and self.migrations.holds(volume):
                self.migrations.delete_while_migrating(volume, force)  # the migration's end deletes it
                known = None
            else:
                known = self._mark_deleting(session, volume, cascade, force)
        if known is None:
            self.migrations.cancel_for_delete(volume_id)
            return
        self.core.tasks.start(self._delete, volume_id, known)

    @staticmethod
    def _mark_deleting(session, volume: models.Volume, cascade: bool, force: bool) -> tuple:
        volume_id = volume.id
        if not force:
            if volume.status not in DELETABLE:
                raise Invalid("Invalid volume: Volume status must be available or error or error_restoring or "
                              "error_extending or error_managing and must not be migrating, attached, belong to "
                              "a group, have snapshots or be disassociated from snapshots after volume transfer.")
            if volume.attach_status == "attached" or volume.attachments:
                raise Invalid("Invalid volume: Volume is attached.")
        snaps = list(session.scalars(select(models.VolumeSnapshot).where(models.VolumeSnapshot.volume_id == volume_id)))
        if snaps and not cascade:
            raise Invalid(f"Invalid volume: Volume {volume_id} still has {len(snaps)} dependent snapshots.")
        if any(s.status not in ("available", "error", "error_deleting") for s in snaps) and not force:
            raise Invalid("Invalid volume: a snapshot of this volume is busy.")
        for snap in snaps:
            snap.status, snap.task = "deleting", "delete"
        volume.status, volume.task, volume.status_reason = "deleting", "delete", None
        return (vr.volume_ref(volume), volume.backend, [vr.snapshot_ref(s) for s in snaps])

    def _delete(self, volume_id: str, known: tuple | None = None) -> None:
        """`known`: (ref, backend, snapshot refs) from the request; without it (recovery) the rows are read."""
        if known is None:
            with self.core.db.session() as session:
                volume = session.get(models.Volume, volume_id)
                if volume is None or volume.status != "deleting":
                    return
                known = (vr.volume_ref(volume), volume.backend, [vr.snapshot_ref(s) for s in session.scalars(
                    select(models.VolumeSnapshot).where(models.VolumeSnapshot.volume_id == volume_id))])
        ref, backend, snaps = known
        try:
            with self.core.volume_lock(volume_id):
                if ref.provider_location is None and backend is not None:
                    # Taken from the request while the create was still running (force-delete):
                    # what it made is known now.
                    ref = self._fresh_ref(volume_id) or ref
                # Also without a provider location once placed on a pool: a create cut short by
                # a crash may have made the volume (its name comes from the id), and a driver's
                # delete succeeds when it is not there.
                if backend is not None and (ref.provider_location or ref.pool):
                    drv = vr.driver(self.core, backend)
                    drv.unexport(ref)
                    for snap in snaps:
                        drv.delete_snapshot(snap)
                    drv.delete_volume(ref)
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error_deleting", vr.ACTION_DELETE, vr.DETAIL_DRIVER_FAILED,
                           f"delete failed: {exc}")
            return
        with self.core.db.connection() as connection:
            for child in (models.VolumeSnapshot, models.VolumeAttachment):
                connection.execute(delete(child.__table__).where(child.__table__.c.volume_id == volume_id))
            connection.execute(delete(models.Volume.__table__).where(models.Volume.__table__.c.id == volume_id))
        log.info("volume %s deleted", volume_id)

    def _fresh_ref(self, volume_id: str) -> VolumeRef | None:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            return vr.volume_ref(volume) if volume is not None else None

    # ---- resize and revert ----------------------------------------------------------------------

    def extend(self, ctx: RequestContext, volume_id: str, new_size: int) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self.states.assert_not_frozen(volume.backend)
            if volume.status not in ("available", "in-use"):
                raise Invalid(f"Invalid volume: Volume status must be 'available' or 'in-use' to extend, "
                              f"currently {volume.status}.")
            if new_size <= volume.size:
                raise Invalid(f"Invalid input received: New size for extend must be greater than current size. "
                              f"(current: {volume.size}, extended: {new_size}).")
            q.check_volume(self.core, session, volume.project_id, volume.volume_type_id,
                           gigabytes=new_size - volume.size, size=new_size)
            volume.task, volume.task_arg = "extend", f"{new_size}:{volume.status}"
            volume.status = "extending"
        self.core.tasks.start(self._extend, volume_id)

    def _extend(self, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None or volume.task != "extend":
                return
            new_size, _, back_to = volume.task_arg.partition(":")
            ref, backend, increase = vr.volume_ref(volume), volume.backend, int(new_size) - volume.size
            pool, thin = volume.pool, wants_thin(dict(volume.volume_type.extra_specs) if volume.volume_type else {})
        driver = vr.driver(self.core, backend)
        if why := growth_refused(backend, driver, pool, increase, self.core.pool_stats, VOLUME_BACKEND_KEY, thin):
            # Cinder's scheduler: the volume back as it was, and a user message saying why
            vr.fail_volume(self.core, volume_id, back_to or "available", vr.ACTION_EXTEND, vr.DETAIL_NO_BACKEND,
                           f"extend to {new_size} GiB: No valid backend was found. {why}")
            return
        try:
            driver.extend_volume(ref, int(new_size))
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error_extending", vr.ACTION_EXTEND, vr.DETAIL_DRIVER_FAILED,
                           f"extend failed: {exc}")
            return
        vr.set_volume(self.core, volume_id, size=int(new_size), status=back_to or "available", task=None,
                      task_arg=None, status_reason=None)

    def revert(self, ctx: RequestContext, volume_id: str, snapshot_id: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            snap = vr.get_snapshot(session, ctx, snapshot_id)
            if snap.volume_id != volume_id:
                raise Invalid(f"Invalid input received: snapshot {snapshot_id} is not a snapshot of volume {volume_id}")
            if volume.status != "available" or snap.status != "available":
                raise Invalid("Invalid volume: the volume and the snapshot must both be available to revert")
            latest = session.scalars(select(models.VolumeSnapshot).where(models.VolumeSnapshot.volume_id == volume_id)
                                     .order_by(models.VolumeSnapshot.created_at.desc())).first()
            if latest is None or latest.id != snapshot_id:
                raise Invalid("Invalid snapshot: only the latest snapshot can be reverted to")
            try:  # a revert the backend would refuse is refused now, with nothing changed
                vr.driver(self.core, volume.backend).check_revert(vr.snapshot_ref(snap))
            except InvalidRequest as exc:
                raise Invalid(f"Invalid snapshot: {exc}") from None
            volume.status, volume.task, volume.task_arg = "reverting", "revert", snapshot_id
            snap.status = "restoring"
        self.core.tasks.start(self._revert, volume_id, snapshot_id)

    def _revert(self, volume_id: str, snapshot_id: str) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.VolumeSnapshot, snapshot_id)
            ref, backend = vr.snapshot_ref(snap), snap.volume.backend
        try:
            vr.driver(self.core, backend).revert_to_snapshot(ref)
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error", vr.ACTION_REVERT, vr.DETAIL_DRIVER_FAILED, f"revert failed: {exc}")
        else:
            vr.set_volume(self.core, volume_id, status="available", task=None, task_arg=None, status_reason=None)
        vr.set_snapshot(self.core, snapshot_id, status="available")

    # ---- small updates ------------------------------------------------------------------------------

    def reset_status(self, ctx: RequestContext, volume_id: str, status: Any = None, attach_status: Any = None) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:reset_status to be performed.")
        if status is not None and status not in VOLUME_STATUSES:
            raise Invalid(f"Invalid input received: status {status!r} is not a volume status")
        if attach_status is not None and attach_status not in ATTACH_STATUSES:
            raise Invalid(f"Invalid input received: attach_status {attach_status!r} is not valid")
        if status is None and attach_status is None:
            raise Invalid("Invalid input received: status or attach_status is required")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if status is not None:
                volume.status, volume.task, volume.task_arg = status, None, None
            if attach_status is not None:
                volume.attach_status = attach_status

    def set_flag(self, ctx: RequestContext, volume_id: str, flag: str, value: bool) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            setattr(volume, flag, value)

    def set_metadata(self, ctx: RequestContext, volume_id: str, metadata: dict[str, str], replace: bool) -> dict:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            volume.metadata_ = metadata if replace else {**volume.metadata_, **metadata}
            return dict(volume.metadata_)

    def delete_metadata(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if key not in volume.metadata_:
                raise NotFound(f"Metadata item was not found: {key}")
            volume.metadata_ = {k: v for k, v in volume.metadata_.items() if k != key}

    # ---- manage -------------------------------------------------------------------------------------

    def manage(self, ctx: RequestContext, *, host: Any, ref: Any, name: str | None = None, description: str | None = None,
               volume_type: str | None = None, availability_zone: str | None = None, metadata: dict | None = None,
               bootable: bool = False) -> models.Volume:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:manage to be performed.")
        if not ref:  # its type and the other fields': the API's body model (api/volume/bodies.py)
            raise Invalid("Invalid input received: ref must be an object such as {'source-name': ...}")
        backend, pool = parse_service_host(host if isinstance(host, str) and "#" in host else f"{host}#")
        if backend not in self.core.volume_drivers:
            raise Invalid(f"Invalid input received: host {host!r} names no configured backend")
        metadata = dict(metadata or {})
        with self.core.db.session() as session:
            vtype = self.types.find(session, ctx, volume_type) if volume_type else self.types.default(session)
            owner = vr.driver(self.core, backend).reference_owner(ref, vr.held_volumes(session, backend))
            if owner is not None:
                source = ref.get("source-name") or ref.get("source-id")
                raise Invalid(f"Invalid input received: {source} is already managed as volume {owner}")
            q.check_volume(self.core, session, ctx.project_id, vtype.id if vtype else None, volumes=1)
            volume = models.Volume(project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description,
                                   size=0, status="creating", volume_type_id=vtype.id if vtype else None,
                                   backend=backend, pool=pool or None, metadata_=metadata, bootable=bool(bootable),
                                   availability_zone=self.core.volume_drivers[backend].availability_zone,
                                   task="manage")
            session.add(volume)
            session.flush()
            session.refresh(volume)
            created = volume
        self.core.tasks.start(self._manage, created.id, dict(ref))
        return created

    def _manage(self, volume_id: str, reference: dict) -> None:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            ref, backend = vr.volume_ref(volume), volume.backend
        try:
            result = vr.driver(self.core, backend).manage_existing(ref, reference)
        except UnsafeToManage as exc:
            vr.fail_volume(self.core, volume_id, "error_managing", vr.ACTION_MANAGE, vr.DETAIL_UNKNOWN, f"cannot manage: {exc}")
            return
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error_managing", vr.ACTION_MANAGE, vr.DETAIL_DRIVER_FAILED,
                           f"manage failed: {exc}")
            return
        # Only now is the size known: it is checked against the quota in the transaction that records it.
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None:
                return
            try:
                q.check_volume(self.core, session, volume.project_id, volume.volume_type_id,
                               gigabytes=result.size_gb - volume.size, size=result.size_gb)
            except OverQuota as exc:
                over = str(exc)
            else:
                over = None
                volume.size, volume.provider_auth, volume.status, volume.task = result.size_gb, vr.driver(self.core, volume.backend).new_target_auth(), \
                    "available", None
            volume.provider_location = result.provider_location  # managed either way: unmanage gives it back
        if over:
            vr.fail_volume(self.core, volume_id, "error_managing", vr.ACTION_MANAGE, vr.DETAIL_UNKNOWN, over)

    def unmanage(self, ctx: RequestContext, volume_id: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:unmanage to be performed.")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            if volume.status not in ("available", "error", "error_managing") or volume.attachments:
                raise Invalid(f"Invalid volume: volume status must be available and detached, not {volume.status}")
            if session.scalar(select(func.count()).select_from(models.VolumeSnapshot).where(
                    models.VolumeSnapshot.volume_id == volume_id)):
                raise Invalid("Invalid volume: a volume with snapshots cannot be unmanaged")
            volume.status, volume.task = "unmanaging", "unmanage"
        self.core.tasks.start(self._unmanage, volume_id)

    def _unmanage(self, volume_id: str) -> None:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is None:
                return
            ref, backend = vr.volume_ref(volume), volume.backend
        try:
            if volume.provider_location:
                vr.driver(self.core, backend).unmanage(ref)
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error", vr.ACTION_MANAGE, vr.DETAIL_DRIVER_FAILED, f"unmanage failed: {exc}")
            return
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            if volume is not None:
                session.delete(volume)

    def manageable(self, ctx: RequestContext, host: str | None, snapshots: bool = False) -> list:
        """Backend objects that could be managed, per backend (host `shoal@backend[#pool]`)."""
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume:get_manageable to be performed.")
        wanted = None
        if host:
            wanted = host.split("@", 1)[-1].split("#", 1)[0]
            if wanted not in self.core.volume_drivers:
                raise NotFound(f"Host {host} could not be found.")
        out = []
        for name, drv in self.core.volume_drivers.items():
            if wanted and name != wanted:
                continue
            with self.core.db.session() as session:  # read, then ask the backend outside the transaction
                managed = vr.held_snapshots(session, name) if snapshots else vr.held_volumes(session, name)
            items = drv.manageable_snapshots(managed) if snapshots else drv.manageable_volumes(managed)
            out.extend((name, item) for item in items)
        return out

