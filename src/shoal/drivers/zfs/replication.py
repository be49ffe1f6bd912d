"""Readable share replicas on ZFS: one writable active dataset, read-only copies
kept in step with `zfs send | zfs receive` between backends of one replication
domain (pools of this host or of another one over SSH).

Departs from Manila's ZFSonLinux driver where it hurts (see
shared/reference/openstack-drivers.md §1.14): a secondary is read-only at the
ZFS level (`readonly=on`) as well as over NFS, at all times; a demoted active
is made read-only (a real `zfs set`, not a shell builtin) before anything
else, so no write lands after its last snapshot; the stream is joined by
Shoal (hosts.transfer), counted for progress and stoppable by id; a step
repeated after a crash picks up where the data is.
"""

from __future__ import annotations

from typing import Callable

from shoal.drivers.base import AccessRule, DriverError, InvalidRequest, ShareDriver, ShareRef, ShareResult

from . import resumable
from .zfs import ZfsError, ZfsNotFound

REPLICATION_TYPE = "readable"
TAG_PREFIX = "repl-"  # every replication snapshot's name starts so; user snapshots never do
GiB = 1024**3


def read_only(rules: list[AccessRule]) -> list[AccessRule]:
    """Rules as a secondary gets them: the same clients, read-only."""
    return [AccessRule(r.id, r.access_type, r.access_to, "ro") for r in rules]


