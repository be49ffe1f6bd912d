"""Volume migration (Cinder's os-migrate_volume, and retype with migration_policy
on-demand): the rules a request is checked against, and what the durable flow
(migration_flows) asks of the database and the drivers.

As Cinder does it: the volume keeps its id and, unless `lock_volume`, its status
(a retype shows `retyping`); `migration_status` goes starting -> migrating ->
completing -> success (or error, everything undone). The data is copied into a
hidden volume on the destination (its `migration_status` is `target:<id>`; only
admins list it, and it counts against no quota); at the end the volume takes the
destination's backend, pool and provider location, its driver gives the data the
volume's own name where names come from ids (`update_migrated_volume`; else the
volume keeps the copy's id as `name_id`), and the old data and the hidden row go.

A driver that can move the volume by itself is asked first (`migrate_volume`),
unless `force_host_copy`; then a destination driver that can take the source's
volumes itself copies it (`receive_volume`: ZFS to ZFS by send/receive, with
its snapshots, which keep their ids), else the generic copy runs. A volume with
attachments is refused (400), and one with snapshots unless they can go along
(none may be busy, and none may be made or deleted while it migrates), as is a
destination that is not a configured backend, or the volume's own place.

A force-delete of a migrating volume (or of its hidden target) cancels the flow:
its processes are stopped, its steps revert, and its end starts the delete.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_migrations import VolumeMigration
from shoal.drivers.volume import VolumeRef

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid
from ..common.flows import FLOWS, FINISHED, Flows
from ..common.scheduler import VOLUME_BACKEND_KEY, choose_pool, pool_on
from . import rows as vr
from .volumes import spec_true

log = logging.getLogger(__name__)

MIGRATING = ("starting", "migrating", "completing")
TARGET = "target:"
ACTION_MIGRATE, ACTION_RETYPE = "023", "022"  # Shoal's user-message action ids (022: retype, as before)
_TRUE, _FALSE = ("1", "t", "true", "on", "y", "yes"), ("0", "f", "false", "off", "n", "no")


def strict_bool(name: str, value: Any) -> bool:
    """oslo's bool_from_string(strict=True), as Cinder reads these flags."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Invalid(f"Invalid input received: {name} must be a boolean, not {value!r}")


def is_target(volume: models.Volume) -> bool:
    return (volume.migration_status or "").startswith(TARGET)


def source_of(volume: models.Volume) -> str | None:
    return volume.migration_status[len(TARGET):] if is_target(volume) else None


def migrating(volume: models.Volume) -> bool:
    return volume.migration_status in MIGRATING


