"""Share latency through Shoal's API against the raw-command floor, in one run.

Latency through the API runs from when the request goes out to the moment the
server recorded the steady state (the resource's `updated_at`; for a delete,
its "share <id> deleted" log line).

For each operation the same work is done twice per round, the two taking
turns to go first: once through Shoal's HTTP API (request, then poll until
the resource is steady) and once by hand with the raw commands (`zfs …`,
writing ganesha's export files, SIGHUP, waiting for its reload line) against
a ganesha of the bench's own. Medians of the rounds are printed with the
median of the per-round ratios: the overhead Shoal adds to the floor.

The floor waits for ganesha's reload line by looking at its log every 2 ms;
Shoal is woken by inotify. So that this is not what keeps allow access under
its target, each round also times the floor's allow woken by inotify too, and
the ratio against that floor is printed on a line of its own.
Everything runs on a pool, ports and state dirs of the bench's own, removed
at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Rounds, bench_shoal, deleted_at, latency, report, send, sh, wait_gone, wait_status  # noqa: E402

from shoal.exports.nfs.base import NfsClientRule, normalize_address  # noqa: E402
from shoal.exports.nfs.ganesha import RELOAD_DONE, render_export, render_main  # noqa: E402
from shoal.hosts.watch import InotifyWatch, Sleeping  # noqa: E402
from tests.fixtures.shoal import free_port  # noqa: E402

OPS = ("create", "snapshot", "from_snapshot", "allow_access", "delete")


# ---- the floor: raw commands ---------------------------------------------------


class RawGanesha:
    """A ganesha driven by hand: write the files, SIGHUP, wait for the reload line
    (looking every 2 ms; with `woken`, also woken by inotify, through the same
    watch as Shoal's). `prefix`: an argv ganesha is started under (bench/scale.py's
    `nsenter` into a mount namespace of its own, where the exported file systems are)."""

    def __init__(self, directory: Path, prefix: tuple[str, ...] = ()):
        self.dir, self.prefix = directory, prefix
        self.exports = directory / "exports.d"
        self.exports.mkdir(parents=True)
        self.nfs_port, self.mount_port = free_port(), free_port()
        self.conf, self.log, self.pidfile = directory / "ganesha.conf", directory / "ganesha.log", directory / "ganesha.pid"
        self.next_id = 2
        self._log_watch = InotifyWatch(str(self.log))
        self.write_main()
        self.start()
        deadline = time.monotonic() + 30
        while not (self.pidfile.exists() and self.pidfile.read_text().strip() and "ganesha" in self.log.read_text()):
            assert time.monotonic() < deadline, "raw ganesha did not start"
            time.sleep(0.05)
        time.sleep(0.5)
        self.pid = int(self.pidfile.read_text().split()[0])

    def start(self) -> None:
        sh(*self.prefix, "ganesha.nfsd", "-f", str(self.conf), "-L", str(self.log), "-p", str(self.pidfile))

    def write_main(self) -> None:
        includes = sorted(str(p) for p in self.exports.glob("*.conf"))
        self.conf.write_text(render_main(nfs_port=self.nfs_port, mount_port=self.mount_port,
                                         config_dir=str(self.dir), includes=includes, graceless=True))

    def reload(self, woken: bool = False) -> None:
        watch = self._log_watch if woken else Sleeping()
        watch.mark()
        offset = self.log.stat().st_size
        os.kill(self.pid, signal.SIGHUP)
        while True:
            with self.log.open() as fh:
                fh.seek(offset)
                if RELOAD_DONE in fh.read():
                    return
            watch.wait(0.002)  # the floor notices its reload within 2 ms

    def export(self, key: str, path: str, rules=(), woken: bool = False) -> None:
        file = self.exports / f"{key}.conf"
        parsed = [(r, normalize_address(r.address)) for r in rules]
        file.write_text(render_export(key, self.next_id, path, parsed))
        self.next_id += 1
        self.write_main()
        self.reload(woken)

    def unexport(self, key: str) -> None:
        (self.exports / f"{key}.conf").unlink()
        self.write_main()
        self.reload()

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


class Floor:
    def __init__(self, root: str, ganesha: RawGanesha):
        self.root, self.ganesha = root, ganesha

    def create(self, name: str) -> None:
        ds = f"{self.root}/{name}"
        sh("zfs", "create", "-o", "refquota=1G", "-o", "readonly=off", ds)
        self.ganesha.export(name, sh("zfs", "get", "-H", "-o", "value", "mountpoint", ds).strip())

    def snapshot(self, name: str) -> None:
        sh("zfs", "snapshot", f"{self.root}/{name}@s")

    def from_snapshot(self, parent: str, name: str) -> None:
        ds = f"{self.root}/{name}"
        send = subprocess.Popen(["zfs", "send", f"{self.root}/{parent}@s"], stdout=subprocess.PIPE)
        subprocess.run(["zfs", "receive", ds], stdin=send.stdout, check=True, capture_output=True)
        send.stdout.close()
        send.wait()
        sh("zfs", "set", "refquota=1G", ds)
        sh("zfs", "destroy", f"{ds}@s")
        self.ganesha.export(name, sh("zfs", "get", "-H", "-o", "value", "mountpoint", ds).strip())

    def allow_access(self, name: str, woken: bool = False) -> None:
        ds = f"{self.root}/{name}"
        rule = NfsClientRule("r", "127.0.0.1", "rw")
        self.ganesha.export(name, f"/{ds}", [rule], woken)

    def delete(self, name: str) -> None:
        ds = f"{self.root}/{name}"
        self.ganesha.unexport(name)
        sh("zfs", "umount", ds)
        sh("zfs", "destroy", "-r", ds)

    def delete_snapshot(self, name: str) -> None:
        sh("zfs", "destroy", f"{self.root}/{name}@s")


# ---- through the API -------------------------------------------------------------


class Api:
    """Each call returns (id, seconds until the server recorded the steady state)."""

    def __init__(self, client: httpx.Client, log: Path):
        self.http, self.log = client, log

    def create(self, first_poll: float = 0.0, snapshot_id: str | None = None) -> tuple[str, float]:
        body = {"share": {"size": 1, "share_proto": "NFS", "snapshot_id": snapshot_id}}
        response, started = send(self.http, "POST", "/shares", json=body)
        share_id = response.json()["share"]["id"]
        return share_id, latency(started, wait_status(self.http, f"/shares/{share_id}", "available", first_poll=first_poll))

    def snapshot(self, share_id: str, first_poll: float = 0.0) -> tuple[str, float]:
        response, started = send(self.http, "POST", "/snapshots", json={"snapshot": {"share_id": share_id}})
        snap = response.json()["snapshot"]["id"]
        return snap, latency(started, wait_status(self.http, f"/snapshots/{snap}", "available", first_poll=first_poll))

    def allow_access(self, share_id: str, first_poll: float = 0.0) -> tuple[str, float]:
        body = {"allow_access": {"access_type": "ip", "access_to": "127.0.0.1", "access_level": "rw"}}
        response, started = send(self.http, "POST", f"/shares/{share_id}/action", json=body)
        rule = response.json()["access"]["id"]
        view = wait_status(self.http, f"/share-access-rules/{rule}", "active", key="state", first_poll=first_poll)
        return rule, latency(started, view)

    def delete(self, share_id: str, first_poll: float = 0.0) -> tuple[None, float]:
        _, started = send(self.http, "DELETE", f"/shares/{share_id}")
        wait_gone(self.http, f"/shares/{share_id}", first_poll)
        return None, deleted_at(self.log, "share", share_id) - started

    def delete_snapshot(self, snap: str) -> None:
        self.http.delete(f"/snapshots/{snap}")
        wait_gone(self.http, f"/snapshots/{snap}")


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    a, b = f"a{index}", f"b{index}"
    share = rounds.pair("create", index, lambda: floor.create(a), api.create)
    snap = rounds.pair("snapshot", index, lambda: floor.snapshot(a), lambda wait: api.snapshot(share, wait))
    copy = rounds.pair("from_snapshot", index, lambda: floor.from_snapshot(a, b),
                       lambda wait: api.create(wait, snapshot_id=snap))
    rounds.pair("allow_access", index, lambda: floor.allow_access(a), lambda wait: api.allow_access(share, wait))
    rounds.extra_floor("allow_access", lambda: floor.allow_access(a, woken=True))
    floor.delete_snapshot(a)
    api.delete_snapshot(snap)
    rounds.pair("delete", index, lambda: floor.delete(a), lambda wait: api.delete(share, wait))
    floor.delete(b)
    api.delete(copy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with bench_shoal() as shoal:
        raw = RawGanesha(shoal.work / "raw-ganesha")
        try:
            api = Api(shoal.client("share", {"X-OpenStack-Manila-API-Version": "2.84"}), shoal.work / "shoal.log")
            floor = Floor(f"{shoal.pool}/raw", raw)
            one_round(api, floor, -1, Rounds(OPS, shoal.settle))  # warm-up
            rounds = Rounds(OPS, shoal.settle)
            for index in range(args.rounds):
                one_round(api, floor, index, rounds)
            report("share operations", args.rounds, rounds.results, rounds.other_floors,
                   "woken by inotify as Shoal is")
        finally:
            raw.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
