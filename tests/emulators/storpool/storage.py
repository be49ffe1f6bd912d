"""Where the StorPool emulator keeps a volume's data: one ZFS dataset per
volume (and per clone), in one of two modes.

- :class:`FileStorage` (zfs-fuse on this machine, which has no zvols): the
  dataset is a filesystem holding a sparse file ``volume.raw``; the emulator
  attaches it as a loop device (``devices.LocalClient``).
- ``zvols.ZvolStorage`` (kernel OpenZFS, the kernel lane): the dataset is a
  zvol; the emulator attaches the zvol's own block device
  (``zvols.ZvolClient``).

Snapshots and clones are ``zfs snapshot`` / ``zfs clone`` in both, so the
emulator's :class:`~tests.emulators.storpool.store.Store` does not know which
mode it runs in. A storage object answers:

- ``create(dataset, size)`` / ``clone(zfs_snapshot, dataset, size)``: a new
  volume dataset, empty or from a snapshot, of `size` bytes;
- ``resize(dataset, size)``, ``sync(dataset)`` (before a snapshot),
  ``snapshot(name)``, ``destroy(name)``, ``stored(dataset)`` (bytes used);
- ``backing(dataset)``: what its client attaches (a file, a zvol device);
- ``held(dataset)``: whether a device still holds it (then it is not destroyed);
- ``size_unit``: sizes must be multiples of it (StorPool's own is 512);
- ``create_root()`` / ``destroy_root()``: the emulator's own dataset.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.emulators.storpool import devices
from tests.fixtures.zfs import _retry_busy, destroy_dataset

SECTOR = 512
LINGER_TIMEOUT = 10.0  # seconds destroy_root waits for loop devices still held open to go


def zfs(*args: str) -> str:
    """A zfs command on this host for the StorPool emulator; raises with its stderr."""
    res = subprocess.run(["zfs", *args], check=False, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"zfs {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStorage:
    """The StorPool emulator's volumes as sparse files in ZFS datasets on this host."""

    size_unit = SECTOR

    def __init__(self, root: str):
        self.root = root
        self.mountpoint = Path()

    def create_root(self) -> None:
        zfs("create", self.root)
        self.mountpoint = Path(zfs("get", "-H", "-o", "value", "mountpoint", self.root).strip())

    def file(self, dataset: str) -> Path:
        return self.mountpoint / dataset[len(self.root) + 1:] / "volume.raw"

    backing = file

    def create(self, dataset: str, size: int) -> None:
        zfs("create", dataset)
        self.file(dataset).touch()
        os.truncate(self.file(dataset), size)

    def clone(self, origin: str, dataset: str, size: int) -> None:
        zfs("clone", origin, dataset)
        os.truncate(self.file(dataset), size)

    def resize(self, dataset: str, size: int) -> None:
        os.truncate(self.file(dataset), size)

    def sync(self, dataset: str) -> None:
        _fsync(self.file(dataset))

    @staticmethod
    def snapshot(name: str) -> None:
        zfs("snapshot", name)

    @staticmethod
    def destroy(name: str) -> None:
        """Destroy a dataset or snapshot, riding out zfs-fuse's transient 'busy'."""
        if "@" not in name:
            subprocess.run(["zfs", "umount", name], check=False, capture_output=True, timeout=120)
        _retry_busy(["zfs", "destroy", name])

    def stored(self, dataset: str) -> int:
        try:
            return self.file(dataset).stat().st_blocks * 512
        except OSError:
            return 0

    def held(self, dataset: str) -> bool:
        return bool(devices.loops_under(self.file(dataset).parent))

    def _exists(self) -> bool:
        return subprocess.run(["zfs", "list", "-H", "-o", "name", self.root], check=False,
                              capture_output=True, timeout=120).returncode == 0

    def destroy_root(self) -> None:
        """Destroy the emulator's dataset, once no loop device holds a file under it."""
        if not self._exists():
            return
        mountpoint = Path(zfs("get", "-H", "-o", "value", "mountpoint", self.root).strip())
        deadline = time.monotonic() + LINGER_TIMEOUT
        while (held := devices.loops_under(mountpoint)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if held:
            # Destroying (or force-destroying the pool) under a file a loop device still
            # holds wedges zfs-fuse: its FUSE destroy waits for a release it never gets.
            raise RuntimeError(
                f"StorPool emulator: {', '.join(held)} still hold files of {self.root} (open by another "
                "process, a mount or a dm device); its datasets are not destroyed. Free those devices "
                "before the zpool goes: a forced destroy under them wedges zfs-fuse")
        destroy_dataset(self.root)
