"""Share snapshots: create, delete, manage and unmanage, in the background."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm.attributes import set_committed_value

from shoal.db import models
from shoal.drivers.base import SnapshotRef, UnsafeToManage

from ..common import core as c
from ..common import paging
from ..common import quotas as q
from ..common.checks import check_size
from ..common.context import RequestContext
from ..common.errors import Conflict, Forbidden, Invalid, NotFound
from ..common.tasks import Gate, early_start
from . import replica_rows as rr
from . import rows as sr
from .listing import snapshot_query

log = logging.getLogger(__name__)

SNAPSHOT_STATUSES = ("available", "error", "creating", "deleting", "error_deleting", "manage_starting",
                     "manage_error", "unmanage_starting", "unmanage_error", "restoring")
SORT_KEYS = {"created_at", "updated_at", "name", "size", "status", "id", "share_id"}


class ShareSnapshots:
    replicas = None  # ShareReplicas, wired by Services: a replicated share's snapshots are on every copy

    def __init__(self, core: c.Core):
        self.core = core

    def create(self, ctx: RequestContext, share_id: str, name: str | None = None,
               description: str | None = None, force: bool = False, metadata: dict | None = None) -> models.ShareSnapshot:
        metadata = dict(metadata or {})  # the fields' types and bounds: api/share/bodies.py
        snap_id = models.new_id()
        with early_start() as gate, self.core.db.session() as session:
            share = sr.share_facts(session, ctx, share_id)
            if share.project_id != ctx.project_id and not ctx.is_admin:
                raise Forbidden("only the share's project may snapshot it")
            if share.status != "available":
                raise Invalid(f"Share status must be available, not {share.status}")
            q.check_share(self.core, session, share.project_id, ctx.user_id, share.share_type_id, snapshots=1,
                          snapshot_gigabytes=share.ref.size_gb)
            # The backend work starts now, overlapping the insert and the commit.
            self.core.tasks.start(self._create, snap_id, SnapshotRef(snap_id, share.ref), share.backend, gate)
            snap = models.ShareSnapshot(id=snap_id, share_id=share_id, project_id=share.project_id, user_id=ctx.user_id,
                                        name=name, description=description, size=share.ref.size_gb,
                                        status="creating", task="create", metadata_=metadata)
            c.insert_new(session, snap)
        # What the view reads of the share, without loading it.
        set_committed_value(snap, "share", models.Share(id=share_id, size=share.ref.size_gb,
                                                        share_proto=share.share_proto))
        return snap

    def _create(self, snapshot_id: str, ref: SnapshotRef, backend: str, gate: Gate) -> None:
        driver = self.core.driver(backend)
        try:
            result = driver.create_snapshot(ref)
        except Exception as exc:
            if gate.wait():
                self._fail(snapshot_id, "error", sr.ACTION_CREATE, f"snapshot failed: {exc}")
            return
        self.core.record_made(
            "snapshot", snapshot_id, gate,
            lambda: self.core.settle(models.ShareSnapshot, snapshot_id, "creating", {"status": "available", "task": None},
                                     {"provider_location": result.provider_location, "size": result.size_gb}),
            lambda: driver.delete_snapshot(SnapshotRef(ref.id, ref.share, result.provider_location)))
        if self.replicas is not None:
            self.replicas.snapshot_taken(ref.share.id)

    def _fail(self, snapshot_id: str, status: str, action_id: str, reason: str) -> None:
        """`status` with the reason, and a user message saying it (Manila's snapshot
        view has no status reason: the message is what users see)."""
        log.warning("share snapshot %s -> %s: %s", snapshot_id, status, reason)
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            if snap is not None:
                snap.status, snap.status_reason, snap.task = status, reason, None
                self.core.message(session, snap.project_id, "SHARE_SNAPSHOT", snap.id, action_id,
                                  sr.DETAIL_DRIVER_FAILED, reason)

    def _set(self, snapshot_id: str, **fields) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            if snap is not None:
                for key, value in fields.items():
                    setattr(snap, key, value)

    def get(self, ctx: RequestContext, snapshot_id: str) -> models.ShareSnapshot:
        with self.core.db.session() as session:
            return sr.get_snapshot(session, ctx, snapshot_id)

    def list(self, ctx: RequestContext, *, all_tenants: bool = False, filters: dict | None = None,
             sort_key: str = "created_at", sort_dir: str = "desc", limit: int | None = None,
             offset: int | None = None) -> list[models.ShareSnapshot]:
        paging.check_sort([(sort_key, sort_dir)], SORT_KEYS, "sort_key {key!r} is not one of {known}",
                          "sort_dir must be asc or desc")
        keys = paging.sort_keys(models.ShareSnapshot, [(sort_key, sort_dir)], sort_dir)
        with self.core.db.session() as session:
            return paging.page(session, snapshot_query(ctx, all_tenants, filters), keys, marker=None,
                               missing=lambda: NotFound("no marker"), offset=offset, limit=limit)

    def update(self, ctx: RequestContext, snapshot_id: str, fields: dict) -> models.ShareSnapshot:
        """`fields` as the API's SnapshotUpdate model let them through (names, descriptions)."""
        attrs = {"display_name": "name", "display_description": "description"}
        with self.core.db.session() as session:
            snap = sr.get_snapshot(session, ctx, snapshot_id)
            for key, value in fields.items():
                setattr(snap, attrs.get(key, key), value)
            return snap

    def delete(self, ctx: RequestContext, snapshot_id: str, force: bool = False) -> None:
        if force and not ctx.is_admin:
            raise Forbidden("force_delete is for administrators")
        with self.core.db.session() as session:
            snap = sr.get_snapshot(session, ctx, snapshot_id)
            if not force and snap.status not in ("available", "error", "error_deleting", "manage_error", "unmanage_error"):
                raise Invalid(f"Snapshot status must be available or error, not {snap.status}")
            snap.status, snap.task = "deleting", "delete"
            known = (sr.snapshot_ref(snap), snap.share.backend)
        self.core.tasks.start(self._delete, snapshot_id, known)

    def _delete(self, snapshot_id: str, known: tuple | None = None) -> None:
        """`known`: (ref, backend) from the request; without it (recovery) the row is read."""
        if known is None:
            with self.core.db.session() as session:
                snap = session.get(models.ShareSnapshot, snapshot_id)
                if snap is None or snap.status != "deleting":
                    return
                known = (sr.snapshot_ref(snap), snap.share.backend)
        ref, backend = known
        try:
            if self.replicas is not None:
                self.replicas.delete_snapshot_copies(snapshot_id)
            if backend is not None:
                self.core.driver(backend).delete_snapshot(ref)
        except Exception as exc:
            self._set(snapshot_id, status="error_deleting", task=None, status_reason=f"delete failed: {exc}")
            return
        with self.core.db.session() as session:
            session.execute(delete(models.ShareSnapshot).where(models.ShareSnapshot.id == snapshot_id))

    def reset_status(self, ctx: RequestContext, snapshot_id: str, status) -> None:
        if not ctx.is_admin:
            raise Forbidden("reset_status is for administrators")
        if status not in SNAPSHOT_STATUSES:
            raise Invalid(f"status {status!r} is not one of {', '.join(SNAPSHOT_STATUSES)}")
        self.get(ctx, snapshot_id)
        self._set(snapshot_id, status=status, task=None)

    # ---- manage ---------------------------------------------------------------------

    def manage(self, ctx: RequestContext, *, share_id: str, provider_location: str, name: str | None = None,
               description: str | None = None, driver_options: dict | None = None) -> models.ShareSnapshot:
        if not ctx.is_admin:
            raise Forbidden("manage is for administrators")
        if not isinstance(provider_location, str) or not provider_location.strip():
            raise Invalid("provider_location is required")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            if share.status != "available":
                raise Invalid(f"Share status must be available, not {share.status}")
            taken = session.scalars(select(models.ShareSnapshot).where(
                models.ShareSnapshot.provider_location == provider_location.strip())).first()
            if taken is not None:  # Manila: 409
                raise Conflict(f"{provider_location} is already managed as snapshot {taken.id}")
            size = share.size
            if driver_options and driver_options.get("size") is not None:
                size = check_size(driver_options["size"], "driver_options.size")
            q.check_share(self.core, session, share.project_id, ctx.user_id, share.share_type_id, snapshots=1,
                          snapshot_gigabytes=size)
            snap = models.ShareSnapshot(share_id=share_id, project_id=share.project_id, user_id=ctx.user_id,
                                        name=name, description=description, size=size, status="manage_starting",
                                        task="manage", metadata_={})
            session.add(snap)
            session.flush()
            session.refresh(snap)
            created = snap
        self.core.tasks.start(self._manage, created.id, provider_location.strip())
        return created

    def _manage(self, snapshot_id: str, reference: str) -> None:
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            ref, backend = sr.snapshot_ref(snap), snap.share.backend
        try:
            result = self.core.driver(backend).manage_existing_snapshot(ref, reference)
        except (UnsafeToManage, Exception) as exc:
            self._fail(snapshot_id, "manage_error", sr.ACTION_MANAGE, f"cannot manage {reference}: {exc}")
            return
        self._set(snapshot_id, status="available", task=None, provider_location=result.provider_location)

    def unmanage(self, ctx: RequestContext, snapshot_id: str) -> None:
        if not ctx.is_admin:
            raise Forbidden("unmanage is for administrators")
        with self.core.db.session() as session:
            snap = sr.get_snapshot(session, ctx, snapshot_id)
            # Manila: its copies on the replicas would be left behind, unknown to anyone
            rr.refuse_if_replicated(session, snap.share_id, "Snapshots of this share cannot currently be "
                                    "unmanaged until all replicas are removed.")
            if snap.status not in ("available", "error", "manage_error", "unmanage_error"):
                raise Invalid(f"Snapshot status must be available or error, not {snap.status}")
            ref, backend = sr.snapshot_ref(snap), snap.share.backend
        try:
            if backend is not None:
                self.core.driver(backend).unmanage_snapshot(ref)
        except Exception as exc:
            self._set(snapshot_id, status="unmanage_error", status_reason=f"unmanage failed: {exc}")
            return
        with self.core.db.session() as session:
            snap = session.get(models.ShareSnapshot, snapshot_id)
            if snap is None:
                raise NotFound(f"Snapshot {snapshot_id} could not be found.")
            session.delete(snap)

    # ---- metadata (Manila 2.73) --------------------------------------------------------

    def metadata(self, ctx: RequestContext, snapshot_id: str) -> dict:
        return dict(self.get(ctx, snapshot_id).metadata_ or {})

    def set_metadata(self, ctx: RequestContext, snapshot_id: str, metadata: dict[str, str], replace: bool) -> dict:
        with self.core.db.session() as session:
            snap = sr.get_snapshot(session, ctx, snapshot_id)
            snap.metadata_ = metadata if replace else {**(snap.metadata_ or {}), **metadata}
            return dict(snap.metadata_)

    def delete_metadata(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.core.db.session() as session:
            snap = sr.get_snapshot(session, ctx, snapshot_id)
            if key not in (snap.metadata_ or {}):
                raise NotFound(f"Metadata item {key} was not found.")
            snap.metadata_ = {k: v for k, v in snap.metadata_.items() if k != key}
