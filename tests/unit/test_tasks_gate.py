"""The Gate between a request's transaction and the task it started early, and the key locks."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import pytest

from shoal.hosts import LocalHost
from shoal.services.common import tasks
from shoal.services.common.tasks import Gate, TaskRunner, early_start


def test_a_committed_transaction_opens_the_gate():
    with early_start() as gate:
        pass
    assert gate.wait(0) is True


def test_a_failed_transaction_tells_the_task_to_undo():
    with pytest.raises(RuntimeError), early_start() as gate:
        raise RuntimeError("commit failed")
    assert gate.wait(0) is False


def test_a_gate_never_opened_is_not_a_commit():
    assert Gate().wait(0.01) is False


def test_a_task_started_inside_the_transaction_waits_for_its_outcome():
    """The backend work runs before the commit; the write waits for it."""
    runner = TaskRunner(workers=2)
    order: list[str] = []
    worked = threading.Event()

    def task(gate: Gate) -> None:
        order.append("backend work")
        worked.set()
        order.append("recorded" if gate.wait(5) else "undone")

    for fails in (False, True):
        order.clear()
        worked.clear()
        try:
            with early_start() as gate:
                runner.submit(task, gate)
                assert worked.wait(5)  # the work did not wait for the commit
                order.append("commit" if not fails else "rollback")
                if fails:
                    raise ValueError("insert refused")
        except ValueError:
            pass
        assert runner.wait_idle(5)
        assert order == ["backend work", "rollback", "undone"] if fails else ["backend work", "commit", "recorded"]
    runner.shutdown()


def test_start_on_a_busy_pool_waits_only_its_head_start():
    """With every worker taken, start() gives up waiting and the task stays queued."""
    runner = TaskRunner(workers=1)
    release = threading.Event()
    done = threading.Event()
    runner.submit(release.wait, 5)
    future = runner.start(done.set)
    assert not future.done() and not done.is_set()
    release.set()
    future.result(5)
    assert done.is_set()
    runner.shutdown()


def test_key_locks_are_shared_while_in_use_and_forgotten_after():
    runner = TaskRunner(workers=1)
    try:
        held = runner.key_lock("volume:a")
        with held:
            assert runner.key_lock("volume:a") is held  # a waiter gets the lock that is held
            assert runner.key_lock("volume:b") is not held
        del held
        gc.collect()
        assert "volume:a" not in runner._key_locks and "volume:b" not in runner._key_locks
    finally:
        runner.shutdown()


def test_start_returns_once_the_tasks_first_command_runs(monkeypatch):
    """The request waits for the task's first spawn, not for the task: here the
    head start is long, and start() still returns while the command runs."""
    monkeypatch.setattr(tasks, "HEAD_START", 30.0)
    runner = TaskRunner(workers=1)
    try:
        ran = []
        future = runner.start(lambda: ran.append(LocalHost().run(["sleep", "2.0417"]).returncode))
        assert _children_running(["sleep", "2.0417"])  # spawned before start() returned
        assert not future.done() and ran == []
        future.result(10)
        assert ran == [0]
        # A task that spawns nothing lets the request go when it ends.
        done = threading.Event()
        runner.start(done.set)
        assert done.is_set()
    finally:
        runner.shutdown()


def _children_running(argv: list[str]) -> bool:
    wanted = ("\0".join(argv) + "\0").encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == wanted:
                return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
        except OSError:
            continue
    return False


def test_try_key_lock_takes_a_free_lock_only():
    runner = TaskRunner(workers=1)
    try:
        lock = runner.try_key_lock("share:a")
        assert lock is not None and lock.locked()
        assert runner.try_key_lock("share:a") is None  # held: the caller queues instead
        lock.release()
        assert runner.try_key_lock("share:a") is lock
        lock.release()
    finally:
        runner.shutdown()


@pytest.mark.parametrize("fails", [False, True])
def test_a_task_started_holding_the_lock_runs_under_it_and_releases_it(fails):
    runner = TaskRunner(workers=1)
    try:
        lock = runner.try_key_lock("share:a")
        seen = []

        def task():
            seen.append(lock.locked())
            if fails:
                raise RuntimeError("backend said no")

        runner.start_holding(lock, task).result(5)
        assert seen == [True]
        assert runner.wait_idle(5) and not lock.locked()
    finally:
        runner.shutdown()


def test_a_task_that_cannot_start_releases_the_lock():
    runner = TaskRunner(workers=1)
    runner.shutdown()
    lock = runner.try_key_lock("share:a")
    with pytest.raises(RuntimeError):
        runner.start_holding(lock, lambda: None)
    assert not lock.locked()


def test_tasks_that_wait_on_a_daemon_hold_none_of_the_workers():
    """Four waiting tasks run at once beside one worker, and the worker still runs
    other work while they wait; the same holds for key-coalesced and lock-holding starts."""
    runner = TaskRunner(workers=1, waiting_workers=4)
    release = threading.Event()
    all_waiting = threading.Barrier(5)

    def waits() -> None:
        all_waiting.wait(5)
        release.wait(5)

    lock = runner.try_key_lock("share-a")
    try:
        runner.start(waits, waits=True)
        runner.start(waits, waits=True)
        runner.coalesce("share-b", waits, waits=True)
        runner.start_holding(lock, waits, waits=True)
        all_waiting.wait(5)  # raises BrokenBarrierError unless the four run side by side
        done = threading.Event()
        runner.start(done.set)
        assert done.wait(5), "a worker's task waited for the waiting ones"
    finally:
        release.set()
    assert runner.wait_idle(5)
    assert runner.try_key_lock("share-a") is not None  # released by the task that held it
    runner.shutdown()
