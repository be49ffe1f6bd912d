"""Share latency through Shoal's API against the raw-command floor, in one run.

For each operation the same work is done twice per round, interleaved: once
through Shoal's HTTP API (request, then poll until the resource is steady)
and once by hand with the raw commands (`zfs …`, writing ganesha's export
files, SIGHUP, waiting for its reload line) against a ganesha of the bench's
own. Medians of the rounds are printed with their ratio: the overhead Shoal
adds to the floor. Everything runs on a pool, ports and state dirs of the
bench's own, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shoal.exports.nfs.base import NfsClientRule, normalize_address  # noqa: E402
from shoal.exports.nfs.ganesha import RELOAD_DONE, render_export, render_main  # noqa: E402
from tests.fixtures.ganesha import _registrations, _restore_registrations  # noqa: E402
from tests.fixtures.shoal import (  # noqa: E402
    free_port, kill_ganesha, start_server, stop_server, stop_tgtd, write_config,
)

OPS = ("create", "snapshot", "from_snapshot", "allow_access", "delete")
POLL = 0.002


def sh(*argv: str) -> str:
    """Run a raw command; like anyone driving zfs-fuse by hand, retry 'busy'."""
    for delay in (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, None):
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout
        if delay is None or "busy" not in result.stderr:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
        time.sleep(delay)
    raise AssertionError("unreachable")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- the floor: raw commands ---------------------------------------------------


class RawGanesha:
    """A ganesha driven by hand: write the files, SIGHUP, wait for the reload line."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.exports = directory / "exports.d"
        self.exports.mkdir(parents=True)
        self.nfs_port, self.mount_port = free_port(), free_port()
        self.conf, self.log, self.pidfile = directory / "ganesha.conf", directory / "ganesha.log", directory / "ganesha.pid"
        self.next_id = 2
        self.write_main()
        sh("ganesha.nfsd", "-f", str(self.conf), "-L", str(self.log), "-p", str(self.pidfile))
        deadline = time.monotonic() + 30
        while not (self.pidfile.exists() and self.pidfile.read_text().strip() and "ganesha" in self.log.read_text()):
            assert time.monotonic() < deadline, "raw ganesha did not start"
            time.sleep(0.05)
        time.sleep(0.5)
        self.pid = int(self.pidfile.read_text())

    def write_main(self) -> None:
        includes = sorted(str(p) for p in self.exports.glob("*.conf"))
        self.conf.write_text(render_main(nfs_port=self.nfs_port, mount_port=self.mount_port,
                                         config_dir=str(self.dir), includes=includes, graceless=True))

    def reload(self) -> None:
        offset = self.log.stat().st_size
        os.kill(self.pid, signal.SIGHUP)
        while True:
            with self.log.open() as fh:
                fh.seek(offset)
                if RELOAD_DONE in fh.read():
                    return
            time.sleep(POLL)

    def export(self, key: str, path: str, rules=()) -> None:
        file = self.exports / f"{key}.conf"
        parsed = [(r, normalize_address(r.address)) for r in rules]
        file.write_text(render_export(key, self.next_id, path, parsed))
        self.next_id += 1
        self.write_main()
        self.reload()

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

    def allow_access(self, name: str) -> None:
        ds = f"{self.root}/{name}"
        rule = NfsClientRule("r", "127.0.0.1", "rw")
        self.ganesha.export(name, f"/{ds}", [rule])

    def delete(self, name: str) -> None:
        ds = f"{self.root}/{name}"
        self.ganesha.unexport(name)
        sh("zfs", "umount", ds)
        sh("zfs", "destroy", "-r", ds)

    def delete_snapshot(self, name: str) -> None:
        sh("zfs", "destroy", f"{self.root}/{name}@s")


# ---- through the API -------------------------------------------------------------


