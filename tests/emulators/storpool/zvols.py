"""The StorPool emulator's zvol mode: volumes as kernel OpenZFS zvols, attached
as the zvol's own block device under /dev/storpool (the kernel lane; zfs-fuse
has no zvols).

Every command runs through ``run(argv)`` on the host that has the zvols (the
lane's guest over SSH; a local runner would do on a host with kernel ZFS);
``run`` returns an object with ``returncode``, ``stdout`` and ``stderr`` and
does not raise on a failed command.

- :class:`ZvolStorage`: a volume is ``zfs create -s -V <size> -b 4096``, a
  clone is ``zfs clone`` (grown with ``volsize`` if asked bigger), an extend is
  ``zfs set volsize``. Sizes must be multiples of the 4096-byte volblocksize
  (ZFS wants volsize a multiple of it; StorPool itself takes multiples of 512):
  the emulator answers invalidParam for others.
- :class:`ZvolClient`: attaching makes ``/dev/storpool/<name>`` and
  ``/dev/storpool-byid/<globalId>`` symlinks to ``/dev/zvol/<dataset>`` (which
  udev links to the ``/dev/zdN`` device), set read-only with ``blockdev
  --setro`` for ``ro`` attachments. Whether a device is open is judged there
  as ``devices.device_is_open`` judges it here: holders, mounts, open
  descriptors of any process.

The emulator removes the symlinks it made when it stops; at start it removes
dangling ones (their zvol is gone: a run that died) and refuses to share the
directories with any other entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.emulators.storpool.devices import DeviceError

Run = Callable[[list[str]], Any]

VOLBLOCKSIZE = 4096
BUSY_DEADLINE = 60.0  # udev probes a zvol after a writer closes it: destroys ride that out
SIZE_TIMEOUT = 30.0  # how long an extend may take to reach the device
DEV_STORPOOL = "/dev/storpool"
DEV_STORPOOL_BYID = "/dev/storpool-byid"

# $1 = device: exit 0 and say why if it is held (holders, a mount, an open descriptor), 1 if not.
# udev's own probe (blkid, after a writer closes a zd device) is waited out first.
IS_OPEN = r"""
udevadm settle -t 10 2>/dev/null
d=$(readlink -f "$1"); [ -b "$d" ] || exit 1
n=${d##*/}
if [ -n "$(ls -A "/sys/class/block/$n/holders" 2>/dev/null)" ]; then echo "held by $(ls "/sys/class/block/$n/holders")"; exit 0; fi
mm=$(printf '%d:%d' "0x$(stat -Lc %t "$d")" "0x$(stat -Lc %T "$d")")
if awk -v mm="$mm" '$3 == mm {f = 1} END {exit !f}' /proc/self/mountinfo; then echo mounted; exit 0; fi
fd=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "$d" -print -quit 2>/dev/null)
[ -n "$fd" ] && { echo "open: $fd"; exit 0; }
exit 1
"""

# $1 = zvol device path, $2 = read-only (1/0; anything else: leave it), then the link paths: wait for udev's
# /dev/zvol link, refuse links already there, set ro, link.
ATTACH = r"""
dev=$1; ro=$2; shift 2
for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p already exists and was not made for this attachment" >&2; exit 4; fi; done
i=0
while [ ! -b "$dev" ]; do
    i=$((i + 1)); [ $i -gt 600 ] && { echo "$dev did not appear" >&2; exit 3; }
    udevadm settle -t 5 2>/dev/null || sleep 0.1
done
case "$ro" in 1) blockdev --setro "$dev";; 0) blockdev --setrw "$dev";; esac
for p in "$@"; do mkdir -p "${p%/*}"; ln -s "$dev" "$p"; done
"""

# $1 = device, then the link paths: remove the links, flush, back to rw.
DETACH = r"""
dev=$1; shift
for p in "$@"; do [ -L "$p" ] && rm -f "$p"; done
if [ -b "$dev" ]; then blockdev --flushbufs "$dev"; blockdev --setrw "$dev"; fi
exit 0
"""

# Remove dangling links (their zvol is gone), then list what is left.
SURVEY = r"""
for d in "$@"; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -maxdepth 1 -xtype l -delete
    find "$d" -mindepth 1 -maxdepth 1
