"""Generic volume groups (Cinder's /groups, 3.13+): a project's volumes of given types,
kept together so that they can be snapshotted together (group_snapshots.py) and copied
together (a group from a group snapshot or from another group, 3.14+).

A group itself needs no backend work: it is `available` when made. One made from a
source is `creating` (task `create`) until the volumes made for it have settled; its
status follows theirs, read when the group is read (nothing polls)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoal.db import models
from shoal.db.volume_extras import GroupSnapshot, GroupType, VolumeGroup

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from ..common.types import TypeCatalog, check_bool
from . import rows as vr

GROUP_STATUSES = ("creating", "available", "updating", "deleting", "error", "error_deleting", "in-use")
MEMBER_STATUSES = ("available", "in-use")


def find_group(session: Session, ctx: RequestContext, group_id: Any) -> VolumeGroup:
    group = session.get(VolumeGroup, group_id) if isinstance(group_id, str) else None
    if group is None or not ctx.reaches(group.project_id):
        raise NotFound(f"Group {group_id} could not be found.")
    return group


def settled_status(session: Session, row, members: list, task: str = "create") -> None:
    """A group (or group snapshot) being made takes its members' outcome: `error` as soon
    as one failed, `available` once all are; until then it stays as it is."""
    if row.task != task:
        return
    if any(m.status.startswith("error") for m in members):
        row.status, row.task = "error", None
    elif all(m.status in MEMBER_STATUSES for m in members):
        row.status, row.task = "available", None


def joinable(session: Session, ctx: RequestContext, group_id: Any, type_id: str | None) -> VolumeGroup:
    """The group a new volume of `type_id` may be made in (Volumes.create's `group_id`)."""
    group = find_group(session, ctx, group_id)
    if group.status not in ("available", "creating"):
        raise Invalid(f"Invalid group: group {group_id} status must be available, but current status is: "
                      f"{group.status}.")
    if type_id not in group.volume_type_ids:
        raise Invalid(f"Invalid input received: volume type {type_id} is not one of group {group_id}'s types.")
    return group


class Groups:
    def __init__(self, core: c.Core, volumes, volume_types: TypeCatalog):
        self.core, self.volumes, self.types = core, volumes, volume_types

    def _members(self, session: Session, group_id: str) -> list[models.Volume]:
        return list(session.scalars(select(models.Volume).where(models.Volume.group_id == group_id)))

    def _read(self, session: Session, group: VolumeGroup) -> VolumeGroup:
        settled_status(session, group, self._members(session, group.id))
        return group

    def create(self, ctx: RequestContext, body: dict) -> VolumeGroup:
        """`body` as the API's GroupCreate model let it through (the fields' types and lengths)."""
        name, description = body.get("name"), body.get("description")
        types = body.get("volume_types")
        if not types:
            raise Invalid("Invalid input received: volume_types must be a non-empty list of volume types")
        zones = {d.availability_zone for d in self.core.volume_drivers.values()}
        zone = body.get("availability_zone")
        if zone is not None and zone not in zones:
            raise Invalid(f"Invalid input received: Availability zone '{zone}' is invalid.")
        with self.core.db.session() as session:
            gtype = session.get(GroupType, body["group_type"]) if body.get("group_type") is not None else None
            if gtype is None or not (gtype.is_public or ctx.is_admin):
                raise NotFound(f"Group type {body.get('group_type')} could not be found.")
            type_ids = list(dict.fromkeys(self.types.find(session, ctx, t).id for t in types))
            group = VolumeGroup(project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description,
                                status="available", group_type_id=gtype.id, volume_type_ids=type_ids,
                                availability_zone=zone or (sorted(zones)[0] if zones else None))
            session.add(group)
            session.flush()
            return group

    def get(self, ctx: RequestContext, group_id: str) -> VolumeGroup:
        with self.core.db.session() as session:
            return self._read(session, find_group(session, ctx, group_id))

    def list(self, ctx: RequestContext, all_tenants: bool = False) -> list[VolumeGroup]:
        query = select(VolumeGroup).order_by(VolumeGroup.created_at.desc(), VolumeGroup.id)
        if not (ctx.is_admin and all_tenants):
            query = query.where(VolumeGroup.project_id == ctx.project_id)
        with self.core.db.session() as session:
            return [self._read(session, g) for g in session.scalars(query)]

    def volume_ids(self, group_id: str) -> list[str]:
        with self.core.db.session() as session:
            return [v.id for v in self._members(session, group_id)]

    def update(self, ctx: RequestContext, group_id: str, body: dict) -> None:
        """Rename, and add or remove volumes (comma-separated ids, as Cinder takes them); `body`
        as the API's GroupUpdate model let it through."""
        def ids(key: str) -> list[str]:
            return [v.strip() for v in (body.get(key) or "").split(",") if v.strip()]

        add, remove = ids("add_volumes"), ids("remove_volumes")
        if not ({"name", "description"} & set(body) or add or remove):
            raise Invalid("Invalid input received: name, description, add_volumes or remove_volumes must be given")
        with self.core.db.session() as session:
            group = self._read(session, find_group(session, ctx, group_id))
            if group.status != "available":
                raise Invalid(f"Invalid group: group {group_id} status must be available, but current status is: "
                              f"{group.status}.")
            for vid in add:
                volume = vr.get_volume(session, ctx, vid, attachments=False)
                if volume.group_id not in (None, group.id):
                    raise Invalid(f"Invalid volume: volume {vid} is already in group {volume.group_id}.")
                if volume.volume_type_id not in group.volume_type_ids:
                    raise Invalid(f"Invalid volume: volume {vid}'s type is not one of the group's.")
                if volume.status not in MEMBER_STATUSES:
                    raise Invalid(f"Invalid volume: volume {vid} status must be available or in-use, but current "
                                  f"status is: {volume.status}.")
                volume.group_id = group.id
            for vid in remove:
                volume = vr.get_volume(session, ctx, vid, attachments=False)
                if volume.group_id != group.id:
                    raise Invalid(f"Invalid volume: volume {vid} is not in group {group_id}.")
                volume.group_id = None
            for key in ("name", "description"):
                if key in body:
                    setattr(group, key, body[key])

    def delete(self, ctx: RequestContext, group_id: str, delete_volumes: Any = False) -> None:
        """Without delete-volumes the group must be empty; with it, its volumes are deleted
        (each as a volume delete would be: all must be deletable, or nothing happens)."""
        delete_volumes = check_bool("delete-volumes", delete_volumes)
        with self.core.db.session() as session:
            group = find_group(session, ctx, group_id)
            members = self._members(session, group.id)
            if members and not delete_volumes:
                raise Invalid(f"Invalid group: group {group_id} still contains volumes; give delete-volumes "
                              f"to delete them with it.")
            if session.scalars(select(GroupSnapshot.id).where(GroupSnapshot.group_id == group.id)).first():
                raise Invalid(f"Invalid group: group {group_id} has group snapshots.")
            busy = [v.id for v in members if v.status not in ("available", "error", "error_managing")]
            if busy:
                raise Invalid(f"Invalid group: volumes {', '.join(busy)} cannot be deleted now.")
            member_ids = [v.id for v in members]
            if member_ids and session.scalars(select(models.VolumeSnapshot.id).where(
                    models.VolumeSnapshot.volume_id.in_(member_ids))).first():
                raise Invalid(f"Invalid group: volumes of group {group_id} have snapshots.")
            session.delete(group)
        for vid in member_ids:
            self.volumes.delete(ctx, vid)

    def reset_status(self, ctx: RequestContext, group_id: str, status: Any) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow group:reset_status to be performed.")
        if status not in GROUP_STATUSES:
            raise Invalid(f"Invalid input received: status {status!r} is not a group status")
        with self.core.db.session() as session:
            group = find_group(session, ctx, group_id)
            group.status, group.task = status, None

    def create_from_source(self, ctx: RequestContext, body: dict) -> VolumeGroup:
        """A new group with a copy of every volume of a group snapshot or of another group;
        `body` as the API's GroupFromSource model let it through."""
        name, description = body.get("name"), body.get("description")
        snap_id, source_id = body.get("group_snapshot_id"), body.get("source_group_id")
        if bool(snap_id) == bool(source_id):
            raise Invalid("Invalid input received: give group_snapshot_id or source_group_id, one of them")
        with self.core.db.session() as session:
            if snap_id:
                gsnap = session.get(GroupSnapshot, snap_id)
                if gsnap is None or not ctx.reaches(gsnap.project_id):
                    raise NotFound(f"GroupSnapshot {snap_id} could not be found.")
                if gsnap.status != "available":
                    raise Invalid(f"Invalid group snapshot: status must be available, not {gsnap.status}.")
                source = find_group(session, ctx, gsnap.group_id)
                copies = [{"snapshot_id": s.id, "size": s.size, "volume_type": s.volume.volume_type_id}
                          for s in session.scalars(select(models.VolumeSnapshot).where(
                              models.VolumeSnapshot.group_snapshot_id == gsnap.id))]
            else:
                source = self._read(session, find_group(session, ctx, source_id))
                if source.status != "available":
                    raise Invalid(f"Invalid group: source group status must be available, not {source.status}.")
                copies = [{"source_volid": v.id, "size": v.size, "volume_type": v.volume_type_id}
                          for v in self._members(session, source.id)]
            group = VolumeGroup(project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description,
                                status="creating", task="create", group_type_id=source.group_type_id,
                                volume_type_ids=list(source.volume_type_ids),
                                availability_zone=source.availability_zone,
                                group_snapshot_id=snap_id or None, source_group_id=source_id or None)
            session.add(group)
            session.flush()
        try:
            for copy in copies:
                self.volumes.create(ctx, group_id=group.id, **copy)
        except Exception:
            with self.core.db.session() as session:
                row = session.get(VolumeGroup, group.id)
                if row is not None:
                    row.status, row.task = "error", None
            raise
        return group
