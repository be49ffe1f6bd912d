"""RemoteFS volume latency through Shoal's API against qemu-img by hand, in one run.

The bench's Shoal gets a `remotefs` backend on a directory of its own (one
share, a plain directory: no NFS mount in the way) and a volume type that
places volumes there. Per round, the API and the floor taking turns to go
first, on a 2 GiB sparse raw volume holding 1 GiB of written data:

- clone: through the API, a volume with `source_volid`, until `available`.
  By hand, what the driver does: a temporary qcow2 snapshot of the source, a
  new sparse raw file, `qemu-img convert` of the point-in-time image into it,
  then the temporary snapshot committed back and removed.
- snapshot: through the API until `available`. By hand, what the driver does:
  `qemu-img create` of the overlay on the active image (its backing name
  relative), chmod, the .info file. Cinder makes the overlay with the absolute
  backing name and rebases it to the relative one; that floor is timed too,
  apart (on the floor's clone: a raw file holding the same data), and its
  ratio printed on a line of its own.
- delete-middle: the volume's first snapshot is the one above; data is then
  written, a second snapshot taken, more data written, a third taken, and the
  second (the middle one) deleted, until gone. By hand: `qemu-img commit -d`
  of its overlay (the data written after it, 64 MiB), `qemu-img rebase -u` of
  the overlay above onto the one below, the .info file, `rm`.

The floor works on files made and named as the driver makes them, in the same
directory. It is the work itself: the driver's checks of the chain (a `qemu-img
info` per level before any change) and its own records (the journal of a
snapshot delete, the base image's format) are Shoal's cost. Data is written
by hand with qemu-io before each step, never timed, and read back after it.
Each step starts with memory just freed for its writes (`settle_memory`).

Latency through the API ends when the server recorded `available`
(`updated_at`); for the snapshot delete, which logs no line of its own, at the
server's first database write after the driver removed the delete's journal
(its last step): the snapshot row's deletion.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

import httpx
from inotify_simple import INotify, flags

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Rounds, bench_shoal, latency, report, send, sh, wait_gone, wait_status  # noqa: E402

from shoal.drivers.remotefs import info_file  # noqa: E402
from tests.fixtures.remotefs import backend_toml  # noqa: E402
from shoal.drivers.remotefs.files import PENDING, TMP_SNAP  # noqa: E402
from shoal.drivers.remotefs.info_file import ACTIVE  # noqa: E402

OPS = ("snapshot", "clone", "delete-middle")
MiB, GiB = 1024**2, 1024**3
SIZE_GB = 2
DATA = "write -P 0xab 0 1G"  # what the volume holds before anything is timed
WRITTEN = 64 * MiB  # written before the second and the third snapshot, with these patterns at these offsets:
BETWEEN = ((0x01, 256 * MiB), (0x02, 512 * MiB))
BACKEND = "nas"
SCRATCH = SIZE_GB * GiB * 5 // 8  # more than a clone writes (1 GiB), freed before each step
MODE = "660"  # a new share: Cinder's "auto" secure permissions resolve to true


def nas_backend(work: Path) -> str:
    share = work / "nas"
    share.mkdir()
    return backend_toml(BACKEND, share, address="127.0.0.1:/shoal-bench")


def settle_memory(scratch: Path) -> None:
    """Have memory the kernel has only just freed ready for the step's writes (a
    file as large as a clone, written and removed; `sync` then writes out what is
    dirty). On this VM, memory free for more than ~2 s goes back to the host
    (free page reporting) and is slow to fault in again: a 1 GiB clone's
    `qemu-img convert` took 0.3-0.5 s into freshly freed page cache and 2.7-3.6 s
    into memory handed back -- whichever side happened to meet which, not Shoal."""
    chunk = bytes(8 * MiB)
    with scratch.open("wb") as fh:
        for _ in range(SCRATCH // len(chunk)):
            fh.write(chunk)
    scratch.unlink()


def qemu_io(path: Path, fmt: str, command: str) -> None:
    sh("qemu-io", "-f", fmt, "-c", command, str(path))


def check(path: Path, fmt: str, pattern: int, offset: int) -> None:
    """The MiB at `offset` reads as `pattern` (a floor that copied or merged nothing would fail here)."""
    out = sh("qemu-io", "-f", fmt, "-c", f"read -P {pattern:#04x} {offset} 1M", str(path))
    assert "verification failed" not in out, f"{path}: {out}"


# ---- the floor: qemu-img and the .info file by hand ----------------------------------------


class FloorVolume:
    """A volume's files as the driver lays them out: `volume-<id>`, an overlay
    `volume-<id>.<snapshot id>` per snapshot, the .info file."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.name = f"volume-{uuid.uuid4()}"
        self.info: dict[str, str] = {}  # as the .info file says; {}: no file
        self.backing: dict[str, str] = {}  # overlay -> the file below it

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def active(self) -> str:
        return self.info.get(ACTIVE, self.name)

    def fmt(self, name: str) -> str:
        return "raw" if name == self.name else "qcow2"

    def write(self, command: str) -> None:
        qemu_io(self.path(self.active), self.fmt(self.active), command)


