"""Helpers for the ZFS to ZFS volume migration scenarios
(tests/integration/test_volume_migration_zfs*.py).

A Shoal of the module's own whose ZFS backend `test` holds two pools -- the
session's `<pool>/zmig` and a second zpool's `<pool2>/zmig` -- so a volume
moves between them by `zfs send | zfs receive` (the driver-assisted path).
Data is written and read from outside as a compute host would, over iSCSI
(qemu-img, with the CHAP account of an attachment); what is left on the pools
is read with `zfs list` directly.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.replication import second_zpool
from tests.fixtures.shoal import ShoalServer, running_shoal
from tests.fixtures.zfs import _check, destroy_dataset

from .migration_helpers import Migrations, cinder, processes_where
from .volume_helpers import _remove_leftovers, output, run


@dataclass
class PairServer:
    server: ShoalServer
    pools: tuple[str, str]  # the zpools, the session's first
    roots: tuple[str, str]  # the backend's dataset in each

    def host(self, index: int) -> str:
        return f"shoal@test#{self.pools[index]}"


@pytest.fixture(scope="module")
def pair_server(zpool, second_zpool, tmp_path_factory):
    second_root = f"{second_zpool}/zmig"
    _check(["zfs", "create", second_root])

    def two_pools(config) -> None:
        text = config.read_text()
        config.write_text(re.sub(r'pools = \["([^"]+)"\]', rf'pools = ["\1", "{second_root}"]', text, count=1))

    try:
        with running_shoal(zpool, tmp_path_factory, name="zmig", before_start=two_pools) as server:
            yield PairServer(server, (zpool, second_zpool), (server.pool_root, second_root))
    finally:
        destroy_dataset(second_root)


@pytest.fixture
def pair(pair_server):
    """A Migrations client (admin of the run's project) of the pair server; what the
    test made is removed after it."""
    server = pair_server.server
    with cinder(server) as client:
        api = Migrations(server, client)
        before = api.state()
        yield api
    with cinder(server) as client:  # the test may have restarted the server
        problems = _remove_leftovers(Migrations(server, client), before)
    assert not problems, f"clean-up left things behind: {problems}"


def write_sparse(api: Migrations, volume_id: str, reference: Path) -> None:
    """The reference's bytes onto the volume over iSCSI, writing only what is not
    zero in it (`--target-is-zero`: the volume holds zeros wherever the reference
    does, as each reference here only adds to the one before); a full write would
    make every block new, and each snapshot as big as the volume."""
    attachment, url, fmt = api.data_url(volume_id)
    try:
        result = run(["qemu-img", "convert", "-n", "--target-is-zero", "-f", "raw", "-O", fmt, str(reference), url],
                     timeout=600)
        assert result.returncode == 0, output(result)
    finally:
        api.detach(attachment["id"])


def names_of(roots, *ids: str) -> list[str]:
    """Datasets and snapshots under the roots whose names hold one of `ids`."""
    found = []
    for root in roots:
        listed = subprocess.run(["zfs", "list", "-H", "-o", "name", "-r", "-t", "all", root],
                                capture_output=True, text=True, check=True).stdout.split()
        found += [n for n in listed if any(i in n for i in ids)]
    return sorted(found)


def migration_points(roots) -> list[str]:
    """The migration's own snapshots (none may outlive a migration)."""
    found = []
    for root in roots:
        listed = subprocess.run(["zfs", "list", "-H", "-o", "name", "-r", "-t", "snapshot", root],
                                capture_output=True, text=True, check=True).stdout.split()
        found += [n for n in listed if "@migrate-" in n]
    return found


def volume_file(root: str, volume_id: str) -> Path:
    """The file a ZFS volume's bytes live in (zfs-fuse: file layout)."""
    mountpoint = subprocess.run(["zfs", "get", "-H", "-o", "value", "mountpoint", f"{root}/volume-{volume_id}"],
                                capture_output=True, text=True, check=True).stdout.strip()
    return Path(mountpoint) / "volume.raw"


def stream_processes(*names: str) -> list[int]:
    """Pids of the `zfs send`/`zfs receive` processes whose arguments name one of `names`."""
    return processes_where(lambda argv: Path(argv[0]).name == "zfs" and len(argv) > 1
                           and argv[1] in ("send", "receive", "recv") and any(n in a for a in argv for n in names))


__all__ = ["PairServer", "migration_points", "names_of", "pair", "pair_server", "second_zpool", "stream_processes",
           "volume_file", "write_sparse"]
