"""What volume deletes left for later (data a backend still called busy, kept
hidden by its driver): each volume driver's `collect_garbage`, run by the
periodic check (it calls `check_once` of everything handed to `Recovery.also`),
and once in full after each start, in the background (`start`)."""

from __future__ import annotations

import logging

from ..common import core as c

log = logging.getLogger(__name__)


class VolumeGarbage:
    def __init__(self, core: c.Core):
        self.core = core

    def start(self) -> None:
        """The full walk of every backend, as a task: a start serves at once."""
        self.core.tasks.submit(self._collect, True)

    def check_once(self) -> None:
        self._collect(False)

    def _collect(self, full: bool) -> None:
        for name, driver in list(self.core.volume_drivers.items()):
            try:
                gone = driver.collect_garbage(full)
            except Exception as exc:  # one backend must not stop the others; the next check tries again
                log.warning("backend %s: garbage collection failed: %s", name, exc)
                continue
            if gone:
                log.info("backend %s: removed what earlier deletes left: %s", name, ", ".join(gone))
