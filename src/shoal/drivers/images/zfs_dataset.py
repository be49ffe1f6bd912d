"""An image store on a ZFS dataset: the directory store on the dataset's mountpoint.

At start the dataset is made when missing (its parents too) and given the configured
quota; a pool that is missing, a dataset that is not a file system or one without a
mountpoint stops the start with what to fix. Its free space is the dataset's
`available`, which its quota (and its parents') bounds -- not the pool's free space."""

from __future__ import annotations

from pathlib import Path

from shoal.drivers.zfs.commands import parse_size
from shoal.drivers.zfs.zfs import Zfs, ZfsError
from shoal.hosts import Host

from .base import ImageStoreError
from .directory import DirectoryStore

_PROPS = ("type", "mountpoint", "mounted", "canmount", "quota")


class ZfsDatasetStore(DirectoryStore):
    store_id = "zfs"

    def __init__(self, dataset: str, quota: int | None = None, host: Host | None = None):
        super().__init__(root="")
        self.root = None  # the dataset's mountpoint, known once start() made sure of the dataset
        self.dataset = dataset
        self.quota = quota
        if host is not None:  # a stand-in in unit tests; image files are always read and written here
            self.host = host
        self.zfs = Zfs(self.host)
        self.description = f"Image data in files on ZFS dataset {dataset}"

    def _found(self) -> dict[str, str] | None:
        """The dataset's properties, None when it does not exist yet; ImageStoreError
        when it cannot hold the store."""
        pool = self.dataset.split("/")[0]
        try:
            pools = self.zfs.pools()
        except ZfsError as exc:
            raise ImageStoreError(f"image store: ZFS does not answer ({exc})") from None
        if pool not in pools:
            raise ImageStoreError(f"image store: pool {pool!r} of image.dataset {self.dataset!r} does not exist "
                                  f"(pools here: {', '.join(pools) or 'none'})")
        if not self.zfs.exists(self.dataset):
            return None
        found = self.zfs.get(self.dataset, _PROPS)
        if found.get("type") != "filesystem":
            raise ImageStoreError(f"image store: image.dataset {self.dataset!r} is a {found.get('type')}, "
                                  "not a filesystem")
        if not found.get("mountpoint", "").startswith("/"):
            raise ImageStoreError(f"image store: image.dataset {self.dataset!r} has mountpoint="
                                  f"{found.get('mountpoint')}; give it a mountpoint (zfs set mountpoint=/path)")
        if found.get("canmount") == "off":
            raise ImageStoreError(f"image store: image.dataset {self.dataset!r} has canmount=off; "
                                  "zfs set canmount=on")
        return found

    def start(self) -> None:
        try:
            found = self._found()
            if found is None:
                self.zfs.create(self.dataset, {"quota": str(self.quota)} if self.quota else None, parents=True)
                found = self._found()
            elif self.quota and parse_size(found.get("quota", "0")) != self.quota:
                self.zfs.set(self.dataset, {"quota": str(self.quota)})
            if found.get("mounted") != "yes":
                self.zfs.mount(self.dataset)
        except ZfsError as exc:  # e.g. canmount=off, a quota below what it holds
            raise ImageStoreError(f"image store: ZFS dataset {self.dataset!r} cannot be used: {exc}") from None
        self.root = Path(found["mountpoint"])
        super().start()

    def problems(self) -> list[str]:
        try:
            self._found()
        except ImageStoreError as exc:
            return [str(exc)]
        return []

    def free_bytes(self) -> int:
        return self.zfs.pool_space(self.dataset).free
