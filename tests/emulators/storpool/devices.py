"""The StorPool emulator's client side: real block devices under /dev/storpool.

A real StorPool client (``storpool_block``) shows an attached volume as a block
device with two symlinks, ``/dev/storpool/<name>`` and
``/dev/storpool-byid/<globalId>``; os-brick's ``StorPoolConnector`` hard-codes
both directories. The emulator makes the device a loop device over the
volume's file (``losetup -f --show``; ``-r`` for read-only) and the two
symlinks point at it.

Everything the emulator makes here is written to a ledger,
``/run/shoal-tests/storpool/<pid>-<n>.ledger`` (``link PATH`` / ``loop DEV
BACKING`` lines), so that:

- the emulator can remove every symlink and loop device it made when it stops;
- a later run removes what a run that died left (its pid is gone);
- an entry under /dev/storpool that no live emulator's ledger names belongs to
  a real StorPool (or to something unknown), and the emulator refuses to start.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import warnings
from pathlib import Path

from tests.fixtures.zfs import _pid_alive

DEV_STORPOOL = Path("/dev/storpool")
DEV_STORPOOL_BYID = Path("/dev/storpool-byid")
LEDGERS = Path("/run/shoal-tests/storpool")


class DeviceError(Exception):
    """A host-side step of the emulator failed (losetup, a symlink in the way)."""


def _run(argv: list[str]) -> str:
    res = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise DeviceError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def _ledger_owner(path: Path) -> int:
    try:
        return int(path.name.split("-", 1)[0])
    except ValueError:
        return 0


def _read_ledger(path: Path) -> tuple[set[str], dict[str, str]]:
    links: set[str] = set()
    loops: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return links, loops
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "link":
            links.add(rest)
        elif kind == "unlink":
            links.discard(rest)
        elif kind == "loop":
            dev, _, backing = rest.partition(" ")
            loops[dev] = backing
        elif kind == "unloop":
            loops.pop(rest, None)
    return links, loops


def _backing_file(dev: str) -> str | None:
    try:
        return (Path("/sys/block") / Path(dev).name / "loop" / "backing_file").read_text().strip()
    except OSError:
        return None


def _remove_link(path: str) -> None:
    p = Path(path)
    if p.is_symlink():
        p.unlink(missing_ok=True)


def _free_loop(dev: str, backing: str) -> None:
    current = _backing_file(dev)
    # zfs-fuse files show as "<path> (deleted)" once their dataset went away
    if current is not None and current.split(" (deleted)")[0] == backing:
        subprocess.run(["losetup", "-d", dev], check=False, capture_output=True, timeout=60)


def reap_dead_ledgers() -> None:
    """Remove the symlinks and loop devices of emulators whose test run died."""
    if not LEDGERS.is_dir():
        return
    for ledger in LEDGERS.glob("*.ledger"):
        if _pid_alive(_ledger_owner(ledger)):
            continue
        links, loops = _read_ledger(ledger)
        for link in links:
            _remove_link(link)
        for dev, backing in loops.items():
            _free_loop(dev, backing)
        ledger.unlink(missing_ok=True)


def foreign_entries() -> list[str]:
    """Entries of /dev/storpool{,-byid} that no live emulator's ledger names."""
    known: set[str] = set()
    if LEDGERS.is_dir():
        for ledger in LEDGERS.glob("*.ledger"):
            known |= _read_ledger(ledger)[0]
    found = []
    for directory in (DEV_STORPOOL, DEV_STORPOOL_BYID):
        if directory.is_dir():
            found += [str(entry) for entry in directory.iterdir() if str(entry) not in known]
        elif directory.exists() or directory.is_symlink():
            found.append(str(directory))
    return sorted(found)


def _device_rdev(dev: str) -> int:
    return os.stat(dev).st_rdev


def loops_under(directory: Path) -> list[str]:
    """Loop devices whose backing file lies under `directory` (the emulator must not
    destroy a dataset they hold: zfs-fuse answers busy, and a forced pool destroy
    over such a mount has been seen to wedge zfs-fuse for every later mount)."""
    prefix = str(directory).rstrip("/") + "/"
    found = []
    for entry in Path("/sys/block").glob("loop*"):
        backing = _backing_file(f"/dev/{entry.name}")
        if backing and backing.startswith(prefix):
            found.append(f"/dev/{entry.name}")
    return found


def close_own_fds(dev: str) -> int:
    """Close this process's descriptors on `dev` (a test that leaked one); the emulator
    does this only when it tears down. Returns how many it closed."""
    try:
        rdev = _device_rdev(dev)
    except OSError:
        return 0
    closed = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            st = os.stat(fd)
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode) and st.st_rdev == rdev:
            try:
                os.close(int(fd.name))
                closed += 1
            except OSError:
                pass
    return closed


