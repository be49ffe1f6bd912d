"""RemountWatch: a pool root mounted anew (a new device number) is noticed once,
also by a new Shoal process when the old one saw the old mount."""

from __future__ import annotations

from shoal.drivers.zfs.remounts import RemountWatch
from shoal.drivers.zfs.zfs import ZfsError


class Devices:
    """The host's side: stat of a mountpoint."""

    def __init__(self):
        self.device: int | None = 40

    def device_of(self, path: str) -> int | None:
        assert path == "/tank/shoal"
        return self.device


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