class Floor:
    def __init__(self, directory: Path):
        self.directory = directory

    def create(self) -> FloorVolume:
        volume = FloorVolume(self.directory)
        sh("truncate", "-s", str(SIZE_GB * GiB), str(volume.path(volume.name)))
        sh("chmod", MODE, "--", str(volume.path(volume.name)))
        return volume

    def _write_info(self, volume: FloorVolume, info: dict[str, str]) -> None:
        path = volume.path(f"{volume.name}.info")
        if info_file.snapshots(info):
            path.write_text(info_file.dumps(info))
            os.chmod(path, int(MODE, 8))
        else:
            sh("rm", "-f", "--", str(path))
        volume.info = info

    def _overlay(self, volume: FloorVolume, snapshot_id: str) -> str:
        """A new overlay on the active image, made active, as the driver's snapshot makes it."""
        new, below = f"{volume.name}.{snapshot_id}", volume.active
        sh("qemu-img", "create", "-f", "qcow2", "-b", below, "-F", volume.fmt(below), str(volume.path(new)),
           str(SIZE_GB * GiB))
        sh("chmod", MODE, "--", str(volume.path(new)))
        return new

    def _add_snapshot(self, volume: FloorVolume, snapshot_id: str, new: str) -> None:
        volume.backing[new] = volume.active
        self._write_info(volume, {**(volume.info or {ACTIVE: volume.active}), ACTIVE: new, snapshot_id: new})

    def snapshot(self, volume: FloorVolume) -> str:
        snapshot_id = str(uuid.uuid4())
        self._add_snapshot(volume, snapshot_id, self._overlay(volume, snapshot_id))
        return snapshot_id

    def snapshot_as_cinder(self, volume: FloorVolume) -> str:
        """Cinder's own commands: the backing file given absolute, then rebased to its relative name."""
        snapshot_id = str(uuid.uuid4())
        new, below = f"{volume.name}.{snapshot_id}", volume.active
        fmt = volume.fmt(below)
        sh("qemu-img", "create", "-f", "qcow2", "-o", f"backing_file={volume.path(below)},backing_fmt={fmt}",
           str(volume.path(new)), str(SIZE_GB * GiB))
        sh("qemu-img", "rebase", "-u", "-b", below, "-F", fmt, str(volume.path(new)))
        sh("chmod", MODE, "--", str(volume.path(new)))
        self._add_snapshot(volume, snapshot_id, new)
        return snapshot_id

    def clone(self, source: FloorVolume) -> FloorVolume:
        """Through a temporary snapshot, as the driver clones."""
        clone = FloorVolume(self.directory)
        temporary, before = f"{TMP_SNAP}{clone.name.removeprefix('volume-')}", dict(source.info)
        below = source.active
        overlay = self._overlay(source, temporary)
        self._add_snapshot(source, temporary, overlay)
        target = str(clone.path(clone.name))
        sh("truncate", "-s", str(SIZE_GB * GiB), target)
        sh("chmod", MODE, "--", target)
        sh("qemu-img", "convert", "-n", "--target-is-zero", "-f", source.fmt(below), "-O", "raw",
           str(source.path(below)), target)
        # The temporary snapshot's overlay is the active image: commit it (empty), back to the old .info.
        sh("qemu-img", "commit", "-q", "-f", "qcow2", "-d", str(source.path(overlay)))
        self._write_info(source, before)
        sh("rm", "-f", "--", str(source.path(overlay)))
        del source.backing[overlay]
        return clone

    def delete_middle(self, volume: FloorVolume, snapshot_id: str) -> None:
        """Delete a snapshot with an overlay above its own: commit, rebase the one above, .info, rm."""
        overlay = volume.info[snapshot_id]
        below = volume.backing[overlay]
        (higher,) = (name for name, backing in volume.backing.items() if backing == overlay)
        sh("qemu-img", "commit", "-q", "-f", "qcow2", "-d", str(volume.path(overlay)))
        sh("qemu-img", "rebase", "-u", "-f", "qcow2", "-b", below, "-F", volume.fmt(below), str(volume.path(higher)))
        self._write_info(volume, {k: v for k, v in volume.info.items() if k != snapshot_id})
        sh("rm", "-f", "--", str(volume.path(overlay)))
        volume.backing[higher] = below
        del volume.backing[overlay]

    def remove(self, volume: FloorVolume) -> None:
        sh("rm", "-f", "--", *(str(p) for p in self.directory.glob(f"{volume.name}*")))


# ---- through the API -------------------------------------------------------------------------


