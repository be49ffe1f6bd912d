"""A cut `zfs send | zfs receive` on zfs-fuse, which has no receive resume
tokens: the process running the transfer (Shoal, here a child Python running
resumable.send_stream) is killed with SIGKILL partway, nothing partial stays on
the target (no token, no dataset), and the next attempt sends the whole stream
again, ending with the same bytes as the source (real zfs-fuse pool, real
processes joined by hosts.transfer). The resume itself is tested on kernel
OpenZFS in the lane (tests/kernel/test_kernel_resumable_transfer.py).

On zfs-fuse the daemon itself writes and reads the streams, so killing the
`zfs send` client alone does not cut one: the process that joins the two
ends has to go, as in a crash."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration

MiB = 1024**2
SIZE = 128 * MiB
CUT_AFTER = 8 * MiB

# The transfer as Shoal runs it, reporting its progress on stdout.
CHILD = """
import sys
from shoal.drivers.zfs import resumable
from shoal.drivers.zfs.zfs import Zfs
from shoal.hosts import LocalHost, transfer
transfer.REPORT_EVERY = 0.02
zfs = Zfs(LocalHost())
resumable.send_stream(zfs, sys.argv[1], None, zfs, sys.argv[2], lambda n: print(n, flush=True))
print("done", flush=True)
"""


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def crash_partway(snapshot: str, target: str) -> int:
    """Run the transfer in a child and SIGKILL it once CUT_AFTER bytes went
    through; returns how many bytes it had reported."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, snapshot, target], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            assert line.strip() != "done", "the transfer ended before it could be cut"
            if int(line) >= CUT_AFTER:
                child.send_signal(signal.SIGKILL)
                return int(line)
        raise AssertionError(f"the transfer ended early (exit {child.wait()})")
    finally:
        child.kill()
        child.wait()


def test_a_crashed_stream_restarts_cleanly_without_tokens(zfs_root):
    zfs = Zfs(LocalHost())
    assert not zfs.features().resumable_send  # zfs-fuse
    source, target = f"{zfs_root}/src", f"{zfs_root}/dst"
    zfs.create(source)
    path = zfs.get(source, ["mountpoint"])["mountpoint"]
    with open(f"{path}/data", "wb") as f:
        f.writelines(os.urandom(MiB) for _ in range(SIZE // MiB))
    zfs.snapshot(f"{source}@s1")

    cut_at = crash_partway(f"{source}@s1", target)
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
