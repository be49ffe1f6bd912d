"""A typed ZFS layer over `zfs`/`zpool` on one host.

Runs the argv that `commands` builds through the host's runner, retries the
transient failures zfs-fuse is known for (and only those), and serializes
destroys and renames per pool, which zfs-fuse cannot do concurrently.

zfs-fuse needs workarounds that kernel OpenZFS does not: an explicit unmount
before a destroy or rename, one property per `zfs set`, a remount after a
rollback. Each runs only where `features()` says this ZFS needs it; kernel
OpenZFS gets the plain commands.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Mapping

from shoal.hosts import CommandError, Host, Retry

from . import commands as cmd

# Failures that pass on their own within a second or two (FUSE mount settling,
# another destroy in flight). Everything else is final.
BUSY = Retry(transient=("dataset is busy", "pool or dataset is busy", "device is busy", "umount: ", "target is busy"), attempts=14, first_delay=0.02, max_delay=1.0)

# A short retry, for a rename that has a better way out than waiting.
BUSY_BRIEFLY = Retry(transient=BUSY.transient, attempts=3, first_delay=0.1, max_delay=0.2)

# A delete's destroy: zfs-fuse answers "dataset is busy" for ten seconds and more
# with no process of ours holding the dataset (e.g. while a mount namespace made
# meanwhile still holds a copy of its mount). Half a minute of patience; what is
# still busy then is hidden for the collector (gc.Collector.drop).
BUSY_PATIENTLY = Retry(transient=BUSY.transient, attempts=22, first_delay=0.02, max_delay=2.0)
ONCE = Retry(transient=BUSY.transient, attempts=1)  # the collector's later tries: it comes again

# A destroy refused because something still needs the object (the full stderr
# is checked: the names ZFS lists after the message can push it out of a tail).
DEPENDANTS = ("has dependent clones", "has children")

NOT_FOUND = ("dataset does not exist", "could not find any snapshots", "no such pool", "no such dataset")


class ZfsError(Exception):
    pass


class ZfsNotFound(ZfsError):
    pass


class ZfsBusy(ZfsError):
    """ZFS still answered busy when the retries ran out."""


@dataclass(frozen=True)
class Features:
    kernel: bool  # kernel OpenZFS (else zfs-fuse)
    zvols: bool
    sharenfs: bool
    resumable_send: bool
    # zfs-fuse's quirks, each off on kernel OpenZFS:
    unmount_first: bool = False  # destroy/rename of a mounted dataset answers "busy" unless unmounted first
    one_property_per_set: bool = False  # `zfs set` takes a single property
    remount_after_rollback: bool = False  # a rollback under an open file wedges the next unmount
    serial_mounts: bool = False  # concurrent creates (each mounts a new file system) can deadlock the daemon

    @classmethod
    def of(cls, kernel: bool, version_known: bool) -> Features:
        fuse = not kernel
        return cls(kernel=kernel, zvols=kernel, sharenfs=kernel, resumable_send=kernel and version_known,
                   unmount_first=fuse, one_property_per_set=fuse, remount_after_rollback=fuse, serial_mounts=fuse)


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    mounted: bool


@dataclass(frozen=True)
class PoolSpace:
    size: int
    free: int
    allocated: int


def _not_found(err: CommandError) -> bool:
    return any(s in err.stderr for s in NOT_FOUND)


def _zfs_error(err: CommandError) -> ZfsError:
    return ZfsNotFound(str(err)) if _not_found(err) else ZfsError(str(err))


class Zfs:
    def __init__(self, host: Host):
        self.host = host
        self._pool_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._features: Features | None = None

    def _pool_lock(self, name: str) -> threading.Lock:
        pool = name.split("/")[0].split("@")[0]
        with self._locks_guard:
            return self._pool_locks.setdefault(pool, threading.Lock())

    def _run(self, argv, retry: Retry | None = None, timeout: float | None = None):
        try:
            return self.host.run(argv, retry=retry, timeout=timeout)
        except CommandError as err:
            raise _zfs_error(err) from None

    # ---- datasets -------------------------------------------------------

    @contextmanager
    def _mounting(self, name: str):
        """Around a command that mounts a new file system: one at a time per pool
        where the features say so (with the destroys, which unmount)."""
        if self.features().serial_mounts:
            with self._pool_lock(name):
                yield
        else:
            yield

    def create(self, dataset: str, properties: Mapping[str, str] | None = None, parents: bool = False) -> None:
        with self._mounting(dataset):
            self._run(cmd.create(dataset, properties, parents))

    def destroy(self, name: str, recursive: bool = False) -> bool:
        """Destroy a dataset or snapshot; False if it was already gone."""
        with self._pool_lock(name):
            if "@" not in name and self.features().unmount_first:
                # zfs-fuse answers "dataset is busy" when destroy has to unmount
                # by itself; an explicit unmount first lets it through at once.
                self.host.run(cmd.unmount(name), check=False)
            try:
                self._run(cmd.destroy(name, recursive=recursive), retry=BUSY)
            except ZfsNotFound:
                return False
        return True

    def snapshot(self, name: str) -> None:
        self._run(cmd.snapshot(name))

    def clone(self, snapshot_name: str, dataset: str, properties: Mapping[str, str] | None = None) -> None:
        with self._mounting(dataset):
            self._run(cmd.clone(snapshot_name, dataset, properties))

    def promote(self, dataset: str) -> None:
        with self._pool_lock(dataset):
            self._run(cmd.promote(dataset), retry=BUSY)

    def rollback(self, snapshot_name: str, destroy_later: bool = False) -> None:
        """`destroy_later`: the later snapshots of the dataset go with it (`-r`)."""
        self._run(cmd.rollback(snapshot_name, destroy_later), retry=BUSY)

    def remount(self, dataset: str) -> None:
        """Unmount (retrying while busy: this proves no file is open) and mount
        again, where a rollback needs it (zfs-fuse); elsewhere nothing."""
        if not self.features().remount_after_rollback:
            return
        with self._pool_lock(dataset):
            try:
                self._run(cmd.unmount(dataset), retry=BUSY)
            except ZfsError as exc:
                # A remount cut short (its mount answered busy) left it unmounted: mount it.
                if "not currently mounted" not in str(exc):
                    raise
            self._run(cmd.mount(dataset), retry=BUSY)

    def rename(self, old: str, new: str) -> None:
        """Rename; a mounted dataset is unmounted first where ZFS refuses otherwise (zfs-fuse)."""
        with self._pool_lock(old):
            if "@" not in old and self.features().unmount_first and self.get(old, ["mounted"]).get("mounted") == "yes":
                self._run(cmd.unmount(old), retry=BUSY)
                self._run(cmd.rename(old, new), retry=BUSY)
                self._run(cmd.mount(new), retry=BUSY)
            else:
                self._run(cmd.rename(old, new), retry=BUSY)

    def set(self, name: str, properties: Mapping[str, str]) -> None:
        if not properties:
            return
        if not self.features().one_property_per_set:
            self._run(cmd.set_properties(name, properties))
            return
        for key, value in properties.items():
            self._run(cmd.set_properties(name, {key: value}))

    def get(self, name: str, props: Iterable[str]) -> dict[str, str]:
        result = self._run(cmd.get([name], props))
        return cmd.parse_get(result.stdout).get(name, {})

    def exists(self, name: str) -> bool:
        try:
            self._run(cmd.get([name], ["type"]))
        except ZfsNotFound:
            return False
        return True

    def names(self, root: str, types: str = "filesystem", depth: int | None = None) -> list[str]:
        result = self._run(cmd.list_names(root, types=types, depth=depth))
        return [row[0] for row in cmd.parse_rows(result.stdout)]

    def mountpoints(self, root: str) -> dict[str, Mount]:
        """The mountpoint of every file system under `root`, and whether it is
        mounted, in one command."""
        result = self._run(cmd.list_mountpoints(root))
        return {row[0]: Mount(row[1], row[2] == "yes") for row in cmd.parse_rows(result.stdout) if len(row) >= 3}

    def mount(self, dataset: str) -> None:
        """`zfs mount` (a file system left unmounted, e.g. after zfs-fuse came back)."""
        self._run(cmd.mount(dataset), retry=BUSY)

    def snapshots(self, dataset: str) -> list[dict[str, str]]:
        """Snapshots of one dataset, oldest first (by the transaction group that made
        them: `creation` has only seconds), with creation/used/referenced in bytes."""
        result = self._run(cmd.get([dataset], ["creation", "used", "referenced", "createtxg"], depth=1))
        rows = [{"name": name, **props} for name, props in cmd.parse_get(result.stdout).items()
                if name.startswith(dataset + "@")]

        def age(row):
            return tuple(int(row[k]) if row.get(k, "").isdigit() else 0 for k in ("createtxg", "creation"))

        return sorted(rows, key=age)

    def send_receive(self, snapshot_name: str, target: str) -> None:
        """`zfs send SNAP | zfs receive TARGET` as two processes joined by the host."""
        try:
            self.host.pipe(cmd.send(snapshot_name), cmd.receive(target))
        except CommandError as err:
            # zfs-fuse says "could not send SNAP: does not exist"; OpenZFS "dataset does not exist".
            if _not_found(err) or ("could not send" in err.stderr and "does not exist" in err.stderr):
                raise ZfsNotFound(str(err)) from None
            raise ZfsError(str(err)) from None

    # ---- added for the volume driver: zvols, sourced reads, inherit --------

    def create_volume(self, zvol: str, size_bytes: int, properties: Mapping[str, str] | None = None, sparse: bool = True) -> None:
        """`zfs create [-s] -V BYTES` (kernel OpenZFS only: zfs-fuse has no zvols)."""
        self._run(cmd.create_volume(zvol, size_bytes, properties, sparse=sparse))

    def get_tree(self, root: str, props: Iterable[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """Every dataset, zvol and snapshot under `root` (itself included) with
        {property: (value, source)}, in ZFS's order (snapshots oldest first).
        One `zfs get -r`: zfs-fuse's `zfs list` has no `-p`."""
        result = self._run(cmd.get_sourced([root], props, recursive=True))
        return cmd.parse_get_sourced(result.stdout)

    def local_properties(self, name: str) -> dict[str, str]:
        """Properties set on `name` itself (source `local`)."""
        result = self._run(cmd.get_sourced([name], ["all"], sources=["local"]))
        return {prop: value for prop, (value, _) in cmd.parse_get_sourced(result.stdout).get(name, {}).items()}

    def inherit(self, name: str, prop: str) -> None:
        self._run(cmd.inherit(name, prop))

    def destroy_unless_needed(self, name: str, retry: Retry = BUSY) -> bool:
        """Destroy a snapshot, dataset or zvol that nothing depends on.

        True when it is gone (destroyed now or before); False, changing nothing,
        when ZFS refuses because clones or snapshots still depend on it. Never
        recursive. Busy answers are retried as `retry` says, then raise ZfsBusy;
        other failures raise ZfsError.
        """
        with self._pool_lock(name):
            unmounted = "@" not in name and self.features().unmount_first
            if unmounted:
                self.host.run(cmd.unmount(name), check=False)
            try:
                self.host.run(cmd.destroy(name), retry=retry)
            except CommandError as err:
                if _not_found(err):
                    return True
                if any(s in err.stderr for s in DEPENDANTS):
                    if unmounted:  # it was unmounted for nothing: put it back
                        self.host.run(cmd.mount(name), check=False)
                    return False
                raise (ZfsBusy if BUSY.matches(err) else ZfsError)(str(err)) from None
        return True

    def rename_past_clones(self, old: str, new: str, clones: Iterable[str] = ()) -> None:
        """Rename a dataset whose snapshots have `clones`.

        zfs-fuse answers `dataset is busy` to such a rename, now and then and
        for as long as a clone stays mounted (checked: ~1 in 3 renames, still
        busy 10 s later; fine once the clones are unmounted). After a short
        retry, the clones that are not in use are unmounted for the rename and
        mounted again. The dataset itself is unmounted and remounted as in
        `rename`.
        """
        clones = list(clones)
        with self._pool_lock(old):
            if not self.features().unmount_first:
                self._run(cmd.rename(old, new), retry=BUSY)
                return
            mounted = "@" not in old and self.get(old, ["mounted"]).get("mounted") == "yes"
            if mounted:
                self._run(cmd.unmount(old), retry=BUSY)
            try:
                try:
                    self._run(cmd.rename(old, new), retry=BUSY_BRIEFLY)
                except ZfsError as exc:
                    if "busy" not in str(exc) or not clones:
                        raise
                    self._rename_with_clones_unmounted(old, new, clones)
            except ZfsError:
                if mounted:
                    self.host.run(cmd.mount(old), check=False)
                raise
            if mounted:
                self._run(cmd.mount(new), retry=BUSY)

    def _rename_with_clones_unmounted(self, old: str, new: str, clones: list[str]) -> None:
        unmounted = [c for c in clones if self.host.run(cmd.unmount(c), check=False).returncode == 0]
        try:
            self._run(cmd.rename(old, new), retry=BUSY)
        finally:
            failed = []
            for clone in unmounted:
                try:
                    self._run(cmd.mount(clone), retry=BUSY)
                except ZfsError as exc:
                    failed.append(f"{clone}: {exc}")
            if failed:
                raise ZfsError("could not mount clones again after a rename: " + "; ".join(failed))

    # ---- pools ------------------------------------------------------------

    def pool_space(self, pool_or_dataset: str) -> PoolSpace:
        """Space as the dataset sees it: used + available below it.

        For a nested dataset this honours its quota, unlike `zpool get size`.
        """
        props = self.get(pool_or_dataset, ["used", "available"])
        used = cmd.parse_size(props.get("used", "0"))
        free = cmd.parse_size(props.get("available", "0"))
        return PoolSpace(size=used + free, free=free, allocated=used)

    def pools(self) -> list[str]:
        result = self._run(cmd.zpool_list())
        return [row[0] for row in cmd.parse_rows(result.stdout)]

    # ---- features ---------------------------------------------------------

    def features(self) -> Features:
        """Kernel OpenZFS or zfs-fuse, and what follows from it (cached)."""
        if self._features is None:
            kernel = self.host.run(["test", "-e", "/sys/module/zfs"], check=False).returncode == 0
            version = self.host.run(["zfs", "version"], check=False)
            self._features = Features.of(kernel, version.returncode == 0)
        return self._features
