"""Share migration throughput through Shoal's API against raw `zfs send | zfs receive`.

Two zpools of the bench's own (one backend holding both). Each round a share
holding --mib MiB of random data moves from the first pool to the second, and
the same amount of data is sent by hand between the same pools; the two take
turns going first.

- phase1: migration_start until the share's task_state is
  migration_driver_phase1_done (the server's `updated_at`), against a full
  `zfs snapshot` + `zfs send | zfs receive` by hand. Shoal's first phase also
  sends a catch-up incremental, so it does a little more than its floor.
- complete: migration_complete until migration_success, against what it does
  by hand: `zfs set readonly=on` on the source, a snapshot, an incremental
  send, then destroying the source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Rounds, TwoPoolFloor, fill, latency, pipe, report, send, sh, two_pool_shoal, wait_gone, wait_status,
)

OPS = ("phase1", "complete")
EXPERIMENTAL = {"X-OpenStack-Manila-API-Experimental": "true"}


class Floor(TwoPoolFloor):
    """The same moves by hand, between the raw datasets of the same two pools, the same way round."""

    prefix = "s"

    def phase1(self, index: int) -> None:
        sh("zfs", "snapshot", f"{self.source(index)}@a")
        pipe(f"{self.source(index)}@a", self.target(index))

    def complete(self, index: int) -> None:
        source = self.source(index)
        sh("zfs", "set", "readonly=on", source)
        sh("zfs", "snapshot", f"{source}@b")
        pipe(f"{source}@b", self.target(index), since=f"{source}@a")
        sh("zfs", "destroy", "-r", source)

    def clean(self, index: int) -> None:
        sh("zfs", "destroy", "-r", self.target(index))


class Api:
    def __init__(self, http, hosts: tuple[str, str], mib: int):
        self.http, self.hosts, self.mib = http, hosts, mib
        self.host = hosts[1]

    def prepare(self) -> tuple[str, bool]:
        """A share holding the data, and whether it moves from the first pool to the
        second (the scheduler put it where there is most room)."""
        share = self.http.post("/shares", json={"share": {"share_proto": "NFS", "size": self.mib // 1024 + 1}}).json()["share"]
        share = wait_status(self.http, f"/shares/{share['id']}", "available")
        location = self.http.get(f"/shares/{share['id']}/export_locations").json()["export_locations"][0]
        fill(location["path"].partition(":")[2], self.mib)
        forward = share["host"] == self.hosts[0]
        self.host = self.hosts[1] if forward else self.hosts[0]
        return share["id"], forward

    def phase1(self, share_id: str, first_poll: float):
        params = {"host": self.host, "force_host_assisted_migration": False, "preserve_metadata": True,
                  "writable": True, "nondisruptive": False, "preserve_snapshots": False}
        response, started = send(self.http, "POST", f"/shares/{share_id}/action",
                                 json={"migration_start": params}, headers=EXPERIMENTAL)
        assert response.status_code == 202, (response.status_code, response.text)
        view = wait_status(self.http, f"/shares/{share_id}", "migration_driver_phase1_done", "task_state", first_poll)
        return share_id, latency(started, view)

    def complete(self, share_id: str, first_poll: float):
        response, started = send(self.http, "POST", f"/shares/{share_id}/action",
                                 json={"migration_complete": None}, headers=EXPERIMENTAL)
        assert response.status_code == 202, (response.status_code, response.text)
        view = wait_status(self.http, f"/shares/{share_id}", "migration_success", "task_state", first_poll)
        return share_id, latency(started, view)

    def delete(self, share_id: str) -> None:
        self.http.delete(f"/shares/{share_id}")
        wait_gone(self.http, f"/shares/{share_id}")


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    share_id, forward = api.prepare()
    floor.prepare(index, forward)
    rounds.pair("phase1", index, lambda: floor.phase1(index), lambda wait: api.phase1(share_id, wait))
    rounds.pair("complete", index, lambda: floor.complete(index), lambda wait: api.complete(share_id, wait))
    floor.clean(index)
    api.delete(share_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mib", type=int, default=256, help="data in each share (the issue asks for 1024)")
    args = parser.parse_args()
    with two_pool_shoal("migration") as (shoal, second, backend):
        http = shoal.client("share", {"X-OpenStack-Manila-API-Version": "2.84"})
        api = Api(http, (f"shoal@{backend}#{shoal.pool}", f"shoal@{backend}#{second}"), args.mib)
        floor = Floor((f"{shoal.pool}/raw", f"{second}/raw"), args.mib)
        one_round(api, floor, 999, Rounds(OPS, shoal.settle))  # warm-up
        rounds = Rounds(OPS, shoal.settle)
        for index in range(args.rounds):
            one_round(api, floor, index, rounds)
        report(f"share migration of {args.mib} MiB between two zpools", args.rounds, rounds.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
