"""What every service shares: the database, the drivers, the task runner, and
the small helpers that turn rows into the plain data drivers take."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, case, inspect, select, update
from sqlalchemy.orm import Session, raiseload

from shoal.config import Settings
from shoal.db import models
from shoal.db.session import Database
from shoal.drivers.base import AccessRule, ShareDriver, ShareRef, SnapshotRef
from shoal.drivers.volume import VolumeDriver

from .context import RequestContext
from .errors import NotFound
from .scheduler import PoolStatsCache
from .tasks import Gate, TaskRunner

log = logging.getLogger(__name__)

# Manila's user-message ids (manila/message/message_field.py), kept so clients
# that key on them keep working.
ACTION_CREATE, ACTION_DELETE, ACTION_EXTEND, ACTION_SHRINK = "001", "002", "003", "004"
ACTION_UPDATE_ACCESS, ACTION_REVERT, ACTION_MANAGE = "007", "008", "009"
DETAIL_UNEXPECTED, DETAIL_NO_VALID_HOST, DETAIL_DRIVER_FAILED = "001", "002", "004"
DETAIL_NEW_SIZE_TOO_SMALL = "017"
RULES_IN_FORCE = ("active", "applying", "queued_to_apply")  # the access rules a backend is given


@dataclass(frozen=True)
class ShareFacts:
    """A share as a request reads it to start work on it, in one plain SELECT
    (no ORM objects: a third of the cost): owner, state, and its driver ref."""

    ref: ShareRef
    project_id: str
    is_public: bool
    status: str
    backend: str | None
    share_proto: str
    share_type_id: str | None
    access_rules_status: str


_S, _T = models.Share, models.ShareType
SHARE_FACTS = (
    select(_S.id, _S.project_id, _S.is_public, _S.status, _S.size, _S.pool, _S.provider_location, _S.backend,
           _S.share_proto, _S.share_type_id, _S.access_rules_status, _T.extra_specs)
    .outerjoin(_T, _S.share_type_id == _T.id)
    .where(_S.id == bindparam("share_id"))
)


def plain(db: Session | Connection) -> Connection:
    """The connection to run plain statements on: a session's, or the one given."""
    return db.connection() if isinstance(db, Session) else db


def insert_new(db: Session | Connection, row) -> None:
    """INSERT a new ORM object with one plain statement on the session's connection
    (or the connection given), past the unit of work (half its cost on the create
    paths; committed with the transaction). Column defaults are filled in on the object too, as a flush would.
    The object stays transient: the request's view reads it, nothing tracks it."""
    values = {}
    for key, name, default in _columns(type(row)):
        value = getattr(row, key)
        if value is None and default is not None:
            value = default.arg if default.is_scalar else default.arg(None)
            setattr(row, key, value)
        if value is not None:
            values[name] = value
    plain(db).execute(row.__table__.insert(), values)


@functools.lru_cache(maxsize=None)
def _columns(model) -> tuple[tuple[str, str, object], ...]:
    """(attribute, column name, default) of each column of a model (attribute and
    name differ for metadata_)."""
    return tuple((prop.key, prop.columns[0].name, prop.columns[0].default) for prop in inspect(model).column_attrs)


def share_key(share_id: str) -> str:
    """The task key of a share: its lock, and its coalesced access syncs."""
    return f"share:{share_id}"


