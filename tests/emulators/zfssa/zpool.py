"""The ZFSSA emulator's storage: a zpool of its own on a sparse file, read and
changed through Shoal's own ZFS layer (``shoal.drivers.zfs.zfs.Zfs`` on a
``LocalHost``: argv lists, zfs-fuse's busy retries, serialized destroys).

Layout (the appliance pool is the zpool; its name is the pool's name)::

    <zpool>/<project>                   a project       zfssa-emu:kind=project
    <zpool>/<project>/<share>           a LUN or a filesystem (kind=lun|filesystem)
    <zpool>/<project>/<lun>/volume.raw  a LUN's bytes: zfs-fuse has no zvols
                                        ("zfs create -V" aborts there), so a LUN is
                                        one sparse file in its own dataset, as
                                        Shoal's ZFS driver keeps volumes on zfs-fuse
    <zpool>/<project>/<share>@<snap>    a snapshot, under the appliance's own name
    <zpool>/zfssa-emu.packages/<id>     replication packages received from a peer

What the appliance says of a share is kept on its dataset: the appliance's own
properties as ZFS user properties ``zfssa-emu:<name>``, custom properties as
``custom:<name>`` (a valid ZFS user property name as it is). So the emulator's
state is what ZFS holds: a dataset destroyed by hand is a share gone, and
``zfs send -R`` carries a share's properties to the peer.
"""

from __future__ import annotations

import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from shoal.drivers.zfs import commands as cmd
from shoal.drivers.zfs.zfs import Zfs, ZfsNotFound
from shoal.hosts import LocalHost
from tests.emulators.storpool.store import _fsync as flush  # noqa: F401 - push a file's pages to zfs-fuse before a snapshot
from tests.fixtures.zfs import _check, _destroy_pool, _pid_alive

EMU = "zfssa-emu:"
CUSTOM = "custom:"
VOLUME_FILE = "volume.raw"
PACKAGES = "zfssa-emu.packages"
POOL_PREFIX = "zfssaemu"
OWN_SOURCES = ("local", "received")


@dataclass
class Node:
    """One dataset or snapshot of the emulator's pool, with its properties."""

    name: str
    values: dict[str, str] = field(default_factory=dict)  # effective values
    own: dict[str, str] = field(default_factory=dict)  # set on this dataset (local or received)

    @property
    def leaf(self) -> str:
        return self.name.rsplit("@", 1)[-1] if "@" in self.name else self.name.rsplit("/", 1)[-1]

    @property
    def kind(self) -> str:
        return "snapshot" if "@" in self.name else self.own.get(EMU + "kind", "")

    def emu(self, key: str, default: str = "") -> str:
        return self.values.get(EMU + key, default)

    def custom(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if k.startswith(CUSTOM)}

    def number(self, prop: str) -> int:
        return cmd.parse_size(self.values.get(prop, "0"))


