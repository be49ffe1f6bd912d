"""What the replica services share: replica rows to driver refs, the rules a
copy is exported with, placement of a new replica, and small row updates.

Export keys: the active copy is always exported under the share's id (the key
access syncs and start-up recovery use for the share row); a secondary under
its own replica id. A promotion moves the keys with the roles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.drivers.base import AccessRule, ShareRef

from ..common import core as c
from ..common.errors import Conflict
from ..common.scheduler import NoValidPool, fits
from . import rows as sr

REPLICA_STATES = ("active", "in_sync", "out_of_sync", "error")
REPLICA_STATUSES = ("available", "error", "creating", "deleting", "error_deleting", "replication_change")


def new_tag() -> str:
    """A replication point's name: the same on every copy (send/receive keeps it)."""
    return f"repl-{uuid.uuid4().hex[:16]}"


def replication_type(share: models.Share) -> str | None:
    specs = share.share_type.extra_specs if share.share_type is not None else {}
    return specs.get("replication_type")


@dataclass(frozen=True)
class Copy:
    """A replica as plain data, with what the driver needs to find it."""

    id: str
    share_id: str
    backend: str
    pool: str
    provider_location: str | None
    status: str
    replica_state: str | None
    last_tag: str | None
    ref: ShareRef  # keyed as exported now (share id for the active)


def copy_of(replica: ShareReplica, share: models.Share) -> Copy:
    specs = dict(share.share_type.extra_specs) if share.share_type else {}
    key = share.id if replica.replica_state == "active" else replica.id
    ref = ShareRef(key, replica.pool or "", share.size, replica.provider_location, specs)
    return Copy(replica.id, share.id, replica.backend, replica.pool, replica.provider_location, replica.status,
                replica.replica_state, replica.last_tag, ref)


def keyed(copy: Copy, key: str) -> ShareRef:
    """The copy's ref under another export key (for a role change)."""
    r = copy.ref
    return ShareRef(key, r.pool, r.size_gb, r.provider_location, r.extra_specs)


def copies(session: Session, share_id: str) -> tuple[models.Share, list[Copy]]:
    share = session.get(models.Share, share_id)
    rows = session.scalars(select(ShareReplica).where(ShareReplica.share_id == share_id)
                           .order_by(ShareReplica.created_at)).all()
    return share, [copy_of(r, share) for r in rows]


def rules_of(session: Session, share_id: str) -> list[AccessRule]:
    return sr.rules_in_force(session, share_id)


def set_replica(core: c.Core, replica_id: str, **fields) -> None:
    table = ShareReplica.__table__
    with core.db.connection() as connection:
        connection.execute(update(table).where(table.c.id == replica_id).values(**fields))


def refuse_if_replicated(session: Session, share_id: str, what: str) -> None:
    """Manila's 409 for work its replicas would be left out of (`what`: the
    sentence's end, e.g. "It cannot be unmanaged until all replicas are removed.")."""
    secondary = session.scalars(select(ShareReplica.id).where(ShareReplica.share_id == share_id,
                                                              ShareReplica.replica_state != "active")).first()
    if secondary is not None:
        raise Conflict(f"Share {share_id} has replicas. {what}")


def ensure_active_row(session: Session, share: models.Share) -> ShareReplica | None:
    """The active replica of a replicated share, made from the share row the first
    time it is needed (a share is created before anyone asks for replicas)."""
    active = session.scalars(select(ShareReplica).where(ShareReplica.share_id == share.id,
                                                        ShareReplica.replica_state == "active")).first()
    if active is not None or share.backend is None or share.provider_location is None:
        return active
    active = ShareReplica(
        id=models.new_id(), share_id=share.id, backend=share.backend, pool=share.pool,
        availability_zone=share.availability_zone, provider_location=share.provider_location,
        status="available", replica_state="active",
        export_locations=[{"path": e.path, "is_admin_only": e.is_admin_only, "preferred": e.preferred}
                          for e in share.export_locations],
        progress="100%",
    )
    session.add(active)
    session.flush()
    return active


def place_replica(core: c.Core, share: models.Share, taken: set[tuple[str, str]], availability_zone: str | None):
    """(backend, pool) for a new replica: a backend of the active's replication
    domain, a pool that holds no copy of this share yet, room for the share."""
    active_driver = core.driver(share.backend)
    domain = active_driver.replication_domain
    specs = dict(share.share_type.extra_specs) if share.share_type else {}
    candidates, reasons = [], []
    for name, driver in core.drivers.items():
        if not domain or driver.replication_domain != domain:
            reasons.append(f"{name}: not in replication domain {domain!r}")
            continue
        if availability_zone and driver.availability_zone != availability_zone:
            reasons.append(f"{name}: in zone {driver.availability_zone}, not {availability_zone}")
            continue
        try:
            driver.validate_extra_specs(specs)
            pools = core.pool_stats.pools(f"share_backend_name:{name}", driver)
        except Exception as exc:
            reasons.append(f"{name}: {exc}")
            continue
        for pool in pools:
            if (name, pool.name) in taken:
                reasons.append(f"{name}#{pool.name}: holds a copy of this share already")
            elif not fits(pool, share.size):
                reasons.append(f"{name}#{pool.name}: {pool.free_gb:.1f} GiB free, {share.size} GiB needed")
            else:
                candidates.append((pool.free_gb, name, pool.name, driver.availability_zone))
    if not candidates:
        raise NoValidPool("no pool can hold this replica: " + "; ".join(reasons))
    _, backend, pool, zone = max(candidates)
    return backend, pool, zone