@dataclass
class Core:
    settings: Settings
    db: Database
    drivers: dict[str, ShareDriver]
    tasks: TaskRunner
    volume_drivers: dict[str, VolumeDriver] = field(default_factory=dict)
    pool_stats: PoolStatsCache = field(default_factory=PoolStatsCache)

    def share_lock(self, share_id: str):
        """One backend operation per share at a time (create, access syncs, revert,
        delete): a force-delete must not unmount what a create is still exporting."""
        return self.tasks.key_lock(share_key(share_id))

    def volume_lock(self, volume_id: str):
        """One backend operation per volume at a time (create, exports, delete)."""
        return self.tasks.key_lock(f"volume:{volume_id}")

    def driver(self, backend: str | None) -> ShareDriver:
        if backend not in self.drivers:
            raise NotFound(f"backend {backend!r} is not configured")
        return self.drivers[backend]

    # ---- rows -> driver data -----------------------------------------------

    @staticmethod
    def share_ref(share: models.Share) -> ShareRef:
        specs = dict(share.share_type.extra_specs) if share.share_type else {}
        return ShareRef(share.id, share.pool or "", share.size, share.provider_location, specs)

    @classmethod
    def snapshot_ref(cls, snapshot: models.ShareSnapshot) -> SnapshotRef:
        return SnapshotRef(snapshot.id, cls.share_ref(snapshot.share), snapshot.provider_location)

    @staticmethod
    def rules_in_force(session: Session, share_id: str) -> list[AccessRule]:
        rows = session.scalars(
            select(models.AccessRule).where(
                models.AccessRule.share_id == share_id,
                models.AccessRule.state.in_(RULES_IN_FORCE),
            )
        )
        return [AccessRule(r.id, r.access_type, r.access_to, r.access_level) for r in rows]

    # ---- lookups scoped to the caller -----------------------------------------

    @staticmethod
    def get_share(session: Session, ctx: RequestContext, share_id: str, locations: bool = True) -> models.Share:
        """`locations=False` skips loading the export locations (one query less) where
        nothing reads them: reading them then raises."""
        share = session.get(models.Share, share_id,
                            options=None if locations else [raiseload(models.Share.export_locations)])
        return Core.visible_share(ctx, share_id, share)

    @classmethod
    def read_share_facts(cls, db: Session | Connection, share_id: str) -> ShareFacts | None:
        """A share as plain data, whoever asks (background work); None when it is gone."""
        return cls.facts_of(plain(db).execute(SHARE_FACTS, {"share_id": share_id}).one_or_none())

    @staticmethod
    def facts_of(row) -> ShareFacts | None:
        """The ShareFacts of a row of SHARE_FACTS (or of a query that adds columns to it)."""
        if row is None:
            return None
        ref = ShareRef(row.id, row.pool or "", row.size, row.provider_location, dict(row.extra_specs or {}))
        return ShareFacts(ref, row.project_id, row.is_public, row.status, row.backend, row.share_proto,
                          row.share_type_id, row.access_rules_status)

    @classmethod
    def share_facts(cls, db: Session | Connection, ctx: RequestContext, share_id: str) -> ShareFacts:
        """What get_share finds, as plain data, for the requests that only start work."""
        return cls.visible_share(ctx, share_id, cls.read_share_facts(db, share_id))

    @staticmethod
    def visible_share(ctx: RequestContext, share_id: str, share):
        """`share` (a row or its ShareFacts) if the caller may see it, else NotFound."""
        # Another project's share is "not found", never "forbidden": no existence leak
        # (public shares are readable by all; see RequestContext.reaches for admins).
        if share is None or not (ctx.reaches(share.project_id) or share.is_public):
            raise NotFound(f"Share {share_id} could not be found.")
        return share

    @staticmethod
    def get_snapshot(session: Session, ctx: RequestContext, snapshot_id: str) -> models.ShareSnapshot:
        snap = session.get(models.ShareSnapshot, snapshot_id)
        if snap is None or not ctx.reaches(snap.project_id):
            raise NotFound(f"Snapshot {snapshot_id} could not be found.")
        return snap

    # ---- recording the outcome of background work ------------------------------

    def message(self, session: Session, project_id: str, resource_type: str, resource_id: str,
                action_id: str, detail_id: str, text: str) -> None:
        session.add(models.Message(
            project_id=project_id, resource_type=resource_type, resource_id=resource_id,
            action_id=action_id, detail_id=detail_id, user_message=text,
        ))

    def settle(self, model, row_id: str, expected: str, steady: dict, always: dict | None = None,
               connection=None) -> bool:
        """Record the outcome of background work in one UPDATE, without loading the
        row: `always` is written whatever the status; `steady` only while the row is
        still `expected` (an admin's reset-status meanwhile wins). False when the row
        is gone (force-deleted meanwhile). Keys are column names, values plain data."""
        always = always or {}
        statement = self._settle_statement(model.__table__, expected, tuple(steady), tuple(always))
        params = {"row_id": row_id, **{f"s_{k}": v for k, v in steady.items()},
                  **{f"a_{k}": v for k, v in always.items()}}
        if connection is not None:
            return connection.execute(statement, params).rowcount > 0
        with self.db.connection() as connection:
            return connection.execute(statement, params).rowcount > 0

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def _settle_statement(table, expected: str, steady: tuple, always: tuple):
        """Built once per shape: building the CASE expressions cost more than running them."""
        values = {k: bindparam(f"a_{k}") for k in always}
        for key in steady:
            values[key] = case((table.c.status == expected, bindparam(f"s_{key}")), else_=table.c[key])
        return update(table).where(table.c.id == bindparam("row_id")).values(**values)

    @staticmethod
    def record_made(kind: str, row_id: str, gate: Gate, record: Callable[[], bool], undo: Callable[[], None]) -> None:
        """Finish backend work a request started before its commit: wait for the
        commit, then `record()` the outcome (False when the row is gone, force-deleted
        meanwhile). When the transaction failed or the row is gone, `undo()` removes
        what was made, so nothing is left that no row knows about."""
        if not gate.wait():
            why = "was never committed"
        elif record():
            return
        else:
            why = "was deleted while being made"
        log.warning("%s %s %s; removing what was made", kind, row_id, why)
        try:
            undo()
        except Exception as exc:
            log.error("%s %s: could not remove what was made for it: %s", kind, row_id, exc)

    def set_share(self, share_id: str, **fields) -> None:
        with self.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is not None:
                for key, value in fields.items():
                    setattr(share, key, value)

    def fail_share(self, share_id: str, status: str, action_id: str, detail_id: str, reason: str) -> None:
        """End a share's transitional state in `status`, with the reason kept for the user."""
        log.warning("share %s -> %s: %s", share_id, status, reason)
        with self.db.session() as session:
            share = session.get(models.Share, share_id)
            if share is None:
                return
            share.status, share.status_reason, share.task, share.task_arg = status, reason, None, None
            self.message(session, share.project_id, "SHARE", share.id, action_id, detail_id, reason)
