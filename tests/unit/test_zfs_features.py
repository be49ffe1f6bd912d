"""zfs-fuse's workarounds run only where the feature probe says this ZFS needs
them; kernel OpenZFS gets the plain commands. Checked on `FakeZfsHost` (an
in-memory model of the `zfs` verbs, a fake: the kernel lane runs the real
kernel module), whose `kernel` flag decides what the probe finds."""

from __future__ import annotations

import pytest

from shoal.drivers.zfs.zfs import Features, Zfs

from .test_zfs_volume_fake import FakeZfsHost


def zfs_on(kernel: bool) -> tuple[Zfs, FakeZfsHost]:
    host = FakeZfsHost(kernel=kernel)
    host.add("tank/a")
    return Zfs(host), host


def verbs(host: FakeZfsHost) -> list[list[str]]:
    return [c for c in host.calls if c[0] == "zfs" and c[1] not in ("version", "get")]


def test_the_probe_tells_kernel_from_fuse():
    assert Features.of(kernel=True, version_known=True) == Features(
        kernel=True, zvols=True, sharenfs=True, resumable_send=True)
    fuse = Features.of(kernel=False, version_known=True)
    assert (fuse.unmount_first, fuse.one_property_per_set, fuse.remount_after_rollback) == (True, True, True)
    assert not fuse.zvols and not fuse.resumable_send


@pytest.mark.parametrize("kernel", [True, False])
def test_set_is_one_command_on_kernel_zfs_and_one_per_property_on_fuse(kernel):
    zfs, host = zfs_on(kernel)
    zfs.set("tank/a", {"refquota": "2G", "readonly": "off"})
    expected = ([["zfs", "set", "refquota=2G", "readonly=off", "tank/a"]] if kernel else
                [["zfs", "set", "refquota=2G", "tank/a"], ["zfs", "set", "readonly=off", "tank/a"]])
    assert verbs(host) == expected
    assert host.objs["tank/a"].props == {"refquota": "2G", "readonly": "off"}


@pytest.mark.parametrize("kernel", [True, False])
def test_destroy_unmounts_first_only_on_fuse(kernel):
    zfs, host = zfs_on(kernel)
    assert zfs.destroy("tank/a")
    unmounts = [c for c in host.calls if c[:2] == ["zfs", "umount"]]
    assert (unmounts == []) is kernel
    assert "tank/a" not in host.objs


@pytest.mark.parametrize("kernel", [True, False])
def test_remount_after_rollback_only_on_fuse(kernel):
    zfs, host = zfs_on(kernel)
    host.calls.clear()
    try:
        zfs.remount("tank/a")
    except Exception:
        assert not kernel  # the fake cannot unmount; on fuse the attempt is what matters
    assert ([c for c in host.calls if c[:2] == ["zfs", "umount"]] == []) is kernel


@pytest.mark.parametrize("kernel", [True, False])
def test_creates_and_clones_wait_for_each_other_only_on_fuse(kernel):
    """Each mounts a new file system; concurrent mounts can deadlock zfs-fuse."""
    import threading
    import time

    zfs, host = zfs_on(kernel)
    zfs.snapshot("tank/a@s")
    running, overlapped = [0], [False]
    lock = threading.Lock()
    plain_run = host.run

    def slow_run(argv, **kwargs):
        if list(argv[:2]) in (["zfs", "create"], ["zfs", "clone"]):
            with lock:
                running[0] += 1
                overlapped[0] |= running[0] > 1
            time.sleep(0.05)
            with lock:
                running[0] -= 1
        return plain_run(argv, **kwargs)

    host.run = slow_run
    work = [threading.Thread(target=zfs.create, args=(f"tank/n{i}",)) for i in range(3)]
    work.append(threading.Thread(target=zfs.clone, args=("tank/a@s", "tank/c")))
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(10)
    assert overlapped[0] is kernel
