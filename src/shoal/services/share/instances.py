"""Share instances and snapshot instances (Manila's admin views of the copies
behind a share and a snapshot).

Shoal keeps no instance rows of its own: a share that was never replicated has
one instance, with the share's id (the `share_instance_id` its export locations
name); a replicated share has one instance per replica row. A snapshot has one
instance, with the snapshot's id, or, of a replicated share, one per replica
(replica_snapshots: the active's carries the snapshot's status, a
secondary's says whether a sync has brought it there). Everything here is for administrators
(Manila's default policy), and a change made through an instance is the change
made through its share, replica or snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shoal.db import models
from shoal.db.replicas import ShareReplica, ShareSnapshotInstance

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from .replicas import ShareReplicas
from .shares import Shares
from .snapshots import SNAPSHOT_STATUSES, ShareSnapshots


@dataclass(frozen=True)
class InstanceLocation:
    id: str
    path: str
    is_admin_only: bool
    preferred: bool
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ShareInstance:
    id: str
    share_id: str
    host: str | None
    status: str
    availability_zone: str | None
    created_at: datetime | None
    updated_at: datetime | None
    share_type_id: str | None
    access_rules_status: str
    replica_state: str | None
    progress: str | None
    cast_rules_to_readonly: bool
    export_locations: tuple[InstanceLocation, ...]


@dataclass(frozen=True)
class SnapshotInstance:
    id: str
    snapshot_id: str
    share_id: str
    share_instance_id: str
    status: str
    progress: str | None
    provider_location: str | None
    created_at: datetime | None
    updated_at: datetime | None


def _host(backend: str | None, pool: str | None) -> str | None:
    return f"shoal@{backend}#{pool}" if backend else None


def share_progress(status: str) -> str | None:
    return "100%" if status == "available" else ("0%" if status == "creating" else None)


def _share_locations(share: models.Share) -> tuple[InstanceLocation, ...]:
    return tuple(InstanceLocation(e.id, e.path, e.is_admin_only, e.preferred, e.created_at, e.updated_at)
                 for e in share.export_locations)


def _instances_of(share: models.Share, replicas: list[ShareReplica]) -> list[ShareInstance]:
    if not replicas:
        return [ShareInstance(share.id, share.id, _host(share.backend, share.pool), share.status,
                              share.availability_zone, share.created_at, share.updated_at, share.share_type_id,
                              share.access_rules_status, None, share_progress(share.status), False,
                              _share_locations(share))]
    out = []
    for row in replicas:
        active = row.replica_state == "active"
        # The active copy is exported under the share's own locations; a secondary has its own.
        locations = _share_locations(share) if active else tuple(
            InstanceLocation(f"{row.id}-{i}", loc["path"], loc.get("is_admin_only", False),
                             loc.get("preferred", False), row.created_at, row.updated_at)
            for i, loc in enumerate(row.export_locations or []))
        out.append(ShareInstance(row.id, share.id, _host(row.backend, row.pool), row.status,
                                 row.availability_zone, row.created_at, row.updated_at, share.share_type_id,
                                 share.access_rules_status, row.replica_state, row.progress, not active, locations))
    return out


class ShareInstances:
    def __init__(self, core: c.Core, shares: Shares, replicas: ShareReplicas, snapshots: ShareSnapshots):
        self.core, self.shares, self.replicas, self.snapshots = core, shares, replicas, snapshots

    @staticmethod
    def check_admin(ctx: RequestContext) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow share_instance operations to be performed.")

    def _all(self, session, share_ids: list[str] | None = None, soft_deleted: bool | None = False) -> list[ShareInstance]:
        query = select(models.Share).order_by(models.Share.created_at)
        if share_ids is not None:
            query = query.where(models.Share.id.in_(share_ids))
        if soft_deleted is not None:
            query = query.where(models.Share.is_soft_deleted.is_(soft_deleted))
        shares = list(session.scalars(query))
        rows = session.scalars(select(ShareReplica).where(ShareReplica.share_id.in_([s.id for s in shares]))
                               .order_by(ShareReplica.created_at)).all() if shares else []
        by_share: dict[str, list[ShareReplica]] = {}
        for row in rows:
            by_share.setdefault(row.share_id, []).append(row)
        return [i for s in shares for i in _instances_of(s, by_share.get(s.id, []))]

    def list(self, ctx: RequestContext, export_location_id: str | None = None,
             export_location_path: str | None = None, soft_deleted: bool | None = False) -> list[ShareInstance]:
        self.check_admin(ctx)
        with self.core.db.session() as session:
            found = self._all(session, soft_deleted=soft_deleted)
        if export_location_id is not None:
            found = [i for i in found if any(e.id == export_location_id for e in i.export_locations)]
        if export_location_path is not None:
            found = [i for i in found if any(e.path == export_location_path for e in i.export_locations)]
        return found

    def of_share(self, ctx: RequestContext, share_id: str) -> list[ShareInstance]:
        self.check_admin(ctx)
        with self.core.db.session() as session:
            found = self._all(session, [share_id], soft_deleted=None)
        if not found:
            raise NotFound(f"Share {share_id} could not be found.")
        return found

    def get(self, ctx: RequestContext, instance_id: str) -> ShareInstance:
        self.check_admin(ctx)
        with self.core.db.session() as session:
            replica = session.get(ShareReplica, instance_id)
            share_id = replica.share_id if replica is not None else instance_id
            for instance in self._all(session, [share_id], soft_deleted=None):
                if instance.id == instance_id:
                    return instance
        raise NotFound(f"Share instance {instance_id} could not be found.")

    def reset_status(self, ctx: RequestContext, instance_id: str, status: Any) -> None:
        instance = self.get(ctx, instance_id)
        if instance.id == instance.share_id:
            self.shares.reset_status(ctx, instance.share_id, status)
        else:
            self.replicas.reset_status(ctx, instance.id, status)

    def force_delete(self, ctx: RequestContext, instance_id: str) -> None:
        """The only instance of a share is the share: deleting it deletes the share."""
        instance = self.get(ctx, instance_id)
        if instance.id == instance.share_id:
            self.shares.delete(ctx, instance.share_id, force=True)
        else:
            self.replicas.delete(ctx, instance.id, force=True)

    # ---- snapshot instances ------------------------------------------------------------

    def _snapshot_instances(self, session, snaps: list[models.ShareSnapshot]) -> list[SnapshotInstance]:
        if not snaps:
            return []
        rows = session.scalars(select(ShareSnapshotInstance).where(
            ShareSnapshotInstance.snapshot_id.in_([s.id for s in snaps])).order_by(ShareSnapshotInstance.created_at)).all()
        replicas = session.execute(select(ShareReplica.id, ShareReplica.share_id, ShareReplica.replica_state).where(
            ShareReplica.share_id.in_({s.share_id for s in snaps}))).all()
        states = {r.id: r.replica_state for r in replicas}
        actives = {r.share_id: r.id for r in replicas if r.replica_state == "active"}
        by_snapshot: dict[str, list[ShareSnapshotInstance]] = {}
        for row in rows:
            by_snapshot.setdefault(row.snapshot_id, []).append(row)
        out = []
        for snap in snaps:
            copies = by_snapshot.get(snap.id)
            if not copies:  # a share never replicated: one instance, the snapshot itself
                out.append(SnapshotInstance(snap.id, snap.id, snap.share_id, actives.get(snap.share_id, snap.share_id),
                                            snap.status,
                                            share_progress(snap.status), snap.provider_location, snap.created_at,
                                            snap.updated_at))
                continue
            for row in copies:
                if states.get(row.replica_id) == "active":
                    status, location = snap.status, snap.provider_location
                else:
                    # one the active never got will never arrive
                    status = "error" if snap.status == "error" and row.status == "creating" else row.status
                    location = row.provider_location
                out.append(SnapshotInstance(row.id, snap.id, snap.share_id, row.replica_id, status,
                                            share_progress(status), location, row.created_at, row.updated_at))
        return out

    def snapshot_instances(self, ctx: RequestContext, snapshot_id: str | None = None) -> list[SnapshotInstance]:
        self.check_admin(ctx)
        query = select(models.ShareSnapshot).order_by(models.ShareSnapshot.created_at)
        if snapshot_id is not None:
            query = query.where(models.ShareSnapshot.id == snapshot_id)
        with self.core.db.session() as session:
            return self._snapshot_instances(session, list(session.scalars(query)))

    def snapshot_instance(self, ctx: RequestContext, instance_id: str) -> SnapshotInstance:
        self.check_admin(ctx)
        with self.core.db.session() as session:
            row = session.get(ShareSnapshotInstance, instance_id)
            snap = session.get(models.ShareSnapshot, row.snapshot_id if row is not None else instance_id)
            found = [i for i in self._snapshot_instances(session, [snap] if snap else []) if i.id == instance_id]
            if not found:
                raise NotFound(f"Snapshot instance {instance_id} could not be found.")
            return found[0]

    def reset_snapshot_instance_status(self, ctx: RequestContext, instance_id: str, status: str) -> None:
        """The instance on the active copy (or the only one) is the snapshot's status;
        a secondary's is its own."""
        instance = self.snapshot_instance(ctx, instance_id)
        with self.core.db.session() as session:
            row = session.get(ShareSnapshotInstance, instance_id)
            secondary = row is not None and session.get(ShareReplica, row.replica_id).replica_state != "active"
            if secondary:
                if status not in SNAPSHOT_STATUSES:
                    raise Invalid(f"status {status!r} is not one of {', '.join(SNAPSHOT_STATUSES)}")
                row.status = status
                return
        self.snapshots.reset_status(ctx, instance.snapshot_id, status)
