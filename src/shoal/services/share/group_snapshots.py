"""Share group snapshots (Manila 2.31+) and share groups made from one.

A group snapshot has a member per share the group held when it was taken; each
member is a snapshot of that share taken through the share driver's own snapshot
call, named from the member's id, one after another (Manila's default for drivers
without consistent group snapshots, which no backend here offers). A member is not
a share snapshot: /snapshots does not list it, and its share cannot be deleted
while it exists (Manila's 403). A group made from a group snapshot goes where the
snapshot's group is and holds a new share per member, made from that member."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select

from shoal.db import models
from shoal.db.share_groups import (
    ShareGroup,
    ShareGroupSnapshot,
    ShareGroupSnapshotMember,
)
from shoal.drivers.base import ShareRef, SnapshotRef

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from . import rows as sr
from .groups import rename

log = logging.getLogger(__name__)

STATUSES = ("available", "error", "creating", "deleting", "error_deleting")
SORT_KEYS = {"created_at", "updated_at", "name", "status", "id", "project_id", "share_group_id", "description"}
FILTERS = ("name", "status", "share_group_id", "description", "project_id")
INTERRUPTED = "interrupted: Shoal stopped while it was being made"


def refuse_if_member(session, share_id: str) -> None:
    """Manila's 403 for deleting (or soft deleting) a share a group snapshot holds a member of."""
    count = session.scalar(select(func.count()).select_from(ShareGroupSnapshotMember).where(
        ShareGroupSnapshotMember.share_id == share_id)) or 0
    if count:
        raise Forbidden(f"Share still has {count} dependent share group snapshot members.")