done
exit 0
"""


def _sh(script: str, *args: str) -> list[str]:
    return ["sh", "-c", script, "sh", *args]


def _check(result: Any, what: str) -> str:
    if result.returncode != 0:
        raise DeviceError(f"{what} failed ({result.returncode}): {(result.stderr or '').strip()}")
    return result.stdout


def is_open(run: Run, dev: str) -> bool:
    """Whether the zvol device `dev` is held open there (holders, a mount, a descriptor)."""
    return run(_sh(IS_OPEN, dev)).returncode == 0


class ZvolStorage:
    """The StorPool emulator's volumes as zvols under its root dataset, through `run`."""

    size_unit = VOLBLOCKSIZE

    def __init__(self, root: str, run: Run):
        self.root = root
        self.run = run

    def zfs(self, *args: str) -> str:
        res = self.run(["zfs", *args])
        if res.returncode != 0:
            raise RuntimeError(f"zfs {' '.join(args)} failed ({res.returncode}): {(res.stderr or '').strip()}")
        return res.stdout

    @staticmethod
    def backing(dataset: str) -> str:
        return f"/dev/zvol/{dataset}"

    def create_root(self) -> None:
        self.zfs("create", self.root)

    def create(self, dataset: str, size: int) -> None:
        self.zfs("create", "-s", "-V", str(size), "-b", str(VOLBLOCKSIZE), dataset)

    def clone(self, origin: str, dataset: str, size: int) -> None:
        self.zfs("clone", origin, dataset)
        if int(self.zfs("get", "-Hp", "-o", "value", "volsize", dataset)) != size:
            self.resize(dataset, size)

    def resize(self, dataset: str, size: int) -> None:
        self.zfs("set", f"volsize={size}", dataset)

    def sync(self, dataset: str) -> None:
        """Nothing to do: the client flushed the device, and `zfs snapshot` takes what reached the zvol."""

    def snapshot(self, name: str) -> None:
        self.zfs("snapshot", name)

    def destroy(self, name: str, recursive: bool = False) -> None:
        """Destroy a zvol or snapshot; 'busy' (udev's probe of a zvol a writer just closed) is waited out."""
        argv = ["zfs", "destroy", *(["-r"] if recursive else []), name]
        end = time.monotonic() + BUSY_DEADLINE
        delay = 0.2
        while True:
            res = self.run(argv)
            err = (res.stderr or "").strip()
            if res.returncode == 0 or "does not exist" in err:
                return
            if "busy" not in err or time.monotonic() + delay > end:
                raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {err}")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def stored(self, dataset: str) -> int:
        try:
            return int(self.zfs("get", "-Hp", "-o", "value", "referenced", dataset))
        except (RuntimeError, ValueError):
            return 0

    def held(self, dataset: str) -> bool:
        return is_open(self.run, self.backing(dataset))

    def destroy_root(self) -> None:
        self.destroy(self.root, recursive=True)


class ZvolClient:
    """The StorPool emulator's stand-in for ``storpool_block`` on the zvols' host:
    attachments of the local client id become /dev/storpool symlinks to zvols."""

    def __init__(self, run: Run):
        self.run = run
        self.links: set[str] = set()

    def foreign_entries(self) -> list[str]:
        """Entries of /dev/storpool{,-byid} there that are not dangling links (removed here)."""
        out = _check(self.run(_sh(SURVEY, DEV_STORPOOL, DEV_STORPOOL_BYID)), "survey of /dev/storpool")
        return sorted(line for line in out.splitlines() if line.strip())

    @staticmethod
    def _paths(name: str, global_id: str) -> list[str]:
        return [f"{DEV_STORPOOL}/{name}", f"{DEV_STORPOOL_BYID}/{global_id}"]

    def attach(self, backing: str, name: str, global_id: str, readonly: bool) -> str:
        """Link the zvol `backing` as the attached volume; returns the device path."""
        paths = self._paths(name, global_id)
        _check(self.run(_sh(ATTACH, backing, "1" if readonly else "0", *paths)), f"attach of {name}")
        self.links.update(paths)
        return backing

    def detach(self, dev: str, name: str, global_id: str, teardown: bool = False) -> None:
        """Remove the links (a process that still has the device open keeps it: the zvol
        stays until the emulator's gc finds it free)."""
        paths = self._paths(name, global_id)
        _check(self.run(_sh(DETACH, dev, *paths)), f"detach of {name}")
        self.links.difference_update(paths)

    def rename(self, old: str, new: str, dev: str) -> None:
        """The volume was renamed: its /dev/storpool link follows, as StorPool's does (emulator)."""
        _check(self.run(_sh(ATTACH, dev, "keep", f"{DEV_STORPOOL}/{new}")), f"link of {new}")
        self.links.add(f"{DEV_STORPOOL}/{new}")
        _check(self.run(["rm", "-f", f"{DEV_STORPOOL}/{old}"]), f"unlink of {old}")
        self.links.discard(f"{DEV_STORPOOL}/{old}")

    def flush(self, dev: str) -> None:
        _check(self.run(["blockdev", "--flushbufs", dev]), f"flush of {dev}")

    def refresh_size(self, dev: str, size: int) -> None:
        """Wait until the zvol's device shows `size` (ZFS resizes it itself)."""
        deadline = time.monotonic() + SIZE_TIMEOUT
        while True:
            seen = self.run(["blockdev", "--getsize64", dev]).stdout.strip()
            if seen == str(size):
                return
            if time.monotonic() > deadline:
                raise DeviceError(f"{dev} shows {seen} bytes, not {size}, {SIZE_TIMEOUT}s after the resize")
            time.sleep(0.2)

    def is_open(self, dev: str) -> bool:
        return is_open(self.run, dev)

    def close(self) -> None:
        """Remove every link this emulator client made; the directories go if empty."""
        if self.links:
            self.run(["rm", "-f", *sorted(self.links)])
            self.links.clear()
        self.run(["rmdir", "--ignore-fail-on-non-empty", DEV_STORPOOL, DEV_STORPOOL_BYID])
