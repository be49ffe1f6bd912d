"""The recycle bin (Manila 2.69): a share soft-deleted by its project is hidden
from the lists and refuses changes, but keeps its data and exports until it is
restored or its retention time runs out; then it is deleted as any share.

Expired shares are deleted when someone next lists shares (`purge_expired`),
so no timer of its own runs: nothing a client sees differs, since an expired
share is hidden from the ordinary lists either way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from shoal.db import models
from shoal.db.replicas import ShareReplica

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden
from . import rows as sr
from .group_snapshots import refuse_if_member
from .locks import refuse_if_locked
from .shares import Shares

log = logging.getLogger(__name__)

# Manila's soft_deleted_share_retention_time (seconds): one week.
RETENTION = timedelta(seconds=604800)
SOFT_DELETABLE = ("available", "error", "inactive")


class RecycleBin:
    def __init__(self, core: c.Core, shares: Shares, retention: timedelta = RETENTION):
        self.core, self.shares, self.retention = core, shares, retention

    def soft_delete(self, ctx: RequestContext, share_id: str) -> None:
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            if not ctx.is_admin and share.project_id != ctx.project_id:
                raise Forbidden("only the share's project may delete it")
            refuse_if_locked(session, share_id)
            if share.is_soft_deleted:
                raise Forbidden("The share has been soft deleted already")
            if share.status not in SOFT_DELETABLE:
                raise Forbidden(f"Share status must be one of {', '.join(SOFT_DELETABLE)}, not {share.status}")
            if session.scalars(select(ShareReplica.id).where(ShareReplica.share_id == share_id,
                                                             ShareReplica.replica_state != "active")).first():
                raise Conflict(f"Share {share_id} has replicas. Remove the replicas before soft deleting the share.")
            snapshots = session.scalars(select(models.ShareSnapshot.id).where(
                models.ShareSnapshot.share_id == share_id)).all()
            if snapshots:
                raise Forbidden(f"Share still has {len(snapshots)} dependent snapshots.")
            refuse_if_member(session, share_id)
            share.is_soft_deleted = True
            share.scheduled_to_be_deleted_at = models.utcnow() + self.retention

    def restore(self, ctx: RequestContext, share_id: str) -> bool:
        """False when the share was not in the recycle bin (Manila answers 200 then, else 202)."""
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            if not share.is_soft_deleted:
                return False
            if not ctx.is_admin and share.project_id != ctx.project_id:
                raise Forbidden("only the share's project may restore it")
            if share.status in ("deleting", "error_deleting"):
                raise Forbidden(f"Share {share_id} is being deleted or has suffered an error during deletion, "
                                "cannot be restored.")
            share.is_soft_deleted, share.scheduled_to_be_deleted_at = False, None
            return True

    def refuse_if_soft_deleted(self, ctx: RequestContext, share_id: str, what: str) -> None:
        """Manila's 403 for a change of a share in the recycle bin (a share the caller
        cannot see is left for the change itself to answer 404)."""
        with self.core.db.connection() as db:
            row = db.execute(select(models.Share.is_soft_deleted).where(models.Share.id == share_id)).first()
        if row is not None and row.is_soft_deleted:
            raise Forbidden(f"{what} for share '{share_id}' since it has been soft deleted.")

    def purge_expired(self) -> None:
        """Delete the shares whose retention time ran out (as an administrator would)."""
        now = models.utcnow()
        with self.core.db.connection() as db:
            expired = db.execute(select(models.Share.id).where(
                models.Share.is_soft_deleted.is_(True), models.Share.scheduled_to_be_deleted_at <= now,
                models.Share.status.not_in(("deleting", "error_deleting")))).scalars().all()
        admin = RequestContext(user_id="shoal", project_id="shoal", roles=("admin",), cross_project=True)
        for share_id in expired:
            try:
                self.shares.delete(admin, share_id, force=True)
            except Exception as exc:  # the next list tries again
                log.warning("share %s: deleting it from the recycle bin failed: %s", share_id, exc)
        if expired:
            log.info("recycle bin: %d expired share(s) deleted", len(expired))


__all__ = ["RecycleBin", "RETENTION"]
