"""Where a volume's bytes live: a zvol, or one sparse file in its own dataset.

- `ZvolLayout` (kernel OpenZFS): ``zfs create [-s] -V BYTES <dataset>``; the
  block device is ``/dev/zvol/<dataset>``; size is ``volsize``. Thick = no
  ``-s`` (ZFS sets ``refreservation``), and ``refreservation=auto`` on clones.
- `FileLayout` (zfs-fuse: no zvols): a dataset holding exactly one sparse raw
  file ``volume.raw`` of the volume's size, made and grown as ``truncate -s`` would
  (``Host.set_file_size``: a syscall on this machine, ``truncate`` over SSH).
  Thick = ``refreservation=<size>`` on the dataset: the pool guarantees the
  space, the file stays sparse (``fallocate`` answers "Operation not
  supported" on zfs-fuse's FUSE mount, and writing zeros would cost O(size)
  and be compressed away anyway).

Snapshots and clones are ZFS snapshots and clones of the dataset or zvol in
both layouts, so they cost O(1) whatever the size. File commands run on the
storage host through its runner (argv lists; the host may be remote).
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod

from shoal.drivers.base import DriverError, NotFoundOnBackend, UnsafeToManage
from shoal.hosts import CommandError, Host

from .zfs import Mount, Zfs, ZfsError, ZfsNotFound

VOLUME_FILE = "volume.raw"
GiB = 1024**3


def gib_up(nbytes: int) -> int:
    return max(1, math.ceil(nbytes / GiB))


def backend_errors(method):
    """ZFS and command failures leave a driver method as the contract's errors."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except ZfsNotFound as exc:
            raise NotFoundOnBackend(str(exc)) from None
        except (ZfsError, CommandError) as exc:
            raise DriverError(str(exc)) from None

    return wrapper


# ---- argv builders for the file layout (pure, unit-tested) ----------------------------------


def list_dir(path: str) -> list[str]:
    """Entries directly in `path`: type letter, size and name, NUL-terminated."""
    return ["find", path, "-mindepth", "1", "-maxdepth", "1", "-printf", "%y\\t%s\\t%P\\0"]


def move(src: str, dst: str) -> list[str]:
    return ["mv", "-n", "-T", "--", src, dst]


def parse_list_dir(text: str) -> list[tuple[str, int, str]]:
    entries = []
    for record in text.split("\0"):
        if record:
            kind, size, name = record.split("\t", 2)
            entries.append((kind, int(size) if size.isdigit() else 0, name))
    return entries


# ---- layouts ---------------------------------------------------------------------------------


class Layout(ABC):
    kind: str
    zfs_type: str  # what `zfs get type` says of a volume in this layout

    def __init__(self, zfs: Zfs, host: Host):
        self.zfs = zfs
        self.host = host

    @abstractmethod
    def create(self, dataset: str, size_bytes: int, props: dict[str, str], thick: bool) -> None: ...

    @abstractmethod
    def backing(self, dataset: str) -> str:
        """The block device or file an iSCSI LUN is backed by."""

    @abstractmethod
    def size(self, dataset: str) -> int: ...

    @abstractmethod
    def grow(self, dataset: str, size_bytes: int, thick: bool = False) -> None:
        """Make the volume `size_bytes` long (callers check that it grows); a
        thick volume's reservation follows (reserved first where that can fail
        before anything changed)."""

    @abstractmethod
    def reserve(self, dataset: str, size_bytes: int, thick: bool) -> None:
        """Thick: the pool guarantees `size_bytes`; thin: no reservation."""

    @abstractmethod
    def shape(self, dataset: str) -> int:
        """Size in bytes of an existing object about to be managed, or
        UnsafeToManage when it is not shaped like a volume."""

    def adopt(self, dataset: str) -> None:
        """After a managed object was renamed to Shoal's name: finish the layout."""

    def forget(self, dataset: str) -> None:
        """`dataset` was destroyed or renamed: drop what is cached about it."""

    def made(self, dataset: str, props: dict[str, str]) -> None:
        """Shoal just created (or cloned) `dataset` with `props`."""

    def learn(self, mounts: dict[str, Mount]) -> None:
        """Mountpoints read in bulk (one `zfs list` for a whole recovery pass)."""

    @staticmethod
    def thick(refreservation: str | None) -> bool:
        return refreservation not in (None, "", "-", "0", "none")


class ZvolLayout(Layout):
    kind = "zvol"
    zfs_type = "volume"

    def create(self, dataset, size_bytes, props, thick):
        self.zfs.create_volume(dataset, size_bytes, props, sparse=not thick)

    def backing(self, dataset):
        return f"/dev/zvol/{dataset}"

    def size(self, dataset):
        return int(self.zfs.get(dataset, ["volsize"]).get("volsize", "0"))

    def grow(self, dataset, size_bytes, thick=False):
        self.zfs.set(dataset, {"volsize": str(size_bytes)})
        if thick:  # `auto` is computed from the new volsize
            self.reserve(dataset, size_bytes, True)

    def reserve(self, dataset, size_bytes, thick):
        self.zfs.set(dataset, {"refreservation": "auto" if thick else "none"})

    def shape(self, dataset):
        return self.size(dataset)