class ShareGroupSnapshots:
    def __init__(self, core: c.Core, groups, shares):
        self.core, self.groups, self.shares = core, groups, shares  # the ShareGroups and Shares services

    # ---- create -------------------------------------------------------------------------

    def create(self, ctx: RequestContext, share_group_id: str, name: Any = None,
               description: Any = None) -> ShareGroupSnapshot:
        with self.core.db.session() as session:
            try:
                group = self.groups.find(session, ctx, share_group_id)
            except NotFound:  # Manila's ShareGroupNotFound here is a 400
                raise Invalid(f"Share group {share_group_id} could not be found.") from None
            if group.status != "available":
                raise Conflict("Share group status must be available")
            shares = list(session.scalars(select(models.Share).where(models.Share.share_group_id == group.id)
                                          .order_by(models.Share.created_at)))
            for share in shares:
                if share.status != "available":
                    raise Conflict(f"Share {share.id} in share group must have status of available in order to "
                                   f"create a group snapshot")
            q.check_share(self.core, session, ctx.project_id, ctx.user_id, None, share_group_snapshots=1)
            snap = ShareGroupSnapshot(id=models.new_id(), project_id=ctx.project_id, user_id=ctx.user_id,
                                      share_group_id=group.id, name=name, description=description, status="creating")
            session.add(snap)
            members = [ShareGroupSnapshotMember(id=models.new_id(), share_group_snapshot_id=snap.id, share_id=s.id,
                                                project_id=ctx.project_id, user_id=ctx.user_id, size=s.size,
                                                share_proto=s.share_proto, status="creating") for s in shares]
            session.add_all(members)
            session.flush()
            plan = [(m.id, sr.share_ref(s), s.backend) for m, s in zip(members, shares)]
            snap.members_ = members  # for the view, without another query
        self.core.tasks.submit(self._create, snap.id, plan)
        return snap

    def _create(self, snap_id: str, plan: list[tuple[str, ShareRef, str]]) -> None:
        """A snapshot per member; on the first failure those made are removed again
        and the group snapshot (and its members) end in error."""
        made: dict[str, str] = {}
        try:
            for member_id, ref, backend in plan:
                made[member_id] = self.core.driver(backend).create_snapshot(SnapshotRef(member_id, ref)).provider_location
        except Exception as exc:
            log.warning("share group snapshot %s failed: %s", snap_id, exc)
            self._remove(plan, made)
            self._settle(snap_id, "error", {}, f"snapshot failed: {exc}")
            return
        if not self._settle(snap_id, "available", made):
            self._remove(plan, made)  # deleted while it was being made

    def _remove(self, plan, made: dict[str, str]) -> None:
        for member_id, ref, backend in plan:
            if member_id in made:
                try:
                    self.core.driver(backend).delete_snapshot(SnapshotRef(member_id, ref, made[member_id]))
                except Exception as exc:
                    log.error("share group snapshot member %s: could not remove its snapshot: %s", member_id, exc)

    def _settle(self, snap_id: str, status: str, locations: dict[str, str], reason: str | None = None) -> bool:
        """Record the end of a create; False when the row is gone or no longer creating."""
        with self.core.db.session() as session:
            snap = session.get(ShareGroupSnapshot, snap_id)
            if snap is None or snap.status != "creating":
                return False
            snap.status, snap.status_reason = status, reason
            for member in self._members(session, snap_id):
                member.status = status
                member.provider_location = locations.get(member.id)
            return True

    # ---- read ---------------------------------------------------------------------------

    @staticmethod
    def _members(session, snap_id: str) -> list[ShareGroupSnapshotMember]:
        return list(session.scalars(select(ShareGroupSnapshotMember).where(
            ShareGroupSnapshotMember.share_group_snapshot_id == snap_id).order_by(ShareGroupSnapshotMember.created_at)))

    def _find(self, session, ctx: RequestContext, snap_id: Any) -> ShareGroupSnapshot:
        snap = session.get(ShareGroupSnapshot, snap_id) if isinstance(snap_id, str) else None
        if snap is None or not ctx.reaches(snap.project_id):
            raise NotFound(f"Share group snapshot {snap_id} not found.")
        snap.members_ = self._members(session, snap.id)
        return snap

    def get(self, ctx: RequestContext, snap_id: str) -> ShareGroupSnapshot:
        with self.core.db.session() as session:
            return self._find(session, ctx, snap_id)

    def members(self, ctx: RequestContext, snap_id: str) -> list[ShareGroupSnapshotMember]:
        return self.get(ctx, snap_id).members_

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort_key: str = "created_at", sort_dir: str = "desc") -> list[ShareGroupSnapshot]:
        filters = dict(filters or {})
        if sort_key not in SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise Invalid(f"Invalid sort: {sort_key} {sort_dir}")
        query = select(ShareGroupSnapshot)
        if not (ctx.is_admin and all_tenants):
            query = query.where(ShareGroupSnapshot.project_id == ctx.project_id)
            filters.pop("project_id", None)
        for key, value in filters.items():
            query = query.where(getattr(ShareGroupSnapshot, key) == value)
        column = getattr(ShareGroupSnapshot, sort_key)
        query = query.order_by(column.desc() if sort_dir == "desc" else column.asc(), ShareGroupSnapshot.id)
        with self.core.db.session() as session:
            snaps = list(session.scalars(query))
            by_snap: dict[str, list] = defaultdict(list)
            if snaps:
                for member in session.scalars(select(ShareGroupSnapshotMember).where(
                        ShareGroupSnapshotMember.share_group_snapshot_id.in_([s.id for s in snaps]))
                        .order_by(ShareGroupSnapshotMember.created_at)):
                    by_snap[member.share_group_snapshot_id].append(member)
            for snap in snaps:
                snap.members_ = by_snap[snap.id]
        return snaps

    # ---- change -------------------------------------------------------------------------

    def update(self, ctx: RequestContext, snap_id: str, fields: dict) -> ShareGroupSnapshot:
        with self.core.db.session() as session:
            snap = self._find(session, ctx, snap_id)
            self._owner(ctx, snap)
            return rename(snap, fields)

    def delete(self, ctx: RequestContext, snap_id: str, force: bool = False) -> None:
        """Manila's 409 unless available or error; `force` (administrators): in any status."""
        if force and not ctx.is_admin:
            raise Forbidden("Policy doesn't allow this share group snapshot action to be performed.")
        with self.core.db.session() as session:
            snap = self._find(session, ctx, snap_id)
            self._owner(ctx, snap)
            if not force and snap.status not in ("available", "error"):
                raise Conflict("Share group snapshot status must be one of ('available', 'error')")
            snap.status = "deleting"
        self.core.tasks.submit(self._delete, snap_id)

    def _delete(self, snap_id: str) -> None:
        """Every member's snapshot goes (one never made is already gone), then the rows."""
        with self.core.db.session() as session:
            refs = []
            for member in self._members(session, snap_id):
                share = session.get(models.Share, member.share_id)
                if share is not None and share.backend is not None:
                    refs.append((SnapshotRef(member.id, sr.share_ref(share), member.provider_location), share.backend))
        try:
            for ref, backend in refs:
                self.core.driver(backend).delete_snapshot(ref)
        except Exception as exc:
            log.warning("share group snapshot %s: delete failed: %s", snap_id, exc)
            with self.core.db.session() as session:
                if (snap := session.get(ShareGroupSnapshot, snap_id)) is not None:
                    snap.status, snap.status_reason = "error_deleting", f"delete failed: {exc}"
            return
        with self.core.db.session() as session:
            session.execute(delete(ShareGroupSnapshotMember).where(
                ShareGroupSnapshotMember.share_group_snapshot_id == snap_id))
            session.execute(delete(ShareGroupSnapshot).where(ShareGroupSnapshot.id == snap_id))

    def force_delete(self, ctx: RequestContext, snap_id: str) -> None:
        self.delete(ctx, snap_id, force=True)

    def reset_status(self, ctx: RequestContext, snap_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow this share group snapshot action to be performed.")
        if status not in STATUSES:
            raise Invalid(f"Invalid status {status!r}")
        with self.core.db.session() as session:
            self._find(session, ctx, snap_id).status = status

    @staticmethod
    def _owner(ctx: RequestContext, snap: ShareGroupSnapshot) -> None:
        if snap.project_id != ctx.project_id and not ctx.is_admin:
            raise Forbidden("only the share group snapshot's project may change it")

    # ---- what others ask ------------------------------------------------------------------

    @staticmethod
    def count_for_group(session, group_id: str) -> int:
        return session.scalar(select(func.count()).select_from(ShareGroupSnapshot).where(
            ShareGroupSnapshot.share_group_id == group_id)) or 0

    def source_for_group(self, session, ctx: RequestContext, snap_id: str) -> tuple[ShareGroupSnapshot, ShareGroup]:
        """The group snapshot a new group is made from, and the group it was taken of
        (Manila: 400 when not found, 409 unless available)."""
        try:
            snap = self._find(session, ctx, snap_id)
        except NotFound:
            raise Invalid(f"Share group snapshot {snap_id} could not be found.") from None
        if snap.status != "available":
            raise Conflict("Share group snapshot status must be available.")
        origin = session.get(ShareGroup, snap.share_group_id)
        if origin is None:
            raise Conflict(f"The share group of share group snapshot {snap_id} is gone.")
        return snap, origin

    def shares_for_group(self, session, ctx: RequestContext, group: ShareGroup,
                         snap: ShareGroupSnapshot) -> list[tuple]:
        """A new share in `group` per member of `snap`, each of its member's size, type
        and protocol, checked against the quotas first (nothing is written before);
        the plan `fill_group` carries out."""
        sources = [(m, session.get(models.Share, m.share_id)) for m in snap.members_]
        sources = [(m, s) for m, s in sources if s is not None]
        per_type: dict[str | None, list[int]] = defaultdict(list)
        for member, share in sources:
            per_type[share.share_type_id].append(member.size)
        q.check_share(self.core, session, ctx.project_id, ctx.user_id, None, share_groups=1,
                      shares=len(sources), gigabytes=sum(m.size for m, _ in sources))
        for type_id, sizes in per_type.items():
            if type_id:
                q.check_share(self.core, session, ctx.project_id, ctx.user_id, type_id, shares=len(sizes),
                              gigabytes=sum(sizes), size=max(sizes))
        plan = []
        for member, source in sources:
            share = models.Share(
                id=models.new_id(), project_id=ctx.project_id, user_id=ctx.user_id, size=member.size,
                status="creating", share_proto=member.share_proto, share_type_id=source.share_type_id,
                availability_zone=group.availability_zone, backend=group.backend, pool=group.pool,
                share_group_id=group.id, source_share_group_snapshot_member_id=member.id, metadata_={},
                is_public=False, task="create")
            share.share_type = source.share_type
            plan.append((share, SnapshotRef(member.id, sr.share_ref(source), member.provider_location)))
        return plan

    def fill_group(self, group_id: str, plan: list[tuple[ShareRef, SnapshotRef]], backend: str) -> None:
        """Make each share of a group made from a group snapshot; the group is then
        available, or in error when one of them failed (that one in error too)."""
        driver = self.core.driver(backend)
        failed = None
        for ref, snap_ref in plan:
            with self.core.share_lock(ref.id):
                try:
                    result = driver.create_share_from_snapshot(ref, snap_ref)
                except Exception as exc:
                    failed = f"share {ref.id} could not be made from member {snap_ref.id}: {exc}"
                    sr.fail_share(self.core, ref.id, "error", sr.ACTION_CREATE, sr.DETAIL_DRIVER_FAILED,
                                  f"create failed: {exc}")
                    continue
                if not self.shares._finish(ref.id, result, "creating"):  # deleted while it was being made
                    try:
                        driver.delete_share(ref)
                    except Exception as exc:
                        log.error("share %s: could not remove what was made for it: %s", ref.id, exc)
        with self.core.db.session() as session:
            group = session.get(ShareGroup, group_id)
            if group is not None and group.status == "creating":
                group.status, group.status_reason = ("error", failed) if failed else ("available", None)

    # ---- after a restart --------------------------------------------------------------------

    def resume_interrupted(self) -> None:
        """A create cut short ends in error (a delete of it removes whatever was made);
        a delete is done again."""
        with self.core.db.session() as session:
            creating = list(session.scalars(select(ShareGroupSnapshot.id).where(ShareGroupSnapshot.status == "creating")))
            deleting = list(session.scalars(select(ShareGroupSnapshot.id).where(ShareGroupSnapshot.status == "deleting")))
        for snap_id in creating:
            self._settle(snap_id, "error", {}, INTERRUPTED)
        for snap_id in deleting:
            self.core.tasks.submit(self._delete, snap_id)
        with self.core.db.session() as session:  # groups being filled from one: their shares end in error
            for group in session.scalars(select(ShareGroup).where(
                    ShareGroup.status == "creating", ShareGroup.source_share_group_snapshot_id.is_not(None))):
                group.status, group.status_reason = "error", INTERRUPTED
