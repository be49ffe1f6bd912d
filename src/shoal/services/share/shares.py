"""Share lifecycle: the rules of which status may go where, and the background
work that moves a share from a transitional status to a steady one."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, insert, select

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.drivers.base import DriverError, ShareResult, ShrinkWouldLoseData, UnsafeToManage

from ..common import core as c
from ..common import paging
from ..common import quotas as q
from ..common.checks import check_size, parse_service_host
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound, OverQuota
from ..common.scheduler import NoValidPool, choose_pool, choose_pool_now, growth_refused
from ..common.tasks import Gate, early_start
from ..common.types import TypeCatalog
from . import replica_rows as rr
from . import rows as sr
from .group_snapshots import refuse_if_member
from .listing import check_sort, share_query
from .locks import drop_rule_locks, refuse_if_locked

log = logging.getLogger(__name__)

SHARE_STATUSES = (
    "available", "error", "creating", "deleting", "error_deleting", "extending", "extending_error",
    "shrinking", "shrinking_error", "shrinking_possible_data_loss_error", "manage_starting", "manage_error",
    "unmanage_starting", "unmanage_error", "reverting", "reverting_error", "creating_from_snapshot",
    "migrating", "migrating_to", "server_migrating",  # Manila's reset_status takes these too
)
# Manila's TASK_STATE_STATUSES: what reset_task_state may set.
TASK_STATES = (
    "migration_starting", "migration_in_progress", "migration_completing", "migration_success", "migration_error",
    "migration_cancelled", "migration_driver_in_progress", "migration_driver_phase1_done", "data_copying_starting",
    "data_copying_in_progress", "data_copying_completing", "data_copying_completed", "data_copying_cancelled",
    "data_copying_error", None,
)


class Shares:
    def __init__(self, core: c.Core, types: TypeCatalog):
        self.core = core
        self.types = types
        self.migrations = None  # services/share/migration.ShareMigrations, set by the wiring
        self.groups = None  # the ShareGroups service (set by Services): shares made in a group

    # ---- create -----------------------------------------------------------------

    def create(self, ctx: RequestContext, *, size: int, share_proto: str, name: str | None = None,
               description: str | None = None, share_type: str | None = None, snapshot_id: str | None = None,
               availability_zone: str | None = None, metadata: dict | None = None, is_public: bool = False,
               type_zones: bool = True, share_group_id: str | None = None) -> models.Share:
        """`type_zones`: whether the type's `availability_zones` spec limits where the
        share may go (Manila's API from 2.48; below, the spec is ignored)."""
        # the fields' types and bounds: the API's body model (api/share/bodies.py)
        if share_proto.upper() != "NFS":
            raise Invalid(f"share_proto {share_proto!r} is not supported; only NFS")
        metadata = dict(metadata or {})
        with early_start() as gate, self.core.db.session() as session:
            parent = None
            if snapshot_id:
                parent = sr.get_snapshot(session, ctx, snapshot_id)
                if parent.status != "available":
                    raise Invalid(f"snapshot {snapshot_id} is {parent.status}, it must be available")
                if size < parent.size:
                    raise Invalid(f"size {size} is smaller than the snapshot's {parent.size} GiB")
            if share_type:
                stype = self.types.find(session, ctx, share_type)
            elif parent is not None and parent.share.share_type is not None:
                stype = parent.share.share_type
            else:
                stype = self.types.default(session)
                if stype is None:
                    raise NotFound("There is no default share type; pass share_type")
            check_type_size(stype, size)
            specs = dict(stype.extra_specs or {})
            if not type_zones:
                specs.pop("availability_zones", None)
            allowed = [z.strip() for z in specs.get("availability_zones", "").split(",") if z.strip()]
            if availability_zone and allowed and availability_zone not in allowed:
                raise Invalid(f"Share type {stype.name} is not supported within the availability zone chosen "
                              f"{availability_zone}.")
            if availability_zone and availability_zone not in {d.availability_zone for d in self.core.drivers.values()}:
                raise NotFound(f"Availability zone {availability_zone} could not be found.")
            group = None
            if share_group_id is not None:  # its pool and zone, checked as Manila checks them
                group = self.groups.for_new_share(session, ctx, share_group_id, stype, availability_zone)
            share = models.Share(
                id=models.new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description, size=size,
                status="creating", share_proto="NFS", share_type_id=stype.id, snapshot_id=snapshot_id,
                availability_zone=availability_zone, metadata_=metadata, is_public=bool(is_public), task="create",
            )
            if parent is not None:  # the copy is made on the parent's own pool
                share.backend, share.pool = parent.share.backend, parent.share.pool
                share.availability_zone = parent.share.availability_zone
            elif group is not None:
                share.backend, share.pool, share.availability_zone = group.backend, group.pool, group.availability_zone
                share.share_group_id = group.id
            elif placed := choose_pool_now(self.core.drivers, size, specs, availability_zone,
                                           "share_backend_name", self.core.pool_stats):
                share.backend, share.pool = placed.backend, placed.pool
                share.availability_zone = self.core.drivers[placed.backend].availability_zone
            q.check_share(self.core, session, ctx.project_id, ctx.user_id, stype.id, shares=1, gigabytes=size,
                          size=size)
            # What the view reads, set here instead of re-reading the new row.
            share.share_type, share.export_locations = stype, []
            # The task gets what it needs from here instead of reading the row again,
            # and starts the backend work while this inserts and commits; a share not
            # placed yet is read, placed and recorded by the task once committed.
            plan = None
            if share.backend is not None:
                plan = (sr.share_ref(share), sr.snapshot_ref(parent) if parent else None, share.backend)
            self.core.tasks.start(self._create, share.id, plan, gate, type_zones)
            c.insert_new(session, share)
            created = share
        return created

    def _create(self, share_id: str, plan: tuple | None, gate: Gate, type_zones: bool = True) -> None:
        if plan is None and (not gate.wait() or (plan := self._place(share_id, type_zones)) is None):
            return
        ref, snap_ref, backend = plan
        driver = self.core.driver(backend)
        with self.core.share_lock(share_id):
            try:
                result = driver.create_share_from_snapshot(ref, snap_ref) if snap_ref else driver.create_share(ref)
            except Exception as exc:
                if gate.wait():
                    sr.fail_share(self.core, share_id, "error", sr.ACTION_CREATE, sr.DETAIL_DRIVER_FAILED,
                                         f"create failed: {exc}")
                return
            self.core.record_made("share", share_id, gate, lambda: self._finish(share_id, result, "creating"),
                                  lambda: driver.delete_share(ref))

    def _place(self, share_id: str, type_zones: bool = True) -> tuple | None:
        """Read a creating share, place it and record where: (ref, snapshot ref, backend)."""
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None or share.status != "creating":
                return
            specs = dict(share.share_type.extra_specs) if share.share_type else {}
            if not type_zones:
                specs.pop("availability_zones", None)
            if share.backend is None:
                try:
                    placed = choose_pool(self.core.drivers, share.size, specs, share.availability_zone,
                                         cache=self.core.pool_stats)
                except NoValidPool as exc:
                    share.status, share.status_reason, share.task = "error", str(exc), None
                    self.core.message(session, share.project_id, "SHARE", share.id, sr.ACTION_ALLOCATE_HOST,
                                      sr.DETAIL_NO_VALID_HOST, f"{sr.NO_VALID_HOST}: {exc}")
                    return
                share.backend, share.pool = placed.backend, placed.pool
                share.availability_zone = self.core.drivers[placed.backend].availability_zone
            snap = session.get(models.ShareSnapshot, share.snapshot_id) if share.snapshot_id else None
            return sr.share_ref(share), sr.snapshot_ref(snap) if snap is not None else None, share.backend

    def _finish(self, share_id: str, result: ShareResult, expected_status: str, quota: bool = False) -> bool:
        """Record a made share; False when its row is gone."""
        if not quota:  # the hot path: two statements, nothing loaded
            always = {"provider_location": result.provider_location, **({"size": result.size_gb} if result.size_gb else {})}
            with self.core.db.connection() as connection:
                if not self.core.settle(models.Share, share_id, expected_status,
                                        {"status": "available", "status_reason": None, "task": None}, always,
                                        connection):
                    return False
                replace_export_locations(connection, share_id, result)
            return True
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None:
                return False
            if result.size_gb:  # a managed share's size is known only now
                try:
                    q.check_share(self.core, session, share.project_id, share.user_id, share.share_type_id,
                                  gigabytes=result.size_gb - share.size, size=result.size_gb)
                except OverQuota as exc:  # managed (unmanage gives it back), not counted at that size
                    share.provider_location = result.provider_location
                    share.status, share.status_reason, share.task = "manage_error", str(exc), None
                    self.core.message(session, share.project_id, "SHARE", share.id, sr.ACTION_MANAGE,
                                      sr.DETAIL_UNEXPECTED, str(exc))
                    return True
            share.provider_location = result.provider_location
            if result.size_gb:
                share.size = result.size_gb
            set_export_locations(share, result)
            if share.status == expected_status:
                share.status, share.status_reason, share.task = "available", None, None
        return True

    # ---- read ---------------------------------------------------------------------

    def get(self, ctx: RequestContext, share_id: str) -> models.Share:
        with self.core.db.session() as session:
            return sr.get_share(session, ctx, share_id)

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort_key: str = "created_at", sort_dir: str = "desc", limit: int | None = None,
             offset: int | None = None, marker: str | None = None) -> list[models.Share]:
        """One page, filtered, ordered and cut by the database (see listing and paging)."""
        check_sort(sort_key, sort_dir)
        query, metadata = share_query(ctx, all_tenants, filters)
        keys = paging.sort_keys(models.Share, [(sort_key, sort_dir)], sort_dir)
        return paging.listed(self.core.db, query, metadata, keys, marker=marker, offset=offset, limit=limit,
                             missing=lambda: Invalid(f"marker {marker} not found"))

    def count(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None) -> int:
        """How many shares the list's filters match (Manila's `count`, 2.42+)."""
        return paging.counted(self.core.db, *share_query(ctx, all_tenants, filters))

    def update(self, ctx: RequestContext, share_id: str, fields: dict) -> models.Share:
        """`fields` as the API's ShareUpdate model let them through (names, descriptions, is_public)."""
        attrs = {"display_name": "name", "display_description": "description"}
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            self._own(ctx, share)
            for key, value in fields.items():
                setattr(share, attrs.get(key, key), value)
            return share

    @staticmethod
    def _own(ctx: RequestContext, share: models.Share) -> None:
        """A public share is readable by all but changed only by its project or an admin."""
        if not ctx.is_admin and share.project_id != ctx.project_id:
            raise Forbidden("only the share's project may change it")

    # ---- delete ---------------------------------------------------------------------

    def delete(self, ctx: RequestContext, share_id: str, force: bool = False) -> None:
        if force and not ctx.is_admin:
            raise Forbidden("force_delete is for administrators")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            self._own(ctx, share)
            refuse_if_locked(session, share_id)
            # Manila's 403; a share that failed to be managed is unmanaged (or force-deleted), not deleted
            if not force and share.status not in ("available", "error", "unmanage_error",
                                                  "extending_error", "shrinking_error", "reverting_error",
                                                  "shrinking_possible_data_loss_error", "error_deleting"):
                raise Forbidden(f"Share status must be one of available or error, not {share.status}")
            snapshots = session.scalar(select(func.count()).select_from(models.ShareSnapshot).where(
                models.ShareSnapshot.share_id == share_id))
            if snapshots:
                raise Forbidden(f"Share still has {snapshots} dependent snapshots.")
            refuse_if_member(session, share_id)
            rr.refuse_if_replicated(session, share_id, "Remove the replicas before deleting the share.")
            migrating = share.status == "migrating"
            share.status, share.task, share.status_reason = "deleting", "delete", None
            known = (sr.share_ref(share), share.backend)
        # a force-delete: the migration's copy goes too; a running one is stopped and starts the delete at its end
        if migrating and self.migrations is not None and self.migrations.abandon(share_id, self._delete):
            return
        self.core.tasks.start(self._delete, share_id, known)

    def _delete(self, share_id: str, known: tuple | None = None) -> None:
        """`known`: (ref, backend) from the request; without it (recovery) the row is read."""
        if known is None:
            with self.core.db.session() as session:
                share = session.get(models.Share, share_id)
                if share is None or share.status != "deleting":
                    return
                known = (sr.share_ref(share), share.backend)
        ref, backend = known
        if backend is not None:  # never placed: nothing on any backend
            try:
                with self.core.share_lock(share_id):
                    self.core.driver(backend).delete_share(ref)
            except Exception as exc:
                sr.fail_share(self.core, share_id, "error_deleting", sr.ACTION_DELETE, sr.DETAIL_DRIVER_FAILED, f"delete failed: {exc}")
                return
        with self.core.db.connection() as connection:
            drop_rule_locks(connection, share_id)  # the rules go: their locks with them, as Manila's
            for child in (models.AccessRule, models.ExportLocation, ShareReplica):
                connection.execute(delete(child.__table__).where(child.__table__.c.share_id == share_id))
            connection.execute(delete(models.Share.__table__).where(models.Share.__table__.c.id == share_id))
        log.info("share %s deleted", share_id)

    # ---- resize ------------------------------------------------------------------------

    def extend(self, ctx: RequestContext, share_id: str, new_size: int) -> None:
        with self.core.db.session() as session:
            share = self._steady(session, ctx, share_id)
            if new_size <= share.size:
                raise Invalid(f"New size for extend must be greater than current size {share.size} GiB")
            q.check_share(self.core, session, share.project_id, share.user_id, share.share_type_id,
                          gigabytes=new_size - share.size, size=new_size, extend=True)
            share.status, share.task, share.task_arg = "extending", "extend", new_size
        self.core.tasks.start(self._resize, share_id, "extend")

    def shrink(self, ctx: RequestContext, share_id: str, new_size: int) -> None:
        with self.core.db.session() as session:
            share = self._steady(session, ctx, share_id)
            if new_size >= share.size:
                raise Invalid(f"New size for shrink must be less than current size {share.size} GiB")
            share.status, share.task, share.task_arg = "shrinking", "shrink", new_size
        self.core.tasks.start(self._resize, share_id, "shrink")

    def _resize(self, share_id: str, how: str) -> None:
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None or share.task != how:
                return
            ref, backend, new_size = sr.share_ref(share), share.backend, share.task_arg
            pool, increase = share.pool, new_size - share.size
        driver = self.core.driver(backend)
        if how == "extend" and (why := growth_refused(backend, driver, pool, increase, self.core.pool_stats,
                                                      "share_backend_name")):
            # Manila's scheduler: the share available at its old size, and a user message saying why
            sr.fail_share(self.core, share_id, "available", sr.ACTION_EXTEND, sr.DETAIL_NO_VALID_HOST,
                          f"{sr.NO_VALID_HOST}: extend to {new_size} GiB: {why}")
            return
        try:
            (driver.extend_share if how == "extend" else driver.shrink_share)(ref, new_size)
        except ShrinkWouldLoseData as exc:
            # Nothing changed on the backend: the share stays usable at its old size.
            sr.fail_share(self.core, share_id, "available", sr.ACTION_SHRINK, sr.DETAIL_NEW_SIZE_TOO_SMALL,
                                 f"shrink to {new_size} GiB refused: {exc}")
            return
        except Exception as exc:
            action = sr.ACTION_EXTEND if how == "extend" else sr.ACTION_SHRINK
            sr.fail_share(self.core, share_id, f"{how}ing_error", action, sr.DETAIL_DRIVER_FAILED, f"{how} failed: {exc}")
            return
        sr.set_share(self.core, share_id, size=new_size, status="available", task=None, task_arg=None, status_reason=None)

    def _steady(self, session, ctx: RequestContext, share_id: str) -> models.Share:
        share = sr.get_share(session, ctx, share_id)
        self._own(ctx, share)
        if share.status != "available":
            raise Invalid(f"Share status must be available, not {share.status}")
        return share

    # ---- revert ----------------------------------------------------------------------------

    def revert(self, ctx: RequestContext, share_id: str, snapshot_id: str) -> None:
        # Manila's checks, in its order and with its codes: a snapshot not found is a
        # bad request (400), a share or snapshot not available a conflict (409).
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            self._own(ctx, share)
            try:
                snap = sr.get_snapshot(session, ctx, snapshot_id)
            except NotFound as exc:
                raise Invalid(str(exc)) from None
            if snap.share_id != share_id:
                raise Invalid(f"Snapshot {snapshot_id} is not associated with share {share_id}.")
            if share.status != "available":
                raise Conflict(f"Share {share_id} is in '{share.status}' state, but it must be in 'available' "
                               "state to be reverted to a snapshot.")
            if snap.status != "available":
                raise Conflict(f"Snapshot {snapshot_id} is in '{snap.status}' state, but it must be in "
                               "'available' state to be restored.")
            latest = session.scalars(select(models.ShareSnapshot).where(models.ShareSnapshot.share_id == share_id)
                                     .order_by(models.ShareSnapshot.created_at.desc())).first()
            if latest is None or latest.id != snapshot_id:
                raise Conflict("only the share's latest snapshot can be reverted to")
            share.status, share.task = "reverting", "revert"
            snap.status = "restoring"
        self.core.tasks.start(self._revert, share_id, snapshot_id)

    def _revert(self, share_id: str, snapshot_id: str) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            ref, backend = sr.snapshot_ref(snap), snap.share.backend
            rules = sr.rules_in_force(session, share_id)
        try:
            with self.core.share_lock(share_id):  # no rule sync while unexported
                self.core.driver(backend).revert_to_snapshot(ref, rules)
        except Exception as exc:
            sr.fail_share(self.core, share_id, "reverting_error", sr.ACTION_REVERT, sr.DETAIL_DRIVER_FAILED, f"revert failed: {exc}")
            status = "available"
        else:
            sr.set_share(self.core, share_id, status="available", task=None, status_reason=None)
            status = "available"
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            if snap is not None:
                snap.status = status

    # ---- admin ---------------------------------------------------------------------------------

    def reset_status(self, ctx: RequestContext, share_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("reset_status is for administrators")
        if status not in SHARE_STATUSES:
            raise Invalid(f"status {status!r} is not one of {', '.join(SHARE_STATUSES)}")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            share.status, share.task, share.task_arg = status, None, None

    def reset_task_state(self, ctx: RequestContext, share_id: str, task_state: Any) -> None:
        """Manila's admin action: the share's task_state set as given (Shoal runs no
        share migration that would set one itself)."""
        if not ctx.is_admin:
            raise Forbidden("reset_task_state is for administrators")
        if task_state not in TASK_STATES:
            raise Invalid(f"task_state {task_state!r} is not one of {', '.join(map(str, TASK_STATES))}")
        with self.core.db.session() as session:
            sr.get_share(session, ctx, share_id, locations=False).task_state = task_state

    # ---- manage / unmanage --------------------------------------------------------------------

    def manage(self, ctx: RequestContext, *, export_path: str, service_host: str, protocol: str,
               share_type: str | None = None, name: str | None = None, description: str | None = None,
               driver_options: dict | None = None, is_public: bool = False) -> models.Share:
        if not ctx.is_admin:
            raise Forbidden("manage is for administrators")
        if not isinstance(protocol, str) or not protocol.strip():
            raise Invalid("protocol is required")
        # As Manila: a protocol the backend does not serve is the backend's answer, a share in
        # manage_error with the reason; a host that names no backend is not found (404).
        unserved = None if protocol.upper() == "NFS" else f"protocol {protocol!r} is not supported; only NFS"
        if not isinstance(export_path, str) or not export_path.strip():
            raise Invalid("export_path is required")
        try:
            backend, pool = parse_service_host(service_host)
        except Invalid as exc:
            raise NotFound(f"Service host {service_host!r} could not be found: {exc}") from None
        if backend not in self.core.drivers:
            raise NotFound(f"Service host {service_host!r} could not be found: it names no configured backend")
        size = 0
        if driver_options and driver_options.get("size") is not None:
            size = check_size(driver_options["size"], "driver_options.size")
        with self.core.db.session() as session:
            stype = self.types.find(session, ctx, share_type) if share_type else self.types.default(session)
            if stype is None:
                raise NotFound("There is no default share type; pass share_type")
            taken = session.scalars(select(models.Share.id).join(models.ExportLocation).where(
                models.ExportLocation.path == export_path.strip())).first()
            if taken is None:  # the driver knows which of its objects the reference names
                held = session.scalars(select(models.Share).where(
                    models.Share.backend == backend, models.Share.provider_location.is_not(None))).all()
                taken = self.core.drivers[backend].reference_owner(export_path, [sr.share_ref(h) for h in held])
            if taken is not None:
                raise Conflict(f"{export_path} is already managed as share {taken}")
            q.check_share(self.core, session, ctx.project_id, ctx.user_id, stype.id, shares=1, gigabytes=size,
                          size=size or None)
            share = models.Share(
                project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description, size=size,
                status="manage_error" if unserved else "manage_starting", share_type_id=stype.id, backend=backend,
                pool=pool, availability_zone=self.core.drivers[backend].availability_zone, is_public=bool(is_public),
                task=None if unserved else "manage", metadata_={}, status_reason=unserved,
            )
            session.add(share)
            session.flush()
            session.refresh(share)
            if unserved:
                self.core.message(session, share.project_id, "SHARE", share.id, sr.ACTION_MANAGE,
                                  sr.DETAIL_UNEXPECTED, f"cannot manage {export_path}: {unserved}")
            created = share
        if not unserved:
            self.core.tasks.start(self._manage, created.id, export_path.strip())
        return created

    def _manage(self, share_id: str, reference: str) -> None:
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            ref, backend = sr.share_ref(share), share.backend
        try:
            result = self.core.driver(backend).manage_existing(ref, reference)
        except UnsafeToManage as exc:
            sr.fail_share(self.core, share_id, "manage_error", sr.ACTION_MANAGE, sr.DETAIL_UNEXPECTED, f"cannot manage {reference}: {exc}")
            return
        except Exception as exc:
            sr.fail_share(self.core, share_id, "manage_error", sr.ACTION_MANAGE, sr.DETAIL_DRIVER_FAILED, f"manage failed: {exc}")
            return
        self._finish(share_id, result, "manage_starting", quota=True)

    def unmanage(self, ctx: RequestContext, share_id: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("unmanage is for administrators")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            refuse_if_locked(session, share_id)
            rr.refuse_if_replicated(session, share_id, "It cannot be unmanaged until all replicas are removed.")
            # Manila answers both with 403
            if share.status not in ("available", "manage_error", "unmanage_error", "error"):
                raise Forbidden(f"Share status must be available, not {share.status}")
            if session.scalar(select(func.count()).select_from(models.ShareSnapshot).where(
                    models.ShareSnapshot.share_id == share_id)):
                raise Forbidden("a share with snapshots cannot be unmanaged; unmanage its snapshots first")
            share.status, share.task = "unmanage_starting", "unmanage"
        self.core.tasks.start(self._unmanage, share_id)

    def _unmanage(self, share_id: str) -> None:
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None:
                return
            ref, backend, placed = sr.share_ref(share), share.backend, share.provider_location
        if placed:
            try:
                self.core.driver(backend).unmanage(ref)
            except Exception as exc:
                sr.fail_share(self.core, share_id, "unmanage_error", sr.ACTION_MANAGE, sr.DETAIL_DRIVER_FAILED, f"unmanage failed: {exc}")
                return
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            drop_rule_locks(session.connection(), share_id)  # the rules are forgotten: their locks too
            for rule in session.scalars(select(models.AccessRule).where(models.AccessRule.share_id == share_id)):
                session.delete(rule)
            session.delete(share)

    # ---- metadata ---------------------------------------------------------------------------------

    def metadata(self, ctx: RequestContext, share_id: str) -> dict:
        return dict(self.get(ctx, share_id).metadata_)

    def set_metadata(self, ctx: RequestContext, share_id: str, metadata: dict[str, str], replace: bool) -> dict:
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            self._own(ctx, share)
            share.metadata_ = metadata if replace else {**share.metadata_, **metadata}
            return dict(share.metadata_)

    def delete_metadata(self, ctx: RequestContext, share_id: str, key: str) -> None:
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            self._own(ctx, share)
            if key not in share.metadata_:
                raise NotFound(f"Metadata item {key} was not found.")
            share.metadata_ = {k: v for k, v in share.metadata_.items() if k != key}


def check_type_size(stype: models.ShareType, size: int) -> None:
    """Manila's provisioning:min_share_size and provisioning:max_share_size of the type."""
    specs = stype.extra_specs or {}
    for key, refused, words in (("provisioning:min_share_size", lambda bound: size < bound, "less"),
                                ("provisioning:max_share_size", lambda bound: size > bound, "greater")):
        try:
            bound = int(specs[key])
        except (KeyError, TypeError, ValueError):
            continue
        if refused(bound):
            raise Invalid(f"Share size {size} GiB is {words} than the {key.split(':')[1]} {bound} GiB "
                          f"of share type {stype.name}.")


def replace_export_locations(connection, share_id: str, result: ShareResult) -> None:
    """set_export_locations without loading the share: plain statements."""
    table = models.ExportLocation.__table__
    connection.execute(delete(table).where(table.c.share_id == share_id))
    if result.export_locations:
        connection.execute(insert(table), [
            {"share_id": share_id, "path": loc.path, "is_admin_only": loc.is_admin_only, "preferred": loc.preferred}
            for loc in result.export_locations
        ])


def set_export_locations(share: models.Share, result: ShareResult) -> None:
    share.export_locations = [
        models.ExportLocation(path=loc.path, is_admin_only=loc.is_admin_only, preferred=loc.preferred)
        for loc in result.export_locations
    ]


__all__ = ["Shares", "DriverError", "check_size"]
