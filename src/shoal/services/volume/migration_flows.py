"""The durable flow of a volume migration (services/common/flows.py; the rules
are in migrations.py).

begin -> place -> driver move -> create target -> copy -> swap -> clean up.

The copy is the destination driver's own where it can take the source's
volumes (receive_volume: ZFS to ZFS by send/receive, the volume's snapshots
kept, which the swap points at their new place), else the generic one.

Until the swap, every failure (or a cancel: a force-delete) reverts: the target
and whatever the copy wrote go, the volume is as it was, migration_status
`error`. The swap is the commit: one transaction points the volume at the new
data (after its driver gave the data the volume's name); from there the flow
only goes forward -- the clean-up removes the old data and never fails the
migration. Every step may run twice (a crash between its work and taskflow's
record of it) and finds its work done, or, for the copy, starts it again on a
fresh target.
"""

from __future__ import annotations

import logging

from taskflow.patterns import linear_flow

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeRef

from ..common.flows import Cancelled, FlowTask, context, failure_reason
from . import rows as vr
from .image_copy import convert_onto, same_machine
from .image_copy import _run as run_copy

log = logging.getLogger(__name__)


def _svc():
    return context("volume_migrations")


class MigrationTask(FlowTask):
    @staticmethod
    def go_on(volume_id: str) -> None:
        """A volume being deleted meanwhile (a force-delete; also after a restart,
        when the cancel itself is forgotten) has its migration undone."""
        if _svc().abandoned(volume_id):
            raise Cancelled(f"volume {volume_id} is being deleted")


class Begin(MigrationTask):
    def execute(self, volume_id):
        self.go_on(volume_id)
        _svc().mark(volume_id, migration_status="migrating")

    def revert(self, volume_id, flow_failures=None, **kwargs):
        _svc().end_failed(volume_id, failure_reason(flow_failures))


class Place(MigrationTask):
    def execute(self, volume_id):
        self.go_on(volume_id)
        _svc().place(volume_id)


class DriverMove(MigrationTask):
    """The source's driver moves the volume itself when it can (Cinder's
    driver-assisted migration); its answer decides whether the copy runs."""

    default_provides = "moved"

    def execute(self, volume_id):
        svc = _svc()
        if svc.switched(volume_id):  # by this step, before a crash
            return True
        self.go_on(volume_id)
        row = svc.migration(volume_id)
        if row.force_host_copy:
            return False
        ref, backend = svc.source_ref(volume_id)
        moved, location = vr.driver(svc.core, backend).migrate_volume(
            ref, row.backend, row.pool, svc.capabilities(row.backend, row.pool))
        if not moved:
            return False
        svc.switch(volume_id, row.backend, row.pool, location, None)
        return True


def assisted(volume_id: str) -> bool:
    """The destination's driver receives the volume itself (a ZFS to ZFS
    send/receive, snapshots included) rather than the generic copy. Asked of
    the configuration, so a step run again after a crash answers the same."""
    svc = _svc()
    row = svc.migration(volume_id)
    return not row.force_host_copy and svc.assisted(row.old_backend, row.backend)


class CreateTarget(MigrationTask):
    def execute(self, volume_id, moved):
        if moved or _svc().switched(volume_id):
            return
        self.go_on(volume_id)
        _svc().make_target(volume_id, data=not assisted(volume_id))

    def revert(self, volume_id, **kwargs):
        _svc().drop_target(volume_id)


class CopyData(MigrationTask):
    """The destination's driver receives the volume with its snapshots where it
    can (receive_volume); else qemu-img convert between the two volumes' data
    (open_data), sparse: the target is new, so what reads as zeros is not
    written. Progress in the volume's row. A copy cut short starts again on a
    fresh target."""

    def execute(self, volume_id, moved):
        svc = _svc()
        if moved or svc.switched(volume_id):
            return
        self.go_on(volume_id)
        row = svc.migration(volume_id)
        by_driver = assisted(volume_id)
        target, backend = svc.make_target(volume_id, again=row.copy_started, data=not by_driver)
        svc.set_migration(volume_id, copy_started=True)
        source, source_backend = svc.source_ref(volume_id)
        src_driver, dst_driver = vr.driver(svc.core, source_backend), vr.driver(svc.core, backend)
        svc.mark(volume_id, progress="0%")

        def progress(percent: int) -> None:
            svc.mark(volume_id, progress=f"{min(percent, 99)}%")

        snapshots = svc.snapshot_refs(volume_id)
        if by_driver:
            with svc.core.volume_lock(volume_id):
                made = dst_driver.receive_volume(target, src_driver, source, snapshots, progress)
            svc.target_made(target.id, made.provider_location)
            svc.mark(volume_id, progress="100%")
            return
        if snapshots:  # the volume took snapshots since the request, or the backends changed
            raise DriverError(f"volume {volume_id} has snapshots, which a copy to backend {backend} cannot keep")
        with svc.core.volume_lock(volume_id), src_driver.open_data(source, False) as src, \
                dst_driver.open_data(target, True) as dst:
            if not same_machine(src.host, dst.host):
                raise DriverError(f"the volume's data is on storage host {src.host.name} and its destination on "
                                   f"{dst.host.name}: copying between storage hosts is not implemented yet")
            run_copy(src.host, convert_onto(src.path, src.format, dst.path, dst.format), progress)
        svc.mark(volume_id, progress="100%")

    def revert(self, volume_id, **kwargs):
        _svc().release_source(volume_id)


class Swap(MigrationTask):
    """The commit: the destination's driver gives the data the volume's name
    (or the volume keeps the copy's id as name_id), then one transaction
    points the volume at it and drops the hidden row."""

    def execute(self, volume_id, moved):
        svc = _svc()
        if moved or svc.switched(volume_id):
            return
        self.go_on(volume_id)
        target, backend = svc.target_ref(volume_id)
        here = VolumeRef(volume_id, target.pool, target.size_gb, None, target.extra_specs)
        driver = vr.driver(svc.core, backend)
        name_id = driver.update_migrated_volume(here, target)
        location = target.provider_location if name_id else driver.migrated_location(here, target)
        final = VolumeRef(name_id or volume_id, target.pool, target.size_gb, location, target.extra_specs)
        snapshots = {s.id: driver.migrated_snapshot_location(final, s) for s in svc.snapshot_refs(volume_id)}
        svc.switch(volume_id, backend, target.pool, location, name_id, snapshots)

    def revert(self, volume_id, **kwargs):
        _svc().drop_renamed(volume_id)


class CleanUp(MigrationTask):
    """Past the swap a cancel no longer undoes anything: the old data goes."""

    def pre_execute(self):
        pass

    def execute(self, volume_id, moved):
        _svc().finish(volume_id, remove_old=not moved)


def migrate_flow(volume_id: str):
    return linear_flow.Flow(f"volume-migrate-{volume_id}").add(
        Begin("begin"), Place("place"), DriverMove("driver-move"), CreateTarget("target"), CopyData("copy"),
        Swap("swap"), CleanUp("clean-up"))

