"""tests/fixtures/zfs_watch.py: zfs-fuse counts as wedged when a mount command has waited
uninterruptibly for over a minute, though `zpool list` still answers (an unmount wedge seen
on this machine: every `umount` of its file systems in state D for good)."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.fixtures.zfs_watch import STUCK_AFTER, stuck_commands, stuck_mounts

TICKS = 100


def process(proc: Path, pid: int, name: str, state: str, started_s: float) -> None:
    # /proc/PID/stat: pid (comm) state ppid ... with starttime (field 22) in clock ticks
    fields = [state] + ["0"] * 18 + [str(int(started_s * TICKS))] + ["0"] * 10
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


def test_only_mount_commands_waiting_in_the_kernel_for_long_count(tmp_path):
    now = 10_000.0
    process(tmp_path, 11, "umount", "D", now - STUCK_AFTER - 5)  # stuck
    process(tmp_path, 12, "umount", "D", now - 5)  # waiting, but not for long yet
    process(tmp_path, 13, "umount", "S", now - 500)  # sleeping: it can be killed
    process(tmp_path, 14, "kworker/1:1", "D", now - 500)  # not a mount command
    process(tmp_path, 15, "zfs", "D", now - 600)
    (tmp_path / "self").mkdir()
    assert sorted(stuck_commands(tmp_path, now, TICKS)) == ["11 umount", "15 zfs"]


def test_a_mount_whose_fuse_requests_never_all_get_an_answer_counts(tmp_path):
    """A read through ganesha that zfs-fuse never answered, while `zpool list` still did
    (seen in CI after a ganesha kill -9): its mount's FUSE queue never empties."""
    for connection, waiting in (("83", "2"), ("84", "0"), ("85", "1")):
        (tmp_path / connection).mkdir()
        (tmp_path / connection / "waiting").write_text(waiting)
    mounts = {"0:83": "/pool/wedged", "0:84": "/pool/idle", "0:85": "/pool/busy", "0:86": "/pool/gone"}

    answer = threading.Timer(0.05, (tmp_path / "85" / "waiting").write_text, ["0"])
    answer.start()
    try:
        assert stuck_mounts(tmp_path, mounts, bound=1.0, poll=0.01) == ["/pool/wedged"]
    finally:
        answer.join()
    (tmp_path / "83" / "waiting").write_text("0")
    assert stuck_mounts(tmp_path, mounts, bound=1.0, poll=0.01) == []
