"""Share migration (Manila API 2.29+: migration_start, migration_get_progress,
migration_complete, migration_cancel), driver-assisted only: the rules a
request is checked against, and what the durable flows (migration_flows) ask of
the database and the drivers.

As Manila does it: the share keeps its id; its status is `migrating` until the
migration ends `available` again; `task_state` goes migration_starting ->
migration_in_progress -> migration_driver_in_progress ->
migration_driver_phase1_done (the first phase: copies while the share stays in
use) and, on migration_complete, migration_completing -> migration_success;
or migration_error / migration_cancelled with the source exactly as it was and
nothing left on the destination. The share row points at the source until the
switch (one transaction), and at the destination after it.

Host-assisted migration (Manila's data service copying files) is not offered:
`force_host_assisted_migration` is refused, as is anything the backends cannot
honour (nondisruptive: the export location changes; preserve_snapshots).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from shoal.db import models
from shoal.db.replicas import ShareReplica
from shoal.db.share_migrations import ShareMigration
from shoal.drivers.base import DriverError, ShareRef, ShareResult

from ..common import core as c
from ..common.context import RequestContext
from ..common.errors import Forbidden, Invalid, NotFound
from ..common.flows import FINISHED, FLOWS, Flows
from ..common.scheduler import fits, share_pool_facts, share_specs_unmet
from ..common.tasks import INTERRUPTED
from ..common.types import TypeCatalog
from . import replica_rows as rr
from . import rows as sr

log = logging.getLogger(__name__)

ACTION_MIGRATE = "102"  # a user message's action id for share migration work (not one of Manila's)
POINT_PREFIX = "repl-mig"  # the migration's points: replication snapshots (drivers keep them out of user lists)
DRIVER_PARAMS = ("preserve_metadata", "writable", "nondisruptive", "preserve_snapshots")
IN_FLOW = ("migration_starting", "migration_in_progress", "migration_driver_in_progress")
# Manila's _migration_get_progress_state: what a migration that is not copying reports.
DONE_STATES = ("migration_success", "migration_error", "migration_cancelled", "migration_cancel_in_progress",
               "migration_completing", "migration_driver_phase1_done")


def point(flow_id: str, step: str) -> str:
    """A migration point's name: the same when its step runs again."""
    return f"{POINT_PREFIX}{flow_id.replace('-', '')[:12]}{step}"


def not_now(share_id: str, task_state: str | None, what: str) -> str:
    """Manila's words (_migration_validate_error_message) for a call that does not fit."""
    if task_state == "migration_success":
        return f"Migration of share {share_id} has already completed."
    if task_state in (None, "migration_error"):
        return f"There is no migration being performed for share {share_id} at this moment."
    if task_state == "migration_cancelled":
        return f"Migration of share {share_id} was already cancelled."
    if task_state == "migration_driver_phase1_done":
        return f"Migration of share {share_id} has already completed first phase."
    return f"Migration of share {share_id} cannot {what} at this moment ({task_state})."


