"""The ZFS fixtures give a working, private pool and dataset on real ZFS."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration


def zfs(*args: str) -> str:
    res = subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"zfs {' '.join(args)}: {res.stderr}"
    return res.stdout


def exists(name: str) -> bool:
    return subprocess.run(["zfs", "list", "-H", "-t", "all", name], capture_output=True).returncode == 0


def test_pool_is_private(zpool):
    assert zpool != "shoal" and zpool.startswith("shoaltest")
    out = subprocess.run(["zpool", "list", "-H", "-o", "name,health", zpool],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == [zpool, "ONLINE"]


def test_dataset_quota_snapshot_clone_destroy(zfs_root):
    assert zfs_root.count("/") == 1
    vol = f"{zfs_root}/vol"
    zfs("create", "-o", "refquota=1G", vol)
    assert zfs("get", "-H", "-p", "-o", "value", "refquota", vol).strip() == str(1024**3)

    mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", vol).strip()
    with open(f"{mountpoint}/data", "w") as f:
        f.write("hello")

    zfs("snapshot", f"{vol}@s1")
    zfs("clone", f"{vol}@s1", f"{zfs_root}/copy")
    assert zfs("get", "-H", "-o", "value", "origin", f"{zfs_root}/copy").strip() == f"{vol}@s1"
    copy_mount = zfs("get", "-H", "-o", "value", "mountpoint", f"{zfs_root}/copy").strip()
    with open(f"{copy_mount}/data") as f:
        assert f.read() == "hello"

    # Leave the clone and the snapshot it depends on: the fixture's teardown must
    # cope with them. Destroy a plain dataset here.
    zfs("create", f"{zfs_root}/gone")
    destroy_dataset(f"{zfs_root}/gone")
    assert not exists(f"{zfs_root}/gone")


def test_each_test_gets_a_fresh_dataset(zfs_root):
    # The previous test's dataset (with its clone) was destroyed by the fixture.
    assert zfs("list", "-H", "-o", "name", "-r", zfs_root).split() == [zfs_root]
    n = int(zfs_root.rsplit("/t", 1)[1])
    assert not exists(f"{zfs_root.rsplit('/', 1)[0]}/t{n - 1}")


def test_files_held_open_on_a_pool_are_found_before_a_destroy(zfs_root):
    """`zpool destroy -f` with a file open on the pool wedges zfs-fuse; the fixture looks first."""
    import os

    from tests.fixtures.zfs import open_under

    mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", zfs_root).strip()
    with open(f"{mountpoint}/held", "w") as held:
        found = open_under([mountpoint])
        assert any(line.startswith(f"{os.getpid()} ") and line.endswith(f"{mountpoint}/held") for line in found)
        held.write("x")
    assert open_under([mountpoint]) == []
