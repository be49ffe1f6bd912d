"""A file system mounted anew is told from the one before it (hosts/mount_id.py),
on real ZFS: the identity changes across `zfs unmount` + `zfs mount`, also when
the kernel gives the new mount the old device number back, as it often does."""

from __future__ import annotations

import os
import subprocess

import pytest

from shoal.hosts import LocalHost
from shoal.hosts.mount_id import unique_mount_id
from tests.fixtures.zfs import destroy_dataset

pytestmark = pytest.mark.integration


def zfs(*args: str) -> str:
    res = subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"zfs {' '.join(args)}: {res.stderr}"
    return res.stdout


def test_a_file_system_mounted_anew_has_a_new_identity(zfs_root):
    dataset = f"{zfs_root}/remounted"
    zfs("create", dataset)
    mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", dataset).strip()
    host = LocalHost()
    seen = set()
    for _ in range(3):
        identity = host.mount_identity(mountpoint)
        assert identity is not None and identity not in seen, (identity, seen)
        seen.add(identity)
        zfs("unmount", dataset)
        assert host.mount_identity(mountpoint) not in seen  # the directory under it now
        zfs("mount", dataset)
    destroy_dataset(dataset)  # with zfs-fuse's "busy" retried


def test_the_kernel_id_is_used_where_there_is_one():
    if unique_mount_id("/") is None:
        pytest.skip("this kernel (before Linux 6.8) has no unique mount ids: the device number is used")
    assert LocalHost().mount_identity("/") == f"mnt:{unique_mount_id('/')}"
    assert LocalHost().mount_identity("/") != f"dev:{os.stat('/').st_dev}"
