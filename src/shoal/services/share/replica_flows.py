"""The durable flows of share replication (services/common/flows.py).

Create: a replication point on the active copy, a full stream into the new
replica (progress in the replica's row), the replica exported read-only, the
row recorded `in_sync`. Any failure reverts: the new copy and its point go,
the row ends `error` with the reason.

Promote: the active copy turns read-only (ZFS, then NFS) before anything else;
a last replication point is taken and every secondary, the one promoted first,
brought to it; then the roles switch: the promoted copy turns writable and
takes over the share's export key, the old active becomes a read-only
secondary holding the same point (a later failback sends only what changed).
Failure before the switch reverts: the old active is writable again.

Every step may run twice (a crash between its work and taskflow's record of
it); each is written to find its work done and go on.
"""

from __future__ import annotations

import logging

from taskflow.patterns import linear_flow

from shoal.db import models
from shoal.db.replicas import ShareReplica

from ..common.flows import FlowTask, context, failure_reason, percent, report
from . import replica_rows as rr

log = logging.getLogger(__name__)


def _svc():
    return context("share_replicas")


# ---- create ---------------------------------------------------------------------------------


class BeginCreate(FlowTask):
    def execute(self, replica_id):
        rr.set_replica(_svc().core, replica_id, task_state="replication_snapshot", progress="0%")

    def revert(self, replica_id, flow_failures=None, **kwargs):
        svc = _svc()
        reason = f"replica creation failed: {failure_reason(flow_failures)}"
        rr.set_replica(svc.core, replica_id, status="error", replica_state="error", task=None, task_state=None,
                       flow_id=None, status_reason=reason)
        svc.message(replica_id, reason)


class TakePoint(FlowTask):
    default_provides = "tag"

    def execute(self, replica_id, flow_id):
        svc = _svc()
        active, _ = svc.active_and(replica_id)
        tag = f"repl-{flow_id.replace('-', '')[:16]}"  # the same if this step runs again
        rr.set_replica(svc.core, replica_id, last_tag=tag)  # a collection meanwhile keeps it
        svc.core.driver(active.backend).take_replication_snapshot(active.ref, tag)
        return tag

    def revert(self, replica_id, result=None, **kwargs):
        svc = _svc()
        if not isinstance(result, str):
            return
        active, _ = svc.active_and(replica_id)
        svc.core.driver(active.backend).drop_replication_snapshots(active.ref, svc.tags_in_use(active.share_id))


class CopyFull(FlowTask):
    def execute(self, replica_id, tag):
        svc = _svc()
        active, replica = svc.active_and(replica_id)
        source, target = svc.core.driver(active.backend), svc.core.driver(replica.backend)
        total = source.replication_estimate(active.ref, tag)
        rr.set_replica(svc.core, replica_id, task_state="copying")

        def progress(sent: int) -> None:
            report(svc.core.db, ShareReplica, replica_id, progress=percent(sent, total),
                   task_state=f"copying: {sent} bytes sent")

        target.replicate(replica.ref, source, active.ref, tag, None, progress)

    def revert(self, replica_id, **kwargs):
        svc = _svc()
        with svc.core.db.session() as session:
            row = session.get(ShareReplica, replica_id)
            share = session.get(models.Share, row.share_id) if row else None
            copy = rr.copy_of(row, share) if row is not None and share is not None else None
        if copy is not None:
            svc.core.driver(copy.backend).delete_replica(copy.ref)


class ExportSecondary(FlowTask):
    def execute(self, replica_id, tag):
        svc = _svc()
        _, replica = svc.active_and(replica_id)
        result = svc.core.driver(replica.backend).export_replica(replica.ref, svc.rules(replica.share_id), False)
        rr.set_replica(svc.core, replica_id, status="available", replica_state="in_sync", last_tag=tag,
                       provider_location=result.provider_location, export_locations=svc.locations(result),
                       progress="100%", task=None, task_state=None, flow_id=None, status_reason=None)
        svc.record_held(replica.share_id, replica)  # the share's snapshots came along


def create_flow(replica_id: str):
    return linear_flow.Flow(f"replica-create-{replica_id}").add(
        BeginCreate("begin"), TakePoint("point"), CopyFull("copy"), ExportSecondary("export"))


# ---- promote -----------------------------------------------------------------------------------


