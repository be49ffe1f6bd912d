"""When a backend's file systems were mounted anew (zfs-fuse came back), the pass
that makes every export anew also takes the exports the caller's list of steady
shares leaves out: a share being created, or in an error state, whose export
the driver made before. Otherwise the NFS server keeps what it held of the old
mounts for that one: stale handles, or the directory under the mount point,
where a client's writes land outside the share's dataset.

Real ZFS and a real ganesha (the session's test instance), read from outside
with libnfs. The stale export is made by hand the way a restart of ganesha
during the remount made it: exported while the share's file system was not
mounted, then mounted over it."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from shoal.config import ZfsBackendConfig
from shoal.drivers.base import AccessRule, ShareRef
from shoal.drivers.zfs.shares import ZfsShareDriver
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration

if not shutil.which("nfs-cat"):
    pytest.skip("libnfs clients are not installed: apt-get install libnfs-utils", allow_module_level=True)


def zfs(*args: str) -> str:
    res = subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"zfs {' '.join(args)}: {res.stderr}"
    return res.stdout


def read_over_nfs(ganesha, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nfs-cat", ganesha.url(path)], capture_output=True, text=True, timeout=60)


HERE = [AccessRule("here", "ip", "127.0.0.1", "rw")]


@pytest.fixture
def driver(zfs_root, ganesha):
    made = ZfsShareDriver("anew", ZfsBackendConfig(pools=[zfs_root]), LocalHost(), ganesha.helper)
    yield made
    for key, export in list(made._made.items()):
        made._unexport(key, export.path, export.dataset)


def test_a_fresh_pass_makes_anew_the_export_of_a_share_not_in_its_list(driver, zfs_root, ganesha):
    steady = ShareRef(str(uuid.uuid4()), driver.pool_of(zfs_root), 1)
    creating = ShareRef(str(uuid.uuid4()), driver.pool_of(zfs_root), 1)
    for share in (steady, creating):
        driver.create_share(share)
        assert driver.update_access(share, HERE) == {}
    dataset = driver.dataset_name(creating)
    mountpoint = zfs("get", "-H", "-o", "value", "mountpoint", dataset).strip()
    export = driver._made[creating.id]

    # What ganesha held after the remount: the directory under the mount point.
    ganesha.helper.remove(export)
    zfs("unmount", dataset)
    assert ganesha.helper.apply(export) == {}
    zfs("mount", dataset)
    Path(mountpoint, "in-the-share.txt").write_text("in the share's own file system\n")
    assert read_over_nfs(ganesha, f"{mountpoint}/in-the-share.txt").returncode != 0  # the wrong directory

    # The remount pass, given only the steady share (the other is still being created).
    assert driver.ensure_shares([(steady, HERE)], fresh=True) == {}

    got = read_over_nfs(ganesha, f"{mountpoint}/in-the-share.txt")
    assert got.returncode == 0 and got.stdout == "in the share's own file system\n", got.stderr


def test_a_deleted_share_is_not_exported_again(driver, zfs_root, ganesha):
    share = ShareRef(str(uuid.uuid4()), driver.pool_of(zfs_root), 1)
    driver.create_share(share)
    mountpoint = driver._mountpoint(driver.dataset_name(share))
    driver.delete_share(share)
    assert driver.ensure_shares([], fresh=True) == {}
    assert mountpoint not in ganesha.helper.exported_paths()
