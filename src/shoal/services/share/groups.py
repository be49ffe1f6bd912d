"""Share groups (Manila 2.31+) as Manila keeps them with DHSS=False backends: a
group is placed once, on a pool that takes every one of its share types (in the
zone asked for, or one its types allow), and every share made in it goes to that
pool and zone. Nothing is made on the backend for the group itself (no backend
here offers consistent group snapshots: `consistent_snapshot_support` is null)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from shoal.db import models
from shoal.db.share_groups import ShareGroup

from ..common import core as c
from ..common import quotas as q
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.scheduler import NoValidPool, choose_pool
from ..common.types import TypeCatalog
from . import rows as sr
from .group_types import ShareGroupTypes

log = logging.getLogger(__name__)

STEADY = ("available", "error")
SORT_KEYS = {"created_at", "updated_at", "name", "status", "id", "project_id", "share_group_type_id",
             "availability_zone", "host"}
FILTERS = ("name", "status", "share_group_type_id", "availability_zone", "share_network_id", "host",
           "share_server_id", "source_share_group_snapshot_id", "project_id")


def type_zones(stype) -> list[str]:
    return [z for z in (stype.extra_specs or {}).get("availability_zones", "").split(",") if z]


class ShareGroups:
    def __init__(self, core: c.Core, share_types: TypeCatalog, group_types: ShareGroupTypes):
        self.core, self.share_types, self.group_types = core, share_types, group_types
        self.snapshots = None  # the ShareGroupSnapshots service (set by Services): groups made from one

    # ---- create ---------------------------------------------------------------------

    def create(self, ctx: RequestContext, *, share_group_type_id: str, share_type_ids: list[str],
               name: Any = None, description: Any = None, availability_zone: str | None = None,
               share_network_id: str | None = None, source_share_group_snapshot_id: str | None = None) -> ShareGroup:
        """From a group snapshot (`source_share_group_snapshot_id`): the share types, zone
        and pool of the group it was taken of, and a share made from each member."""
        with self.core.db.session() as session:
            source = origin = None
            if source_share_group_snapshot_id is not None:
                source, origin = self.snapshots.source_for_group(session, ctx, source_share_group_snapshot_id)
                share_type_ids, availability_zone = list(origin.share_type_ids or []), None
            stypes = []
            for type_id in share_type_ids:
                try:
                    stypes.append(self.share_types.find(session, ctx, type_id))
                except (NotFound, Invalid):
                    raise Invalid(f"Share type with id {type_id} could not be found.") from None
            if share_network_id:  # every Shoal type has driver_handles_share_servers=False
                raise Invalid("When using a share types with the driver_handles_share_servers extra spec as "
                              "False, a share_network_id must not be provided.")
            try:
                gtype = self.group_types._find(session, ctx, share_group_type_id)
            except NotFound:
                raise Invalid(f"The specified share group type {share_group_type_id} does not exist.") from None
            if not {t.id for t in stypes} <= set(gtype.share_type_ids or []):
                raise Invalid("The specified share types must be a subset of the share types supported by the "
                              "share group type.")
            if not stypes:  # none asked for: the group type's
                stypes = [self.share_types.find(session, ctx, t) for t in gtype.share_type_ids]
            unsupported = [t for t in stypes if availability_zone and type_zones(t)
                           and availability_zone not in type_zones(t)]
            if unsupported:
                names = ", ".join(f"{t.name or ''} (ID: {t.id})" for t in unsupported)
                raise Invalid(f"Share group cannot be created since the following share types are not supported "
                              f"within the availability zone '{availability_zone}': ({names})")
            group = ShareGroup(id=models.new_id(), project_id=ctx.project_id, user_id=ctx.user_id, name=name,
                               description=description, status="creating", share_group_type_id=gtype.id,
                               share_type_ids=[t.id for t in stypes], availability_zone=availability_zone)
            if source is not None:  # where the snapshot's group is, as Manila sends it to that host
                group.backend, group.pool, group.availability_zone = origin.backend, origin.pool, origin.availability_zone
                group.source_share_group_snapshot_id = source.id
                plan = self.snapshots.shares_for_group(session, ctx, group, source)
                session.add(group)
                session.add_all(share for share, _ in plan)
                session.flush()
                refs = [(sr.share_ref(share), snap_ref) for share, snap_ref in plan]
            else:
                q.check_share(self.core, session, ctx.project_id, ctx.user_id, None, share_groups=1)
                session.add(group)
                session.flush()
            specs = [dict(t.extra_specs or {}) for t in stypes]
            group_specs = dict(gtype.group_specs or {})
        if source is not None:
            self.core.tasks.submit(self.snapshots.fill_group, group.id, refs, group.backend)
        else:
            self.core.tasks.submit(self._place, group.id, specs, availability_zone, group_specs)
        return group

    def _place(self, group_id: str, specs: list[dict], availability_zone: str | None,
               group_specs: dict | None = None) -> None:
        """A pool that takes every share type of the group (Manila's scheduler with
        its share group filters); the group is then available, or in error saying why."""
        try:
            if (wanted := (group_specs or {}).get("consistent_snapshot_support")) is not None:
                # Manila matches it against the backends' sg_consistent_snapshot_support: none here has one
                raise NoValidPool(f"no backend offers consistent_snapshot_support={wanted}")
            placed = choose_pool(self.core.drivers, 0, specs[0], availability_zone, cache=self.core.pool_stats)
            for more in specs[1:]:  # the others on the same backend
                choose_pool({placed.backend: self.core.drivers[placed.backend]}, 0, more, availability_zone,
                            cache=self.core.pool_stats)
            fields = {"status": "available", "backend": placed.backend, "pool": placed.pool,
                      "availability_zone": self.core.drivers[placed.backend].availability_zone}
        except NoValidPool as exc:
            fields = {"status": "error", "status_reason": f"No valid host was found. {exc}"}
        with self.core.db.session() as session:
            group = session.get(ShareGroup, group_id)
            if group is not None and group.status == "creating":
                for key, value in fields.items():
                    setattr(group, key, value)

    # ---- read -----------------------------------------------------------------------

    def _visible(self, ctx: RequestContext, group_id: str, group: ShareGroup | None) -> ShareGroup:
        if group is None or not ctx.reaches(group.project_id):
            raise NotFound(f"Share group {group_id} not found.")
        return group

    def find(self, session, ctx: RequestContext, group_id: Any) -> ShareGroup:
        if not isinstance(group_id, str):
            raise Invalid("share_group_id must be a string")
        return self._visible(ctx, group_id, session.get(ShareGroup, group_id))

    def get(self, ctx: RequestContext, group_id: str) -> ShareGroup:
        with self.core.db.session() as session:
            return self.find(session, ctx, group_id)

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort_key: str = "created_at", sort_dir: str = "desc") -> list[ShareGroup]:
        filters = dict(filters or {})
        if sort_key not in SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise Invalid(f"Invalid sort: {sort_key} {sort_dir}")
        query = select(ShareGroup)
        if not (ctx.is_admin and all_tenants):
            query = query.where(ShareGroup.project_id == ctx.project_id)
            filters.pop("project_id", None)
        if filters.pop("share_network_id", None) or filters.pop("share_server_id", None) \
                or filters.pop("source_share_group_snapshot_id", None):
            return []  # no group here has any
        for key, value in filters.items():
            if key == "host":
                continue  # matched below, on backend@backend#pool
            query = query.where(getattr(ShareGroup, key) == value)
        column = getattr(ShareGroup, "backend" if sort_key == "host" else sort_key)
        query = query.order_by(column.desc() if sort_dir == "desc" else column.asc(), ShareGroup.id)
        with self.core.db.session() as session:
            rows = list(session.scalars(query))
        if host := filters.get("host"):
            rows = [g for g in rows if group_host(g) == host]
        return rows

    # ---- change -------------------------------------------------------------------------

    def update(self, ctx: RequestContext, group_id: str, fields: dict) -> ShareGroup:
        with self.core.db.session() as session:
            group = self.find(session, ctx, group_id)
            self._owner(ctx, group)
            return rename(group, fields)

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        with self.core.db.session() as session:
            group = self.find(session, ctx, group_id)
            self._owner(ctx, group)
            if group.backend is None and group.status != "creating":
                session.delete(group)  # never placed: nothing to undo (Manila's "no host")
                return
            if group.status not in STEADY:
                raise Conflict(f"Share group status must be one of {STEADY}")
            if self.snapshots.count_for_group(session, group_id):
                raise Conflict("Cannot delete a share group with snapshots")
            members = session.scalar(select(func.count()).select_from(models.Share)
                                     .where(models.Share.share_group_id == group_id))
            if members:
                raise Conflict("Cannot delete a share group with shares")
            group.status = "deleting"
        self.core.tasks.submit(self._drop, group_id)

    def _drop(self, group_id: str) -> None:
        """Nothing is on the backend for a group: its row goes (a share made in it
        meanwhile keeps it, in error)."""
        with self.core.db.session() as session:
            group = session.get(ShareGroup, group_id)
            if group is None:
                return
            if session.scalar(select(func.count()).select_from(models.Share)
                              .where(models.Share.share_group_id == group_id)):
                group.status, group.status_reason = "error_deleting", "shares were made in it while it was deleted"
                return
            session.delete(group)

    # ---- admin actions --------------------------------------------------------------------

    def reset_status(self, ctx: RequestContext, group_id: str, status: Any) -> None:
        self._admin(ctx)
        if status not in ("available", "error", "creating", "deleting", "error_deleting"):
            raise Invalid(f"Invalid status {status!r}")
        with self.core.db.session() as session:
            self.find(session, ctx, group_id).status = status

    def force_delete(self, ctx: RequestContext, group_id: str) -> None:
        """Manila's force_delete: the group's row goes, its shares leave it."""
        self._admin(ctx)
        with self.core.db.session() as session:
            group = self.find(session, ctx, group_id)
            for share in session.scalars(select(models.Share).where(models.Share.share_group_id == group_id)):
                share.share_group_id = None
            session.delete(group)

    # ---- shares in a group ------------------------------------------------------------------

    def for_new_share(self, session, ctx: RequestContext, group_id: str, stype,
                      availability_zone: str | None) -> ShareGroup:
        """The group a new share goes in, checked as Manila's share API checks it."""
        group = self.find(session, ctx, group_id)
        if group.status != "available":
            raise Invalid(f"Share group status must be available, got {group.status}.")
        if stype.id not in (group.share_type_ids or []):
            raise Invalid(f"The specified share type ({stype.id}) is not supported by the specified share group "
                          f"({group_id}).")
        if availability_zone and availability_zone != group.availability_zone:
            raise Invalid(f"Share cannot have AZ ('{availability_zone}') different than share group's one "
                          f"({group.availability_zone}).")
        return group

    @staticmethod
    def _admin(ctx: RequestContext) -> None:
        if not ctx.is_admin:
            raise Forbidden("Policy doesn't allow this share group action to be performed.")

    @staticmethod
    def _owner(ctx: RequestContext, group: ShareGroup) -> None:
        if group.project_id != ctx.project_id and not ctx.is_admin:
            raise Forbidden("only the share group's project may change it")


def rename(row, fields: dict):
    for key in ("name", "description"):
        if key in fields:
            setattr(row, key, fields[key])
    return row


def group_host(group: ShareGroup) -> str | None:
    """Manila's `host` of a group, as a share's (api/share/views.share_host)."""
    return f"shoal@{group.backend}#{group.pool}" if group.backend else None
