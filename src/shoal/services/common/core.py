"""What every service shares: the Core (settings, database, drivers, task runner,
per-resource locks) and the plain-statement helpers that write rows past the ORM
and record the outcome of background work. What is the shares' own lives in
services/share/rows.py, the volumes' in services/volume/rows.py."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, bindparam, case, inspect, update
from sqlalchemy.orm import Session

from shoal.config import Settings
from shoal.db import models
from shoal.db.session import Database
from shoal.drivers.base import ShareDriver
from shoal.drivers.volume import VolumeDriver

from .context import current_request_id
from .errors import NotFound
from .scheduler import PoolStatsCache
from .tasks import Gate, TaskRunner

# Manila's message_ttl: how long a user message is kept (its expires_at)
MESSAGE_TTL = timedelta(seconds=2592000)

log = logging.getLogger(__name__)


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

    # ---- recording the outcome of background work ------------------------------

    def message(self, session: Session, project_id: str, resource_type: str, resource_id: str,
                action_id: str, detail_id: str, text: str) -> None:
        now = models.utcnow()
        session.add(models.Message(
            project_id=project_id, resource_type=resource_type, resource_id=resource_id,
            action_id=action_id, detail_id=detail_id, user_message=text, request_id=current_request_id.get(),
            created_at=now, expires_at=now + MESSAGE_TTL,
        ))

    def update_row(self, model, row_id: str, **fields) -> None:
        """Write `fields` on the row (through the ORM: columns typed as the model
        says); nothing when the row is gone."""
        with self.db.session() as session:
            row = session.get(model, row_id)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)

    def fail_row(self, model, row_id: str, status: str, resource_type: str, action_id: str, detail_id: str,
                 reason: str, **also) -> None:
        """End the row's transitional state in `status`: the reason kept
        (status_reason), its task cleared, `also` written, and a user message
        saying why. Nothing when the row is gone."""
        log.warning("%s %s -> %s: %s", resource_type.lower().replace("_", " "), row_id, status, reason)
        with self.db.session() as session:
            row = session.get(model, row_id)
            if row is None:
                return
            row.status, row.status_reason, row.task = status, reason, None
            for key, value in also.items():
                setattr(row, key, value)
            self.message(session, row.project_id, resource_type, row.id, action_id, detail_id, reason)

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
