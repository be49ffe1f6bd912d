"""Waiting until a file changes: told by inotify on this machine, by the clock elsewhere.

A caller that waits for a daemon to write a line (ganesha's "reload complete")
looks at the file, and between looks waits on a watch. A watch that is told of
each write wakes the caller as soon as the line is there; one that is not
(a remote host, a file inotify cannot watch) sleeps the caller's interval, so
looking at the file stays the caller's one test of progress either way.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from inotify_simple import INotify, flags

log = logging.getLogger("shoal.hosts")


class FileWatch(Protocol):
    """For one waiter at a time (its caller's lock)."""

    def mark(self) -> None:
        """Forget earlier changes: `wait` returns for changes made after this."""

    def wait(self, timeout: float) -> None:
        """Return once the file changed since `mark` or the last `wait`, or after `timeout` seconds."""


class Sleeping:
    """A watch that is told nothing: waiting is sleeping."""

    def mark(self) -> None:
        pass

    def wait(self, timeout: float) -> None:
        time.sleep(timeout)


class InotifyWatch:
    """inotify on a local file. The inotify instance lives as long as the watch:
    closing one waits for the kernel's grace period (measured: ~0.6 ms, up to
    10 ms under load), far more than a wait it would save."""

    def __init__(self, path: str):
        self.path = path
        self._inotify: INotify | None = None
        self._told = False

    def mark(self) -> None:
        try:
            if self._inotify is None:
                self._inotify = INotify()
            # Added again on every mark: the path may name a new file by now (the
            # daemon restarted); for the same file this only renews the watch.
            self._inotify.add_watch(self.path, flags.MODIFY)
            self._inotify.read(timeout=0)
            self._told = True
        except OSError as exc:  # no such file yet, no permission, or inotify's limits
            if self._told:
                log.debug("watching %s: %s; waiting by the clock", self.path, exc)
            self._told = False

    def wait(self, timeout: float) -> None:
        if self._told and self._inotify is not None:
            self._inotify.read(timeout=max(1, round(timeout * 1000)))
        else:
            time.sleep(timeout)
