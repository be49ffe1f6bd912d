"""Share replication through Shoal's API against raw `zfs send | zfs receive`.

Two zpools of the bench's own, one backend holding both in one replication
domain, and a share type with `replication_type = readable`. Each round a
share holding --mib MiB of random data gets a replica on the other pool, and
the same data is sent by hand between the raw datasets of the same two pools,
the same way round; the two take turns going first.

- full: a replica created until `in_sync` (the server's `updated_at`), against
  `zfs snapshot` + `zfs send | zfs receive` by hand. Shoal also exports the
  replica read-only (a ganesha reload) and sets readonly and refquota on it.
- incremental: --delta MiB more written on the share (and on the floor's
  source), then the replica's resync (what the periodic sync runs) until the
  replica's `updated_at` moves, against `zfs snapshot` + `zfs send -i |
  zfs receive -F` by hand. Shoal's periodic sync is kept out of the way (a
  day apart), so only the resync asked for runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Rounds, TwoPoolFloor, fill, latency, pipe, report, send, settle_pool, sh, two_pool_shoal, wait_gone, wait_status, wait_updated,
)

OPS = ("full", "incremental")
TYPE = "replicated"


class Floor(TwoPoolFloor):
    """The same copies by hand, between the raw datasets of the same two pools, the same way round."""

    prefix = "r"

    def __init__(self, roots: tuple[str, str], mib: int, delta: int):
        super().__init__(roots, mib)
        self.delta = delta

    def full(self, index: int) -> None:
        sh("zfs", "snapshot", f"{self.source(index)}@a")
        pipe(f"{self.source(index)}@a", self.target(index))

    def change(self, index: int) -> None:
        fill(f"/{self.source(index)}", self.delta, "more.bin")

    def incremental(self, index: int) -> None:
        source = self.source(index)
        sh("zfs", "snapshot", f"{source}@b")
        pipe(f"{source}@b", self.target(index), since=f"{source}@a")

    def clean(self, index: int) -> None:
        for root in self.roots:
            sh("zfs", "destroy", "-r", f"{root}/{self.prefix}{index}")


class Api:
    def __init__(self, http, hosts: tuple[str, str], mib: int, delta: int):
        self.http, self.hosts, self.mib, self.delta = http, hosts, mib, delta
        self.directory = ""

    def prepare(self) -> tuple[str, bool]:
        """A replicated share holding the data, and whether its replica goes from the
        first pool to the second (the scheduler put the share where there is most room)."""
        body = {"share": {"share_proto": "NFS", "size": self.mib // 1024 + 1, "share_type": TYPE}}
        share = self.http.post("/shares", json=body).json()["share"]
        share = wait_status(self.http, f"/shares/{share['id']}", "available")
        location = self.http.get(f"/shares/{share['id']}/export_locations").json()["export_locations"][0]
        self.directory = location["path"].partition(":")[2]
        fill(self.directory, self.mib)
        return share["id"], share["host"] == self.hosts[0]

    def full(self, share_id: str, first_poll: float):
        response, started = send(self.http, "POST", "/share-replicas", json={"share_replica": {"share_id": share_id}})
        assert response.status_code == 202, (response.status_code, response.text)
        replica_id = response.json()["share_replica"]["id"]
        view = wait_status(self.http, f"/share-replicas/{replica_id}", "in_sync", "replica_state", first_poll)
        return replica_id, latency(started, view)

    def change(self) -> None:
        fill(self.directory, self.delta, "more.bin")

    def incremental(self, replica_id: str, first_poll: float):
        path = f"/share-replicas/{replica_id}"
        before = self.http.get(path).json()["share_replica"]["updated_at"]
        response, started = send(self.http, "POST", f"{path}/action", json={"resync": None})
        assert response.status_code == 202, (response.status_code, response.text)
        view = wait_updated(self.http, path, before, first_poll)
        assert view["replica_state"] == "in_sync", view
        return replica_id, latency(started, view)

    def delete(self, share_id: str, replica_id: str) -> None:
        self.http.delete(f"/share-replicas/{replica_id}")
        wait_gone(self.http, f"/share-replicas/{replica_id}")
        self.http.delete(f"/shares/{share_id}")
        wait_gone(self.http, f"/shares/{share_id}")


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    share_id, forward = api.prepare()
    floor.prepare(index, forward)
    replica_id = rounds.pair("full", index, lambda: floor.full(index), lambda wait: api.full(share_id, wait))
    api.change()
    floor.change(index)
    rounds.pair("incremental", index, lambda: floor.incremental(index),
                lambda wait: api.incremental(replica_id, wait))
    floor.clean(index)
    api.delete(share_id, replica_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=1024, help="data in each share before the replica")
    parser.add_argument("--delta", type=int, default=10, help="MiB written before the incremental sync")
    args = parser.parse_args()
    with two_pool_shoal("replication", backend_lines='replication_domain = "bench"',
                        service_lines="replica_sync_interval = 86400", pool_size="8G") as (shoal, second, backend):
        http = shoal.client("share", {"X-OpenStack-Manila-API-Version": "2.75"})
        response = http.post("/types", json={"share_type": {"name": TYPE, "extra_specs": {
            "driver_handles_share_servers": "False", "replication_type": "readable"}}})
        assert response.status_code == 200, response.text
        api = Api(http, (f"shoal@{backend}#{shoal.pool}", f"shoal@{backend}#{second}"), args.mib, args.delta)
        floor = Floor((f"{shoal.pool}/raw", f"{second}/raw"), args.mib, args.delta)

        def settle() -> None:  # both pools: either may hold the data just written
            settle_pool(shoal.pool)
            settle_pool(second)

        one_round(api, floor, 999, Rounds(OPS, settle))  # warm-up
        rounds = Rounds(OPS, settle)
        for index in range(args.rounds):
            one_round(api, floor, index, rounds)
        report(f"share replication of {args.mib} MiB (+{args.delta} MiB) between two zpools", args.rounds,
               rounds.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
