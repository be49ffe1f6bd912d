"""RemountWatch: a pool root mounted anew (a new device number) is noticed once,
also by a new Shoal process when the old one saw the old mount."""

from __future__ import annotations

from shoal.drivers.zfs.remounts import RemountWatch
from shoal.drivers.zfs.zfs import ZfsError


class Devices:
    """The host's side: stat of a mountpoint."""

    def __init__(self):
        self.device: int | None = 40

    def mount_identity(self, path: str) -> str | None:
        assert path == "/tank/shoal"
        return None if self.device is None else f"dev:{self.device}"


class Listing:
    def __init__(self):
        self.down = False

    def get(self, name: str, props) -> dict[str, str]:
        if self.down:
            raise ZfsError("connect: Connection refused")
        assert name == "tank/shoal" and list(props) == ["mountpoint"]
        return {"mountpoint": "/tank/shoal"}


def test_a_new_mount_is_noticed_until_the_exports_are_made_again(tmp_path):
    host, zfs = Devices(), Listing()
    watch = RemountWatch(host, zfs, ["tank/shoal"], str(tmp_path / "mounts.json"))
    assert not watch.remounted()  # the first look remembers
    host.device = None  # zfs-fuse died: the mount answers nothing
    assert not watch.remounted()  # nothing can be exported again yet
    host.device = 41
    assert watch.remounted() and watch.remounted()
    watch.settled()
    assert not watch.remounted()


def test_a_restarted_shoal_notices_what_changed_while_it_was_down(tmp_path):
    host, zfs = Devices(), Listing()
    memory = str(tmp_path / "mounts.json")
    RemountWatch(host, zfs, ["tank/shoal"], memory).remounted()
    host.device = 52
    assert RemountWatch(host, zfs, ["tank/shoal"], memory).remounted()
    assert not RemountWatch(host, zfs, ["tank/shoal"], None).remounted()  # without a memory: only from now on


def test_zfs_unreachable_is_not_a_remount(tmp_path):
    host, zfs = Devices(), Listing()
    zfs.down = True
    watch = RemountWatch(host, zfs, ["tank/shoal"], str(tmp_path / "mounts.json"))
    assert not watch.remounted()
    zfs.down = False
    assert not watch.remounted()  # first real look
    host.device = 43
    assert watch.remounted()


class RecordingNfs:
    """The NFS helper's side: what the driver asks of it, in order."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def remove(self, export) -> None:
        self.calls.append(("remove", export.key))

    def apply(self, export) -> dict[str, str]:
        assert all(rule.access_level == "ro" for rule in export.rules)  # a secondary, read-only
        self.calls.append(("apply", export.key))
        return {}


class Datasets:
    """zfs get/set of the replica's dataset."""

    def __init__(self):
        self.props = {"tank/shoal/share-r": {"mountpoint": "/tank/shoal/share-r"}}

    def get(self, name: str, props) -> dict[str, str]:
        return {p: self.props[name][p] for p in props if p in self.props[name]}

    def set(self, name: str, props: dict[str, str]) -> None:
        self.props[name].update(props)


def test_a_replica_export_made_anew_lets_go_of_the_old_mount_first():
    """After a remount (recovery's `fresh`), a secondary's export is dropped and
    made again, as ensure_shares does for shares -- not only rewritten."""
    from shoal.drivers.base import AccessRule, ShareRef
    from shoal.drivers.zfs.config import ZfsBackendConfig
    from shoal.drivers.zfs.shares import ZfsShareDriver

    nfs, zfs = RecordingNfs(), Datasets()
    driver = ZfsShareDriver("b", ZfsBackendConfig(pools=["tank/shoal"]), Devices(), nfs, zfs=zfs)
    replica = ShareRef("r", "tank", 1, "tank/shoal/share-r", {})
    rules = [AccessRule("rule", "ip", "127.0.0.1", "rw")]
    driver.export_replica(replica, rules, writable=False)
    assert nfs.calls == [("apply", "r")]
    nfs.calls.clear()
    driver.export_replica(replica, rules, writable=False, fresh=True)
    assert nfs.calls == [("remove", "r"), ("apply", "r")]
    assert zfs.props["tank/shoal/share-r"]["readonly"] == "on"
    nfs.calls.clear()
    driver.migration_freeze(replica, rules, True, fresh=True)  # a frozen migrating share: the same
    assert nfs.calls == [("remove", "r"), ("apply", "r")]


class Pool:
    """zfs of a pool whose shares' datasets exist until destroyed."""

    def __init__(self, *datasets: str):
        self.datasets = set(datasets)

    def mountpoints(self, root: str):
        from shoal.drivers.zfs.zfs import Mount

        return {name: Mount("/" + name, True) for name in self.datasets if name.startswith(root + "/")}

    def get(self, name: str, props) -> dict[str, str]:
        from shoal.drivers.zfs.zfs import ZfsNotFound

        if name not in self.datasets:
            raise ZfsNotFound(f"cannot open '{name}': dataset does not exist")
        return {"mountpoint": "/" + name}

    def destroy(self, name: str, recursive: bool = False) -> bool:
        gone = name in self.datasets
        self.datasets.discard(name)
        return gone


class ExportsWithADeleteInTheMiddle:
    """The export helper; while it makes every export of a pass, the share `doomed`
    is deleted (by another thread, as a user's delete would be)."""

    def __init__(self, doomed):
        self.doomed, self.driver = doomed, None
        self.held: set[str] = set()

    def ensure(self, exports, fresh: bool = False) -> None:
        self.driver.delete_share(self.doomed)  # the delete's own unexport comes first...
        self.held |= {export.key for export in exports}  # ...then the pass makes what it read before

    def remove(self, export) -> None:
        self.held.discard(export.key)


def test_a_share_deleted_while_every_export_is_ensured_keeps_no_export():
    """The recovery pass read its list of shares before the delete: it must not leave
    the deleted share's export made again (chaos: a ganesha export without a row)."""
    from shoal.drivers.base import ShareRef
    from shoal.drivers.zfs.config import ZfsBackendConfig
    from shoal.drivers.zfs.shares import ZfsShareDriver

    kept, doomed = (ShareRef(key, "tank", 1, f"tank/shoal/share-{key}", {}) for key in ("kept", "doomed"))
    nfs = ExportsWithADeleteInTheMiddle(doomed)
    zfs = Pool(kept.provider_location, doomed.provider_location)
    driver = ZfsShareDriver("b", ZfsBackendConfig(pools=["tank/shoal"]), Devices(), nfs, zfs=zfs)
    nfs.driver = driver
    failed = driver.ensure_shares([(kept, []), (doomed, [])], fresh=False)
    assert failed == {}
    assert nfs.held == {"kept"}
    assert set(driver._made) == {"kept"}  # and a later pass that makes every export anew leaves it out too