class Api:
    def __init__(self, client: httpx.Client):
        self.http = client

    def wait(self, path: str, status: str) -> None:
        while True:
            body = self.http.get(path).json()
            (value,) = body.values()
            if value["status"] == status:
                return
            assert "error" not in value["status"], value
            time.sleep(POLL)

    def gone(self, path: str) -> None:
        while self.http.get(path).status_code != 404:
            time.sleep(POLL)

    def create(self, snapshot_id: str | None = None) -> str:
        body = {"share": {"size": 1, "share_proto": "NFS", "snapshot_id": snapshot_id}}
        share_id = self.http.post("/shares", json=body).json()["share"]["id"]
        self.wait(f"/shares/{share_id}", "available")
        return share_id

    def snapshot(self, share_id: str) -> str:
        snap = self.http.post("/snapshots", json={"snapshot": {"share_id": share_id}}).json()["snapshot"]["id"]
        self.wait(f"/snapshots/{snap}", "available")
        return snap

    def allow_access(self, share_id: str) -> None:
        body = {"allow_access": {"access_type": "ip", "access_to": "127.0.0.1", "access_level": "rw"}}
        rule = self.http.post(f"/shares/{share_id}/action", json=body).json()["access"]["id"]
        while self.http.get(f"/share-access-rules/{rule}").json()["access"]["state"] != "active":
            time.sleep(POLL)

    def delete(self, share_id: str) -> None:
        self.http.delete(f"/shares/{share_id}")
        self.gone(f"/shares/{share_id}")

    def delete_snapshot(self, snap: str) -> None:
        self.http.delete(f"/snapshots/{snap}")
        self.gone(f"/snapshots/{snap}")


def one_round(api: Api, floor: Floor, index: int, results: dict) -> None:
    ids: dict[str, str] = {}
    a, b = f"a{index}", f"b{index}"
    results["create"]["floor"].append(timed(lambda: floor.create(a)))
    results["create"]["api"].append(timed(lambda: ids.__setitem__("a", api.create())))
    results["snapshot"]["api"].append(timed(lambda: ids.__setitem__("s", api.snapshot(ids["a"]))))
    results["snapshot"]["floor"].append(timed(lambda: floor.snapshot(a)))
    results["from_snapshot"]["floor"].append(timed(lambda: floor.from_snapshot(a, b)))
    results["from_snapshot"]["api"].append(timed(lambda: ids.__setitem__("b", api.create(ids["s"]))))
    results["allow_access"]["api"].append(timed(lambda: api.allow_access(ids["a"])))
    results["allow_access"]["floor"].append(timed(lambda: floor.allow_access(a)))
    floor.delete_snapshot(a)
    api.delete_snapshot(ids["s"])
    results["delete"]["floor"].append(timed(lambda: floor.delete(a)))
    results["delete"]["api"].append(timed(lambda: api.delete(ids["a"])))
    floor.delete(b)
    api.delete(ids["b"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    pool = f"shoalbench{os.getpid()}"
    image = work / "pool.img"
    sh("truncate", "-s", "4G", str(image))
    sh("zpool", "create", pool, str(image))
    rpcbind_before = _registrations()
    server = raw = None
    iscsi_port = 0
    try:
        sh("zfs", "create", f"{pool}/api")
        sh("zfs", "create", f"{pool}/raw")
        port = free_port()
        config = work / "shoal.toml"
        iscsi_port = free_port()
        write_config(config, work, port, f"{pool}/api", free_port(), free_port(), iscsi_port)
        url = f"http://127.0.0.1:{port}"
        server = start_server(config, work, url)
        raw = RawGanesha(work / "raw-ganesha")
        project = uuid.uuid4().hex
        client = httpx.Client(base_url=f"{url}/share/v2/{project}", timeout=60,
                              headers={"X-OpenStack-Manila-API-Version": "2.84"})
        api, floor = Api(client), Floor(f"{pool}/raw", raw)
        results = {op: {"api": [], "floor": []} for op in OPS}
        one_round(api, floor, -1, {op: {"api": [], "floor": []} for op in OPS})  # warm-up
        for index in range(args.rounds):
            one_round(api, floor, index, results)
        print(f"share operations, median of {args.rounds} rounds (ms); ratio = Shoal API / raw commands")
        print(f"{'operation':<16}{'shoal':>10}{'floor':>10}{'ratio':>8}")
        for op in OPS:
            api_ms = statistics.median(results[op]["api"]) * 1000
            floor_ms = statistics.median(results[op]["floor"]) * 1000
            print(f"{op:<16}{api_ms:>10.1f}{floor_ms:>10.1f}{api_ms / floor_ms:>8.2f}")
    finally:
        if server is not None:
            stop_server(server)
        kill_ganesha(work / "ganesha")
        if iscsi_port:
            stop_tgtd(iscsi_port)
        if raw is not None:
            raw.stop()
        _restore_registrations(rpcbind_before)
        for _ in range(20):
            if subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", str(work)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
