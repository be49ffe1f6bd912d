"""Volume migration ZFS -> ZFS through Shoal's API against raw `zfs send | zfs receive`.

Two zpools of the bench's own (one backend holding both). Each round a 1 GiB
volume holding --mib MiB of random data (written into its file, zfs-fuse's
file layout) moves from one pool to the other with os-migrate_volume, and the
same amount of data is moved by hand between the same pools; the two take
turns going first.

- migrate: os-migrate_volume until migration_status `success` (the server's
  `updated_at`), against by hand: `zfs snapshot`, `zfs send | zfs receive`
  into the other pool, `zfs destroy -r` of the source (what a move by hand
  takes). Shoal's flow also records each step, takes the migration point's
  size for progress, sets the type's properties on the copy, renames it to the
  volume's name and drops the migration snapshot on both sides.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Rounds, TwoPoolFloor, latency, pipe, report, send, sh, two_pool_shoal, wait_gone, wait_status  # noqa: E402

OPS = ("migrate",)


class Floor(TwoPoolFloor):
    """The same move by hand, between the raw datasets of the same two pools, the same way round."""

    prefix = "v"

    def migrate(self, index: int) -> None:
        source = self.source(index)
        sh("zfs", "snapshot", f"{source}@a")
        pipe(f"{source}@a", self.target(index))
        sh("zfs", "destroy", "-r", source)

    def clean(self, index: int) -> None:
        sh("zfs", "destroy", "-r", self.target(index))


class Api:
    def __init__(self, http, hosts: tuple[str, str], mib: int):
        self.http, self.hosts, self.mib = http, hosts, mib
        self.host = hosts[1]

    def prepare(self) -> tuple[str, bool]:
        """A volume holding the data, and whether it moves from the first pool to the
        second (the scheduler put it where there is most room)."""
        volume = self.http.post("/volumes", json={"volume": {"size": max(1, -(-self.mib // 1024))}}).json()["volume"]
        volume = wait_status(self.http, f"/volumes/{volume['id']}", "available")
        where = volume["os-vol-host-attr:host"]
        dataset = f"{where.partition('#')[2]}/api/volume-{volume['id']}"
        mountpoint = sh("zfs", "get", "-H", "-o", "value", "mountpoint", dataset).strip()
        subprocess.run(["dd", "if=/dev/urandom", f"of={mountpoint}/volume.raw", "bs=1M", f"count={self.mib}",
                        "conv=notrunc", "status=none"], check=True)
        forward = where == self.hosts[0]
        self.host = self.hosts[1] if forward else self.hosts[0]
        return volume["id"], forward

    def migrate(self, volume_id: str, first_poll: float):
        response, started = send(self.http, "POST", f"/volumes/{volume_id}/action",
                                 json={"os-migrate_volume": {"host": self.host}})
        assert response.status_code == 202, (response.status_code, response.text)
        view = wait_status(self.http, f"/volumes/{volume_id}", "success", "migration_status", first_poll)
        assert view["os-vol-host-attr:host"] == self.host, view
        return volume_id, latency(started, view)

    def delete(self, volume_id: str) -> None:
        self.http.delete(f"/volumes/{volume_id}")
        wait_gone(self.http, f"/volumes/{volume_id}")


def one_round(api: Api, floor: Floor, index: int, rounds: Rounds) -> None:
    volume_id, forward = api.prepare()
    floor.prepare(index, forward)
    rounds.pair("migrate", index, lambda: floor.migrate(index), lambda wait: api.migrate(volume_id, wait))
    floor.clean(index)
    api.delete(volume_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mib", type=int, default=1024, help="random data in each volume (1 GiB volumes)")
    args = parser.parse_args()
    with two_pool_shoal("volume-migration") as (shoal, second, backend):
        http = shoal.client("volume", {"OpenStack-API-Version": "volume 3.71"})
        api = Api(http, (f"shoal@{backend}#{shoal.pool}", f"shoal@{backend}#{second}"), args.mib)
        floor = Floor((f"{shoal.pool}/raw", f"{second}/raw"), args.mib)
        one_round(api, floor, 999, Rounds(OPS, shoal.settle))  # warm-up
        rounds = Rounds(OPS, shoal.settle)
        for index in range(args.rounds):
            one_round(api, floor, index, rounds)
        report(f"volume migration ZFS -> ZFS of {args.mib} MiB between two zpools", args.rounds, rounds.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
