"""File shares on ZFS datasets, exported over NFS by a pluggable helper.

Follows Manila's ZFS-on-Linux driver where it is right (one dataset per share,
share-from-snapshot by `send | receive` without `-p`, so neither the parent's
properties nor its access rules are inherited, and deleting the parent later
always works) and departs from it where it hurts: `refquota` instead of
`quota`, retries only for the transient busy errors, no fixed sleeps, and
capacity measured on the configured dataset rather than the whole zpool.
"""

from __future__ import annotations

import logging
import math
import threading
from contextlib import ExitStack

from shoal.drivers.base import (
    AccessRule,
    DriverError,
    ExportLocation,
    NotFoundOnBackend,
    PoolStats,
    ShareDriver,
    ShareRef,
    ShareResult,
    ShrinkWouldLoseData,
    SnapshotRef,
    SnapshotResult,
    UnsafeToManage,
)
from shoal.exports.nfs.base import ExportsFailed, InvalidNfsRule, NfsClientRule, NfsExport, NfsHelper, check_rule
from shoal.hosts import Host

from . import naming, options
from .config import ZfsBackendConfig
from .migration import ZfsMigration
from .remounts import RemountWatch
from .replication import ZfsReplication
from .zfs import Mount, Zfs, ZfsError, ZfsNotFound

log = logging.getLogger(__name__)
GiB = 1024**3


def gib_up(nbytes: int) -> int:
    return max(1, math.ceil(nbytes / GiB))


