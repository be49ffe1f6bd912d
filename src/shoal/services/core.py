"""What every service shares: the database, the drivers, the task runner, and
the small helpers that turn rows into the plain data drivers take."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.config import Settings
from shoal.db import models
from shoal.db.session import Database
from shoal.drivers.base import AccessRule, ShareDriver, ShareRef, SnapshotRef
from shoal.drivers.volume import VolumeDriver

from .context import RequestContext
from .errors import NotFound
from .scheduler import PoolStatsCache
from .tasks import TaskRunner

log = logging.getLogger(__name__)

# Manila's user-message ids (manila/message/message_field.py), kept so clients
# that key on them keep working.
ACTION_CREATE, ACTION_DELETE, ACTION_EXTEND, ACTION_SHRINK = "001", "002", "003", "004"
ACTION_UPDATE_ACCESS, ACTION_REVERT, ACTION_MANAGE = "007", "008", "009"
DETAIL_UNEXPECTED, DETAIL_NO_VALID_HOST, DETAIL_DRIVER_FAILED = "001", "002", "004"
DETAIL_NEW_SIZE_TOO_SMALL = "017"


@dataclass
class Core:
    settings: Settings
    db: Database
    drivers: dict[str, ShareDriver]
    tasks: TaskRunner
    volume_drivers: dict[str, VolumeDriver] = field(default_factory=dict)
    pool_stats: PoolStatsCache = field(default_factory=PoolStatsCache)

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
                models.AccessRule.state.in_(("active", "applying", "queued_to_apply")),
            )
        )
        return [AccessRule(r.id, r.access_type, r.access_to, r.access_level) for r in rows]

    # ---- lookups scoped to the caller -----------------------------------------

    @staticmethod
    def get_share(session: Session, ctx: RequestContext, share_id: str) -> models.Share:
        share = session.get(models.Share, share_id)
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
