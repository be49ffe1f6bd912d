"""Staging directories of image copies on storage hosts, named after the Shoal process
that made them, so that what a crashed process left can be told from what a running one
uses, and swept.

A name is `shoal-image.<machine>-<boot>-<pid>-<start>.<random>`: the machine Shoal runs on
(a digest of its machine id), its boot, and the process (its pid and start time, so a pid
used again is not taken for the old process). A directory is stale when it was made on this
machine and that process is not running now; directories of other machines (another Shoal
sharing the storage host), of older names, or not Shoal's at all are left alone."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shoal.hosts import Host

log = logging.getLogger(__name__)

STAGING_DIR = "/var/tmp"  # on a storage host: where image files are staged (not /tmp: often a small tmpfs)
STAGING_PREFIX = "shoal-image."
SWEEP_TIMEOUT = 600.0
_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}([0-9a-f]{{10}})-([0-9a-f]{{8}})-(\d+)-(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Owner:
    machine: str
    boot: str
    pid: int
    start: int  # the process's start time, in clock ticks after boot (/proc/PID/stat)

    @property
    def token(self) -> str:
        return f"{self.machine}-{self.boot}-{self.pid}-{self.start}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def this_machine() -> str:
    ident = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id") or socket.gethostname()
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


def this_boot() -> str:
    return _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:8] or "00000000"


def start_time(pid: int) -> int | None:
    """When process `pid` of this machine started, None when there is none."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: it uses nothing any more
        return None
    return int(fields[19])  # field 22 of stat(5); fields[0] is field 3


def owner_of(pid: int) -> Owner | None:
    start = start_time(pid)
    return None if start is None else Owner(this_machine(), this_boot(), pid, start)


def owner_in(name: str) -> Owner | None:
    """The process a staging directory's name names; None for a name of another kind."""
    found = _NAME.match(name)
    return None if found is None else Owner(found[1], found[2], int(found[3]), int(found[4]))


def this_process() -> Owner:
    owner = owner_of(os.getpid())
    assert owner is not None  # this process runs
    return owner


def running(owner: Owner) -> bool:
    """Whether `owner`, a process of this machine, runs now."""
    return owner.boot == this_boot() and start_time(owner.pid) == owner.start


# ---- argv builders ------------------------------------------------------------------------------


def make_staging_dir(owner: Owner) -> list[str]:
    return ["mktemp", "-d", f"{STAGING_DIR}/{STAGING_PREFIX}{owner.token}.XXXXXXXX"]


def list_staging_dirs() -> list[str]:
    return ["find", STAGING_DIR, "-mindepth", "1", "-maxdepth", "1", "-type", "d",
            "-name", f"{STAGING_PREFIX}*", "-printf", "%f\\n"]


def remove_tree(path: str) -> list[str]:
    return ["rm", "-rf", "--one-file-system", path]


# ---- the sweep ----------------------------------------------------------------------------------


def stale(names: list[str]) -> list[str]:
    """Those of `names` that a process of this machine made and that no running process uses."""
    machine = this_machine()
    found = []
    for name in names:
        owner = owner_in(name)
        if owner is not None and owner.machine == machine and not running(owner):
            found.append(name)
    return found


def sweep(host: Host) -> list[str]:
    """Remove the staging directories on `host` that crashed Shoal processes of this machine
    left (a copy cut short); the paths removed. Never raises: what is not removed now (a host
    that does not answer) is tried again at the next start."""
    try:
        names = host.run(list_staging_dirs(), timeout=SWEEP_TIMEOUT).stdout.split()
    except Exception as exc:  # noqa: BLE001 - a storage host down must not stop the start
        log.warning("staging directories on %s were not swept: %s", host.name, exc)
        return []
    removed = []
    for name in stale(names):
        path = f"{STAGING_DIR}/{name}"
        try:
            host.run(remove_tree(path), timeout=SWEEP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            log.warning("stale staging directory %s on %s was not removed: %s", path, host.name, exc)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d staging directories of image copies cut short on %s: %s", len(removed), host.name,
                 ", ".join(removed))
    return removed