class ShareMigrations:
    def __init__(self, core: c.Core, flows: Flows, types: TypeCatalog):
        self.core, self.flows, self.types = core, flows, types
        self._delete_after: dict = {}  # share id -> the delete to start when its migration ends (abandon)
        flows.provide("share_migrations", self)

    # ---- requests ---------------------------------------------------------------------------

    @staticmethod
    def check_admin(ctx: RequestContext, what: str) -> None:
        if not ctx.is_admin:
            raise Forbidden(f"Policy doesn't allow share:{what} to be performed.")

    def start(self, ctx: RequestContext, share_id: str, params: Any) -> int:
        """Check a migration_start and launch its first phase; the answer's status
        code (202, or Manila's 200 when the destination is where the share is)."""
        self.check_admin(ctx, "migration_start")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            if share.is_soft_deleted:
                raise Invalid(f"Migration cannot start for share '{share_id}' since it has been soft deleted.")
        if not isinstance(params, dict) or not params:
            raise Invalid("Request is missing body.")
        for name in (*DRIVER_PARAMS, "host"):
            if name not in params:
                raise Invalid(f"Invalid input received: '{name}' is missing.")
        flags = {name: params[name] for name in DRIVER_PARAMS}  # booleans: the API's model has checked them
        host_assisted = params.get("force_host_assisted_migration", False)
        if params.get("new_share_network_id"):  # Manila's answer for a type with driver_handles_share_servers False
            raise Invalid("New share network must not be provided: Shoal's backends do not handle share servers "
                          "(driver_handles_share_servers = False).")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id)
            new_type = None
            if type_id := params.get("new_share_type_id"):
                try:
                    new_type = self.types.find(session, ctx, type_id)
                except NotFound:
                    raise Invalid(f"Share type {type_id} not found.") from None
            rr.refuse_if_replicated(session, share_id, "Remove the replicas before attempting to migrate the share.")
            if share.status != "available":
                raise Invalid(f"Share instance {share_id} status must be available, but current status is: "
                              f"{share.status}.")
            if share.access_rules_status == "error":
                raise Invalid(f"Share instance {share_id} access rules status must not be error.")
            if host_assisted:
                raise Invalid("Host-assisted migration is not offered: Shoal moves shares with their backends' "
                              "own means (force_host_assisted_migration must be False).")
            backend, pool = self._destination(params["host"])
            if (backend, pool) == (share.backend, share.pool) and (new_type is None or new_type.id == share.share_type_id):
                log.info("share %s: migration to its own host %s, nothing to be done", share_id, params["host"])
                return 200
            if (backend, pool) == (share.backend, share.pool):
                raise Invalid(f"Share {share_id} is on {params['host']} already: a new share type alone is not "
                              "applied in place; migrate it to another pool with the new type.")
            self._refuse_unoffered(flags)
            if session.scalar(select(func.count()).select_from(models.ShareSnapshot).where(
                    models.ShareSnapshot.share_id == share_id)):
                raise Invalid(f"Share {share_id} has snapshots, which a migration does not carry "
                              "(preserve_snapshots is not offered): delete them first.")
            stype = new_type or share.share_type
            self._check_destination(share, backend, pool, dict(stype.extra_specs or {}) if stype else {})
            session.execute(delete(ShareMigration).where(ShareMigration.share_id == share_id))  # a stale one
            session.add(ShareMigration(
                share_id=share_id, dest_key=models.new_id(), backend=backend, pool=pool,
                new_type_id=new_type.id if new_type is not None else None, writable=flags["writable"],
                old_backend=share.backend, old_pool=share.pool, old_location=share.provider_location,
                bytes_sent=0, total_bytes=0, progress=0, switched=False, cancelling=False))
            share.status, share.task_state, share.status_reason = "migrating", "migration_starting", None
        self._launch(share_id, "start")
        return 202

    def _destination(self, host: Any) -> tuple[str, str]:
        """`host@backend#pool` -> (backend, pool); a backend not configured is Manila's 404."""
        if not isinstance(host, str) or "@" not in host or "#" not in host:
            raise Invalid(f"Invalid input received: host {host!r} must look like host@backend#pool")
        backend, _, pool = host.split("@", 1)[1].partition("#")
        if backend not in self.core.drivers:
            raise NotFound(f"Service host {host} could not be found.")
        if not pool:
            raise Invalid(f"Invalid input received: host {host!r} names no pool")
        return backend, pool

    @staticmethod
    def _refuse_unoffered(flags: dict[str, bool]) -> None:
        if flags["nondisruptive"]:
            raise Invalid("A nondisruptive migration is not offered: the share's export location changes at "
                          "migration_complete (nondisruptive must be False).")
        if flags["preserve_snapshots"]:
            raise Invalid("preserve_snapshots is not offered: migrate a share without snapshots, with "
                          "preserve_snapshots False.")

    def _check_destination(self, share: models.Share, backend: str, pool: str, specs: dict[str, str]) -> None:
        """The destination pool exists, meets the (new) type, holds the share, and
        its driver can take the share from the source's by its own means."""
        driver = self.core.driver(backend)
        try:
            driver.migration_check(self.core.driver(share.backend))
            driver.validate_extra_specs(specs)
            pools = self.core.pool_stats.pools(f"share_backend_name:{backend}", driver)
        except DriverError as exc:
            raise Invalid(f"Cannot migrate share {share.id} to {backend}#{pool}: {exc}") from None
        found = next((p for p in pools if p.name == pool), None)
        if found is None:
            raise Invalid(f"Backend {backend} has no pool {pool!r}.")
        why = share_specs_unmet(specs, share_pool_facts(backend, driver, found))
        if why is None and not fits(found, share.size):
            why = f"{found.free_gb:.1f} GiB free, {share.size} GiB needed"
        if why:
            raise Invalid(f"Cannot migrate share {share.id} to {backend}#{pool}: {why}")

    def _launch(self, share_id: str, which: str) -> None:
        from . import migration_flows

        factory = {"start": migration_flows.start_flow, "complete": migration_flows.complete_flow,
                   "cancel": migration_flows.cancel_flow}[which]
        flow_id = self.flows.start(factory, (share_id,), {"share_id": share_id},
                                   name=f"migration {which} of share {share_id}")
        self.set_migration(share_id, flow_id=flow_id)

    def complete(self, ctx: RequestContext, share_id: str) -> None:
        self.check_admin(ctx, "migration_complete")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            if share.task_state != "migration_driver_phase1_done" or session.get(ShareMigration, share_id) is None:
                raise Invalid(f"First migration phase of share {share_id} not completed yet."
                              if share.task_state in IN_FLOW else not_now(share_id, share.task_state, "complete"))
            share.task_state = "migration_completing"
        self._launch(share_id, "complete")

    def cancel(self, ctx: RequestContext, share_id: str) -> None:
        """The first phase stopped (its processes by pid) and undone, or a finished
        first phase undone: the source as it was, the destination gone."""
        self.check_admin(ctx, "migration_cancel")
        with self.core.tasks.key_lock(f"share-migration:{share_id}"):  # against the first phase's last step
            with self.core.db.session() as session:
                share = sr.get_share(session, ctx, share_id, locations=False)
                row = session.get(ShareMigration, share_id)
                if row is None or share.task_state not in (*IN_FLOW, "migration_driver_phase1_done"):
                    raise Invalid(not_now(share_id, share.task_state, "be cancelled"))
                row.cancelling = True  # a running first phase sees it at its next step, whatever happens here
                running, flow_id = share.task_state in IN_FLOW, row.flow_id
                if not running:
                    share.task_state = "migration_cancel_in_progress"
        if not running:
            self._launch(share_id, "cancel")
        elif flow_id:  # (not yet recorded by a flow just started: the flag above stops it)
            stopped = self.flows.cancel(flow_id)
            log.info("share %s: migration cancelled (%d processes stopped)", share_id, stopped)

    def abandon(self, share_id: str, deleter) -> bool:
        """A force-delete of a migrating share (Shares.delete, the share now
        `deleting`). True: a flow runs -- it is stopped (its processes by pid), it
        reverts, and its end calls `deleter(share_id)`, so the share's data is never
        destroyed under a running send. False: the delete goes ahead now, and a
        destination at rest is removed here beside it (past the switch there is
        none: the clean-up removes the source as ever)."""
        with self.core.tasks.key_lock(f"share-migration:{share_id}"):  # against end()
            row = self.find(share_id)
            if row is None or row.switched:
                return False
            self.set_migration(share_id, cancelling=True)
            if row.flow_id:
                self._delete_after[share_id] = deleter
                self.flows.cancel(row.flow_id)
                log.info("share %s: force-deleted while migrating: the migration stops first", share_id)
                return True
        self.core.tasks.submit(self._drop_destination, share_id, *self.destination(share_id))
        return False

    def _drop_destination(self, share_id: str, dest: ShareRef, backend: str) -> None:
        try:
            self.core.driver(backend).migration_remove(dest)
        except Exception as exc:
            log.error("share %s (deleted): its migration's copy on %s was not removed: %s", share_id, backend, exc)
        self.end(share_id, "migration_cancelled")

    def progress(self, ctx: RequestContext, share_id: str) -> dict:
        """Manila's migration_get_progress: total_progress (percent), task_state, details."""
        self.check_admin(ctx, "migration_get_progress")
        with self.core.db.session() as session:
            share = sr.get_share(session, ctx, share_id, locations=False)
            row = session.get(ShareMigration, share_id)
            state = share.task_state
            details = {"bytes_sent": row.bytes_sent, "total_bytes": row.total_bytes} if row is not None else {}
            if state == "migration_driver_in_progress" and row is not None:
                return {"total_progress": row.progress, "task_state": state, "details": details}
        if state in DONE_STATES:
            return {"total_progress": 100, "task_state": state, "details": details}
        if state in ("migration_starting", "migration_in_progress"):
            return {"total_progress": 0, "task_state": state, "details": details}
        raise Invalid(not_now(share_id, state, "report progress"))

    # ---- what the flows ask ------------------------------------------------------------------

    def find(self, share_id: str) -> ShareMigration | None:
        with self.core.db.session() as session:
            row = session.get(ShareMigration, share_id)
            if row is not None:
                session.expunge(row)
            return row

    def migration(self, share_id: str) -> ShareMigration:
        row = self.find(share_id)
        if row is None:
            raise NotFound(f"share {share_id} has no migration under way")
        return row

    def set_migration(self, share_id: str, **fields) -> None:
        with self.core.db.connection() as connection:
            connection.execute(update(ShareMigration).where(ShareMigration.share_id == share_id).values(**fields))

    def mark(self, share_id: str, **fields) -> None:
        sr.set_share(self.core, share_id, **fields)

    def abandoned(self, share_id: str) -> bool:
        """The share is gone or no longer migrating (force-deleted, reset): undo."""
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            return share is None or share.status != "migrating"

    def source(self, share_id: str) -> tuple[ShareRef, str]:
        """The source as its driver finds it, exported under the share's id."""
        row = self.migration(share_id)
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            specs = dict(share.share_type.extra_specs) if share is not None and share.share_type else {}
            size = share.size if share is not None else 1
        return ShareRef(share_id, row.old_pool or "", size, row.old_location, specs), row.old_backend

    def destination(self, share_id: str) -> tuple[ShareRef, str]:
        """The destination copy (under the migration's own id), with the specs of
        the type the share will have."""
        row = self.migration(share_id)
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            stype = session.get(models.ShareType, row.new_type_id) if row.new_type_id else (
                share.share_type if share is not None else None)
            specs = dict(stype.extra_specs or {}) if stype is not None else {}
            size = share.size if share is not None else 1
        return ShareRef(row.dest_key, row.pool, size, None, specs), row.backend

    def rules(self, share_id: str):
        with self.core.db.session() as session:
            return sr.rules_in_force(session, share_id)

    def drop_points(self, backend: str, ref: ShareRef, keep: set[str]) -> None:
        """Remove the migration's points on a copy, but `keep` (and any replication point not ours)."""
        driver = self.core.driver(backend)
        ours = {t for t in driver.replication_tags(ref) if t.startswith(POINT_PREFIX)}
        driver.drop_replication_snapshots(ref, set(driver.replication_tags(ref)) - ours | keep)

    def switch(self, share_id: str, result: ShareResult) -> None:
        """The commit of migration_complete: the share is the destination now."""
        from .shares import set_export_locations

        with self.core.db.session() as session:
            row = session.get(ShareMigration, share_id)
            share = session.get(models.Share, share_id)
            share.backend, share.pool, share.provider_location = row.backend, row.pool, result.provider_location
            share.availability_zone = self.core.driver(row.backend).availability_zone
            if row.new_type_id:
                share.share_type_id = row.new_type_id
            set_export_locations(share, result)
            row.switched = True
            # a stale active-replica row would still name the source (made again from the share row when needed)
            session.execute(delete(ShareReplica).where(ShareReplica.share_id == share_id,
                                                       ShareReplica.replica_state == "active"))
        log.info("share %s: now on %s#%s (%s)", share_id, row.backend, row.pool, result.provider_location)

    def undo(self, share_id: str) -> None:
        """Everything a migration not switched made, removed; the source as it was
        (writable again with its rules, unless the share is being deleted). Repeatable."""
        row = self.migration(share_id)
        dest, dest_backend = self.destination(share_id)
        self.core.driver(dest_backend).migration_remove(dest)
        source, source_backend = self.source(share_id)
        self.drop_points(source_backend, source, set())
        with self.core.db.session() as session:
            share = session.get(models.Share, share_id)
            deleting = share is None or share.status in ("deleting", "error_deleting")
        if not deleting:
            self.core.driver(source_backend).migration_freeze(source, self.rules(share_id), False)
        log.info("share %s: migration to %s#%s undone", share_id, row.backend, row.pool)

    def end(self, share_id: str, task_state: str, reason: str | None = None) -> None:
        """The migration is over: the row goes, the share is available with `task_state`
        (or, force-deleted meanwhile, its delete starts)."""
        with self.core.tasks.key_lock(f"share-migration:{share_id}"):
            self._end(share_id, task_state, reason)
        if (deleter := self._delete_after.pop(share_id, None)) is not None:
            self.core.tasks.submit(deleter, share_id)

    def _end(self, share_id: str, task_state: str, reason: str | None) -> None:
        with self.core.db.session() as session:
            session.execute(delete(ShareMigration).where(ShareMigration.share_id == share_id))
            share = session.get(models.Share, share_id)
            if share is None:
                return
            share.task_state = task_state
            if share.status == "migrating":
                share.status = "available"
            if reason:
                share.status_reason = reason
                self.core.message(session, share.project_id, "SHARE", share_id, ACTION_MIGRATE,
                                  sr.DETAIL_DRIVER_FAILED, reason)
        log.info("share %s: migration ended %s%s", share_id, task_state, f": {reason}" if reason else "")

    def end_failed(self, share_id: str, reason: str) -> None:
        row = self.migration(share_id)
        if row.cancelling:
            self.end(share_id, "migration_cancelled")
        else:
            self.end(share_id, "migration_error", f"migration failed: {reason}")

    # ---- start-up --------------------------------------------------------------------------------

    def resume_interrupted(self) -> None:
        """After the flows have resumed: a migration whose flow is gone is finished
        (switched), left waiting (first phase done), or undone."""
        with self.core.db.session() as session:
            # By name: a flow persisted before its id reached the row runs on too; a
            # flow that never ran a step has no state yet (NULL, not "not finished").
            alive = set(session.scalars(select(FLOWS.c.name).where(
                or_(FLOWS.c.state.is_(None), FLOWS.c.state.not_in(FINISHED)))))
            running = {name[-36:] for name in alive if name.startswith("share-migration-")}  # its share's id
            rows = [(r.share_id, r.switched, r.cancelling) for r in session.scalars(select(ShareMigration))
                    if r.share_id not in running]
            states = {sid: (session.get(models.Share, sid).task_state if session.get(models.Share, sid) else None)
                      for sid, _, _ in rows}
        for share_id, switched, cancelling in rows:
            try:
                if switched:
                    log.warning("share %s: its migration has no flow left to finish it; finishing it", share_id)
                    self.finish(share_id)
                elif states[share_id] == "migration_driver_phase1_done" and not cancelling:
                    continue  # steady: it waits for migration_complete or migration_cancel
                else:
                    log.warning("share %s: its migration has no flow left to finish it; undoing it", share_id)
                    self.undo(share_id)
                    self.end(share_id, "migration_cancelled" if cancelling else "migration_error",
                             None if cancelling else f"migration failed: {INTERRUPTED}")
            except Exception:
                log.exception("share %s: the interrupted migration could not be ended", share_id)

    def finish(self, share_id: str) -> None:
        """After the switch (no way back): the source goes, then the destination's
        points; success. A source its backend cannot remove now is logged, not a
        failure of the migration."""
        source, source_backend = self.source(share_id)
        try:
            self.core.driver(source_backend).migration_remove(source)
        except Exception as exc:
            log.error("share %s: the migrated share's old copy %s on %s was not removed: %s", share_id,
                      source.provider_location, source_backend, exc)
        dest, backend = self.destination(share_id)
        self.drop_points(backend, dest, set())
        self.end(share_id, "migration_success")

    def ensure_exports(self, backend: str | None = None, stale: set[str] = frozenset()) -> None:
        """Start-up and daemon restarts: a migrating share's live copy (the row's)
        is exported again -- read-only while frozen -- which the share recovery
        leaves alone (it only exports steady shares); made anew on a backend in
        `stale` (its file systems were mounted anew)."""
        with self.core.db.session() as session:
            items = []
            for row in session.scalars(select(ShareMigration)):
                share = session.get(models.Share, row.share_id)
                if share is None or share.status != "migrating" or (backend and share.backend != backend):
                    continue
                frozen = not row.switched and (not row.writable or share.task_state == "migration_completing")
                items.append((sr.share_ref(share), share.backend, sr.rules_in_force(session, share.id), frozen))
        for ref, name, rules, frozen in items:
            try:
                driver = self.core.driver(name)
                if frozen:
                    driver.migration_freeze(ref, rules, True, fresh=name in stale)
                elif failed := driver.ensure_shares([(ref, rules)], fresh=name in stale):
                    raise DriverError("; ".join(failed.values()))
            except Exception as exc:
                log.warning("share %s (migrating): not exported again: %s", ref.id, exc)
