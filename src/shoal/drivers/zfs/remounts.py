"""Noticing that a backend's file systems were mounted again underneath its exports.

When zfs-fuse dies and comes back (or a pool is imported again), every file
system is a new mount: tgtd still holds files open on the mounts that are gone
(I/O errors), and ganesha answers with handles of the old ones (NFS3ERR_STALE,
SERVERFAULT). Checking that each export exists is then not enough: every export
must be made again. The identity of the mount of each pool root's mountpoint
(Shoal never remounts those itself) tells: the kernel's never-reused mount id
where it has one, else the device number, which a new mount may get back.
What was seen is kept in a file of Shoal's state, so that a restart of Shoal
after ZFS came back meanwhile still makes every export again.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from shoal.hosts import Host

from .zfs import Zfs, ZfsError

log = logging.getLogger(__name__)


class RemountWatch:
    def __init__(self, host: Host, zfs: Zfs, roots: list[str], memory: str | None = None):
        self.host, self.zfs, self.roots = host, zfs, list(roots)
        self.memory = memory  # a local file: {root: mount identity} when the exports were last made
        self._mountpoints: dict[str, str] = {}
        self._seen: dict[str, str] | None = self._recall()
        self._lock = threading.Lock()

    def _recall(self) -> dict[str, str] | None:
        if self.memory is None:
            return None
        try:
            with open(self.memory) as fh:
                seen = json.load(fh)
        except (OSError, ValueError):
            return None
        return seen if isinstance(seen, dict) else None

    def _remember(self, seen: dict[str, str]) -> None:
        self._seen = seen
        if self.memory is None:
            return
        try:
            with open(self.memory + ".new", "w") as fh:
                json.dump(seen, fh)
            os.replace(self.memory + ".new", self.memory)
        except OSError as exc:  # the watch goes on in memory; only a restart would miss a remount
            log.warning("cannot keep what the mounts were in %s: %s", self.memory, exc)

    def _identities(self) -> dict[str, str] | None:
        """{root: mount identity} now; None while any root cannot be reached (ZFS down,
        a dead mount): nothing can be exported again until it can."""
        identities = {}
        for root in self.roots:
            mountpoint = self._mountpoints.get(root)
            if mountpoint is None:
                try:
                    mountpoint = self.zfs.get(root, ["mountpoint"]).get("mountpoint", "")
                except ZfsError:
                    return None
                if not mountpoint.startswith("/"):
                    continue  # not mounted anywhere: nothing of it is exported
                self._mountpoints[root] = mountpoint
            identity = self.host.mount_identity(mountpoint)
            if identity is None:
                return None
            identities[root] = identity
        return identities

    def remounted(self) -> bool:
        """True when the roots are reachable and mounted anew since settled()
        (the first look only remembers what it sees)."""
        with self._lock:
            now = self._identities()
            if now is None:
                return False
            if self._seen is None:
                self._remember(now)
                return False
            return now != self._seen

    def settled(self) -> None:
        """Every export was made again on the mounts there are now."""
        with self._lock:
            now = self._identities()
            if now is not None:
                if self._seen is not None and now != self._seen:
                    log.info("file systems under %s were mounted again; their exports are made anew",
                             ", ".join(self.roots))
                self._remember(now)