class BeginPromote(FlowTask):
    def execute(self, replica_id):
        rr.set_replica(_svc().core, replica_id, task_state="demoting the active replica")

    def revert(self, replica_id, flow_failures=None, **kwargs):
        svc = _svc()
        reason = f"promotion failed: {failure_reason(flow_failures)}"
        active, _ = svc.active_and(replica_id)
        rr.set_replica(svc.core, replica_id, status="available", task=None, task_state=None, flow_id=None,
                       status_reason=reason)
        rr.set_replica(svc.core, active.id, status="available")
        svc.settle_share(active.share_id, "available")
        svc.message(replica_id, reason)


class DemoteActive(FlowTask):
    """The active copy read-only (ZFS first, then NFS): no write lands after the
    last point. Returns whether it could be reached."""

    default_provides = "demoted"

    def execute(self, replica_id):
        svc = _svc()
        active, _ = svc.active_and(replica_id)
        try:
            with svc.core.share_lock(active.share_id):
                svc.core.driver(active.backend).export_replica(active.ref, svc.rules(active.share_id), False)
        except Exception as exc:  # an unreachable active: promote anyway (disaster recovery)
            log.warning("promote %s: the active replica %s cannot be reached: %s", replica_id, active.id, exc)
            return False
        return True

    def revert(self, replica_id, result=None, **kwargs):
        if result is not True:
            return
        svc = _svc()
        active, _ = svc.active_and(replica_id)
        svc.core.driver(active.backend).export_replica(active.ref, svc.rules(active.share_id), True)


class FinalPoint(FlowTask):
    """A last point on the demoted active, brought to the promoted copy (it must
    arrive) and to every other secondary (those that fail are out of sync)."""

    default_provides = "synced"

    def execute(self, replica_id, demoted, flow_id):
        svc = _svc()
        if not demoted:
            return {}
        share_id = svc.active_and(replica_id)[0].share_id
        with svc.core.share_lock(share_id):
            return self._sync_all(svc, replica_id, flow_id)

    @staticmethod
    def _sync_all(svc, replica_id, flow_id):
        rr.set_replica(svc.core, replica_id, task_state="final sync")
        active, promoted = svc.active_and(replica_id)
        tag = f"repl-{flow_id.replace('-', '')[:16]}"
        source = svc.core.driver(active.backend)
        source.take_replication_snapshot(active.ref, tag)
        synced = {}
        rules = svc.rules(active.share_id)
        for copy in [promoted] + [c for c in svc.secondaries(active.share_id) if c.id != promoted.id]:
            try:
                svc.core.driver(copy.backend).replicate(copy.ref, source, active.ref, tag, copy.last_tag,
                                                        rules=rules)
                synced[copy.id] = tag
            except Exception as exc:
                if copy.id == promoted.id:
                    raise
                log.warning("promote %s: replica %s not brought to %s: %s", replica_id, copy.id, tag, exc)
        synced[active.id] = tag
        for copy_id, point in synced.items():
            rr.set_replica(svc.core, copy_id, last_tag=point)
        return synced


class SwitchRoles(FlowTask):
    def execute(self, replica_id, demoted, synced):
        svc = _svc()
        with svc.core.share_lock(svc.active_and(replica_id)[0].share_id):
            self._switch(svc, replica_id, demoted, synced)

    @staticmethod
    def _switch(svc, replica_id, demoted, synced):
        active, promoted = svc.active_and(replica_id)
        if active.id == replica_id:  # switched already, before a crash
            return
        rr.set_replica(svc.core, replica_id, task_state="switching roles")
        rules = svc.rules(active.share_id)
        old_driver, new_driver = svc.core.driver(active.backend), svc.core.driver(promoted.backend)
        share_key = active.share_id
        # The share's export key moves: off the old active, onto the promoted copy
        # (writable, once ZFS lets it be written); the old active is exported again
        # under its own key, read-only.
        try:
            old_driver.unmanage(rr.keyed(active, share_key))
        except Exception as exc:
            if demoted:
                raise
            log.warning("promote %s: the old active's export could not be removed: %s", replica_id, exc)
        new_driver.unmanage(rr.keyed(promoted, promoted.id))
        result = new_driver.export_replica(rr.keyed(promoted, share_key), rules, True)
        old_locations = None
        if demoted:
            old_locations = svc.locations(old_driver.export_replica(rr.keyed(active, active.id), rules, False))
        held = new_driver.snapshot_locations(promoted.ref, svc.snapshot_ids(share_key))
        svc.switch(share_key, active.id, promoted.id, result, old_locations, in_sync=active.id in synced, held=held)


def promote_flow(replica_id: str):
    return linear_flow.Flow(f"replica-promote-{replica_id}").add(
        BeginPromote("begin"), DemoteActive("demote"), FinalPoint("final"), SwitchRoles("switch"))
