"""Share replicas (Manila's `readable` replication): the requests, the periodic
sync that keeps secondaries in step, and their recovery after a restart.

Creation and promotion are durable flows (replica_flows); a sync is plain
background work under the share's lock, run again by the next period if cut
short: it only moves secondaries forward to a new replication point, and a
secondary it cannot reach goes `out_of_sync` and comes back `in_sync` by
itself at a later period. Replication points nobody needs are removed.
"""

from __future__ import annotations

import logging

import time
from typing import Any

from sqlalchemy import delete, select, update

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.drivers.base import ShareResult

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.flows import Flows
from ..common.scheduler import NoValidPool
from ..common.tasks import INTERRUPTED
from . import replica_flows, replica_rows as rr, replica_snapshots
from . import rows as sr

log = logging.getLogger(__name__)

ACTION_REPLICATE = "101"  # a user message's action id for replica work: Manila has none, and its ids end at 028


class ShareReplicas:
    def __init__(self, core: c.Core, flows: Flows, sync_interval: float = 300.0):
        self.core, self.flows = core, flows
        self.sync_interval = sync_interval
        self._last_sync = 0.0
        flows.provide("share_replicas", self)

    # ---- reading ---------------------------------------------------------------------

    def _share(self, session, ctx: RequestContext, share_id: str) -> models.Share:
        return sr.get_share(session, ctx, share_id)

    def _replicated(self, session, ctx: RequestContext, share_id: str | None) -> list[models.Share]:
        """The replicated shares the caller sees (one, or all), each with its active row."""
        if share_id:
            shares = [self._share(session, ctx, share_id)]
        else:
            query = select(models.Share)
            if not (ctx.is_admin and ctx.cross_project):
                query = query.where(models.Share.project_id == ctx.project_id)
            shares = list(session.scalars(query))
        shares = [s for s in shares if rr.replication_type(s)]
        for share in shares:
            rr.ensure_active_row(session, share)
        return shares

    def list(self, ctx: RequestContext, share_id: str | None = None) -> list[ShareReplica]:
        with self.core.db.session() as session:
            shares = self._replicated(session, ctx, share_id)
            if not shares:
                return []
            return list(session.scalars(select(ShareReplica).where(
                ShareReplica.share_id.in_([s.id for s in shares])).order_by(ShareReplica.created_at)))

    def get(self, ctx: RequestContext, replica_id: str) -> ShareReplica:
        with self.core.db.session() as session:
            row = session.get(ShareReplica, replica_id)
            share = session.get(models.Share, row.share_id) if row is not None else None
            if share is None or not ctx.reaches(share.project_id):
                raise NotFound(f"Share replica {replica_id} could not be found.")
            return row

    def has_replicas(self, share_ids: list[str]) -> set[str]:
        """Which of the shares have a secondary (Manila's has_replicas)."""
        if not share_ids:
            return set()
        with self.core.db.session() as session:
            return set(session.scalars(select(ShareReplica.share_id).where(
                ShareReplica.share_id.in_(share_ids), ShareReplica.replica_state != "active")))

    # ---- create ----------------------------------------------------------------------

    def create(self, ctx: RequestContext, share_id: Any, availability_zone: str | None = None) -> ShareReplica:
        if not isinstance(share_id, str) or not share_id:
            raise Invalid("share_id is required")
        with self.core.db.session() as session:
            share = self._share(session, ctx, share_id)
            if not ctx.is_admin and share.project_id != ctx.project_id:
                raise Forbidden("only the share's project may replicate it")
            if not rr.replication_type(share):
                raise Invalid(f"share {share_id} has a share type without replication_type: it cannot be replicated")
            if share.status != "available":
                raise Invalid(f"Share {share_id} status must be available, not {share.status}")
            active = rr.ensure_active_row(session, share)
            if active is None:
                raise Invalid(f"share {share_id} has no data on a backend yet")
            rows = session.scalars(select(ShareReplica).where(ShareReplica.share_id == share_id)).all()
            taken = {(r.backend, r.pool) for r in rows}
            try:
                backend, pool, zone = rr.place_replica(self.core, share, taken, availability_zone)
            except NoValidPool as exc:
                raise Invalid(str(exc)) from None
            replica = ShareReplica(id=models.new_id(), share_id=share_id, backend=backend, pool=pool,
                                   availability_zone=zone, status="creating", replica_state="out_of_sync",
                                   export_locations=[], progress="0%", task="create")
            session.add(replica)
            session.flush()
            session.refresh(replica)
        flow_id = self.flows.start(replica_flows.create_flow, (replica.id,), {"replica_id": replica.id},
                                   name=f"create replica {replica.id}")
        rr.set_replica(self.core, replica.id, flow_id=flow_id)
        replica.flow_id = flow_id
        return replica

    # ---- promote, resync ---------------------------------------------------------------

    def promote(self, ctx: RequestContext, replica_id: str, quiesce_wait_time: int | None = None) -> None:
        """`quiesce_wait_time` (2.75+): a non-negative integer, as the API's model has checked."""
        with self.core.db.session() as session:
            replica = self._owned(session, ctx, replica_id)
            if replica.replica_state == "active":
                return  # promoting the active replica changes nothing (Manila answers 200)
            if replica.status != "available":
                raise Invalid(f"Share replica {replica_id} status must be available, not {replica.status}")
            if replica.replica_state not in ("in_sync", "out_of_sync") and not ctx.is_admin:
                raise Forbidden(f"a replica in state {replica.replica_state} may be promoted by an admin only")
            share = session.get(models.Share, replica.share_id)
            if share.status != "available":
                raise Invalid(f"Share {share.id} status must be available, not {share.status}")
            busy = session.scalars(select(ShareReplica.id).where(
                ShareReplica.share_id == share.id, ShareReplica.status != "available")).first()
            if busy is not None:
                raise Conflict(f"replica {busy} of share {share.id} is busy; try again when it is available")
            share.status = "replication_change"
            session.execute(update(ShareReplica).where(ShareReplica.share_id == share.id)
                            .values(status="replication_change"))
            replica.task, replica.task_state = "promote", "queued"
        flow_id = self.flows.start(replica_flows.promote_flow, (replica_id,), {"replica_id": replica_id},
                                   name=f"promote replica {replica_id}")
        rr.set_replica(self.core, replica_id, flow_id=flow_id)

    def resync(self, ctx: RequestContext, replica_id: str) -> None:
        with self.core.db.session() as session:
            replica = self._owned(session, ctx, replica_id)
            if replica.replica_state == "active":
                return  # nothing to bring the active replica to
            if replica.status != "available":
                raise Invalid(f"Share replica {replica_id} status must be available, not {replica.status}")
            share_id = replica.share_id
        self.core.tasks.submit(self.sync_share, share_id)

    # ---- delete -----------------------------------------------------------------------------

    def delete(self, ctx: RequestContext, replica_id: str, force: bool = False) -> None:
        if force and not ctx.is_admin:
            raise Forbidden("force_delete is for administrators")
        with self.core.db.session() as session:
            replica = self._owned(session, ctx, replica_id)
            if replica.replica_state == "active":
                others = session.scalars(select(ShareReplica.id).where(
                    ShareReplica.share_id == replica.share_id, ShareReplica.id != replica_id)).first()
                if others is not None or not force:
                    raise Invalid("the active replica cannot be deleted; promote another replica first, "
                                  "or delete the share")
            if not force and replica.status not in ("available", "error", "error_deleting"):
                raise Invalid(f"Share replica {replica_id} status must be available or error, not {replica.status}")
            flow_id = replica.flow_id
            replica.status, replica.task, replica.task_state = "deleting", "delete", None
        if force and flow_id:
            self.flows.cancel(flow_id)  # its processes stop, its steps revert; then the delete below
        self.core.tasks.submit(self._delete, replica_id)

    def _delete(self, replica_id: str) -> None:
        with self.core.db.session() as session:
            row = session.get(ShareReplica, replica_id)
            if row is None or row.status != "deleting":
                return
            share = session.get(models.Share, row.share_id)
            copy = rr.copy_of(row, share)
        try:
            with self.core.share_lock(copy.share_id):
                if copy.replica_state != "active" and copy.backend:
                    self.core.driver(copy.backend).delete_replica(copy.ref)
        except Exception as exc:
            reason = f"delete failed: {exc}"
            rr.set_replica(self.core, replica_id, status="error_deleting", task=None, status_reason=reason)
            self.message(replica_id, reason)
            return
        with self.core.db.connection() as connection:
            connection.execute(delete(ShareReplica.__table__).where(ShareReplica.__table__.c.id == replica_id))
        self._collect(copy.share_id)
        log.info("share replica %s deleted", replica_id)

    # ---- admin -------------------------------------------------------------------------------

    def reset_status(self, ctx: RequestContext, replica_id: str, status: Any) -> None:
        self.check_admin(ctx, "reset_status")
        if status not in rr.REPLICA_STATUSES:
            raise Invalid(f"status {status!r} is not one of {', '.join(rr.REPLICA_STATUSES)}")
        with self.core.db.session() as session:
            row = self._owned(session, ctx, replica_id)
            row.status, row.task = status, None

    def reset_replica_state(self, ctx: RequestContext, replica_id: str, state: Any) -> None:
        self.check_admin(ctx, "reset_replica_state")
        if state not in rr.REPLICA_STATES:
            raise Invalid(f"replica_state {state!r} is not one of {', '.join(rr.REPLICA_STATES)}")
        with self.core.db.session() as session:
            row = self._owned(session, ctx, replica_id)
            if (state == "active") != (row.replica_state == "active"):
                raise Invalid("the active replica changes by promotion only")
            row.replica_state = state

    @staticmethod
    def check_admin(ctx: RequestContext, what: str) -> None:
        if not ctx.is_admin:
            raise Forbidden(f"{what} is for administrators")

    def _owned(self, session, ctx: RequestContext, replica_id: str) -> ShareReplica:
        row = session.get(ShareReplica, replica_id)
        share = session.get(models.Share, row.share_id) if row is not None else None
        if share is None or not ctx.reaches(share.project_id):
            raise NotFound(f"Share replica {replica_id} could not be found.")
        if not ctx.is_admin and share.project_id != ctx.project_id:
            raise Forbidden("only the share's project may change its replicas")
        return row

    # ---- what the flows ask ------------------------------------------------------------------

    def active_and(self, replica_id: str) -> tuple[rr.Copy, rr.Copy]:
        """(the share's active copy, the replica) as plain data."""
        with self.core.db.session() as session:
            row = session.get(ShareReplica, replica_id)
            if row is None:
                raise NotFound(f"share replica {replica_id} is gone")
            share, copies = rr.copies(session, row.share_id)
        active = next(c for c in copies if c.replica_state == "active")
        return active, next(c for c in copies if c.id == replica_id)

    def secondaries(self, share_id: str) -> list[rr.Copy]:
        with self.core.db.session() as session:
            _, copies = rr.copies(session, share_id)
        return [c for c in copies if c.replica_state != "active" and c.status in ("available", "replication_change")]

    def rules(self, share_id: str):
        with self.core.db.session() as session:
            return rr.rules_of(session, share_id)

    def tags_in_use(self, share_id: str) -> set[str]:
        with self.core.db.session() as session:
            return {t for t in session.scalars(select(ShareReplica.last_tag).where(
                ShareReplica.share_id == share_id)) if t}

    @staticmethod
    def locations(result: ShareResult) -> list[dict]:
        return [{"path": e.path, "is_admin_only": e.is_admin_only, "preferred": e.preferred}
                for e in result.export_locations]

    def message(self, replica_id: str, text: str) -> None:
        with self.core.db.session() as session:
            row = session.get(ShareReplica, replica_id)
            share = session.get(models.Share, row.share_id) if row is not None else None
            if share is not None:
                self.core.message(session, share.project_id, "SHARE_REPLICA", replica_id, ACTION_REPLICATE,
                                  sr.DETAIL_DRIVER_FAILED, text)

    def settle_share(self, share_id: str, status: str) -> None:
        sr.set_share(self.core, share_id, status=status)

    def switch(self, share_id: str, old_id: str, new_id: str, result: ShareResult, old_locations, in_sync: bool,
               held: dict[str, str]) -> None:
        """Record a promotion: the share row follows its new active copy, and so do
        its snapshots (`held`: those the new active holds, with their locations)."""
        from .shares import set_export_locations

        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            new, old = session.get(ShareReplica, new_id), session.get(ShareReplica, old_id)
            new.replica_state, new.status, new.task, new.task_state, new.flow_id = "active", "available", None, None, None
            new.provider_location, new.export_locations, new.status_reason = result.provider_location, \
                self.locations(result), None
            old.replica_state = "in_sync" if in_sync else "out_of_sync"
            old.status = "available"
            if old_locations is not None:
                old.export_locations = old_locations
            share.backend, share.pool, share.availability_zone = new.backend, new.pool, new.availability_zone
            share.provider_location, share.status = result.provider_location, "available"
            set_export_locations(share, result)
            session.execute(update(ShareReplica).where(ShareReplica.share_id == share_id,
                                                       ShareReplica.status == "replication_change")
                            .values(status="available"))
            replica_snapshots.follow_promotion(session, share_id, old_id, new_id, held)
        log.info("share %s: replica %s is the active one now (was %s)", share_id, new_id, old_id)

    # ---- snapshots of a replicated share -------------------------------------------------------

    def snapshot_ids(self, share_id: str) -> list[str]:
        with self.core.db.session() as session:
            return list(session.scalars(select(models.ShareSnapshot.id).where(
                models.ShareSnapshot.share_id == share_id)))

    def snapshot_taken(self, share_id: str) -> None:
        """A snapshot was taken on the active copy: it has an instance on every
        copy, and a sync now carries it to the secondaries (as Manila's driver
        sends it at once)."""
        with self.core.db.session() as session:
            replicated = replica_snapshots.ensure_instances(session, share_id)
        if replicated and self.secondaries(share_id):
            self.core.tasks.submit(self.sync_share, share_id)

    def delete_snapshot_copies(self, snapshot_id: str) -> None:
        """Remove a snapshot from every secondary (raises if one could not be reached)."""
        replica_snapshots.delete_copies(self.core, snapshot_id)

    # ---- sync --------------------------------------------------------------------------------

    def sync_share(self, share_id: str) -> None:
        """A new replication point on the active copy, and every secondary brought
        to it (incrementally from its last point); one that cannot be reached goes
        out_of_sync with the reason, and is tried again next time."""
        with self.core.share_lock(share_id):
            with self.core.db.session() as session:
                share, copies = rr.copies(session, share_id)
            if share is None or share.status != "available":
                return
            active = next((c for c in copies if c.replica_state == "active"), None)
            secondaries = [c for c in copies if c.replica_state != "active" and c.status == "available"]
            if active is None or not secondaries:
                return
            tag = rr.new_tag()
            source = self.core.driver(active.backend)
            try:
                source.take_replication_snapshot(active.ref, tag)
            except Exception as exc:
                log.warning("share %s: no replication point on the active replica: %s", share_id, exc)
                return
            rules = self.rules(share_id)
            for copy in secondaries:
                try:
                    self.core.driver(copy.backend).replicate(copy.ref, source, active.ref, tag, copy.last_tag,
                                                             rules=rules)
                except Exception as exc:
                    log.warning("share %s: replica %s out of sync: %s", share_id, copy.id, exc)
                    rr.set_replica(self.core, copy.id, replica_state="out_of_sync",
                                   status_reason=f"sync failed: {exc}")
                    continue
                rr.set_replica(self.core, copy.id, replica_state="in_sync", last_tag=tag, status_reason=None)
                log.info("share %s: replica %s brought to %s", share_id, copy.id, tag)
                self.record_held(share_id, copy)
            rr.set_replica(self.core, active.id, last_tag=tag)
        self._collect(share_id)

    def _collect(self, share_id: str) -> None:
        """Remove replication points no replica needs: the active keeps every
        replica's last point, a secondary only its own."""
        with self.core.share_lock(share_id):  # what it reads must not change under it (a sync's new point)
            self._collect_locked(share_id)

    def _collect_locked(self, share_id: str) -> None:
        with self.core.db.session() as session:
            share, copies = rr.copies(session, share_id)
        if share is None:
            return
        needed = {c.last_tag for c in copies if c.last_tag}
        for copy in copies:
            if copy.replica_state != "active" and copy.status != "available":
                continue  # being made or changed: its flow owns its points
            keep = needed if copy.replica_state == "active" else {copy.last_tag} - {None}
            try:
                self.core.driver(copy.backend).drop_replication_snapshots(copy.ref, keep)
            except Exception as exc:  # unreachable now: next time
                log.info("share %s: replication points of %s not collected: %s", share_id, copy.id, exc)

    def record_held(self, share_id: str, copy: rr.Copy) -> None:
        """The snapshots a sync brought to `copy`, recorded as available there."""
        try:
            replica_snapshots.record_held(self.core, share_id, copy)
        except Exception as exc:  # the next sync looks again
            log.warning("share %s: snapshots on replica %s not looked at: %s", share_id, copy.id, exc)

    def check_once(self) -> None:
        """The periodic part: sync every replicated share once per sync interval."""
        now = time.monotonic()
        if now - self._last_sync < self.sync_interval:
            return
        self._last_sync = now
        with self.core.db.session() as session:
            share_ids = set(session.scalars(select(ShareReplica.share_id).where(
                ShareReplica.replica_state != "active")))
        for share_id in share_ids:
            try:
                self.sync_share(share_id)
            except Exception:
                log.exception("share %s: sync failed", share_id)

    # ---- start-up ------------------------------------------------------------------------------

    def resume_interrupted(self) -> None:
        """Flows run on (services/common/flows); a replica row whose flow is gone
        ends in error, a delete runs again."""
        resumed = set(self.flows.resume_unfinished())
        with self.core.db.session() as session:
            rows = list(session.scalars(select(ShareReplica).where(ShareReplica.task.is_not(None))))
        for row in rows:
            if row.task == "delete":
                self.core.tasks.submit(self._delete, row.id)
            elif row.flow_id not in resumed:
                log.warning("share replica %s was %s with no flow left to finish it", row.id, row.status)
                rr.set_replica(self.core, row.id, status="error", task=None, task_state=None, flow_id=None,
                               status_reason=INTERRUPTED)
                if row.task == "promote":
                    with self.core.db.session() as session:
                        session.execute(update(ShareReplica).where(
                            ShareReplica.share_id == row.share_id, ShareReplica.status == "replication_change")
                            .values(status="available"))
                    self.settle_share(row.share_id, "available")

    def ensure_exports(self, backend: str | None = None, stale: set[str] = frozenset()) -> None:
        """Export every steady secondary again, read-only with its share's rules;
        made anew on a backend in `stale` (its file systems were mounted anew)."""
        with self.core.db.session() as session:
            query = select(ShareReplica).where(ShareReplica.replica_state != "active",
                                               ShareReplica.status == "available")
            if backend:
                query = query.where(ShareReplica.backend == backend)
            items = []
            for row in session.scalars(query):
                share = session.get(models.Share, row.share_id)
                items.append((rr.copy_of(row, share), rr.rules_of(session, share.id)))
        for copy, rules in items:
            try:
                self.core.driver(copy.backend).export_replica(copy.ref, rules, False, fresh=copy.backend in stale)
            except Exception as exc:
                log.warning("share replica %s: not exported again: %s", copy.id, exc)
                rr.set_replica(self.core, copy.id, replica_state="out_of_sync", status_reason=f"export lost: {exc}")

    def follow_rules(self, share_id: str, rules) -> None:
        """After the active's rules changed: the same clients, read-only, on every secondary."""
        for copy in self.secondaries(share_id):
            try:
                self.core.driver(copy.backend).export_replica(copy.ref, rules, False)
            except Exception as exc:
                log.warning("share replica %s: rules not applied: %s", copy.id, exc)



