"""Volume latency through Shoal's API against the raw-command floor, in one run.

Per round, the API and the raw commands taking turns to go first:
create→available, create+attach (connection info in hand), snapshot, clone
and delete, once through the Cinder API and once by hand (`zfs`, `truncate`,
`tgtadm` against a tgtd of the bench's own). Then the time of a clone of a
1 GiB and of a 100 GiB sparse volume through the API, side by side: a ZFS
clone is O(1) in the size, so they should be equal.

Latency through the API ends when the server recorded `available`
(`updated_at`) or the deletion (its "volume <id> deleted" log line);
create+attach adds the attach request's time (until the connection info is
in hand) to the create's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUIET, Rounds, bench_shoal, deleted_at, latency, report, send, sh, wait_gone, wait_status  # noqa: E402

from tests.fixtures.shoal import control_port, free_port, stop_tgtd  # noqa: E402

OPS = ("create", "create+attach", "snapshot", "clone", "delete")
GiB = 1024**3
INITIATOR = "iqn.2026-11.org.shoal.bench:host"
CONNECTOR = {"initiator": INITIATOR, "ip": "127.0.0.1", "host": "bench"}


class RawTgt:
    """tgtd driven by hand, as an operator would script it."""

    def __init__(self):
        self.port = free_port()
        self.control = str(control_port(self.port))
        sh("tgtd", "--iscsi", f"portal=127.0.0.1:{self.port}", "--control-port", self.control)
        deadline = time.monotonic() + 10
        while subprocess.run(["tgtadm", "-C", self.control, "--op", "show", "--mode", "sys"],
                             capture_output=True).returncode:
            assert time.monotonic() < deadline, "raw tgtd did not start"
            time.sleep(0.05)
        self.tid = 0

    def adm(self, *args: str) -> None:
        sh("tgtadm", "-C", self.control, "--lld", "iscsi", *args)

    def export(self, name: str, backing: str) -> int:
        self.tid += 1
        tid = str(self.tid)
        self.adm("--op", "new", "--mode", "target", "--tid", tid, "-T", f"iqn.2026-11.org.shoal.raw:{name}")
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", "1", "-b", backing)
        self.adm("--op", "new", "--mode", "account", "--user", f"u{tid}", "--password", "secretsecret12")
        self.adm("--op", "bind", "--mode", "account", "--tid", tid, "--user", f"u{tid}")
        self.adm("--op", "bind", "--mode", "target", "--tid", tid, "-Q", INITIATOR)
        return self.tid

    def unexport(self, tid: int) -> None:
        self.adm("--op", "delete", "--mode", "target", "--tid", str(tid), "--force")
        self.adm("--op", "delete", "--mode", "account", "--user", f"u{tid}")

    def stop(self) -> None:
        stop_tgtd(self.port)


class Floor:
    def __init__(self, root: str, tgt: RawTgt):
        self.root, self.tgt = root, tgt

    def create(self, name: str, size: int = GiB) -> None:
        ds = f"{self.root}/{name}"
        sh("zfs", "create", ds)
        sh("truncate", "-s", str(size), f"/{ds}/volume.raw")

    def create_attach(self, name: str) -> int:
        self.create(name)
        return self.tgt.export(name, f"/{self.root}/{name}/volume.raw")

    def snapshot(self, name: str) -> None:
        sh("zfs", "snapshot", f"{self.root}/{name}@s")

    def clone(self, name: str, new: str) -> None:
        sh("zfs", "snapshot", f"{self.root}/{name}@c-{new}")
        sh("zfs", "clone", f"{self.root}/{name}@c-{new}", f"{self.root}/{new}")

    def delete(self, name: str) -> None:
        sh("zfs", "umount", f"{self.root}/{name}")
        sh("zfs", "destroy", "-r", f"{self.root}/{name}")


class Api:
    """Creates return (id, seconds until the server recorded `available`)."""

    def __init__(self, http: httpx.Client, log: Path):
        self.http, self.log = http, log

    def create(self, first_poll: float = 0.0, size: int | None = 1, **extra) -> tuple[str, float]:
        response, started = send(self.http, "POST", "/volumes", json={"volume": {"size": size, **extra}})
        volume = response.json()["volume"]["id"]
        return volume, latency(started, wait_status(self.http, f"/volumes/{volume}", "available", first_poll=first_poll))

    def create_attach(self, first_poll: float = 0.0) -> tuple[tuple[str, str], float]:
        """The create's latency (to its recorded `available`) plus the attach
        request's: the gap between them is only how long this client took to
        notice, which a poll interval decides, not Shoal."""
        volume, created = self.create(first_poll)
        body = {"attachment": {"volume_uuid": volume, "connector": CONNECTOR}}
        response, started = send(self.http, "POST", "/attachments", json=body)
        attached = time.time() - started
        attachment = response.json()["attachment"]
        assert attachment["connection_info"]["data"]["target_iqn"]
        return (volume, attachment["id"]), created + attached

    def snapshot(self, volume: str, first_poll: float = 0.0) -> tuple[str, float]:
        response, started = send(self.http, "POST", "/snapshots", json={"snapshot": {"volume_id": volume}})
        snap = response.json()["snapshot"]["id"]
        return snap, latency(started, wait_status(self.http, f"/snapshots/{snap}", "available", first_poll=first_poll))

    def clone(self, volume: str, first_poll: float = 0.0) -> tuple[str, float]:
        return self.create(first_poll, size=None, source_volid=volume)  # the source's size

    def delete(self, volume: str, first_poll: float = 0.0) -> tuple[None, float]:
        _, started = send(self.http, "DELETE", f"/volumes/{volume}")
        wait_gone(self.http, f"/volumes/{volume}", first_poll)
        return None, deleted_at(self.log, "volume", volume) - started

    def detach(self, attachment: str) -> None:
        self.http.delete(f"/attachments/{attachment}")

    def delete_snapshot(self, snap: str) -> None:
        self.http.delete(f"/snapshots/{snap}")
        wait_gone(self.http, f"/snapshots/{snap}")


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    a, b, c = f"a{index}", f"b{index}", f"c{index}"
    volume = rounds.pair("create", index, lambda: floor.create(a), api.create)
    tid: list[int] = []
    attached, attachment = rounds.pair("create+attach", index, lambda: tid.append(floor.create_attach(b)),
                                       api.create_attach)
    snap = rounds.pair("snapshot", index, lambda: floor.snapshot(a), lambda wait: api.snapshot(volume, wait))
    clone = rounds.pair("clone", index, lambda: floor.clone(a, c), lambda wait: api.clone(volume, wait))
    api.detach(attachment)
    floor.tgt.unexport(tid[0])
    api.delete_snapshot(snap)
    for other in (attached, clone):
        api.delete(other)
    for name in (b, c):
        floor.delete(name)
    rounds.pair("delete", index, lambda: floor.delete(a), lambda wait: api.delete(volume, wait))


def clone_by_size(api: Api, rounds: int, settle) -> None:
    """API clone time of a 1 GiB and of a 100 GiB sparse volume, alternating
    which goes first, each on a settled pool after a pause (as in Rounds)."""
    (small, _), (large, _) = api.create(size=1), api.create(size=100)
    times: dict[int, list[float]] = {1: [], 100: []}
    for index in range(rounds):
        pair = ((1, small), (100, large))
        for size, source in pair if index % 2 == 0 else pair[::-1]:
            settle()
            time.sleep(QUIET)
            clone, seconds = api.clone(source)
            times[size].append(seconds)
            api.delete(clone)
    for volume in (small, large):
        api.delete(volume)
    one, hundred = (statistics.median(times[s]) * 1000 for s in (1, 100))
    print(f"clone through the API, median of {rounds}: 1 GiB {one:.1f} ms, 100 GiB {hundred:.1f} ms, "
          f"ratio {hundred / one:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    # A sparse pool image big enough for the 100 GiB volume: placement counts the
    # whole size against free space (no over-subscription yet).
    with bench_shoal(pool_size="160G") as shoal:
        tgt = RawTgt()
        try:
            api = Api(shoal.client("volume", {"OpenStack-API-Version": "volume 3.71"}), shoal.work / "shoal.log")
            floor = Floor(f"{shoal.pool}/raw", tgt)
            one_round(api, floor, -1, Rounds(OPS, shoal.settle))  # warm-up
            rounds = Rounds(OPS, shoal.settle)
            for index in range(args.rounds):
                one_round(api, floor, index, rounds)
            report("volume operations", args.rounds, rounds.results)
            clone_by_size(api, max(10, args.rounds), shoal.settle)
        finally:
            tgt.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
