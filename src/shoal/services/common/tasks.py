"""Background work: the API returns at once and the work runs here.

A thread pool runs driver calls; `coalesce` keeps at most one queued run per
key (e.g. one access-rule sync per share), so a burst of rule changes becomes
one or two bulk syncs instead of hundreds.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from shoal.hosts.runner import first_spawn

log = logging.getLogger(__name__)

# The reason recorded on work that a restart of Shoal cut short (see the share and volume recovery).
INTERRUPTED = "interrupted by a restart of Shoal before it finished"

# How long a request waits for the task it starts to spawn its first command (see TaskRunner.start).
HEAD_START = 0.002
# Threads for tasks that mostly wait on a daemon (see TaskRunner.submit's `waits`).
WAITING_WORKERS = 32


class Gate:
    """Lets a task started inside a request's transaction (its backend work
    overlapping the commit and the response) wait for that commit before it
    writes anything: True once committed, False if the transaction failed."""

    def __init__(self):
        self._done = threading.Event()
        self._committed = False

    def open(self, committed: bool) -> None:
        self._committed = committed
        self._done.set()

    def wait(self, timeout: float = 120.0) -> bool:
        return self._done.wait(timeout) and self._committed


@contextmanager
def early_start():
    """Wrap a request's transaction in this to hand its task a Gate: the task may
    start its backend work before the row is committed and must `wait()` for the
    commit before it writes; a failed transaction tells it to undo its work."""
    gate = Gate()
    try:
        yield gate
    except BaseException:
        gate.open(False)
        raise
    gate.open(True)


@dataclass(frozen=True)
class TaskLoad:
    queued: int
    running: int
    oldest_queued_seconds: float


class TaskRunner:
    def __init__(self, workers: int = 8, waiting_workers: int = WAITING_WORKERS):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shoal-task")
        self._waiting_pool = ThreadPoolExecutor(max_workers=waiting_workers, thread_name_prefix="shoal-wait")
        self._lock = threading.Lock()
        self._pending: set[Future] = set()
        self._queued: set[str] = set()
        # Held only while someone uses them: a lock nobody holds or waits for is
        # dropped, so ids never seen again (deleted resources, ids a caller made
        # up) do not pile up.
        self._key_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._idle = threading.Condition(self._lock)
        # For /metrics: tasks not started yet (oldest first: dicts keep insertion order), and running.
        self._waiting: dict[Callable, float] = {}
        self._running = 0

    def submit(self, fn: Callable, *args, began: threading.Event | None = None, waits: bool = False) -> Future:
        """Run fn(*args) in a worker. A task that `waits` spends most of its time
        waiting on a daemon that serves many changes at once (an access sync waits
        for the NFS server's reload, which takes in every export file written
        meanwhile): it runs in threads of its own, so that waiting tasks hold none
        of the workers and as many changes as are made meanwhile go into one reload."""
        def run():
            with self._lock:
                self._waiting.pop(run, None)
                self._running += 1
            try:
                if began is None:
                    fn(*args)
                else:
                    with first_spawn(began):
                        fn(*args)
            except Exception:  # the task records its own failure; this is the last resort
                log.exception("background task %s failed", getattr(fn, "__name__", fn))
            finally:
                with self._lock:
                    self._running -= 1

        with self._lock:
            self._waiting[run] = time.monotonic()
        try:
            # in the submitter's context, so the work knows which request started it (user messages)
            pool = self._waiting_pool if waits else self._pool
            future = pool.submit(contextvars.copy_context().run, run)
        except BaseException:  # shut down: it will never run
            with self._lock:
                self._waiting.pop(run, None)
            raise
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def start(self, fn: Callable, *args, waits: bool = False) -> Future:
        """Submit from a request, and let the task run first: wait (at most
        HEAD_START) until its first command has started (see hosts' first_spawn),
        or it has ended. What the request still does -- its insert, its commit,
        its response -- otherwise took the interpreter from the task: its first
        command started ~0.7 ms later, and Popen's hand-overs of the GIL made the
        spawn itself slower (share snapshots: ~1.38x -> ~1.34x the floor, A/B)."""
        began = threading.Event()
        future = self.submit(fn, *args, began=began, waits=waits)
        began.wait(HEAD_START)
        return future

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
            if not self._pending:
                self._idle.notify_all()

    def load(self) -> TaskLoad:
        """How many tasks wait for a worker, how many run, and how long the oldest has waited."""
        with self._lock:
            oldest = next(iter(self._waiting.values()), None)
            return TaskLoad(len(self._waiting), self._running, 0.0 if oldest is None else time.monotonic() - oldest)

    def key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def try_key_lock(self, key: str) -> threading.Lock | None:
        """The key's lock, now held by the caller, if nobody held it; else None."""
        lock = self.key_lock(key)
        return lock if lock.acquire(blocking=False) else None

    def start_holding(self, lock: threading.Lock, fn: Callable, *args, waits: bool = False) -> Future:
        """As `start`, for a caller that holds `lock` (see try_key_lock): the task
        runs under it and releases it (a Lock may be released by another thread)."""
        def run():
            try:
                fn(*args)
            finally:
                lock.release()

        try:
            return self.start(run, waits=waits)
        except BaseException:
            lock.release()
            raise

    def coalesce(self, key: str, fn: Callable, *args, waits: bool = False) -> None:
        """Run fn(*args) under the key's lock, unless a run for `key` is already
        queued. A request's call: the run gets a head start, as with `start`."""
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)

        def run():
            with self.key_lock(key):
                with self._lock:
                    self._queued.discard(key)
                fn(*args)

        self.start(run, waits=waits)

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        self._waiting_pool.shutdown(wait=True, cancel_futures=False)
