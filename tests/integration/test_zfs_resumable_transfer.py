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
ends has to go, as in a crash, or stop joining them, as on a cancel
(transfer.stop): a cancelled stream is cut at once, not carried to its end."""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest

from shoal.config import HostConfig
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import LocalHost
from shoal.hosts import transfer as transfer_module
from tests.fixtures.crashing_transfer import crash_partway

pytestmark = pytest.mark.integration

MiB = 1024**2
SIZE = 128 * MiB
CUT_AFTER = 8 * MiB


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def written(zfs: Zfs, root: str) -> tuple[str, str, str]:
    """A dataset holding SIZE random bytes with a snapshot s1; its mountpoint; a target name."""
    source = f"{root}/src"
    zfs.create(source)
    path = zfs.get(source, ["mountpoint"])["mountpoint"]
    with open(f"{path}/data", "wb") as f:
        f.writelines(os.urandom(MiB) for _ in range(SIZE // MiB))
    zfs.snapshot(f"{source}@s1")
    return source, path, f"{root}/dst"


def gone(zfs: Zfs, dataset: str) -> bool:
    """The cut receive discarded (once zfs-fuse's daemon sees the stream end)."""
    for _ in range(300):
        if not zfs.exists(dataset):
            return True
        time.sleep(0.1)
    return False


def test_a_crashed_stream_restarts_cleanly_without_tokens(zfs_root):
    zfs = Zfs(LocalHost())
    assert not zfs.features().resumable_send  # zfs-fuse
    source, path, target = written(zfs, zfs_root)

    cut_at = crash_partway(HostConfig(), f"{source}@s1", target, CUT_AFTER)
    assert cut_at < SIZE
    assert gone(zfs, target)  # no token to resume, nothing partial to clean
    assert resumable.pending(zfs, target) is None

    moved = resumable.send_stream(zfs, f"{source}@s1", None, zfs, target)
    assert moved >= SIZE  # the whole stream again
    assert [row["name"] for row in zfs.snapshots(target)] == [f"{target}@s1"]
    assert digest(f"{zfs.get(target, ['mountpoint'])['mountpoint']}/data") == digest(f"{path}/data")


def test_a_stopped_transfer_cuts_the_stream(zfs_root, monkeypatch):
    zfs = Zfs(LocalHost())
    source, _, target = written(zfs, zfs_root)
    monkeypatch.setattr(transfer_module, "REPORT_EVERY", 0.02)
    owner = f"cancel-{uuid.uuid4().hex[:8]}"
    reported: list[int] = []

    def cancel_early(moved: int) -> None:
        reported.append(moved)
        if moved >= CUT_AFTER:
            transfer_module.stop(owner)

    try:
        with transfer_module.owned_by(owner), pytest.raises(transfer_module.Stopped):
            resumable.send_stream(zfs, f"{source}@s1", None, zfs, target, cancel_early)
    finally:
        transfer_module.release(owner)
    assert reported[-1] < SIZE
    assert gone(zfs, target)  # before: the pump carried the daemon's stream to its end, received whole