def device_is_open(dev: str) -> bool:
    """Whether, as the emulator judges it, any process holds the device open, mounts
    it, or stacks on it (dm, md)."""
    try:
        rdev = _device_rdev(dev)
    except OSError:
        return False
    holders = Path("/sys/block") / Path(dev).name / "holders"
    if holders.is_dir() and any(holders.iterdir()):
        return True
    majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if line.split()[2] == majmin:
                return True
    except OSError:
        pass
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(fd)
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode) and st.st_rdev == rdev:
                return True
    return False


class LocalClient:
    """The StorPool emulator's stand-in for ``storpool_block`` on this host: it
    turns attachments of the local client id into loop devices and symlinks."""

    def __init__(self, ledger_name: str):
        LEDGERS.mkdir(parents=True, exist_ok=True)
        self.ledger = LEDGERS / f"{ledger_name}.ledger"
        self.ledger.touch()
        self.links: set[str] = set()
        self.loops: dict[str, str] = {}

    def _note(self, line: str) -> None:
        with self.ledger.open("a") as f:
            f.write(line + "\n")

    def attach(self, backing: Path, name: str, global_id: str, readonly: bool) -> str:
        """The emulator's loop device over `backing` and its two symlinks; returns the device."""
        paths = [DEV_STORPOOL / name, DEV_STORPOOL_BYID / global_id]
        for path in paths:
            if path.exists() or path.is_symlink():
                raise DeviceError(f"{path} already exists and was not made for this attachment")
        argv = ["losetup", "-f", "--show"] + (["-r"] if readonly else []) + [str(backing)]
        dev = _run(argv).strip()
        self.loops[dev] = str(backing)
        self._note(f"loop {dev} {backing}")
        for path in paths:
            self._link(path, dev)
        return dev

    def _link(self, path: Path, dev: str) -> None:
        path.parent.mkdir(exist_ok=True)
        self._note(f"link {path}")  # noted first: a crash in between still leaves it named
        os.symlink(dev, path)
        self.links.add(str(path))

    def _unlink(self, path: Path) -> None:
        _remove_link(str(path))
        self.links.discard(str(path))
        self._note(f"unlink {path}")

    def rename(self, old: str, new: str, dev: str) -> None:
        """The volume was renamed: its /dev/storpool link follows, as StorPool's does (emulator)."""
        if (DEV_STORPOOL / new).exists() or (DEV_STORPOOL / new).is_symlink():
            raise DeviceError(f"{DEV_STORPOOL / new} already exists")
        self._link(DEV_STORPOOL / new, dev)
        self._unlink(DEV_STORPOOL / old)

    def detach(self, dev: str, name: str, global_id: str, teardown: bool = False) -> None:
        """Remove the emulator's symlinks and free the loop device (if it is still open,
        the kernel frees it at the last close: losetup -d sets autoclear). At
        `teardown`, descriptors this process leaked on the device are closed first."""
        for path in (DEV_STORPOOL / name, DEV_STORPOOL_BYID / global_id):
            self._unlink(path)
        subprocess.run(["blockdev", "--flushbufs", dev], check=False, capture_output=True, timeout=60)
        if teardown and close_own_fds(dev):
            warnings.warn(f"StorPool emulator: closed descriptor(s) a test left open on {dev} ({name})",
                          stacklevel=2)
        backing = self.loops.get(dev)
        _run(["losetup", "-d", dev])
        self.loops.pop(dev, None)
        self._note(f"unloop {dev}")
        deadline = time.monotonic() + 5
        while backing and _backing_file(dev) and time.monotonic() < deadline:
            time.sleep(0.05)  # autoclear: the kernel lets go of the file shortly after

    @staticmethod
    def flush(dev: str) -> None:
        """Push what was written through the emulator's device into its file (before a snapshot)."""
        subprocess.run(["blockdev", "--flushbufs", dev], check=False, capture_output=True, timeout=60)

    @staticmethod
    def refresh_size(dev: str, size: int | None = None) -> None:
        """Make the emulator's loop device see its file's new size (losetup -c)."""
        _run(["losetup", "-c", dev])

    is_open = staticmethod(device_is_open)

    def close(self) -> None:
        """Remove every symlink and loop device this emulator client made, then its ledger."""
        for link in list(self.links):
            _remove_link(link)
        for dev, backing in list(self.loops.items()):
            _free_loop(dev, backing)
        self.links.clear()
        self.loops.clear()
        self.ledger.unlink(missing_ok=True)
        for directory in (DEV_STORPOOL, DEV_STORPOOL_BYID):
            try:
                directory.rmdir()  # only when empty: another run's links stay
            except OSError:
                pass