class Api:
    """Timed calls return (id, seconds until the server recorded the steady state)."""

    def __init__(self, http: httpx.Client, share: Path, state: Path):
        self.http, self.share, self.state = http, share, state

    def create(self) -> str:
        response = self.http.post("/volumes", json={"volume": {"size": SIZE_GB, "volume_type": BACKEND}})
        volume = response.json()["volume"]["id"]
        wait_status(self.http, f"/volumes/{volume}", "available")
        return volume

    def file(self, volume: str, snapshot: str | None = None) -> Path:
        """The volume's base file, or the overlay `snapshot` made (the active image after it)."""
        return self.share / (f"volume-{volume}.{snapshot}" if snapshot else f"volume-{volume}")

    def snapshot(self, volume: str, first_poll: float = 0.0) -> tuple[str, float]:
        response, started = send(self.http, "POST", "/snapshots", json={"snapshot": {"volume_id": volume}})
        snap = response.json()["snapshot"]["id"]
        return snap, latency(started, wait_status(self.http, f"/snapshots/{snap}", "available", first_poll=first_poll))

    def clone(self, volume: str, first_poll: float = 0.0) -> tuple[str, float]:
        response, started = send(self.http, "POST", "/volumes", json={"volume": {"source_volid": volume}})
        clone = response.json()["volume"]["id"]
        return clone, latency(started, wait_status(self.http, f"/volumes/{clone}", "available", first_poll=first_poll))

    def delete_snapshot(self, volume: str, snap: str) -> tuple[None, float]:
        """Until the server's first database write (the row's deletion; the SQLite
        WAL) after the driver removed the delete's journal, woken by inotify."""
        journal = f"volume-{volume}.{PENDING}"
        with INotify() as watch:
            watch.add_watch(str(self.share), flags.DELETE)
            watch.add_watch(str(self.state), flags.MODIFY)
            _, started = send(self.http, "DELETE", f"/snapshots/{snap}")
            merged = False
            while True:
                events = watch.read(timeout=600_000)
                now = time.time()
                assert events, f"snapshot {snap}: no sign of its delete in 10 minutes"
                for event in events:
                    merged = merged or event.name == journal
                    if merged and event.name == "shoal.db-wal":
                        wait_gone(self.http, f"/snapshots/{snap}")
                        return None, now - started

    def delete(self, volume: str) -> None:
        self.http.delete(f"/volumes/{volume}", params={"cascade": "true"})
        wait_gone(self.http, f"/volumes/{volume}")


# ---- a round -----------------------------------------------------------------------------------


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    volume, by_hand = api.create(), floor.create()
    qemu_io(api.file(volume), "raw", DATA)
    by_hand.write(DATA)

    copies: list[FloorVolume] = []
    clone = rounds.pair("clone", index, lambda: copies.append(floor.clone(by_hand)), lambda wait: api.clone(volume, wait))
    check(api.file(clone), "raw", 0xAB, 0)
    check(copies[0].path(copies[0].name), "raw", 0xAB, 0)
    # Cinder's snapshot commands, timed on the floor's copy: a raw file holding 1 GiB, as the snapshots below meet.
    rounds.extra_floor("snapshot", lambda: floor.snapshot_as_cinder(copies[0]))
    api.delete(clone)
    floor.remove(copies[0])

    top = rounds.pair("snapshot", index, lambda: floor.snapshot(by_hand), lambda wait: api.snapshot(volume, wait))
    later, by_hand_later = [], []
    for pattern, offset in BETWEEN:
        qemu_io(api.file(volume, top), "qcow2", f"write -P {pattern:#04x} {offset} {WRITTEN}")
        by_hand.write(f"write -P {pattern:#04x} {offset} {WRITTEN}")
        top, _ = api.snapshot(volume)
        later.append(top)
        by_hand_later.append(floor.snapshot(by_hand))
    rounds.pair("delete-middle", index, lambda: floor.delete_middle(by_hand, by_hand_later[0]),
                lambda wait: api.delete_snapshot(volume, later[0]))
    for pattern, offset in BETWEEN:  # what the deleted snapshot's overlay held is still there
        check(api.file(volume, top), "qcow2", pattern, offset)
        check(by_hand.path(by_hand.active), "qcow2", pattern, offset)
    api.delete(volume)
    floor.remove(by_hand)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with bench_shoal(backends=nas_backend) as shoal:
        share = shoal.work / "nas"
        http = shoal.client("volume", {"OpenStack-API-Version": "volume 3.71"})
        vtype = {"name": BACKEND, "extra_specs": {"volume_backend_name": BACKEND}}
        http.post("/types", json={"volume_type": vtype}).raise_for_status()
        api, floor = Api(http, share, shoal.work), Floor(share)

        def settle() -> None:
            settle_memory(shoal.work / "scratch")
            sh("sync", "-f", str(share))

        one_round(api, floor, -1, Rounds(OPS, settle))  # warm-up
        rounds = Rounds(OPS, settle)
        for index in range(args.rounds):
            one_round(api, floor, index, rounds)
        report(f"remotefs volume operations ({SIZE_GB} GiB raw, 1 GiB written)", args.rounds, rounds.results,
               rounds.other_floors, "as Cinder runs it (qemu-img create with the absolute backing name, then rebase -u)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