class Pool:
    """The emulator's zpool: made on start, destroyed on close."""

    def __init__(self, name: str, image: Path, size: str = "2G"):
        self.name = name
        self.image = image
        self.size = size
        self.zfs = Zfs(LocalHost(name=f"zfssa-emu-{name}"))

    # ---- lifecycle -------------------------------------------------------

    def create(self) -> None:
        _check(["truncate", "-s", self.size, str(self.image)])
        try:
            _check(["zpool", "create", self.name, str(self.image)])
        except Exception:
            self.image.unlink(missing_ok=True)
            raise
        self.zfs.create(f"{self.name}/{PACKAGES}", {EMU + "kind": "packages"})

    def destroy(self) -> None:
        if self.name in self.zfs.pools():
            _destroy_pool(self.name)
        self.image.unlink(missing_ok=True)

    # ---- reading ---------------------------------------------------------

    def read(self, root: str | None = None, depth: int | None = None) -> dict[str, Node]:
        """Every dataset and snapshot under `root` (default: the pool), with all properties."""
        argv = cmd.get_sourced([root or self.name], ["all"], recursive=depth is None, depth=depth)
        res = self.zfs.host.run(argv, check=False)
        if res.returncode:
            if "does not exist" in res.stderr:
                return {}
            raise RuntimeError(f"zfs get: {res.stderr.strip()}")
        nodes: dict[str, Node] = {}
        for name, props in cmd.parse_get_sourced(res.stdout).items():
            node = nodes[name] = Node(name)
            for prop, (value, source) in props.items():
                node.values[prop] = value
                if source in OWN_SOURCES:
                    node.own[prop] = value
        return nodes

    def node(self, name: str) -> Node | None:
        return self.read(name, depth=0).get(name)

    def mountpoint(self, dataset: str) -> Path:
        return Path(self.zfs.get(dataset, ["mountpoint"])["mountpoint"])

    def volume_file(self, dataset: str) -> Path:
        return self.mountpoint(dataset) / VOLUME_FILE

    def space(self, dataset: str) -> tuple[int, int]:
        """(used, available) bytes of a dataset."""
        props = self.zfs.get(dataset, ["used", "available"])
        return cmd.parse_size(props["used"]), cmd.parse_size(props["available"])

    def snapshots_after(self, snapshot: str) -> list[str]:
        """The dataset's snapshots taken after `snapshot`, oldest first (by
        createtxg, which zfs-fuse's `zfs get all` leaves out but names when asked;
        its `zfs list` has no -p, and prints 1080 as "1.08K")."""
        dataset = snapshot.split("@", 1)[0]
        res = self.zfs.host.run(["zfs", "get", "-H", "-p", "-o", "name,value", "createtxg", "-r", dataset])
        rows = [(row[0], int(row[1])) for row in cmd.parse_rows(res.stdout) if row[0].startswith(dataset + "@")]
        txg = dict(rows)[snapshot]
        return [name for name, created in sorted(rows, key=lambda r: r[1]) if created > txg]

    def origins(self) -> dict[str, list[str]]:
        """{snapshot: [its clones]} over the whole pool."""
        res = self.zfs.host.run(cmd.get([self.name], ["origin"], recursive=True))
        clones: dict[str, list[str]] = {}
        for name, props in cmd.parse_get(res.stdout).items():
            origin = props.get("origin", "-")
            if origin not in ("-", ""):
                clones.setdefault(origin, []).append(name)
        return clones

    # ---- changing --------------------------------------------------------

    def set(self, name: str, props: dict[str, str]) -> None:
        self.zfs.set(name, props)

    def unset(self, name: str, prop: str) -> None:
        self.zfs.inherit(name, prop)

    def rename(self, old: str, new: str, clones: list[str] = ()) -> None:
        """Rename a dataset and mount it and what is under it again (Shoal's rename
        remounts the dataset itself only; its children stay unmounted on zfs-fuse)."""
        self.zfs.rename_past_clones(old, new, clones)
        res = self.zfs.host.run(["zfs", "list", "-H", "-o", "name,mounted", "-t", "filesystem", "-r", new])
        for row in cmd.parse_rows(res.stdout):
            if row[1] == "no":
                self.zfs.host.run(["zfs", "mount", row[0]])

    def exists(self, name: str) -> bool:
        return self.zfs.exists(name)

    def destroy_dataset(self, name: str, recursive: bool = False) -> None:
        try:
            self.zfs.destroy(name, recursive=recursive)
        except ZfsNotFound:
            pass


def reap_stale_pools() -> None:
    """Destroy emulator pools (zfssaemu<pid>n<k>) whose test run is gone."""
    res = subprocess.run(["zpool", "list", "-H", "-o", "name"], capture_output=True, text=True, timeout=60, check=False)
    for name in res.stdout.split():
        if not name.startswith(POOL_PREFIX):
            continue
        pid = name[len(POOL_PREFIX):].split("n", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            try:
                _destroy_pool(name)
            except Exception as exc:  # noqa: BLE001 - a leftover must not stop this run
                warnings.warn(f"could not destroy leftover ZFSSA emulator pool {name}: {exc}", stacklevel=1)