class FileLayout(Layout):
    kind = "file"
    zfs_type = "filesystem"

    def __init__(self, zfs: Zfs, host: Host):
        super().__init__(zfs, host)
        self._mountpoints: dict[str, str] = {}
        self._inferred: set[str] = set()

    def mountpoint(self, dataset: str) -> str:
        """Asked once per dataset: Shoal never changes a mountpoint."""
        if dataset not in self._mountpoints:
            mountpoint = self.zfs.get(dataset, ["mountpoint"]).get("mountpoint", "")
            if not mountpoint.startswith("/"):
                raise DriverError(f"dataset {dataset} has no mountpoint ({mountpoint or 'none'})")
            self._mountpoints[dataset] = mountpoint
        return self._mountpoints[dataset]

    def made(self, dataset, props):
        """A dataset Shoal made inherits its mountpoint: the parent's plus its own name.
        Inferred, not asked (one zfs call less per create and clone); if the file is
        not found there, the real mountpoint is asked for (see _on_backing)."""
        parent, _, leaf = dataset.rpartition("/")
        if "mountpoint" in props or not parent:
            return
        try:
            base = self.mountpoint(parent)
        except (DriverError, ZfsError):
            return
        self._mountpoints[dataset] = f"{base.rstrip('/')}/{leaf}"
        self._inferred.add(dataset)

    def learn(self, mounts):
        for dataset, mount in mounts.items():
            if mount.mountpoint.startswith("/"):
                self._mountpoints[dataset] = mount.mountpoint
                self._inferred.discard(dataset)

    def forget(self, dataset):
        self._mountpoints.pop(dataset, None)
        self._inferred.discard(dataset)

    def backing(self, dataset):
        return f"{self.mountpoint(dataset)}/{VOLUME_FILE}"

    def _run(self, argv: list[str]) -> str:
        try:
            return self.host.run(argv).stdout
        except CommandError as exc:
            raise DriverError(str(exc)) from None

    def _on_backing(self, dataset: str, action):
        """`action(backing file)`; an inferred mountpoint that proves wrong is asked for."""
        try:
            return action(self.backing(dataset))
        except DriverError:
            if dataset not in self._inferred:
                raise
            self.forget(dataset)
            self.forget(dataset.rpartition("/")[0])  # the parent moved: ask for it anew next time
            return action(self.backing(dataset))

    def _truncate(self, size_bytes: int):
        def set_size(path: str) -> None:
            try:
                self.host.set_file_size(path, size_bytes)  # no process on this machine
            except CommandError as exc:
                raise DriverError(str(exc)) from None

        return set_size

    def _file_size(self, path: str) -> int:
        size = self.host.file_size(path)  # os.stat on this machine: no process spawned
        if size <= 0:
            raise DriverError(f"cannot read the size of {path}: missing or empty")
        return size

    def create(self, dataset, size_bytes, props, thick):
        if thick:
            props = {**props, "refreservation": str(size_bytes)}
        self.zfs.create(dataset, props)
        self.made(dataset, props)
        try:
            self._on_backing(dataset, self._truncate(size_bytes))
        except DriverError:
            self.forget(dataset)
            self.zfs.destroy(dataset)
            raise

    def size(self, dataset):
        return self._on_backing(dataset, self._file_size)

    def grow(self, dataset, size_bytes, thick=False):
        if thick:
            self.reserve(dataset, size_bytes, True)
        self._on_backing(dataset, self._truncate(size_bytes))

    def reserve(self, dataset, size_bytes, thick):
        self.zfs.set(dataset, {"refreservation": str(size_bytes) if thick else "none"})

    def _entries(self, dataset: str) -> list[tuple[str, int, str]]:
        try:
            return parse_list_dir(self._run(list_dir(self.mountpoint(dataset))))
        except ZfsNotFound:
            raise UnsafeToManage(f"{dataset!r} does not exist") from None
        except DriverError as exc:
            raise UnsafeToManage(f"{dataset!r} cannot be read: {exc}") from None

    def shape(self, dataset):
        entries = self._entries(dataset)
        if len(entries) != 1 or entries[0][0] != "f":
            found = ", ".join(f"{name} ({kind})" for kind, _, name in entries[:5]) or "nothing"
            raise UnsafeToManage(
                f"{dataset!r} is not shaped like a volume: it must hold exactly one regular file, and holds {found}"
            )
        return entries[0][1]

    def adopt(self, dataset):
        ((_, _, name),) = self._entries(dataset)
        if name != VOLUME_FILE:
            mountpoint = self.mountpoint(dataset)
            self._run(move(f"{mountpoint}/{name}", f"{mountpoint}/{VOLUME_FILE}"))
