"""Many shares and volumes, and their export daemons' state lost: every export
comes back in one pass, within seconds.

A Shoal of its own (its own ganesha and tgtd, the production 60 s periodic
check, so only the daemon watch can be quick) holds SHARES shares, each with
one rule and a file written over NFS, and VOLUMES volumes attached over iSCSI
with data written through their LUNs. Then the ganesha config directory's
export files are removed -- a lost or corrupted state directory -- in two ways:

- with Shoal stopped and its ganesha still serving from memory: the restarted
  Shoal writes the exports again with the Export_Ids ganesha still holds
  (they come from Shoal's database, not from the files), so ganesha takes
  them in one reload, and no share is given another's id;
- with ganesha killed and its whole directory wiped while Shoal runs: the
  periodic check starts ganesha again and brings every export back in one pass.

Each time, every share is read back over NFS (libnfs) from outside, its rule
in force, and every share is `available`. Last, tgtd is killed: every attached
volume is read back over iSCSI (libiscsi) with its CHAP account, long before
the next periodic check.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.shoal import running_shoal, start_server, stop_server

from .share_helpers import ShareApi, nfs_read, nfs_write, wait_for_status, wait_until
from .volume_helpers import HOST1, MiB, Lun, VolumeApi, cinder, pattern, tgtd_pids

pytestmark = pytest.mark.integration

SHARES, VOLUMES = 40, 12
WATCH_BOUND = 30  # seconds: well under the 60 s periodic check, so only the daemon watch meets it


@pytest.fixture(scope="module")
def scale_shoal(zpool, tmp_path_factory):
    with running_shoal(zpool, tmp_path_factory, name="scale", periodic_interval=60) as server:
        yield server


@pytest.fixture(scope="module")
def many_shares(scale_shoal):
    server = scale_shoal
    with server.client() as client:
        api = ShareApi(server, client)
        made = [api.create_share(name=f"s{i}", wait=None) for i in range(SHARES)]
        shares = [wait_for_status(client, f"/shares/{s['id']}", "available") for s in made]
        for share in shares:
            api.allow(share["id"])
        paths = {share["id"]: api.mountpoint(share["id"]) for share in shares}
        for share_id, path in paths.items():
            res = nfs_write(server, path, "mark.txt", share_id)
            assert res.returncode == 0, res.stderr
        yield server, api, paths


def readable(server, item) -> bool:
    share_id, path = item
    res = nfs_read(server, path, "mark.txt")
    return res.returncode == 0 and res.stdout == share_id


def unreadable(server, paths: dict[str, str]) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda item: readable(server, item), paths.items()))
    return [share_id for share_id, ok in zip(paths, answers) if not ok]


def export_ids(server) -> dict[str, int]:
    ids = {}
    for conf in (server.state_dir / "ganesha" / "exports.d").glob("*.conf"):
        for line in conf.read_text().splitlines():
            if line.strip().startswith("Export_Id"):
                ids[conf.stem] = int(line.split("=")[1].strip(" ;"))
    return ids


def recovered(server, kind: str) -> float:
    """shoal_recovery_fixed for `kind`, as /metrics shows it."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "shoal_recovery_fixed_total" and sample.labels.get("kind") == kind)


def all_available(api: ShareApi, paths: dict[str, str]) -> list[str]:
    return [share_id for share_id in paths if api.share(share_id)["status"] != "available"]


def test_export_files_lost_while_ganesha_serves(many_shares):
    """(emulates nothing: real ganesha, real libnfs)"""
    server, api, paths = many_shares
    before = export_ids(server)
    assert set(before) == set(paths)
    stop_server(server.process)
    try:
        for conf in (server.state_dir / "ganesha" / "exports.d").glob("*.conf"):
            conf.unlink()
        # Recovery writes the exports in another order than they were made: ids from the
        # files (now gone) would be handed out afresh and clash with ganesha's memory.
    finally:
        server.process = start_server(server.config, server.state_dir, server.url)
    wait_until(lambda: set(export_ids(server)) == set(paths), timeout=60, what="every export file written again")
    assert export_ids(server) == before, "an export was given another Export_Id than ganesha holds"
    assert unreadable(server, paths) == []
    assert all_available(api, paths) == []
    log = (server.state_dir / "ganesha" / "ganesha.log").read_text()
    assert "doesn't match" not in log


def test_ganesha_killed_and_its_directory_wiped(many_shares):
    server, api, paths = many_shares
    pid = int((server.state_dir / "ganesha" / "ganesha.pid").read_text().split()[0])
    fixed = recovered(server, "share")
    os.kill(pid, signal.SIGKILL)
    shutil.rmtree(server.state_dir / "ganesha" / "exports.d")
    started = time.monotonic()
    wait_until(lambda: unreadable(server, paths) == [], timeout=WATCH_BOUND, poll=0.5,
               what="every share readable over NFS again")
    assert all_available(api, paths) == []
    assert recovered(server, "share") >= fixed + SHARES  # and the repair is counted
    print(f"{SHARES} exports back {time.monotonic() - started:.1f}s after ganesha was killed")


@pytest.fixture(scope="module")
def attached_volumes(scale_shoal):
    server = scale_shoal
    with cinder(server) as client:
        api = VolumeApi(server, client)
        made = [api.create_volume(1, wait=None) for _ in range(VOLUMES)]
        for volume in made:
            api.wait_volume(volume["id"], "available")
        luns = {}
        for volume in made:
            lun = Lun.of(api.attach(volume["id"], HOST1)["connection_info"])
            data = pattern(volume["id"])
            lun.write(HOST1, data)
            luns[volume["id"]] = (lun, data)
        yield luns


def test_tgtd_killed_every_attached_volume_comes_back(scale_shoal, attached_volumes):
    server = scale_shoal
    pids = tgtd_pids(server)
    assert pids, "the Shoal's tgtd is not running"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    started = time.monotonic()

    def lost() -> list[str]:
        return [vid for vid, (lun, data) in attached_volumes.items()
                if not lun.reachable(HOST1) or lun.read(HOST1, MiB) != data]

    wait_until(lambda: lost() == [], timeout=WATCH_BOUND, poll=0.5, what="every attached volume readable again")
    assert set(tgtd_pids(server)).isdisjoint(pids)
    print(f"{VOLUMES} targets back {time.monotonic() - started:.1f}s after tgtd was killed")
