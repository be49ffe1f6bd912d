"""The durable flows of a share migration (services/common/flows.py; the rules
are in migration.py).

start:    begin -> first copy (full, from a point of the source in use) ->
          catch-up (incremental) -> phase 1 done (the flow ends; the share waits
          for migration_complete or migration_cancel).
complete: begin -> freeze the source (read-only at ZFS, then NFS) -> last
          incremental -> switch (the destination exported in the source's place,
          one transaction points the share at it) -> clean-up (the source goes).
cancel:   the first phase's copy undone (a running first phase is cancelled
          through its flow instead: its processes stop, its steps revert).

Until the switch every failure, cancel or force-delete reverts the whole
migration (`undo`): the destination removed, the source's points dropped, the
source writable and exported with its rules; task_state migration_error (or
migration_cancelled). From the switch on, the flow only goes forward. Every
step may run twice (a crash between its work and taskflow's record of it) and
finds its work done, or does it again from a clean start.
"""

from __future__ import annotations

import logging

from taskflow.patterns import linear_flow

from ..common.flows import Cancelled, FlowTask, context, failure_reason
from .migration import point

log = logging.getLogger(__name__)


def _svc():
    return context("share_migrations")


class MigrationTask(FlowTask):
    @staticmethod
    def go_on(share_id: str) -> None:
        """Stop (and revert) when the migration was cancelled or the share is no
        longer migrating (force-deleted, reset) -- after a restart too."""
        svc = _svc()
        if svc.abandoned(share_id) or svc.migration(share_id).cancelling:
            raise Cancelled(f"the migration of share {share_id} was cancelled")


class Begin(MigrationTask):
    """The first step of `start` and of `complete`: its revert undoes the whole
    migration -- unless the switch happened, after which nothing is undone."""

    def __init__(self, name: str, task_state: str):
        super().__init__(name, inject={"task_state": task_state})

    def execute(self, share_id, task_state):
        self.go_on(share_id)
        _svc().mark(share_id, task_state=task_state)

    def revert(self, share_id, flow_failures=None, **kwargs):
        svc = _svc()
        row = svc.find(share_id)
        if row is None or row.switched:  # gone with its share, or past the point of no return
            return
        reason = failure_reason(flow_failures)
        try:
            svc.undo(share_id)
        except Exception as exc:  # what is left is for the start-up's undo, or an admin
            log.exception("share %s: the migration could not be undone", share_id)
            reason = f"{reason}; undoing it failed: {exc}"
        svc.end_failed(share_id, reason)


class Copy(MigrationTask):
    """A new point on the source, brought to the destination: in full (`since`
    None: the first copy) or since the last point both hold; older points of
    the migration dropped on both sides. Progress (bytes sent of the point's
    size) in the migration's row."""

    def __init__(self, name: str, step: str, full: bool, task_state: str | None = None):
        super().__init__(name, inject={"step": step, "full": full, "task_state": task_state})

    def execute(self, share_id, flow_id, step, full, task_state):
        svc = _svc()
        self.go_on(share_id)
        if task_state:
            svc.mark(share_id, task_state=task_state)
        row = svc.migration(share_id)
        tag = point(flow_id, step)
        since = None if full else row.last_tag
        if row.last_tag == tag:  # done before a crash
            return
        source, source_backend = svc.source(share_id)
        dest, dest_backend = svc.destination(share_id)
        src_driver, dst_driver = svc.core.driver(source_backend), svc.core.driver(dest_backend)
        src_driver.take_replication_snapshot(source, tag)
        total = src_driver.replication_estimate(source, tag) if full else 0
        svc.set_migration(share_id, total_bytes=total, bytes_sent=0, **({"progress": 0} if full else {}))

        def progress(sent: int) -> None:
            fields = {"bytes_sent": sent}
            if full and total:
                fields["progress"] = min(99, int(sent * 100 / total))
            svc.set_migration(share_id, **fields)

        sent = dst_driver.migration_copy(dest, src_driver, source, tag, since, progress)
        svc.set_migration(share_id, last_tag=tag, bytes_sent=sent)
        svc.drop_points(source_backend, source, {tag})
        svc.drop_points(dest_backend, dest, {tag})
        log.info("share %s: migration point %s on the destination (%d bytes)", share_id, tag, sent)


class FirstPhaseDone(MigrationTask):
    def execute(self, share_id):
        svc = _svc()
        with svc.core.tasks.key_lock(f"share-migration:{share_id}"):  # a cancel waits, or is seen here
            self.go_on(share_id)
            svc.set_migration(share_id, progress=100, flow_id=None)
            svc.mark(share_id, task_state="migration_driver_phase1_done")


def start_flow(share_id: str):
    return linear_flow.Flow(f"share-migration-start-{share_id}").add(
        Begin("begin", "migration_in_progress"),
        Copy("first-copy", "a", True, "migration_driver_in_progress"),
        Copy("catch-up", "b", False),
        FirstPhaseDone("phase1-done"))


class Freeze(MigrationTask):
    """No write lands on the source after its last point: read-only at ZFS,
    then every rule read-only over NFS (undo makes it writable again)."""

    def execute(self, share_id):
        svc = _svc()
        self.go_on(share_id)
        source, backend = svc.source(share_id)
        svc.core.driver(backend).migration_freeze(source, svc.rules(share_id), True)


class Switch(MigrationTask):
    """The commit: the source's export removed, the destination exported under
    the share's id with its rules (writable), and one transaction points the
    share at it."""

    def execute(self, share_id):
        svc = _svc()
        if svc.migration(share_id).switched:  # before a crash
            return
        self.go_on(share_id)
        source, source_backend = svc.source(share_id)
        dest, dest_backend = svc.destination(share_id)
        svc.core.driver(source_backend).unmanage(source)
        result = svc.core.driver(dest_backend).migration_activate(dest, share_id, svc.rules(share_id))
        svc.switch(share_id, result)

    def revert(self, share_id, **kwargs):
        svc = _svc()
        row = svc.find(share_id)
        if row is None or row.switched:
            return
        dest, dest_backend = svc.destination(share_id)
        if dest_backend != row.old_backend:  # on the same backend, the source's export takes the key back
            svc.core.driver(dest_backend).migration_deactivate(dest, share_id)


class CleanUp(MigrationTask):
    """Past the switch a cancel no longer undoes anything: the source goes."""

    def pre_execute(self):
        pass

    def execute(self, share_id):
        _svc().finish(share_id)


def complete_flow(share_id: str):
    return linear_flow.Flow(f"share-migration-complete-{share_id}").add(
        Begin("begin", "migration_completing"), Freeze("freeze"), Copy("last-copy", "c", False),
        Switch("switch"), CleanUp("clean-up"))


class Abandon(FlowTask):
    """The undo runs to its end, even when its flow is cancelled (a force-delete)."""

    def pre_execute(self):
        pass

    def execute(self, share_id):
        svc = _svc()
        if svc.find(share_id) is None:
            return
        svc.undo(share_id)
        svc.end(share_id, "migration_cancelled")

    def revert(self, share_id, flow_failures=None, **kwargs):
        """The share is usable on its source; the row stays, so the next start-up
        tries the undo again."""
        _svc().mark(share_id, status="available", task_state="migration_error",
                    status_reason=f"migration cancel failed: {failure_reason(flow_failures)}")


def cancel_flow(share_id: str):
    return linear_flow.Flow(f"share-migration-cancel-{share_id}").add(Abandon("abandon"))
