"""Driver-assisted share migration between ZFS backends (pools of this host or
of another one over SSH): the copies are the replication machinery's
(`zfs send | zfs receive` joined by Shoal, full then incremental, counted and
stoppable by id; see replication.py), without its domain rule -- any two ZFS
backends can move a share between them.

Departs from Manila's ZFSonLinux driver (shared/reference/openstack-drivers.md
§1.15): the first phase runs supervised instead of blocking its caller, the
source is frozen (read-only at ZFS, then over NFS) only for the short last
incremental, the destination takes the share's type's properties, and the
source goes only after the destination is exported. Part of ZfsShareDriver."""

from __future__ import annotations

from collections.abc import Callable

from shoal.drivers.base import (
    AccessRule,
    InvalidRequest,
    ShareDriver,
    ShareRef,
    ShareResult,
)

from . import options


class ZfsMigration:
    """Mixed into ZfsShareDriver (with ZfsReplication)."""

    def migration_check(self, source: ShareDriver) -> None:
        if not isinstance(source, ZfsMigration):
            raise InvalidRequest(f"backend {getattr(source, 'backend_name', source)} is not a ZFS backend: "
                                 f"its shares cannot move to {self.backend_name} by zfs send/receive")

    def migration_copy(self, dest: ShareRef, source: ShareDriver, share: ShareRef, tag: str, since: str | None,
                       progress: Callable[[int], None] | None = None) -> int:
        self.migration_check(source)  # so a ZfsShareDriver, with the replication machinery
        return self._bring(dest, source, share, tag, since, progress, None)

    def migration_freeze(self, share: ShareRef, rules: list[AccessRule], frozen: bool, fresh: bool = False) -> None:
        self.export_replica(share, rules, writable=not frozen, fresh=fresh)

    def _keyed(self, dest: ShareRef, key: str) -> ShareRef:
        return ShareRef(key, dest.pool, dest.size_gb, self.dataset_name(dest), dest.extra_specs)

    def migration_activate(self, dest: ShareRef, key: str, rules: list[AccessRule]) -> ShareResult:
        dataset = self.dataset_name(dest)
        # zfs-fuse: the incremental receives left the mount stale (see replication.py)
        self.zfs.remount(dataset)
        props = options.dataset_properties(dest.size_gb, dest.extra_specs, self.configured)
        props.pop("readonly")  # export_replica turns it off, before the export
        current = self.zfs.get(dataset, list(props))
        self.zfs.set(dataset, {k: v for k, v in props.items() if k == "refquota" or current.get(k) != v})
        return self.export_replica(self._keyed(dest, key), rules, writable=True)

    def migration_deactivate(self, dest: ShareRef, key: str) -> None:
        self.unmanage(self._keyed(dest, key))

    def migration_remove(self, copy: ShareRef) -> None:
        dataset = self.dataset_name(copy)
        self._forget_mountpoint(dataset)
        self.zfs.destroy(dataset, recursive=True)
