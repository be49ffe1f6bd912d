"""Snapshots of replicated shares (Manila's replicated snapshots): a snapshot is
taken on the active copy and is on every copy once the next sync has carried
it there (the sync's stream brings the snapshots in between along); it is
deleted on every copy; a promoted copy keeps them, and the share's snapshots
then point at it.

Each (snapshot, replica) pair has a ShareSnapshotInstance row. The active
copy's row only gives its instance an id (its state is the snapshot row's);
a secondary's row is `creating` until the driver finds the snapshot on that
copy after a sync, then `available` with its location there.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.replicas import ShareReplica, ShareSnapshotInstance
from shoal.drivers.base import DriverError, SnapshotRef

from ..common import core as c
from . import replica_rows as rr

log = logging.getLogger(__name__)

NOT_ON_NEW_ACTIVE = "not on the promoted replica: it was promoted before a sync brought this snapshot there"


def ensure_instances(session: Session, share_id: str) -> bool:
    """A row for every snapshot of the share on every replica of it; False when
    the share is not replicated. The first row made for the active copy takes
    the snapshot's own id (the id its one instance had before the share was
    replicated)."""
    replicas = session.scalars(select(ShareReplica).where(ShareReplica.share_id == share_id)).all()
    if not replicas:
        return False
    snapshots = session.scalars(select(models.ShareSnapshot).where(models.ShareSnapshot.share_id == share_id)).all()
    if not snapshots:
        return True
    rows = session.scalars(select(ShareSnapshotInstance).where(
        ShareSnapshotInstance.snapshot_id.in_([s.id for s in snapshots]))).all()
    have = {(r.snapshot_id, r.replica_id) for r in rows}
    taken = {r.id for r in rows}
    for snap in snapshots:
        for replica in replicas:
            if (snap.id, replica.id) in have:
                continue
            active = replica.replica_state == "active"
            row_id = snap.id if active and snap.id not in taken else models.new_id()
            taken.add(row_id)
            session.add(ShareSnapshotInstance(
                id=row_id, snapshot_id=snap.id, replica_id=replica.id,
                status="available" if active else "creating",
                provider_location=snap.provider_location if active else None))
    session.flush()
    return True


def record_held(core: c.Core, share_id: str, copy: rr.Copy) -> None:
    """After a sync brought `copy` (a secondary) up to date: the snapshots the
    driver finds there are `available` on it."""
    with core.db.session() as session:
        ensure_instances(session, share_id)
        waiting = {r.snapshot_id: r.id for r in session.scalars(select(ShareSnapshotInstance).where(
            ShareSnapshotInstance.replica_id == copy.id,
            ShareSnapshotInstance.status.in_(("creating", "error"))))}
    if not waiting:
        return
    found = core.driver(copy.backend).snapshot_locations(copy.ref, list(waiting))
    if not found:
        return
    table = ShareSnapshotInstance.__table__
    with core.db.connection() as connection:
        for snapshot_id, location in found.items():
            connection.execute(update(table).where(table.c.id == waiting[snapshot_id])
                               .values(status="available", provider_location=location, status_reason=None))
    log.info("share %s: replica %s holds snapshots %s", share_id, copy.id, ", ".join(sorted(found)))


def delete_copies(core: c.Core, snapshot_id: str) -> None:
    """Remove a snapshot from every secondary copy of its share (the caller
    removes it from the active). Raises DriverError naming the copies it could
    not reach; their rows stay, so deleting again tries them again."""
    with core.db.session() as session:
        snap = session.get(models.ShareSnapshot, snapshot_id)
        if snap is None:
            return
        share_id = snap.share_id
    with core.share_lock(share_id):  # not under a sync's stream
        with core.db.session() as session:
            _, copies = rr.copies(session, share_id)
            rows = session.scalars(select(ShareSnapshotInstance).where(
                ShareSnapshotInstance.snapshot_id == snapshot_id)).all()
            targets = [(r.id, r.provider_location, next(c for c in copies if c.id == r.replica_id))
                       for r in rows if any(c.id == r.replica_id and c.replica_state != "active" for c in copies)]
        failed = []
        for row_id, location, copy in targets:
            _set(core, row_id, status="deleting")
            try:
                core.driver(copy.backend).delete_snapshot(SnapshotRef(snapshot_id, copy.ref, location))
            except Exception as exc:
                _set(core, row_id, status="error_deleting", status_reason=f"delete failed: {exc}")
                failed.append(f"replica {copy.id}: {exc}")
                continue
            with core.db.session() as session:
                row = session.get(ShareSnapshotInstance, row_id)
                if row is not None:
                    session.delete(row)
    if failed:
        raise DriverError("not deleted on every replica: " + "; ".join(failed))


def follow_promotion(session: Session, share_id: str, old_id: str, new_id: str, held: dict[str, str]) -> None:
    """The share's snapshots are the promoted copy's now (`held`: those it holds,
    with their locations there); the old active keeps its own as a secondary.
    One the promoted copy lacks is in error, with the reason."""
    ensure_instances(session, share_id)
    for snap in session.scalars(select(models.ShareSnapshot).where(models.ShareSnapshot.share_id == share_id)):
        rows = {r.replica_id: r for r in session.scalars(select(ShareSnapshotInstance).where(
            ShareSnapshotInstance.snapshot_id == snap.id))}
        old, new = rows.get(old_id), rows.get(new_id)
        if old is not None:
            old.status, old.provider_location = ("available" if snap.status == "available" else snap.status,
                                                 snap.provider_location)
        if snap.id in held:
            snap.provider_location = held[snap.id]
            if new is not None:
                new.status, new.provider_location = "available", held[snap.id]
        elif snap.status not in ("deleting", "error_deleting"):
            snap.status, snap.status_reason = "error", NOT_ON_NEW_ACTIVE
            if new is not None:
                new.status, new.status_reason = "error", NOT_ON_NEW_ACTIVE


def _set(core: c.Core, row_id: str, **fields) -> None:
    table = ShareSnapshotInstance.__table__
    with core.db.connection() as connection:
        connection.execute(update(table).where(table.c.id == row_id).values(**fields))
