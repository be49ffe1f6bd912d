"""tests/fixtures/zfs_wedge_report.py: what a wedged zfs-fuse was doing, in a line a CI log keeps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.fixtures.zfs_wedge_report import fuse_blocked_tasks, fuse_waiters_of_namespace, thread_tops

READ_STACK = """[<0>] request_wait_answer+0x13c/0x220 [fuse]
[<0>] fuse_simple_request+0x17c/0x2e0 [fuse]
[<0>] fuse_do_readpage+0x1c3/0x200 [fuse]
[<0>] filemap_read_folio+0x3d/0xd0
"""
UMOUNT_STACK = """[<0>] rwsem_down_write_slowpath+0x2d1/0x6a0
[<0>] deactivate_super+0x3a/0x50
"""


def task(proc: Path, pid: int, tid: int, comm: str, state: str, stack: str) -> None:
    where = proc / str(pid) / "task" / str(tid)
    where.mkdir(parents=True)
    (where / "stat").write_text(f"{tid} ({comm}) {state} 1 0 0\n")
    (where / "stack").write_text(stack)


def test_only_tasks_waiting_in_the_kernel_on_a_fuse_request_are_named(tmp_path):
    task(tmp_path, 100, 100, "ganesha.nfsd", "S", "")
    task(tmp_path, 100, 105, "ganesha.nfsd", "D", READ_STACK)  # a worker reading a share's file
    task(tmp_path, 200, 200, "umount", "D", UMOUNT_STACK)  # waits, but not on a FUSE answer
    task(tmp_path, 300, 300, "nfs-cat", "S", READ_STACK)  # sleeps interruptibly: not blocked
    (tmp_path / "self").mkdir()
    assert fuse_blocked_tasks(tmp_path) == [
        ("ganesha.nfsd 100/105", ["request_wait_answer", "fuse_simple_request", "fuse_do_readpage",
                                  "filemap_read_folio"])]


GDB = """[New LWP 2964]
Thread 3 (Thread 0x7f5f1ffaf6c0 (LWP 26859) "zfs-fuse"):
#0  futex_wait (private=0, expected=2, futex_word=0x55885abba0e0) at ../sysdeps/nptl/futex-internal.h:146
#1  __GI___lll_lock_wait (futex=futex@entry=0x55885abba0e0, private=0) at ./nptl/lowlevellock.c:49
#2  0x00007f5fe4ca6c32 in lll_mutex_lock_optimized (mutex=0x55885abba0e0) at ./nptl/pthread_mutex_lock.c:48
#3  ___pthread_mutex_lock (mutex=0x55885abba0e0) at ./nptl/pthread_mutex_lock.c:93
#4  0x000055885aab26df in ?? ()
#5  0x000055885aab3000 in ?? ()

Thread 2 (Thread 0x7f5f20fb16c0 (LWP 23850) "zfs-fuse"):
#0  0x00007f5fe4ca6c32 in ___pthread_mutex_lock (mutex=0x55885abba0e0) at ./nptl/pthread_mutex_lock.c:93
#1  0x000055885aab26df in ?? ()

Thread 1 (Thread 0x7f5fe4b7a740 (LWP 2963) "zfs-fuse"):
#0  0x00007f5fe4d1d0df in __GI___poll (fds=0x7ffd, nfds=2, timeout=-1) at ../sysdeps/unix/sysv/linux/poll.c:29
#1  0x00007f5fe4e5a6b1 in fuse_session_loop (se=0x1) at fuse_loop.c:30
"""


def test_threads_waiting_at_one_place_of_the_stripped_daemon_show_as_one_entry():
    tops = thread_tops(GDB, base=0x55885aa81000)
    assert Counter(tops) == {"___pthread_mutex_lock@+0x316df": 2, "__GI___poll": 1}
    assert thread_tops(GDB, base=None)[:2] == ["___pthread_mutex_lock", "___pthread_mutex_lock"]


def test_only_the_waiters_of_one_mount_namespace_are_named(tmp_path):
    task(tmp_path, 100, 105, "tgtd", "D", READ_STACK)
    task(tmp_path, 200, 200, "umount", "D", READ_STACK)
    for pid, namespace in ((100, "mnt:[4026532174]"), (200, "mnt:[4026531832]")):
        (tmp_path / str(pid) / "ns").mkdir()
        (tmp_path / str(pid) / "ns" / "mnt").symlink_to(namespace)
    assert fuse_waiters_of_namespace("mnt:[4026532174]", tmp_path) == [
        "tgtd 100/105: request_wait_answer < fuse_simple_request < fuse_do_readpage < filemap_read_folio"]
