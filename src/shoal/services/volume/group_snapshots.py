"""Group snapshots (Cinder's /group_snapshots, 3.14+): a snapshot of every volume of a
group, taken together. Each is an ordinary snapshot (it names the group snapshot); the
group snapshot is `creating` (task `create`) until they have settled, and its status
follows theirs when it is read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_extras import GroupSnapshot

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from .groups import MEMBER_STATUSES, find_group, settled_status

STATUSES = ("creating", "available", "deleting", "error", "error_deleting")


class GroupSnapshots:
    def __init__(self, core: c.Core, snapshots):
        self.core, self.snapshots = core, snapshots

    @staticmethod
    def _find(session: Session, ctx: RequestContext, gsnap_id: Any) -> GroupSnapshot:
        row = session.get(GroupSnapshot, gsnap_id) if isinstance(gsnap_id, str) else None
        if row is None or not ctx.reaches(row.project_id):
            raise NotFound(f"GroupSnapshot {gsnap_id} could not be found.")
        return row

    @staticmethod
    def _snapshots(session: Session, gsnap_id: str) -> list[models.VolumeSnapshot]:
        return list(session.scalars(select(models.VolumeSnapshot).where(
            models.VolumeSnapshot.group_snapshot_id == gsnap_id)))

    def _read(self, session: Session, row: GroupSnapshot) -> GroupSnapshot:
        settled_status(session, row, self._snapshots(session, row.id))
        return row

    def create(self, ctx: RequestContext, body: dict) -> GroupSnapshot:
        """`body` as the API's GroupSnapshotCreate model let it through."""
        name, description = body.get("name"), body.get("description")
        with self.core.db.session() as session:
            group = find_group(session, ctx, body.get("group_id"))
            if group.status != "available":
                raise Invalid(f"Invalid group: group {group.id} status must be available, but current status is: "
                              f"{group.status}.")
            members = list(session.scalars(select(models.Volume).where(models.Volume.group_id == group.id)))
            busy = [v.id for v in members if v.status not in MEMBER_STATUSES]
            if busy:
                raise Invalid(f"Invalid group: volumes {', '.join(busy)} must be available or in-use.")
            row = GroupSnapshot(group_id=group.id, project_id=group.project_id, user_id=ctx.user_id, name=name,
                                description=description, status="creating", task="create",
                                group_type_id=group.group_type_id)
            session.add(row)
            session.flush()
        try:
            for volume in members:
                self.snapshots.create(ctx, volume.id, name=name, description=description, force=True,
                                      group_snapshot_id=row.id)
        except Exception:
            with self.core.db.session() as session:
                failed = session.get(GroupSnapshot, row.id)
                if failed is not None:
                    failed.status, failed.task = "error", None
            raise
        return row

    def get(self, ctx: RequestContext, gsnap_id: str) -> GroupSnapshot:
        with self.core.db.session() as session:
            return self._read(session, self._find(session, ctx, gsnap_id))

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[GroupSnapshot]:
        query = select(GroupSnapshot).order_by(GroupSnapshot.created_at.desc(), GroupSnapshot.id)
        if not (ctx.is_admin and all_tenants):
            query = query.where(GroupSnapshot.project_id == ctx.project_id)
        with self.core.db.session() as session:
            return [self._read(session, r) for r in session.scalars(query)]

    def delete(self, ctx: RequestContext, gsnap_id: str) -> None:
        """Its snapshots are deleted with it (each as a snapshot delete would be)."""
        with self.core.db.session() as session:
            row = self._read(session, self._find(session, ctx, gsnap_id))
            if row.status not in ("available", "error"):
                raise Invalid(f"Invalid group snapshot: status must be available or error, not {row.status}.")
            snap_ids = [s.id for s in self._snapshots(session, row.id)]
            session.delete(row)
        for snap_id in snap_ids:
            self.snapshots.delete(ctx, snap_id)

    def reset_status(self, ctx: RequestContext, gsnap_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow group:reset_group_snapshot_status to be performed.")
        if status not in STATUSES:
            raise Invalid(f"Invalid input received: status {status!r} is not a group snapshot status")
        with self.core.db.session() as session:
            row = self._find(session, ctx, gsnap_id)
            row.status, row.task = status, None
