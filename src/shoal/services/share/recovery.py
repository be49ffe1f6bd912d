"""Start-up and periodic recovery.

After a crash, every resource left in a transitional status is finished (work
that is safe to redo: delete, extend, shrink, revert, unmanage, access syncs)
or marked `error` with the reason (create and manage, whose half-done state is
cleaned up by a later delete). Then every share that should be exported is
exported again with its rules. The periodic check re-ensures a backend whose
NFS server stopped serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy import select

from shoal.db import models

from ..common import core as c
from ..common import metrics
from ..common.per_backend import repair_lock, repair_when_down, run_per_backend, watch
from ..common.tasks import INTERRUPTED
from . import rows as sr
from .access import PENDING, ShareAccess
from .shares import Shares
from .snapshots import ShareSnapshots

log = logging.getLogger(__name__)

EXPORT_LOST = "export lost"  # the reason's start on a share whose export could not be made again


class Recovery:
    def __init__(self, core: c.Core, shares: Shares, snapshots: ShareSnapshots, access: ShareAccess):
        self.core, self.shares, self.snapshots, self.access = core, shares, snapshots, access
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._others: list = []  # more checks for the periodic loop (volumes, replicas)
        # More exports to ensure with the shares' (replicas, migrating shares): each is
        # called with the backend (None: all) and the names of the stale backends.
        self.exporters: list = []

    def also(self, other) -> None:
        self._others.append(other)

    def resume_interrupted(self) -> None:
        redo = {"delete": self.shares._delete, "unmanage": self.shares._unmanage}
        with self.core.db.session() as session:
            shares = list(session.scalars(select(models.Share).where(models.Share.task.is_not(None))))
            snaps = list(session.scalars(select(models.ShareSnapshot).where(models.ShareSnapshot.task.is_not(None))))
            restoring = list(session.scalars(select(models.ShareSnapshot).where(models.ShareSnapshot.status == "restoring")))
            syncing = set(session.scalars(select(models.AccessRule.share_id).where(models.AccessRule.state.in_(PENDING))))
        for share in shares:
            log.info("share %s was %s when Shoal stopped", share.id, share.status)
            if share.task in redo:
                self.core.tasks.submit(redo[share.task], share.id)
            elif share.task in ("extend", "shrink"):
                self.core.tasks.submit(self.shares._resize, share.id, share.task)
            elif share.task == "revert":
                sr.set_share(self.core, share.id, status="available", task=None)
            else:
                status = "manage_error" if share.task == "manage" else "error"
                sr.fail_share(self.core, share.id, status, sr.ACTION_CREATE, sr.DETAIL_UNEXPECTED, INTERRUPTED)
        for snap in restoring:
            self.snapshots._set(snap.id, status="available")
        for snap in snaps:
            if snap.task == "delete":
                self.core.tasks.submit(self.snapshots._delete, snap.id)
            else:
                status = "manage_error" if snap.task == "manage" else "error"
                self.snapshots._fail(snap.id, status, sr.ACTION_MANAGE if snap.task == "manage" else sr.ACTION_CREATE,
                                     INTERRUPTED)
        for share_id in syncing:
            self.access.schedule_sync(share_id)

    def ensure_exports(self, backend: str | None = None, lost_only: bool = False) -> None:
        """Export every steady share again with the rules that should hold, per
        backend in one pass of its driver. A share that cannot be goes to `error`
        with the reason (EXPORT_LOST), and comes back to `available` on the first
        pass that exports it again. A backend whose file systems were mounted anew
        (exports_stale) has every export made anew, the exporters' too, and is
        told so only after all of them (a crash before: the next pass does it again).
        `lost_only`: only the shares whose export was lost, as they are (the
        periodic retry; mounting anew is the daemon watch's pass)."""
        metrics.recovery_run("share")
        stale = set() if lost_only else self._stale(backend)
        broken: set[str] = set()
        per_backend: dict[str, list] = {}
        lost_before: set[str] = set()
        with self.core.db.session() as session:
            steady = models.Share.status.in_(("available", "extending", "shrinking", "reverting"))
            lost = (models.Share.status == "error") & models.Share.status_reason.startswith(EXPORT_LOST)
            query = select(models.Share).where(lost if lost_only else steady | lost,
                                               models.Share.provider_location.is_not(None))
            if backend:
                query = query.where(models.Share.backend == backend)
            shares = list(session.scalars(query).unique())
            rules = sr.rules_in_force_of(session, [share.id for share in shares])
            for share in shares:
                if share.status == "error":
                    lost_before.add(share.id)
                per_backend.setdefault(share.backend, []).append((sr.share_ref(share), rules[share.id]))
        for name in set(per_backend) - set(self.core.drivers):
            log.warning("%d shares are on backend %s, which is no longer configured", len(per_backend.pop(name)), name)

        def ensure(name: str) -> None:
            if not self._ensure_backend(name, per_backend[name], lost_before, fresh=name in stale):
                broken.add(name)

        run_per_backend(per_backend, ensure, "ensuring exports")
        if lost_only:
            return
        for ensure in self.exporters:
            try:
                ensure(backend, stale)
            except Exception:  # each exporter reports its own items; this one failed as a whole
                log.exception("exports of %s not ensured", getattr(ensure, "__qualname__", ensure))
                broken |= stale
        for name in stale - broken:
            self.core.drivers[name].exports_renewed()

    def _ensure_backend(self, name: str, items: list, lost_before: set[str], fresh: bool) -> bool:
        """One backend's pass of ensure_exports(); False when it failed as a whole."""
        try:
            failed = self.core.drivers[name].ensure_shares(items, fresh=fresh)
        except Exception as exc:
            log.error("backend %s: ensuring exports failed: %s", name, exc)
            metrics.recovery_failed("share", len(items))
            return False
        metrics.recovery_fixed("share", len(items) - len(failed))
        metrics.recovery_failed("share", len(failed))
        for share_id, reason in failed.items():
            if share_id not in lost_before:
                sr.fail_share(self.core, share_id, "error", sr.ACTION_CREATE, sr.DETAIL_DRIVER_FAILED,
                              f"{EXPORT_LOST}: {reason}")
        back = [share.id for share, _ in items if share.id in lost_before and share.id not in failed]
        for share_id in back:
            log.info("share %s is exported again", share_id)
            self.core.settle(models.Share, share_id, "error", {"status": "available", "status_reason": None})
        return True

    def _stale(self, backend: str | None) -> set[str]:
        """The backends (all, or `backend`) whose exports must be made anew."""
        stale = set()
        for name, driver in self.core.drivers.items():
            if backend and name != backend:
                continue
            try:
                if driver.exports_stale():
                    stale.add(name)
            except Exception as exc:  # noqa: BLE001 -- unknown: the exports are checked, not made anew
                log.warning("backend %s: cannot tell whether its file systems were mounted anew: %s", name, exc)
        return stale

    def start_periodic(self, interval: float, watch_interval: float | None = None) -> None:
        """The periodic check every `interval` s, and a look at each backend's
        export daemons every `watch_interval` s, each backend and kind in a thread
        of its own: one that died is back, with every export, within about that
        long instead of at the next check, however long another's repair takes."""
        def loop():
            while not self._stop.wait(interval):
                self.check_once()

        self._thread = threading.Thread(target=loop, name="shoal-periodic", daemon=True)
        self._thread.start()
        if watch_interval:
            watch(self._stop, watch_interval, self.alive_checks())

    def alive_checks(self) -> dict[str, Callable[[], None]]:
        """The daemon watch's checks, by label: each share backend's export
        daemon, and those of the other checks that have any (the volumes')."""
        checks = {f"shares-{name}": partial(self._check_backend, name, lambda driver: driver.exports_alive(), "died")
                  for name in self.core.drivers}
        for other in self._others:
            if hasattr(other, "alive_checks"):  # the replicas' sync has only the periodic part
                checks.update(other.alive_checks())
        return checks

    def check_once(self) -> None:
        """Deep: each backend's export server serving (daemon, ports, rpcbind); and
        one more try for shares whose export was lost (a pass that raced the
        file systems' coming back, say), so none waits for the next daemon event."""
        run_per_backend(self.core.drivers, partial(self._check_backend, ok=lambda driver: driver.exports_healthy(),
                                                   what="not serving"), "export check")
        self._retry_lost()
        for other in self._others:
            other.check_once()

    def _retry_lost(self) -> None:
        with self.core.db.session() as session:
            backends = set(session.scalars(select(models.Share.backend).distinct().where(
                models.Share.status == "error", models.Share.status_reason.startswith(EXPORT_LOST))))
        for name in backends & set(self.core.drivers):
            with repair_lock(self.core.tasks, "shares", name):
                try:
                    self.ensure_exports(name, lost_only=True)
                except Exception:
                    log.exception("backend %s: exporting the shares whose export was lost failed", name)

    def _check_backend(self, name: str, ok, what: str) -> None:
        repair_when_down(self.core.tasks, "shares", name, self.core.drivers, ok, f"the NFS server {what}",
                         self.ensure_exports)

    def stop(self) -> None:
        self._stop.set()