class ZfsReplication:
    """Mixed into ZfsShareDriver (which provides config, host, zfs, _export, ...)."""

    # ---- what this backend offers ------------------------------------------------------

    @property
    def replication_domain(self) -> str | None:
        return self.config.replication_domain

    def replication_capabilities(self) -> dict:
        if not self.replication_domain:
            return {}
        return {"replication_type": REPLICATION_TYPE, "replication_domain": self.replication_domain}

    def check_replication_spec(self, extra_specs: dict[str, str]) -> None:
        wanted = extra_specs.get("replication_type")
        if wanted is None:
            return
        if wanted.strip() != REPLICATION_TYPE:
            raise InvalidRequest(f"replication_type {wanted!r} is not offered here; only {REPLICATION_TYPE!r}")
        if not self.replication_domain:
            raise InvalidRequest(f"backend {self.backend_name} has no replication_domain configured")

    def _same_domain(self, source: ShareDriver) -> "ZfsReplication":
        if not isinstance(source, ZfsReplication) or source.replication_domain != self.replication_domain \
                or not self.replication_domain:
            raise InvalidRequest(f"backend {getattr(source, 'backend_name', source)} is not in replication "
                                 f"domain {self.replication_domain!r} of backend {self.backend_name}")
        return source

    # ---- snapshots the replicas share ----------------------------------------------------

    def take_replication_snapshot(self, share: ShareRef, tag: str) -> None:
        name = f"{self.dataset_name(share)}@{tag}"
        try:
            self.zfs.snapshot(name)
        except ZfsError as exc:
            if "already exists" not in str(exc) and "dataset exists" not in str(exc):
                raise DriverError(f"replication snapshot {name}: {exc}") from None

    def _snapshot_names(self, dataset: str) -> list[str]:
        """The names (after '@') of a dataset's snapshots, oldest first; none if it is gone."""
        try:
            rows = self.zfs.snapshots(dataset)
        except ZfsNotFound:
            return []
        return [r["name"].split("@", 1)[1] for r in rows]

    def replication_tags(self, share: ShareRef) -> list[str]:
        """The replication snapshots a share or replica holds, oldest first."""
        return [t for t in self._snapshot_names(self.dataset_name(share)) if t.startswith(TAG_PREFIX)]

    def snapshot_locations(self, copy: ShareRef, snapshot_ids: list[str]) -> dict[str, str]:
        """Which of the share's snapshots (by id) this copy holds, and their names here."""
        dataset = self.dataset_name(copy)
        held = set(self._snapshot_names(dataset))
        return {i: f"{dataset}@{self.config.snapshot_prefix}{i}" for i in snapshot_ids
                if f"{self.config.snapshot_prefix}{i}" in held}

    def _drop_points_after(self, dataset: str, name: str) -> None:
        """Destroy the replication snapshots taken after `dataset@name` (a revert
        to it would fail on them; the replicas find an older common point)."""
        names = self._snapshot_names(dataset)
        for later in names[names.index(name) + 1:] if name in names else []:
            if later.startswith(TAG_PREFIX):
                self.zfs.destroy(f"{dataset}@{later}")

    def drop_replication_snapshots(self, share: ShareRef, keep: set[str]) -> None:
        """Destroy the replication snapshots of `share` that no replica needs."""
        dataset = self.dataset_name(share)
        for tag in self.replication_tags(share):
            if tag not in keep:
                self.zfs.destroy(f"{dataset}@{tag}")

    # ---- the copy ---------------------------------------------------------------------------

    def replication_estimate(self, share: ShareRef, tag: str) -> int:
        """Bytes a full stream of `share@tag` is about to carry (for progress)."""
        try:
            return int(self.zfs.get(f"{self.dataset_name(share)}@{tag}", ["referenced"]).get("referenced") or 0)
        except (ZfsError, ValueError):
            return 0

    def replicate(self, replica: ShareRef, source: ShareDriver, active: ShareRef, tag: str, since: str | None,
                  progress: Callable[[int], None] | None = None, rules: list[AccessRule] | None = None) -> int:
        """Bring `replica` (on this backend) to the active's snapshot `tag` (on
        `source`): a full stream when `since` is None, else the changes since
        `since`, the last snapshot both hold (whatever changed on the replica
        since then is discarded: `receive -F`). The replica ends read-only at
        the ZFS level with the active's size. Repeatable: a replica already at
        `tag` is left alone; a cut stream is resumed where ZFS has resume tokens,
        else sent again (resumable.py). `rules`: the replica is exported
        (read-only) with them, and stays so. Returns the bytes sent."""
        return self._carry(replica, self._same_domain(source), active, tag, since, progress, rules)

    def _carry(self, replica: ShareRef, source: "ZfsReplication", active: ShareRef, tag: str, since: str | None,
               progress: Callable[[int], None] | None, rules: list[AccessRule] | None) -> int:
        """A replica's copy brings the active's snapshots along (Manila's replicated
        snapshots: `zfs send -I`, as its ZFSonLinux driver's `send -R -I`).

        The stream starts from the newest snapshot both copies hold -- `since`
        when it is still on both, else an older one (after a revert on the
        active removed later points): the replica is rolled back to it first.
        With none in common, or a first copy, the whole history is sent: the
        oldest snapshot of the active in full, then every later one with -I."""
        target = self.dataset_name(replica)
        source_dataset = source.dataset_name(active)
        held = self._snapshot_names(target)
        if tag in held:
            self._settle_replica(target, replica)
            return 0
        history = source._snapshot_names(source_dataset)
        if tag not in history:
            raise DriverError(f"the active copy {source_dataset} has no snapshot {tag}")
        history = history[:history.index(tag) + 1]
        on_source = set(history)
        base = since if since in held and since in on_source else \
            next((name for name in reversed(held) if name in on_source), None)
        if base is None:
            existed = self.zfs.exists(target)
            if existed and not resumable.partial_copy(self.zfs, target):
                mountpoint = self._forget_mountpoint(target)
                if rules is not None:  # the NFS server holds it open
                    self._unexport(replica.id, mountpoint, target)
                self.zfs.destroy(target, recursive=True)
            first = history[0]
            moved = self._bring(replica, source, active, first, None, progress, None, held=[])
            if first != tag:  # the full stream of `first` left it holding that one snapshot
                moved += self._bring(replica, source, active, tag, first, self._after(moved, progress), None,
                                     intermediates=True, held=[first])
            if existed and rules is not None:
                self._export(replica, target, self._mountpoint(target, cached=False), read_only(rules))
            return moved
        return self._bring(replica, source, active, tag, base, progress, rules, intermediates=True,
                           rollback=base != held[-1], held=held)

    @staticmethod
    def _after(offset: int, progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
        """Progress of a second stream, counted on from the first's bytes."""
        return None if progress is None else (lambda sent: progress(offset + sent))

    def _bring(self, replica: ShareRef, source: "ZfsReplication", active: ShareRef, tag: str, since: str | None,
               progress: Callable[[int], None] | None, rules: list[AccessRule] | None,
               intermediates: bool = False, rollback: bool = False, held: list[str] | None = None) -> int:
        """One stream to `active@tag`, in full or from `since` (a share migration's
        copy is one too). `rollback`: the replica goes back to `since` first,
        losing its later snapshots. `held`: the replica's snapshots, if the
        caller has just listed them."""
        target = self.dataset_name(replica)
        snap = f"{source.dataset_name(active)}@{tag}"
        held = self._snapshot_names(target) if held is None else held
        if tag in held:
            self._settle_replica(target, replica)
            return 0
        if since is None and self.zfs.exists(target) and not resumable.partial_copy(self.zfs, target):
            self._forget_mountpoint(target)
            self.zfs.destroy(target, recursive=True)
        elif since is not None and since not in held:
            raise DriverError(f"replica {replica.id} no longer holds {since}: it needs a full copy (resync)")
        # zfs-fuse: a receive into a mounted dataset leaves its mount stale (names
        # listed that no lookup finds) until it is mounted again, which the NFS
        # server's open handles forbid: the export steps aside for the receive.
        suspend = since is not None and rules is not None and self.zfs.features().remount_after_rollback
        if suspend:
            mountpoint = self._mountpoint(target)
            self._unexport(replica.id, mountpoint, target)
        try:
            if rollback:  # with nothing open in it (zfs-fuse: see ZfsShareDriver.revert_to_snapshot)
                self.zfs.remount(target)
                if resumable.pending(self.zfs, target):  # a cut stream past `since`: it goes too
                    resumable.abort(self.zfs, target)
                self.zfs.rollback(f"{target}@{since}", destroy_later=True)
            moved = resumable.send_stream(
                source.zfs, snap, f"{source.dataset_name(active)}@{since}" if since else None, self.zfs, target,
                progress, what=f"replication of {snap} to {self.backend_name}", intermediates=intermediates)
            if suspend:
                self.zfs.remount(target)
        finally:
            if suspend:
                self._export(replica, target, mountpoint, read_only(rules))
        self._settle_replica(target, replica, new=since is None)
        return moved

    def _settle_replica(self, target: str, replica: ShareRef, new: bool = False) -> None:
        """Read-only with the share's size. An incremental receive changes neither,
        so they are read once and only what differs is set (zfs-fuse sets one
        property per command, ~30-60 ms each, on every sync); a `new` copy (a
        full receive) has neither yet. (zfs-fuse reads readonly as `off`,
        source `temporary`, even while it refuses writes: there it is set on
        every sync, and only refquota is spared.)"""
        current = {} if new else self.zfs.get(target, ["readonly", "refquota"])
        changed = {}
        if current.get("readonly") != "on":
            changed["readonly"] = "on"
        if current.get("refquota") != str(replica.size_gb * GiB):
            changed["refquota"] = f"{replica.size_gb}G"
        self.zfs.set(target, changed)

    # ---- exports and roles --------------------------------------------------------------------

    def export_replica(self, replica: ShareRef, rules: list[AccessRule], writable: bool,
                       fresh: bool = False) -> ShareResult:
        """Export a replica with `rules`, as the active (writable) or as a
        secondary: read-only at the ZFS level first, then over NFS with every
        rule cast to read-only. A dataset turning writable is exported with its
        rules only once ZFS lets it be written. `fresh`: its file system was
        mounted anew, so the NFS server lets go of the old one first."""
        dataset = self.dataset_name(replica)
        try:
            mountpoint = self._mountpoint(dataset, cached=False)
        except ZfsNotFound:
            raise DriverError(f"replica {replica.id}: dataset {dataset} does not exist") from None
        if fresh:
            self._unexport(replica.id, mountpoint, dataset)
        if writable:
            self.zfs.set(dataset, {"readonly": "off"})
            failed = self._export(replica, dataset, mountpoint, rules)
        else:
            self.zfs.set(dataset, {"readonly": "on"})
            failed = self._export(replica, dataset, mountpoint, read_only(rules))
        if failed:
            raise DriverError(f"replica {replica.id}: rules not applied: {failed}")
        return ShareResult(dataset, self._locations(mountpoint), replica.size_gb)

    def delete_replica(self, replica: ShareRef) -> None:
        """Remove a replica's export, dataset and snapshots. Succeeds if already gone."""
        self.delete_share(replica)
