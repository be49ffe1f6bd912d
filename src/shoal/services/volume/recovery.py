"""Start-up and periodic recovery for volumes (see services/share/recovery.py for shares).

Work that is safe to redo (delete, extend, unmanage) is redone; create and
manage, whose half-done state a later delete cleans up, end in error; revert
and retype end where they started. Then every volume with a connected
attachment is exported again (tgtd keeps targets only in memory), and every
export no attachment needs is dropped: a detach records first and unexports
after, so a crash between the two leaves one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy import select

from shoal.db import models
from shoal.drivers.volume import ExportsHeld

from ..common import core as c
from ..common import metrics
from ..common.per_backend import repair_lock, repair_when_down, run_per_backend
from ..common.tasks import INTERRUPTED
from . import rows as vr
from .snapshots import VolumeSnapshots
from .volumes import Volumes

log = logging.getLogger(__name__)


class VolumeRecovery:
    def __init__(self, core: c.Core, volumes: Volumes, snapshots: VolumeSnapshots):
        self.core, self.volumes, self.snapshots = core, volumes, snapshots

    def recover_backends(self) -> None:
        """Let each driver finish or undo what a crash cut short on its side (a
        half-done snapshot delete, say), before any task is resumed; a volume
        its driver reports damaged goes to `error` with the driver's reason."""
        for name, driver in self.core.volume_drivers.items():
            with self.core.db.session() as session:
                # A delete or unmanage cut short is resumed below, whatever its data's state.
                refs = [ref for ref, task in vr.held_volumes_with_tasks(session, name)
                        if task not in ("delete", "unmanage")]
            try:
                damaged = driver.recover(refs)
            except Exception:
                log.exception("backend %s: recovery after restart failed", name)
                continue
            for volume_id, reason in damaged.items():
                log.error("volume %s: damaged on backend %s: %s", volume_id, name, reason)
                vr.fail_volume(self.core, volume_id, "error", vr.ACTION_CREATE, vr.DETAIL_DRIVER_FAILED, reason)

    def resume_interrupted(self) -> None:
        self.recover_backends()
        with self.core.db.session() as session:
            volumes = list(session.scalars(select(models.Volume).where(models.Volume.task.is_not(None))))
            snaps = list(session.scalars(select(models.VolumeSnapshot).where(
                models.VolumeSnapshot.task.is_not(None) | (models.VolumeSnapshot.status == "restoring"))))
        for volume in volumes:
            log.info("volume %s was %s when Shoal stopped", volume.id, volume.status)
            if volume.task == "delete":
                self.core.tasks.submit(self.volumes._delete, volume.id)
            elif volume.task == "extend":
                self.core.tasks.submit(self.volumes._extend, volume.id)
            elif volume.task == "unmanage":
                self.core.tasks.submit(self.volumes._unmanage, volume.id)
            elif volume.task in ("revert", "retype"):
                back_to = (volume.task_arg or "").partition(":")[2] if volume.task == "retype" else "available"
                vr.set_volume(self.core, volume.id, status=back_to or "available", task=None, task_arg=None)
            else:
                status = "error_managing" if volume.task == "manage" else "error"
                vr.fail_volume(self.core, volume.id, status, vr.ACTION_CREATE, vr.DETAIL_UNKNOWN, INTERRUPTED)
        for snap in snaps:
            if snap.task == "delete":
                self.core.tasks.submit(self.snapshots._delete, snap.id)
            elif snap.status == "restoring":
                vr.set_snapshot(self.core, snap.id, status="available")
            else:
                action = vr.ACTION_MANAGE if snap.task == "manage" else vr.ACTION_SNAPSHOT_CREATE
                vr.fail_snapshot(self.core, snap.id, "error", action, INTERRUPTED)

    def ensure_exports(self, backend: str | None = None) -> None:
        """Export every attached volume again, per backend in one pass of its driver;
        a volume that cannot be is named in the log and in a user message."""
        metrics.recovery_run("volume")
        # Every backend asked is passed, with no volume too: its driver settles what
        # the pass is for (a remount, say) either way.
        per_backend: dict[str, list] = {name: [] for name in self.core.volume_drivers if backend in (None, name)}
        with self.core.db.session() as session:
            query = select(models.Volume).where(models.Volume.provider_location.is_not(None))
            if backend:
                query = query.where(models.Volume.backend == backend)
            for v in session.scalars(query):
                if any(a.connector for a in v.attachments):
                    per_backend.setdefault(v.backend, []).append((vr.volume_ref(v), vr.export_spec(v)))
        for name in set(per_backend) - set(self.core.volume_drivers):
            log.error("%d attached volumes are on backend %s, which is no longer configured",
                      len(per_backend.pop(name)), name)
        run_per_backend(per_backend, lambda name: self._ensure_backend(name, per_backend[name]), "exporting volumes")

    def _ensure_backend(self, name: str, items: list) -> None:
        """One backend's part of ensure_exports()."""
        try:
            failed = vr.driver(self.core, name).ensure_exports(items)
        except Exception:
            log.exception("backend %s: exporting %d volumes again failed", name, len(items))
            metrics.recovery_failed("volume", len(items))
        else:
            metrics.recovery_fixed("volume", len(items) - len(failed))
            metrics.recovery_failed("volume", len(failed))
            for volume_id, reason in failed.items():
                log.error("volume %s: export could not be restored: %s", volume_id, reason)
                vr.note_volume(self.core, volume_id, vr.ACTION_ATTACH, vr.DETAIL_DRIVER_FAILED,
                               f"its export could not be restored: {reason}")
        self.drop_unneeded_exports(name)

    def drop_unneeded_exports(self, backend: str | None = None) -> None:
        """Remove each export the daemon holds for a volume with no connected
        attachment on its backend (or no row)."""
        for name, driver in self.core.volume_drivers.items():
            if backend not in (None, name):
                continue
            try:
                exported = driver.exported_volume_ids()
                attached = self._attached_on(name) if exported else set()
            except Exception as exc:  # noqa: BLE001 -- the next check tries again
                log.warning("backend %s: cannot list its exports: %s", name, exc)
                continue
            self._drop(name, driver, (exported or set()) - attached)

    def _drop(self, name: str, driver, unneeded: set[str]) -> None:
        """Each is looked at again under the volume's lock, which attach and detach
        hold while they export: an attach between the two reads is seen, and never undone."""
        dropped = []
        for volume_id in sorted(unneeded):
            with self.core.volume_lock(volume_id):
                if volume_id in self._attached_on(name, volume_id):
                    continue
                try:
                    driver.drop_export(volume_id)
                except Exception as exc:  # noqa: BLE001 -- one stops none of the others
                    log.warning("backend %s: export of volume %s that no attachment needs could not be "
                                "removed: %s", name, volume_id, exc)
                    continue
            dropped.append(volume_id)
        if dropped:
            log.warning("backend %s: removed exports no attachment needs (left by a crash): %s",
                        name, ", ".join(dropped))
            metrics.recovery_fixed("volume", len(dropped))

    def check_once(self) -> None:
        def check(name: str) -> None:
            self._check_backend(name, lambda driver: driver.exports_healthy(), "is not serving")
            with repair_lock(self.core.tasks, "volumes", name):
                self.reconcile_exports(name, self.core.volume_drivers[name])

        run_per_backend(self.core.volume_drivers, check, "target check")

    def reconcile_exports(self, name: str, driver) -> None:
        """Compare, from one listing of each, what the target daemon exports with
        the volumes whose attachments need it. When it lacks one (a kernel target,
        LIO, cleared or restarted, or a target removed behind Shoal's back keep every
        health check true) or holds one that serves no data (a LUN without its
        backing file), every attached volume is exported again in one pass;
        otherwise the exports no attachment needs are dropped. A lack counts when it
        is still there once each such volume's lock was free: an attach that records
        its connector, then exports, under it, is not one. Nor is one that only the
        second look shows (an attach begun meanwhile): under a steady stream of
        attaches each look finds some in flight, and every one of them made a
        whole pass (minutes for a thousand targets on a host reached over SSH)."""
        try:
            held = driver.exports_held()
            if held is None:
                return  # this driver cannot tell what its daemon holds
            attached = self._attached_on(name)
            lost = self._lost(held, attached)
            if lost:
                for volume_id in sorted(lost):
                    with self.core.volume_lock(volume_id):
                        pass
                held = driver.exports_held()
                attached = self._attached_on(name)
                lost &= self._lost(held, attached)
        except Exception as exc:  # noqa: BLE001 -- the next check tries again
            log.warning("backend %s: cannot compare its exports with the attachments: %s", name, exc)
            return
        if lost:
            log.warning("backend %s: the target daemon lacks the exports of %d attached volumes (%s); "
                        "exporting every attached volume again", name, len(lost), ", ".join(sorted(lost)[:10]))
            self.ensure_exports(name)  # drops the unneeded ones after
        else:
            self._drop(name, driver, set(held.volume_ids) - attached)

    @staticmethod
    def _lost(held: ExportsHeld | None, attached: set[str]) -> set[str]:
        """Attached volumes whose export is missing or serves no data."""
        if held is None:
            return set()
        return (attached - held.volume_ids) | (attached & held.unserved)

    def _attached_on(self, backend: str, volume_id: str | None = None) -> set[str]:
        """Ids of the volumes of `backend` (or just `volume_id`) with an attachment
        that holds a connector."""
        query = (select(models.VolumeAttachment.volume_id, models.VolumeAttachment.connector)
                 .join(models.Volume, models.Volume.id == models.VolumeAttachment.volume_id)
                 .where(models.Volume.backend == backend, models.Volume.provider_location.is_not(None)))
        if volume_id is not None:
            query = query.where(models.VolumeAttachment.volume_id == volume_id)
        with self.core.db.session() as session:
            # in Python: a connector set to None is stored as JSON null, not SQL NULL
            return {found for found, connector in session.execute(query) if connector}

    def alive_checks(self) -> dict[str, Callable[[], None]]:
        """The daemon watch's checks, one per backend: its target daemon running."""
        return {f"volumes-{name}": partial(self._check_backend, name, lambda driver: driver.exports_alive(), "died")
                for name in self.core.volume_drivers}

    def _check_backend(self, name: str, ok, what: str) -> None:
        repair_when_down(self.core.tasks, "volumes", name, self.core.volume_drivers, ok,
                         f"the target daemon {what}", self.ensure_exports)
