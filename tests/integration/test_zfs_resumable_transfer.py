"""A cut `zfs send | zfs receive` on zfs-fuse, which has no receive resume
tokens: the process running the transfer (Shoal, here a child Python running
resumable.send_stream: tests/fixtures/crashing_transfer.py) is killed with
SIGKILL partway, nothing partial stays on the target (no token, no dataset),
and the next attempt sends the whole stream again, ending with the same
bytes as the source (real zfs-fuse pool, real processes joined by
hosts.transfer). The resume itself is tested on kernel
OpenZFS in the lane (tests/kernel/test_kernel_resumable_transfer.py).

On zfs-fuse the daemon itself writes and reads the streams, so killing the
`zfs send` client alone does not cut one: the process that joins the two
ends has to go, as in a crash."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from shoal.config import HostConfig
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import LocalHost
from tests.fixtures.crashing_transfer import crash_partway

pytestmark = pytest.mark.integration

MiB = 1024**2
SIZE = 128 * MiB
CUT_AFTER = 8 * MiB


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_a_crashed_stream_restarts_cleanly_without_tokens(zfs_root):
    zfs = Zfs(LocalHost())
    assert not zfs.features().resumable_send  # zfs-fuse
    source, target = f"{zfs_root}/src", f"{zfs_root}/dst"
    zfs.create(source)
    path = zfs.get(source, ["mountpoint"])["mountpoint"]
    with open(f"{path}/data", "wb") as f:
        f.writelines(os.urandom(MiB) for _ in range(SIZE // MiB))
    zfs.snapshot(f"{source}@s1")

    cut_at = crash_partway(HostConfig(), f"{source}@s1", target, CUT_AFTER)
    assert cut_at < SIZE
    # zfs-fuse discards the cut receive (once its daemon sees the stream end):
    # no token to resume, nothing partial to clean
    for _ in range(300):
        if not zfs.exists(target):
            break
        time.sleep(0.1)
    assert not zfs.exists(target)
    assert resumable.pending(zfs, target) is None

    moved = resumable.send_stream(zfs, f"{source}@s1", None, zfs, target)
    assert moved >= SIZE  # the whole stream again
    assert [row["name"] for row in zfs.snapshots(target)] == [f"{target}@s1"]
    assert digest(f"{zfs.get(target, ['mountpoint'])['mountpoint']}/data") == digest(f"{path}/data")
