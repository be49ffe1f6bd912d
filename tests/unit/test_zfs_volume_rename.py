"""`Zfs.rename_past_clones`: zfs-fuse may refuse, as busy and for as long as
they stay mounted, to rename a dataset whose snapshots have mounted clones.
Checked here against a scripted host that behaves that way."""

from __future__ import annotations

import pytest

from shoal.drivers.zfs import zfs as zfs_module
from shoal.drivers.zfs.zfs import Zfs, ZfsError
from shoal.hosts import CommandResult, Retry
from shoal.hosts.runner import run_with_retry


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    for name in ("BUSY", "BUSY_BRIEFLY"):
        retry = getattr(zfs_module, name)
        monkeypatch.setattr(zfs_module, name, Retry(retry.transient, retry.attempts, 0.0, 0.0))


class StickyBusyHost:
    name = "scripted"

    def __init__(self, mounted: set[str], stuck: bool = True, kernel: bool = False):
        self.kernel = kernel  # zfs-fuse unless asked: the feature probe finds no kernel module
        self.mounted = set(mounted)
        self.in_use = set()
        self.stuck = stuck
        self.calls: list[list[str]] = []

    def run(self, argv, *, input=None, timeout=None, check=True, retry=None):
        def execute(args):
            self.calls.append(list(args))
            rc, out, err = self.answer(list(args))
            return CommandResult(tuple(args), rc, out, err, 0.0)

        return run_with_retry(execute, argv, check, retry)

    def answer(self, argv):
        if argv[0] == "test":  # the feature probe: is the kernel module there?
            return (0 if self.kernel else 1), "", ""
        verb = argv[1]
        if verb == "version":
            return (0 if self.kernel else 1), "", ""
        if verb == "get":
            name = argv[-1]
            return 0, f"{name}\tmounted\t{'yes' if name in self.mounted else 'no'}\n", ""
        if verb == "umount":
            if argv[-1] in self.in_use:
                return 1, "", "umount: target is busy\n"
            self.mounted.discard(argv[-1])
            return 0, "", ""
        if verb == "mount":
            self.mounted.add(argv[-1])
            return 0, "", ""
        if verb == "rename":
            if self.stuck and self.mounted & {"tank/clone"}:
                return 1, "", f"cannot rename '{argv[2]}': dataset is busy\n"
            return 0, "", ""
        raise AssertionError(argv)


def test_plain_rename_when_not_busy():
    host = StickyBusyHost({"tank/v", "tank/clone"}, stuck=False)
    Zfs(host).rename_past_clones("tank/v", "tank/w", ["tank/clone"])
    assert ["zfs", "umount", "tank/clone"] not in host.calls
    assert host.mounted == {"tank/w", "tank/clone"}


def test_busy_rename_goes_through_with_clones_unmounted_and_remounted():
    host = StickyBusyHost({"tank/v", "tank/clone"})
    Zfs(host).rename_past_clones("tank/v", "tank/w", ["tank/clone"])
    assert host.calls.count(["zfs", "rename", "tank/v", "tank/w"]) == zfs_module.BUSY_BRIEFLY.attempts + 1
    assert host.mounted == {"tank/w", "tank/clone"}


def test_a_clone_in_use_cannot_be_unmounted_and_the_rename_fails_cleanly():
    host = StickyBusyHost({"tank/v", "tank/clone"})
    host.in_use.add("tank/clone")
    zfs = Zfs(host)
    with pytest.raises(ZfsError, match="busy"):
        zfs.rename_past_clones("tank/v", "tank/w", ["tank/clone"])
    assert host.mounted == {"tank/v", "tank/clone"}  # the dataset is mounted again under its old name


def test_kernel_openzfs_renames_with_the_plain_command():
    # No unmount, no mounted-check, no remount: the kernel module renames a mounted dataset itself.
    host = StickyBusyHost({"tank/v", "tank/clone"}, stuck=False, kernel=True)
    Zfs(host).rename_past_clones("tank/v", "tank/w", ["tank/clone"])
    zfs_calls = [c for c in host.calls if c[0] == "zfs" and c[1] != "version"]
    assert zfs_calls == [["zfs", "rename", "tank/v", "tank/w"]]