class ZfsShareDriver(ZfsMigration, ZfsReplication, ShareDriver):
    def __init__(self, name: str, config: ZfsBackendConfig, host: Host, nfs: NfsHelper, zfs: Zfs | None = None,
                 mounts_memory: str | None = None):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.host = host
        self.zfs = zfs or Zfs(host)  # the backend's volume driver shares it (see backend.build)
        self.nfs = nfs
        self.configured = options.configured_options(config.creation_options)
        self._mountpoints: dict[str, str] = {}
        self._remounts = RemountWatch(host, self.zfs, config.pools, mounts_memory)
        # What this process last exported of each share (and replica), so that a pass
        # that makes every export anew also takes those the caller's list leaves out:
        # one being created or in an error state holds a handle of the old mounts too.
        self._made: dict[str, NfsExport] = {}
        # The exports removed while each ensure_shares() pass runs: the pass read its
        # list before, so it may make one of them again (a share deleted meanwhile).
        self._removed_during: list[set[str]] = []
        self._passes_lock = threading.Lock()

    # ---- names: built from ids, never from user text -----------------------

    def _pool_root(self, pool: str) -> str:
        return naming.pool_root(self.config.pools, pool, self.backend_name)

    def dataset_name(self, share: ShareRef) -> str:
        return share.provider_location or f"{self._pool_root(share.pool)}/{self.config.dataset_prefix}{share.id}"

    def snapshot_name(self, snapshot: SnapshotRef) -> str:
        return snapshot.provider_location or f"{self.dataset_name(snapshot.share)}@{self.config.snapshot_prefix}{snapshot.id}"

    pool_of = staticmethod(naming.pool_of)

    # ---- setup and stats ----------------------------------------------------

    def start(self) -> None:
        self.nfs.start()

    def exports_healthy(self) -> bool:
        return self.nfs.healthy() and not self._remounts.remounted()

    def exports_alive(self) -> bool:
        return self.nfs.alive() and not self._remounts.remounted()

    def exports_stale(self) -> bool:
        return self._remounts.remounted()

    def exports_renewed(self) -> None:
        self._remounts.settled()

    def problems(self) -> list[str]:
        found = []
        try:
            zpools = set(self.zfs.pools())
        except ZfsError as exc:
            return [f"ZFS is not reachable ({exc}); fix: scripts/host-setup (starts zfs-fuse)"]
        for root in self.config.pools:
            if self.pool_of(root) not in zpools:
                found.append(f"zpool {self.pool_of(root)!r} is missing; fix: scripts/host-setup --pool, or zpool create/import it")
            elif not self.zfs.exists(root):
                found.append(f"dataset {root!r} is missing; fix: zfs create -p {root}")
        found += self.nfs.problems()
        return found

    def pools(self) -> list[PoolStats]:
        stats = []
        caps = options.capabilities(self.configured)
        for root in self.config.pools:
            space = self.zfs.pool_space(root)
            stats.append(
                PoolStats(
                    name=self.pool_of(root),
                    total_gb=round(space.size / GiB, 2),
                    free_gb=round(space.free / GiB, 2),
                    allocated_gb=round(space.allocated / GiB, 2),
                    capabilities={
                        "dataset": root,
                        "thin_provisioning": [True],
                        "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
                        "reserved_percentage": self.config.reserved_percentage,
                        "qos": False,
                        "snapshot_support": True,
                        "create_share_from_snapshot_support": True,
                        "revert_to_snapshot_support": True,
                        "mount_snapshot_support": False,
                        "driver_handles_share_servers": False,
                        **caps,
                        **self.replication_capabilities(),
                    },
                )
            )
        return stats

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        options.from_extra_specs(extra_specs, self.configured)
        self.check_replication_spec(extra_specs)

    # ---- exports --------------------------------------------------------------

    def _mountpoint(self, dataset: str, cached: bool = True) -> str:
        """Where the dataset is mounted. Shoal never changes a mountpoint, so it is
        asked once per dataset (and again after a restart or a rename)."""
        if cached and dataset in self._mountpoints:
            return self._mountpoints[dataset]
        return self._remember_mountpoint(dataset, self.zfs.get(dataset, ["mountpoint"]).get("mountpoint", ""))

    def _remember_mountpoint(self, dataset: str, mountpoint: str) -> str:
        if not mountpoint.startswith("/"):
            raise DriverError(f"dataset {dataset} has no mountpoint ({mountpoint or 'none'})")
        self._mountpoints[dataset] = mountpoint
        return mountpoint

    def _forget_mountpoint(self, dataset: str) -> str:
        """The mountpoint of a dataset about to go away ('' if it is gone already)."""
        try:
            return self._mountpoint(dataset)
        except ZfsNotFound:
            return ""
        finally:
            self._mountpoints.pop(dataset, None)

    def _locations(self, mountpoint: str) -> list[ExportLocation]:
        admin = self.config.admin_export_address or self.config.export_address
        return [
            ExportLocation(f"{self.config.export_address}:{mountpoint}", is_admin_only=False, preferred=True),
            ExportLocation(f"{admin}:{mountpoint}", is_admin_only=True),
        ]

    @staticmethod
    def _client_rules(rules: list[AccessRule]) -> tuple[tuple[NfsClientRule, ...], dict[str, str]]:
        """The rules as NFS client entries, and {rule id: why not} for those that cannot be."""
        failed: dict[str, str] = {}
        client_rules = []
        for rule in rules:
            if rule.access_type != "ip":
                failed[rule.id] = f"access type {rule.access_type!r} is not supported over NFS here; use 'ip'"
                continue
            client = NfsClientRule(rule.id, rule.access_to, rule.access_level)
            try:
                check_rule(client)
            except InvalidNfsRule as exc:
                failed[rule.id] = str(exc)
                continue
            client_rules.append(client)
        return tuple(client_rules), failed

    def _export(self, share: ShareRef, dataset: str, mountpoint: str, rules: list[AccessRule]) -> dict[str, str]:
        client_rules, failed = self._client_rules(rules)
        export = NfsExport(share.id, mountpoint, dataset, client_rules)
        self._made[share.id] = export  # before: a remount pass during the apply takes it too
        failed.update(self.nfs.apply(export))
        return failed

    def _unexport(self, key: str, mountpoint: str, dataset: str) -> None:
        with self._passes_lock:
            self._made.pop(key, None)
            for removed in self._removed_during:
                removed.add(key)
        self.nfs.remove(NfsExport(key, mountpoint, dataset))

    # ---- shares -----------------------------------------------------------------

    def create_share(self, share: ShareRef) -> ShareResult:
        dataset = self.dataset_name(share)
        props = options.dataset_properties(share.size_gb, share.extra_specs, self.configured)
        with ExitStack() as undo:
            self.zfs.create(dataset, props)
            undo.callback(self.zfs.destroy, dataset, True)
            mountpoint = self._mountpoint(dataset)
            self._export(share, dataset, mountpoint, [])
            undo.pop_all()
        return ShareResult(dataset, self._locations(mountpoint), share.size_gb)

    def create_share_from_snapshot(self, share: ShareRef, snapshot: SnapshotRef) -> ShareResult:
        source = self.snapshot_name(snapshot)
        dataset = self.dataset_name(share)
        props = options.dataset_properties(share.size_gb, share.extra_specs, self.configured)
        with ExitStack() as undo:
            # A full stream, not a clone and without -p: the new share is independent
            # of its parent and inherits neither its properties nor its exports.
            try:
                self.zfs.send_receive(source, dataset)
            except ZfsNotFound:
                raise NotFoundOnBackend(f"snapshot {snapshot.id} has no data on the backend") from None
            undo.callback(self.zfs.destroy, dataset, True)
            # zfs-fuse sets one property per command and cannot `receive -o`: set
            # only what the received dataset does not have already (it inherits
            # readonly and the like from the pool's dataset; refquota it never has).
            current = self.zfs.get(dataset, ["mountpoint", *props])
            self.zfs.set(dataset, {k: v for k, v in props.items() if k == "refquota" or current.get(k) != v})
            received = f"{dataset}@{source.split('@', 1)[1]}"
            self.zfs.destroy(received)
            mountpoint = self._remember_mountpoint(dataset, current.get("mountpoint", ""))
            self._export(share, dataset, mountpoint, [])
            undo.pop_all()
        return ShareResult(dataset, self._locations(mountpoint), share.size_gb)

    def delete_share(self, share: ShareRef) -> None:
        dataset = self.dataset_name(share)
        mountpoint = self._forget_mountpoint(dataset)
        # Stop exporting first: the NFS server holds the directory open.
        self._unexport(share.id, mountpoint, dataset)
        if not self.zfs.destroy(dataset, recursive=True):
            log.info("share %s: dataset %s was already gone", share.id, dataset)

    def extend_share(self, share: ShareRef, new_size_gb: int) -> None:
        self.zfs.set(self.dataset_name(share), {"refquota": f"{new_size_gb}G"})

    def shrink_share(self, share: ShareRef, new_size_gb: int) -> None:
        dataset = self.dataset_name(share)
        referenced = int(self.zfs.get(dataset, ["referenced"]).get("referenced", "0"))
        if referenced >= new_size_gb * GiB:
            raise ShrinkWouldLoseData(
                f"share holds {referenced / GiB:.2f} GiB of data, which does not fit in {new_size_gb} GiB"
            )
        try:
            self.zfs.set(dataset, {"refquota": f"{new_size_gb}G"})
        except ZfsError as exc:  # data grew between the check and the set
            raise ShrinkWouldLoseData(str(exc)) from None

    # ---- snapshots ---------------------------------------------------------------

    def create_snapshot(self, snapshot: SnapshotRef) -> SnapshotResult:
        name = self.snapshot_name(snapshot)
        self.zfs.snapshot(name)
        return SnapshotResult(name, snapshot.share.size_gb)

    def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        self.zfs.destroy(self.snapshot_name(snapshot))

    def revert_to_snapshot(self, snapshot: SnapshotRef, rules: list[AccessRule]) -> None:
        """Roll back with nothing open in the dataset. On zfs-fuse, a rollback that
        removes a file someone holds open wedges the next unmount, and with it
        every mount of the daemon. So: unexport, unmount (busy retries prove the
        files are closed), mount, roll back, export again with the share's rules."""
        share = snapshot.share
        dataset = self.dataset_name(share)
        mountpoint = self._mountpoint(dataset)
        self._unexport(share.id, mountpoint, dataset)
        try:
            self.zfs.remount(dataset)
            name = self.snapshot_name(snapshot)
            self._drop_points_after(dataset, name.split("@", 1)[1])  # a replicated share's later points
            self.zfs.rollback(name)
        finally:
            self._export(share, dataset, mountpoint, rules)

    # ---- access ----------------------------------------------------------------------

    def update_access(self, share: ShareRef, rules: list[AccessRule]) -> dict[str, str]:
        dataset = self.dataset_name(share)
        return self._export(share, dataset, self._mountpoint(dataset), rules)

    def ensure_share(self, share: ShareRef, rules: list[AccessRule]) -> list[ExportLocation]:
        dataset = self.dataset_name(share)
        try:
            mountpoint = self._mountpoint(dataset, cached=False)
        except ZfsNotFound:
            raise NotFoundOnBackend(f"dataset {dataset} no longer exists") from None
        self._export(share, dataset, mountpoint, rules)
        return self._locations(mountpoint)

    def ensure_shares(self, shares: list[tuple[ShareRef, list[AccessRule]]], fresh: bool = False) -> dict[str, str]:
        """All at once: one listing of each pool's file systems and one pass of the
        export helper (for ganesha, one config write and one reload), so that a
        restart costs about the same for a thousand shares as for one. A share
        that fails stops none of the others. A share's file system left unmounted
        is mounted; `fresh` (the file systems were all mounted anew: zfs-fuse
        came back), every export is made again, not only checked, with the other
        exports this process made (a share being created, one in error, a replica)
        as they were last made. An export removed while the pass runs (its share
        deleted or unmanaged meanwhile) is removed again after it."""
        removed: set[str] = set()
        with self._passes_lock:
            self._removed_during.append(removed)
        try:
            failed, exports = self._ensure_pass(shares, fresh)
        except BaseException:
            with self._passes_lock:
                self._removed_during.remove(removed)
            raise
        with self._passes_lock:
            self._removed_during.remove(removed)
            self._made.update((e.key, e) for e in exports if e.key not in failed and e.key not in removed)
        for export in exports:
            if export.key in removed:
                log.info("export %s was removed while every export was ensured; removing it again", export.key)
                self.nfs.remove(export)
                failed.pop(export.key, None)
        asked = {share.id for share, _ in shares}
        for key in set(failed) - asked:
            log.warning("export %s (not a steady share) could not be made anew: %s", key, failed.pop(key))
        return failed

    def _ensure_pass(self, shares: list[tuple[ShareRef, list[AccessRule]]],
                     fresh: bool) -> tuple[dict[str, str], list[NfsExport]]:
        """(failures, the exports made) of one ensure_shares() pass."""
        failed: dict[str, str] = {}
        wanted = [(share.id, self.dataset_name(share), self._pool_root(share.pool), self._client_rules(rules)[0])
                  for share, rules in shares]
        if fresh:
            listed = {key for key, *_ in wanted}
            for key, export in list(self._made.items()):
                roots = [r for r in self.config.pools if export.dataset.startswith(r + "/")]
                if key not in listed and roots:
                    wanted.append((key, export.dataset, max(roots, key=len), export.rules))
        mounts: dict[str, Mount] = {}
        for root in dict.fromkeys(root for _, _, root, _ in wanted):
            try:
                mounts.update(self.zfs.mountpoints(root))
            except ZfsNotFound:
                pass  # the pool's root is gone: each of its shares says so below
        exports = []
        for key, dataset, _, rules in wanted:
            if dataset not in mounts:
                failed[key] = f"dataset {dataset} no longer exists"
                self._made.pop(key, None)
                continue
            try:
                mountpoint = self._remember_mountpoint(dataset, mounts[dataset].mountpoint)
                if not mounts[dataset].mounted:
                    log.warning("share %s: %s was not mounted; mounting it", key, dataset)
                    self.zfs.mount(dataset)
            except (DriverError, ZfsError) as exc:
                failed[key] = str(exc)
                continue
            exports.append(NfsExport(key, mountpoint, dataset, rules))
        try:
            self.nfs.ensure(exports, fresh=fresh)
        except ExportsFailed as exc:
            lost = {key: "; ".join(reasons) for key, reasons in exc.failed.items()}
            failed.update(lost or {export.key: str(exc) for export in exports})
        return failed, exports

    # ---- manage ----------------------------------------------------------------------

    def _dataset_from_reference(self, reference: str) -> str:
        """An export path (`host:/pool/ds`), a mountpoint (`/pool/ds`) or a dataset name."""
        ref = reference.strip()
        if ":/" in ref:
            ref = ref.split(":/", 1)[1]
        return ref.strip("/")

    def reference_owner(self, reference: str, managed: list[ShareRef]) -> str | None:
        dataset = self._dataset_from_reference(reference)
        return next((s.id for s in managed if s.provider_location == dataset), None)

    def manage_existing(self, share: ShareRef, reference: str) -> ShareResult:
        old = self._dataset_from_reference(reference)
        root = self._pool_root(share.pool)
        if not old.startswith(root + "/"):
            raise UnsafeToManage(f"{old!r} is not inside pool {root!r} of backend {self.backend_name}")
        try:
            props = self.zfs.get(old, ["type", "referenced", "origin", "sharenfs", "mountpoint"])
        except ZfsNotFound:
            raise UnsafeToManage(f"dataset {old!r} does not exist") from None
        if props.get("type") != "filesystem":
            raise UnsafeToManage(f"{old!r} is a {props.get('type')}, not a filesystem")
        if self.zfs.names(old, depth=1)[1:]:
            raise UnsafeToManage(f"{old!r} has child datasets")
        if props.get("sharenfs", "off") != "off":
            raise UnsafeToManage(f"{old!r} is in use: it is exported through sharenfs")
        if props.get("origin", "-") != "-":
            raise UnsafeToManage(f"{old!r} is a clone of {props['origin']}; promote it first")
        size = share.size_gb or gib_up(int(props.get("referenced") or 0))
        if int(props.get("referenced") or 0) > size * GiB:
            raise UnsafeToManage(f"{old!r} holds more data than the requested {size} GiB")
        new = f"{root}/{self.config.dataset_prefix}{share.id}"
        self.zfs.rename(old, new)
        try:
            self.zfs.set(new, {"refquota": f"{size}G", "readonly": "off"})
            mountpoint = self._mountpoint(new)
            self._export(share, new, mountpoint, [])
        except DriverError:
            self._mountpoints.pop(new, None)
            self.zfs.rename(new, old)
            raise
        return ShareResult(new, self._locations(mountpoint), size)

    def unmanage(self, share: ShareRef) -> None:
        dataset = self.dataset_name(share)
        self._unexport(share.id, self._forget_mountpoint(dataset), dataset)

    def manage_existing_snapshot(self, snapshot: SnapshotRef, reference: str) -> SnapshotResult:
        dataset = self.dataset_name(snapshot.share)
        ref = reference.strip()
        tag = ref.split("@", 1)[1] if "@" in ref else ref
        old = f"{dataset}@{tag}"
        if "@" in ref and ref.split("@", 1)[0] != dataset:
            raise UnsafeToManage(f"snapshot {ref!r} does not belong to share {snapshot.share.id}'s dataset {dataset}")
        if not tag or not self.zfs.exists(old):
            raise UnsafeToManage(f"snapshot {old!r} does not exist")
        new = f"{dataset}@{self.config.snapshot_prefix}{snapshot.id}"
        if old != new:
            self.zfs.rename(old, new)
        return SnapshotResult(new, snapshot.share.size_gb)

    def unmanage_snapshot(self, snapshot: SnapshotRef) -> None:
        """Nothing to do on ZFS: the snapshot stays where it is."""