class VolumeMigrations:
    def __init__(self, core: c.Core, flows: Flows, deleter):
        self.core, self.flows = core, flows
        self.deleter = deleter  # Volumes._delete: a force-delete that waited for the migration's end
        flows.provide("volume_migrations", self)

    # ---- requests ---------------------------------------------------------------------------

    def migrate(self, ctx: RequestContext, volume_id: str, host: Any, force_host_copy: Any = False,
                lock_volume: Any = False, cluster: Any = None) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow volume_extension:volume_admin_actions:migrate_volume to be performed.")
        if cluster is not None:
            raise Invalid("Invalid input received: Shoal has no clusters; name the destination with host")
        if not isinstance(host, str) or not host:
            raise Invalid("Invalid input received: host is required (shoal@backend#pool)")
        force_host_copy = strict_bool("force_host_copy", force_host_copy)
        lock_volume = strict_bool("lock_volume", lock_volume)
        backend, pool = self._destination(host)
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            force_host_copy = force_host_copy or self.declines(volume, backend, vr.volume_ref(volume).extra_specs)
            self.check_movable(session, volume, keeps_snapshots=not force_host_copy and self.assisted(
                volume.backend, backend))
            if volume.backend == backend and (pool is None or pool == volume.pool):
                raise Invalid("Invalid host: Destination host must be different than the current host.")
            wanted = (volume.volume_type.extra_specs or {}).get(VOLUME_BACKEND_KEY) if volume.volume_type else None
            if wanted and wanted != backend:
                raise Invalid(f"Invalid host: the volume's type {volume.volume_type.name} places its volumes on "
                              f"backend {wanted}, not {backend}; retype it instead")
            status = "maintenance" if lock_volume and volume.status == "available" else volume.status
            self.begin(session, volume, backend, pool, None, status, force_host_copy)
        self.launch(volume_id)

    def _destination(self, host: str) -> tuple[str, str | None]:
        """`shoal@backend#pool` (or `shoal@backend`) -> (backend, pool or None)."""
        service, _, rest = host.partition("@")
        backend, _, pool = rest.partition("#")
        if not service or backend not in self.core.volume_drivers:
            raise Invalid(f"Invalid host: No available service named {host}")
        return backend, pool or None

    def assisted(self, source_backend: str | None, backend: str | None) -> bool:
        """The destination's driver takes the source's volumes itself (receive_volume),
        snapshots included, rather than the generic copy."""
        if source_backend not in self.core.volume_drivers or backend not in self.core.volume_drivers:
            return False
        try:
            return vr.driver(self.core, backend).can_receive_volume(vr.driver(self.core, source_backend))
        except Exception:  # only an offer: the generic copy does without
            log.exception("backend %s: can_receive_volume failed", backend)
            return False

    def declines(self, volume: models.Volume, backend: str | None, extra_specs) -> bool:
        """The destination takes the source's volumes its own way, but not this one
        with a type of `extra_specs` (say a LUN whose fixed block size the type
        changes). The migration then records force_host_copy, so its flow, which
        asks only assisted(), copies it the generic way."""
        if not self.assisted(volume.backend, backend):
            return False
        try:
            return not vr.driver(self.core, backend).can_receive_volume(
                vr.driver(self.core, volume.backend), vr.volume_ref(volume), dict(extra_specs or {}))
        except Exception:  # only an offer: the generic copy does without
            log.exception("backend %s: can_receive_volume of volume %s failed", backend, volume.id)
            return True

    def check_movable(self, session: Session, volume: models.Volume, keeps_snapshots: bool = False) -> None:
        """Cinder's refusals of a migration, and Shoal's of an attached volume.
        `keeps_snapshots`: the move takes the volume's snapshots along (a ZFS to
        ZFS migration), so snapshots are no reason to refuse, unless one is busy."""
        if is_target(volume):
            raise Invalid(f"Invalid volume: Volume {volume.id} is the target of a migration.")
        if volume.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Volume {volume.id} status must be available or in-use, but current "
                          f"status is: {volume.status}.")
        if migrating(volume):
            raise Invalid(f"Invalid volume: Volume {volume.id} is already part of an active migration.")
        if volume.status == "in-use" or volume.attach_status == "attached" or volume.attachments:
            raise Invalid(f"Invalid volume: Volume {volume.id} is attached: moving an attached volume's data needs "
                          "the compute service to swap it (Nova's swap_volume), which Shoal does not drive; "
                          "detach it first.")
        snapshots = select(func.count()).select_from(models.VolumeSnapshot).where(
            models.VolumeSnapshot.volume_id == volume.id)
        if not keeps_snapshots and session.scalar(snapshots):
            raise Invalid(f"Invalid volume: Volume {volume.id} must not have snapshots.")
        if session.scalar(snapshots.where(models.VolumeSnapshot.status != "available")):
            raise Invalid(f"Invalid volume: Volume {volume.id} has snapshots that are not available.")
        if volume.provider_location is None or volume.backend not in self.core.volume_drivers:
            raise Invalid(f"Invalid volume: Volume {volume.id} has no data on a configured backend to move.")

    def begin(self, session: Session, volume: models.Volume, backend: str | None, pool: str | None,
              new_type_id: str | None, status: str, force_host_copy: bool = False) -> None:
        """Record a migration in the request's transaction; `launch` it once committed.
        `backend` None: the scheduler picks one for the (new) type in the flow."""
        session.add(VolumeMigration(
            volume_id=volume.id, target_id=models.new_id(), backend=backend, pool=pool, new_type_id=new_type_id,
            previous_status=volume.status, force_host_copy=force_host_copy, old_backend=volume.backend,
            old_pool=volume.pool, old_location=volume.provider_location, old_name_id=volume.name_id))
        volume.migration_status, volume.status, volume.progress = "starting", status, None

    def launch(self, volume_id: str) -> None:
        from . import migration_flows

        flow_id = self.flows.start(migration_flows.migrate_flow, (volume_id,), {"volume_id": volume_id},
                                   name=f"migrate volume {volume_id}")
        with self.core.db.connection() as connection:
            connection.execute(update(VolumeMigration).where(VolumeMigration.volume_id == volume_id)
                               .values(flow_id=flow_id))

    # ---- force-delete while migrating (Volumes.delete hands over) ----------------------------

    @staticmethod
    def holds(volume: models.Volume) -> bool:
        return migrating(volume) or is_target(volume)

    @staticmethod
    def delete_while_migrating(volume: models.Volume, force: bool) -> None:
        """In the request's transaction: refused unless forced, as Cinder's. The
        source waits `deleting` for its migration's end; a target's deletion is
        its source's migration undone."""
        if not force:
            raise Invalid("Invalid volume: Volume status must be available or error or error_restoring or "
                          "error_extending or error_managing and must not be migrating, attached, belong to a "
                          "group, have snapshots or be disassociated from snapshots after volume transfer.")
        if not is_target(volume):
            volume.status, volume.status_reason = "deleting", None

    def cancel_for_delete(self, volume_id: str) -> None:
        self.cancel(volume_id)
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            over = volume is not None and volume.status == "deleting" and session.get(VolumeMigration, volume_id) is None
        if over:  # the migration ended before it saw the delete: nobody else starts it
            self._start_delete(volume_id)

    def cancel(self, volume_id: str) -> bool:
        """Stop the migration of `volume_id` (or of the volume whose hidden target it
        is): its processes end, its steps revert. False when none runs."""
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            if row is None:
                row = session.scalars(select(VolumeMigration).where(VolumeMigration.target_id == volume_id)).first()
            flow_id = row.flow_id if row is not None else None
        if flow_id is None:
            return False
        stopped = self.flows.cancel(flow_id)
        log.info("migration of volume %s cancelled (%d processes stopped)", volume_id, stopped)
        return True

    # ---- start-up ------------------------------------------------------------------------------

    def resume_interrupted(self) -> None:
        """After the flows have resumed (services.start): a migration whose flow is
        gone (never started, or dropped) is undone here: its target removed, the
        volume back where it was, migration_status `error`."""
        with self.core.db.session() as session:
            # a flow that never ran a step has no state yet (NULL: not matched by NOT IN)
            alive = set(session.scalars(select(FLOWS.c.uuid).where(
                or_(FLOWS.c.state.is_(None), FLOWS.c.state.not_in(FINISHED)))))
            orphans = [r.volume_id for r in session.scalars(select(VolumeMigration))
                       if r.flow_id is None or r.flow_id not in alive]
        for volume_id in orphans:
            if self.switched(volume_id):
                log.warning("volume %s: its migration has no flow left to finish it; finishing it", volume_id)
                self.finish(volume_id)
                continue
            log.warning("volume %s: its migration has no flow left to finish it; undoing it", volume_id)
            try:
                self.drop_target(volume_id)
                self.release_source(volume_id)
            except Exception:
                log.exception("volume %s: the migration's target could not be removed", volume_id)
            self.end_failed(volume_id, "the migration was interrupted by a restart of Shoal")

    # ---- what the flow asks ----------------------------------------------------------------------

    def migration(self, volume_id: str) -> VolumeMigration | None:
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            if row is not None:
                session.expunge(row)
            return row

    def abandoned(self, volume_id: str) -> bool:
        """The volume is being deleted (or is gone): the migration is to be undone."""
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            return volume is None or volume.status == "deleting"

    def specs(self, session: Session, volume: models.Volume, row: VolumeMigration) -> dict[str, str]:
        vtype = session.get(models.VolumeType, row.new_type_id) if row.new_type_id else volume.volume_type
        return dict(vtype.extra_specs or {}) if vtype is not None else {}

    def source_ref(self, volume_id: str) -> tuple[VolumeRef, str]:
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            return vr.volume_ref(volume), volume.backend

    def target_ref(self, volume_id: str) -> tuple[VolumeRef, str] | None:
        """The hidden target as its driver takes it, or None when there is none (yet)."""
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            target = session.get(models.Volume, row.target_id) if row is not None else None
            if target is None or target.backend is None:
                return None
            return vr.volume_ref(target), target.backend

    def place(self, volume_id: str) -> None:
        """Settle the destination pool (and backend, for a retype) the scheduler's way."""
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            volume = session.get(models.Volume, volume_id)
            specs, size = self.specs(session, volume, row), volume.size
            backend, pool = row.backend, row.pool
        if backend is None:
            placed = choose_pool(self.core.volume_drivers, size, specs, None, VOLUME_BACKEND_KEY, self.core.pool_stats)
            backend, pool = placed.backend, placed.pool
        else:
            pool = pool_on(backend, vr.driver(self.core, backend), pool, size, specs, self.core.pool_stats)
        self.set_migration(volume_id, backend=backend, pool=pool)

    def set_migration(self, volume_id: str, **fields) -> None:
        with self.core.db.connection() as connection:
            connection.execute(update(VolumeMigration).where(VolumeMigration.volume_id == volume_id).values(**fields))

    def mark(self, volume_id: str, **fields) -> None:
        """Write migration_status/progress into the volume's row."""
        with self.core.db.connection() as connection:
            connection.execute(update(models.Volume).where(models.Volume.id == volume_id).values(**fields))

    def capabilities(self, backend: str, pool: str | None) -> dict:
        try:
            pools = self.core.pool_stats.pools(f"{VOLUME_BACKEND_KEY}:{backend}", vr.driver(self.core, backend))
        except Exception:  # a driver-assisted move is only an offer; the copy does without
            return {}
        found = next((p for p in pools if p.name == pool), None)
        return dict(found.capabilities) if found is not None else {}

    def make_target(self, volume_id: str, again: bool = False, data: bool = True) -> tuple[VolumeRef, str]:
        """The hidden target: its row (once), and its data on the destination,
        made unless made already; `again` (a copy cut short): a new target of a
        new id, the old one removed first -- so data of the old one that its
        backend cannot remove yet (busy, left to the driver's collector) is never
        in the way of the new one's name."""
        if again:
            self.drop_target(volume_id)
            self.set_migration(volume_id, target_id=models.new_id())
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            volume = session.get(models.Volume, volume_id)
            target = session.get(models.Volume, row.target_id)
            if target is None:
                target = models.Volume(
                    id=row.target_id, project_id=volume.project_id, user_id=volume.user_id, name=volume.name,
                    description=volume.description, size=volume.size, status="creating",
                    volume_type_id=row.new_type_id or volume.volume_type_id, backend=row.backend, pool=row.pool,
                    availability_zone=self.core.volume_drivers[row.backend].availability_zone,
                    migration_status=f"{TARGET}{volume_id}", multiattach=volume.multiattach,
                    bootable=volume.bootable, metadata_={})
                session.add(target)
                session.flush()
                session.refresh(target)
            ref, backend, made = vr.volume_ref(target), target.backend, target.provider_location is not None
        driver = vr.driver(self.core, backend)
        if made or not data:
            return ref, backend
        # A create cut short by a crash may have left something (names come from ids).
        driver.delete_volume(ref)
        result = driver.create_volume(VolumeRef(ref.id, ref.pool, ref.size_gb, None, ref.extra_specs))
        with self.core.db.connection() as connection:
            connection.execute(update(models.Volume).where(models.Volume.id == ref.id).values(
                provider_location=result.provider_location, status="available"))
        return VolumeRef(ref.id, ref.pool, result.size_gb, result.provider_location, ref.extra_specs), backend

    def target_made(self, target_id: str, location: str) -> None:
        with self.core.db.connection() as connection:
            connection.execute(update(models.Volume).where(models.Volume.id == target_id).values(
                provider_location=location, status="available"))

    def snapshot_refs(self, volume_id: str) -> list:
        """The volume's snapshots as its driver takes them, oldest first."""
        with self.core.db.session() as session:
            rows = session.scalars(select(models.VolumeSnapshot).where(models.VolumeSnapshot.volume_id == volume_id)
                                   .order_by(models.VolumeSnapshot.created_at))
            return [vr.snapshot_ref(s) for s in rows]

    def release_source(self, volume_id: str) -> None:
        """What a driver-assisted copy left on the source (its migration point);
        only before the swap: after it, the source is the old data."""
        if self.switched(volume_id):
            return
        ref, backend = self.source_ref(volume_id)
        if backend in self.core.volume_drivers and ref.provider_location:
            vr.driver(self.core, backend).release_sent(ref)

    def drop_target(self, volume_id: str) -> None:
        """The hidden target's data and row, whatever of them exists."""
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            if row is None:
                return
            target = session.get(models.Volume, row.target_id)
            if target is None:
                return
            ref, backend, target_id = vr.volume_ref(target), target.backend, target.id
        if backend is not None and (ref.provider_location or ref.pool):
            vr.driver(self.core, backend).delete_volume(ref)  # also what a create cut short made
        with self.core.db.connection() as connection:
            connection.execute(delete(models.Volume).where(models.Volume.id == target_id))

    def switched(self, volume_id: str) -> bool:
        """The volume points at the new data already (the swap committed)."""
        with self.core.db.session() as session:
            volume = session.get(models.Volume, volume_id)
            return volume is not None and volume.migration_status == "completing"

    def switch(self, volume_id: str, backend: str, pool: str | None, location: str | None,
               name_id: str | None, snapshots: dict[str, str | None] | None = None) -> None:
        """The commit, one transaction: the volume takes the new place (and a
        retype's type), its snapshots theirs (`snapshots`: id -> location, those
        that moved with it), the hidden target's row goes."""
        driver = vr.driver(self.core, backend)
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            volume = session.get(models.Volume, volume_id)
            volume.backend, volume.pool, volume.provider_location = backend, pool, location
            volume.availability_zone, volume.name_id = driver.availability_zone, name_id
            if backend != row.old_backend or not volume.provider_auth:
                volume.provider_auth = driver.new_target_auth()
            if row.new_type_id:
                vtype = session.get(models.VolumeType, row.new_type_id)
                volume.volume_type_id = row.new_type_id
                volume.multiattach = spec_true(dict(vtype.extra_specs or {}) if vtype else {}, "multiattach")
            volume.migration_status, volume.progress = "completing", None
            for snapshot_id, snapshot_location in (snapshots or {}).items():
                snapshot = session.get(models.VolumeSnapshot, snapshot_id)
                if snapshot is not None:
                    snapshot.provider_location = snapshot_location
            target = session.get(models.Volume, row.target_id)
            if target is not None:
                session.delete(target)
        log.info("volume %s now lives on %s#%s", volume_id, backend, pool)

    def drop_renamed(self, volume_id: str) -> None:
        """A swap that failed before its commit, after the destination's driver had
        given the data the volume's name: that data goes (the target's own name is
        gone with it). Never the volume's own data: only on another place."""
        row = self.migration(volume_id)
        found = self.target_ref(volume_id)
        if row is None or found is None or self.switched(volume_id):
            return
        target, backend = found
        if (backend, target.pool) == (row.old_backend, row.old_pool):
            return
        driver = vr.driver(self.core, backend)
        here = VolumeRef(volume_id, target.pool, target.size_gb, None, target.extra_specs)
        driver.delete_volume(VolumeRef(volume_id, target.pool, target.size_gb, driver.migrated_location(here, target),
                                       target.extra_specs))

    def finish(self, volume_id: str, remove_old: bool = True) -> None:
        """After the swap: the old data goes (a failure is told, not undone), then
        migration_status `success` and the volume's status back."""
        row = self.migration(volume_id)
        if row is None:
            return
        if remove_old and row.old_backend is not None:
            with self.core.db.session() as session:
                volume = session.get(models.Volume, volume_id)
                specs = dict(volume.volume_type.extra_specs or {}) if volume and volume.volume_type else {}
                size = volume.size if volume is not None else 0
            old = VolumeRef(row.old_name_id or volume_id, row.old_pool or "", size, row.old_location, specs)
            try:
                driver = vr.driver(self.core, row.old_backend)
                driver.unexport(old)
                driver.delete_volume(old)
            except Exception as exc:
                log.error("volume %s: its old data on %s was not removed: %s", volume_id, row.old_backend, exc)
                vr.note_volume(self.core, volume_id, ACTION_MIGRATE, vr.DETAIL_DRIVER_FAILED,
                               f"migrated, but its old data on backend {row.old_backend} could not be removed: {exc}")
        self.end_done(volume_id)

    # ---- the end -----------------------------------------------------------------------------------

    def end_failed(self, volume_id: str, reason: str) -> None:
        """Undone: the volume as it was (unless a delete waits), migration_status error,
        a user message; a waiting delete starts."""
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            volume = session.get(models.Volume, volume_id)
            if volume is None:
                if row is not None:
                    session.delete(row)
                return
            deleting = volume.status == "deleting"
            if row is not None and not deleting:
                volume.status = row.previous_status
            volume.migration_status, volume.progress = "error", None
            action = ACTION_RETYPE if row is not None and row.new_type_id else ACTION_MIGRATE
            what = "retype" if action == ACTION_RETYPE else "migration"
            self.core.message(session, volume.project_id, "VOLUME", volume.id, action, vr.DETAIL_DRIVER_FAILED,
                              f"{what} failed: {reason}")
            if row is not None:
                session.delete(row)
        log.warning("volume %s: migration failed: %s", volume_id, reason)
        if deleting:
            self._start_delete(volume_id)

    def end_done(self, volume_id: str) -> None:
        with self.core.db.session() as session:
            row = session.get(VolumeMigration, volume_id)
            volume = session.get(models.Volume, volume_id)
            deleting = volume is not None and volume.status == "deleting"
            if volume is not None:
                if row is not None and not deleting:
                    volume.status = row.previous_status
                volume.migration_status, volume.progress = "success", None
            if row is not None:
                session.delete(row)
        if deleting:
            self._start_delete(volume_id)

    def _start_delete(self, volume_id: str) -> None:
        """The force-delete that waited for the migration to end."""
        vr.set_volume(self.core, volume_id, task="delete")
        self.core.tasks.submit(self.deleter, volume_id)
